"""From the network's logit to a decision: Platt calibration, the cost matrix, the threshold.

The decision file of a model version (decision_NNN.json, hashed with its other files)
holds the Platt parameters fitted on validation data, the threshold and the baseline its
adverse-action reasons are measured against (`credit_risk.reasons`). The served
`probability` is the calibrated P(good); `prediction` is "good" iff it exceeds the
threshold: the one with the lowest expected cost under the UCI cost matrix below over the
version's out-of-fold predictions, chosen when the version is trained.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from credit_risk.contract import BAD, ENCODED_COLUMNS, GOOD

# UCI Statlog cost matrix: calling a bad applicant good costs 5, a good one bad costs 1.
COST_BAD_CALLED_GOOD = 5.0
COST_GOOD_CALLED_BAD = 1.0
# For calibrated probabilities the Bayes rule is "good" iff P(good) > 5 / (5 + 1).
BAYES_THRESHOLD = COST_BAD_CALLED_GOOD / (COST_BAD_CALLED_GOOD + COST_GOOD_CALLED_BAD)
# One decided applicant as the model answers it (`Scorer.decisions`, the runner's answer):
# the calibrated P(good), the decision rule's verdict ("good" when true) and each scored
# field's gain in log-odds (`ENCODED_COLUMNS` order, `credit_risk.reasons`), NaN where not
# computed.
DECISION_ROW = np.dtype([
    ("p_good", np.float64),
    ("good", np.bool_),
    ("gains", np.float64, (len(ENCODED_COLUMNS),)),
])  # fmt: skip


def decision_rows(
    p_good: np.ndarray | float, good: np.ndarray | bool, gains: np.ndarray | None = None
) -> np.ndarray:
    """`DECISION_ROW`s from their columns (one row for scalars); gains NaN unless given."""
    p_good = np.atleast_1d(np.asarray(p_good, dtype=np.float64))
    rows = np.empty(len(p_good), dtype=DECISION_ROW)
    rows["p_good"], rows["good"] = p_good, np.atleast_1d(good)
    rows["gains"] = np.nan if gains is None else gains
    return rows


def decision_fields(row: np.void) -> dict[str, float | bool | list[float]]:
    """A `DECISION_ROW` as plain JSON values, by field name (`decision_rows` reads them)."""
    return {
        "p_good": float(row["p_good"]),
        "good": bool(row["good"]),
        "gains": row["gains"].tolist(),
    }


class Decision(BaseModel):
    """Platt scaling of the logit, then a threshold on the calibrated P(good)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    platt_slope: float = Field(gt=0, allow_inf_nan=False)
    platt_intercept: float = Field(allow_inf_nan=False)
    threshold: float = Field(ge=0, le=1)
    reason_baseline: dict[str, float | str] | None = Field(
        default=None,
        description="Each scored field's most favourable value (`credit_risk.reasons`); "
        "every served version has one",
    )

    def calibrate(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated P(good) (float64) from the network's logits for "good"."""
        z = self.platt_slope * np.asarray(logits, dtype=np.float64) + self.platt_intercept
        return 1.0 / (1.0 + np.exp(-z))

    def calls_good(self, p_good: float | np.ndarray) -> np.ndarray:
        """The decision rule: "good" iff the calibrated P(good) exceeds the threshold."""
        return np.asarray(p_good) > self.threshold

    def decide(self, p_good: float | np.ndarray) -> np.ndarray:
        """The decision labels ("good" or "bad") for one P(good) or an array."""
        return np.where(self.calls_good(p_good), GOOD, BAD)

    @classmethod
    def fit(cls, logits: np.ndarray, y_good: np.ndarray, platt: bool = True) -> Decision:
        """Platt parameters (the identity without `platt`), then the cost-minimising
        threshold, both on the same rows."""
        slope, intercept = 1.0, 0.0
        if platt:
            from sklearn.linear_model import LogisticRegression  # training only

            fitted = LogisticRegression(C=1e6).fit(np.asarray(logits).reshape(-1, 1), y_good)
            slope, intercept = float(fitted.coef_[0, 0]), float(fitted.intercept_[0])
        if slope <= 0:  # a model whose logit ranks no better than chance: keep its order
            slope, intercept = 1.0, 0.0
        calibrated = cls(platt_slope=slope, platt_intercept=intercept, threshold=0.5)
        threshold = cost_minimising_threshold(y_good, calibrated.calibrate(logits))
        return calibrated.model_copy(update={"threshold": threshold})

    @classmethod
    def from_json(cls, path: Path) -> Decision:
        return cls.model_validate(json.loads(path.read_text()))

    def to_json(self, path: Path) -> None:
        path.write_text(json.dumps(self.model_dump(), indent=2) + "\n")


def expected_cost(y_good: np.ndarray, called_good: np.ndarray) -> float:
    """Mean cost per applicant under the UCI cost matrix."""
    y, called = np.asarray(y_good).astype(bool), np.asarray(called_good).astype(bool)
    costs = COST_BAD_CALLED_GOOD * (~y & called) + COST_GOOD_CALLED_BAD * (y & ~called)
    return float(costs.mean())


def cost_minimising_threshold(y_good: np.ndarray, p_good: np.ndarray) -> float:
    """The threshold t ("good" iff P(good) > t) with the lowest expected cost on these rows.

    Candidates are 0, 1 and the midpoints between consecutive distinct probabilities; of
    several equally cheap ones the median is taken (the middle of the cheapest range).
    """
    p = np.asarray(p_good, dtype=np.float64)
    y = np.asarray(y_good).astype(bool)
    values, index = np.unique(p, return_inverse=True)
    candidates = np.concatenate([[0.0], (values[:-1] + values[1:]) / 2, [1.0]])
    # Candidate k calls the rows with the k lowest distinct values bad and the rest good.
    good_at = np.bincount(index, weights=y, minlength=len(values))
    bad_at = np.bincount(index, weights=~y, minlength=len(values))
    good_called_bad = np.concatenate([[0.0], np.cumsum(good_at)])
    bad_called_good = bad_at.sum() - np.concatenate([[0.0], np.cumsum(bad_at)])
    costs = (COST_BAD_CALLED_GOOD * bad_called_good + COST_GOOD_CALLED_BAD * good_called_bad) / len(
        p
    )
    cheapest = candidates[np.isclose(costs, costs.min(), rtol=0, atol=1e-12)]
    return float(cheapest[(len(cheapest) - 1) // 2])
