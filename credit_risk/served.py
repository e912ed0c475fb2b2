"""Which stored model version the service serves (torch-free: the API process uses it)."""

from __future__ import annotations

import bentoml
from bentoml.exceptions import NotFound

from credit_risk.profile import TrainingProfile
from credit_risk.settings import BEST


def resolve(tag: str) -> bentoml.Tag:
    """The stored model `tag` names; version "best": the one with the best CV mean AUC.

    "best" looks at every stored version of the model that carries cross-validated
    metrics (written at import from the manifest) and takes the highest mean AUC, the
    newest among equals.
    """
    wanted = bentoml.Tag.from_taglike(tag)
    if wanted.version != BEST:
        return bentoml.models.get(wanted).tag
    evaluated = [m for m in bentoml.models.list(wanted.name) if "cv" in m.info.metadata]
    if not evaluated:
        raise NotFound(f"no stored version of {wanted.name} has cross-validated metrics")
    return max(
        evaluated, key=lambda m: (m.info.metadata["cv"]["auc"]["mean"], m.info.creation_time)
    ).tag


def decision_threshold(model: bentoml.Model) -> float:
    """The version's decision threshold, as recorded at import from its hash-checked
    decision file (the runner re-checks that file's hash when it loads the model)."""
    return float(model.info.metadata["decision"]["threshold"])


def training_profile(model: bentoml.Model) -> TrainingProfile:
    """The version's training profile, as recorded at import from its hash-checked file."""
    return TrainingProfile.model_validate(model.info.metadata["profile"])
