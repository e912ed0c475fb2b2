"""The training data's profile: each scored field's distribution.

Written at export from the training rows (training_profile.json, hashed with the other
model files). Drift monitoring compares the distribution of recent requests with the
training distribution, binned as here; the numeric bins' edges are also the candidates of
the reason baseline (`credit_risk.reasons`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from credit_risk.contract import (
    CATEGORIES,
    ENCODED_COLUMNS,
    SCORED_CATEGORICAL_FIELDS,
    SCORED_NUMERIC_FIELDS,
)

if TYPE_CHECKING:  # the profile is fitted at export; the service only reads it (no pandas)
    import pandas as pd

# Numeric fields are binned at the training deciles (fewer edges where values repeat).
QUANTILES = tuple(q / 10 for q in range(1, 10))


class NumericProfile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    edges: list[float] = Field(description="Bin i holds edges[i-1] < value <= edges[i]")
    shares: list[float] = Field(description="Share of training rows per bin")

    def bins(self, values: np.ndarray) -> np.ndarray:
        """The bin index of each value (0 .. len(edges))."""
        return np.searchsorted(np.asarray(self.edges), values, side="left")


class CategoricalProfile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    shares: list[float] = Field(description="Share of training rows per category (contract order)")


class TrainingProfile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rows: int = Field(gt=0)
    numeric: dict[str, NumericProfile]
    categorical: dict[str, CategoricalProfile]

    @classmethod
    def fit(cls, frame: pd.DataFrame) -> TrainingProfile:
        numeric = {}
        for name in SCORED_NUMERIC_FIELDS:
            values = frame[name].to_numpy(dtype=np.float64)
            edges = np.unique(np.quantile(values, QUANTILES)).tolist()
            profile = NumericProfile(edges=edges, shares=[])
            counts = np.bincount(profile.bins(values), minlength=len(edges) + 1)
            numeric[name] = profile.model_copy(update={"shares": (counts / len(values)).tolist()})
        categorical = {}
        for name in SCORED_CATEGORICAL_FIELDS:
            counts = frame[name].value_counts().reindex(CATEGORIES[name], fill_value=0)
            categorical[name] = CategoricalProfile(shares=(counts / len(frame)).tolist())
        return cls(rows=len(frame), numeric=numeric, categorical=categorical)

    def check(self) -> None:
        """Raise ValueError unless the profile covers exactly the contract's fields."""
        if (
            tuple(self.numeric) != SCORED_NUMERIC_FIELDS
            or tuple(self.categorical) != SCORED_CATEGORICAL_FIELDS
        ):
            raise ValueError(f"fields differ from the contract's {ENCODED_COLUMNS}")
        for name, p in self.numeric.items():
            if len(p.shares) != len(p.edges) + 1:
                raise ValueError(f"{name}: {len(p.edges)} edges need {len(p.edges) + 1} shares")
        for name, p in self.categorical.items():
            if len(p.shares) != len(CATEGORIES[name]):
                raise ValueError(f"{name}: shares do not fit the contract")

    @classmethod
    def from_json(cls, path: Path) -> TrainingProfile:
        profile = cls.model_validate(json.loads(path.read_text()))
        profile.check()
        return profile

    def to_json(self, path: Path) -> None:
        path.write_text(json.dumps(self.model_dump(), indent=2) + "\n")
