"""Which stored version is served, and what the API process reads of it (no torch here).

The API process must stay free of torch: it reads a version's metadata, recorded at import
from the hash-checked files, never the files themselves.
"""

from __future__ import annotations

import bentoml
import numpy as np
from bentoml.exceptions import NotFound

from credit_risk.decision import decision_rows
from credit_risk.profile import TrainingProfile
from credit_risk.selection import eligible, selection_key

MODEL_NAME = "credit_risk"
# The version "best" stands for the stored version that `credit_risk.selection` ranks first.
BEST = "best"
DEFAULT_TAG = f"{MODEL_NAME}:{BEST}"


def resolve(tag: str) -> bentoml.Tag:
    """The stored model `tag` names; version "best": the best by `credit_risk.selection`.

    "best" looks at every stored version of the model that carries cross-validated
    metrics (written at import from the manifest) and passes the fair-lending release gate,
    and takes the lowest mean Brier score, ties by the lower mean expected cost, then the
    newest.
    """
    wanted = bentoml.Tag.from_taglike(tag)
    if wanted.version != BEST:
        return bentoml.models.get(wanted).tag
    evaluated = [
        m
        for m in bentoml.models.list(wanted.name)
        if "cv" in m.info.metadata and eligible(m.info.metadata["cv"])
    ]
    if not evaluated:
        raise NotFound(
            f"no stored version of {wanted.name} has cross-validated metrics that pass the "
            "fair-lending release gate (credit_risk.fairness)"
        )
    return min(
        evaluated,
        key=lambda m: (
            *selection_key(m.info.metadata["cv"]),
            -m.info.creation_time.timestamp(),
        ),
    ).tag


def training_profile(model: bentoml.Model) -> TrainingProfile:
    """The version's training profile, as recorded at import from its hash-checked file."""
    return TrainingProfile.model_validate(model.info.metadata["profile"])


def reason_baseline(model: bentoml.Model) -> dict[str, float | str]:
    """The version's reason baseline (`credit_risk.reasons`), as recorded at import from its
    hash-checked decision file."""
    return dict(model.info.metadata["decision"]["reason_baseline"])


def example_decision(model: bentoml.Model) -> np.void | None:
    """The version's answer to `credit_risk.contract.EXAMPLE` as recorded at import
    (a `DECISION_ROW` with reasons); None for versions imported before it was."""
    example = model.info.metadata.get("example")
    if not isinstance(example, dict):  # imported before, or as an unnamed list
        return None
    return decision_rows(example["p_good"], example["good"], np.array(example["gains"]))[0]


def recorded_threshold(model: bentoml.Model) -> float:
    """The version's decision threshold as recorded at import from its hash-checked decision
    file: only written into decision records (the runner applies the rule)."""
    return float(model.info.metadata["decision"]["threshold"])
