"""Import exported artifacts into the BentoML model store, and load them back checked.

A version is named by its files' content, so importing identical files twice returns
the existing version. Nothing enters the store unless it loads and fits together,
and loading from the store re-checks every file's hash before unpickling it.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import bentoml
from bentoml.exceptions import NotFound

from credit_risk import artifacts
from credit_risk.artifacts import MANIFEST, ArtifactError, Scorer, model_files, read_manifest
from credit_risk.contract import EXAMPLE, encode
from credit_risk.decision import decision_fields
from credit_risk.features import FeatureEncoder, PreprocessorMismatch
from model_store.versions import MODEL_NAME


def content_version(artifact_sha256: dict[str, str]) -> str:
    """A model version named by the artifacts' content."""
    joined = "\n".join(f"{name} {digest}" for name, digest in sorted(artifact_sha256.items()))
    return hashlib.sha256(joined.encode()).hexdigest()[:20]


def import_artifacts(directory: Path, name: str = MODEL_NAME) -> dict[str, bentoml.Tag]:
    """Check every model version in `directory` and store it; return the tags by config id."""
    manifest = read_manifest(directory)
    models = manifest.get("models")
    if not isinstance(models, dict) or not models:
        raise ArtifactError(directory / MANIFEST, "needs the models by config id")
    # Every version is checked before any enters the store: all or nothing.
    scorers = {config_id: _checked_scorer(directory, manifest, config_id) for config_id in models}
    return {
        config_id: _import_version(directory, manifest, config_id, scorer, name)
        for config_id, scorer in scorers.items()
    }


def _checked_scorer(directory: Path, manifest: dict, config_id: str) -> Scorer:
    expected = manifest["models"][config_id].get("artifacts", {})
    if set(expected) != set(model_files(config_id)):
        raise ArtifactError(
            directory / MANIFEST,
            f"model {config_id} needs the sha256 of exactly its files {model_files(config_id)}",
        )
    return artifacts.load_scorer(directory, config_id, expected)  # raises ArtifactError


def _import_version(
    directory: Path, manifest: dict, config_id: str, scorer: Scorer, name: str
) -> bentoml.Tag:
    entry = manifest["models"][config_id]
    expected = entry["artifacts"]
    tag = bentoml.Tag(name, content_version(expected))
    try:
        return bentoml.models.get(tag).tag
    except NotFound:
        pass
    with bentoml.models.create(
        tag,
        module=__name__,
        labels={"config_id": config_id, "framework": "pytorch", "stage": "candidate"},
        metadata={
            "config_id": config_id,
            "artifacts_sha256": expected,
            "input_features": scorer.features.width,
            # The runner builds its encoder from these, without scikit-learn.
            "features": scorer.features.parameters(),
            "config": scorer.config.model_dump(),
            "decision": scorer.decision.model_dump(),
            "profile": scorer.profile.model_dump(),
            # The version's own answer to the documented example: the API's examples.
            "example": decision_fields(scorer.decisions(encode([EXAMPLE]), with_reasons=True)[0]),
            **{key: entry[key] for key in ("metrics", "cv", "training")},
            **{
                key: manifest[key]
                for key in ("test_split", "evaluation", "data", "contract", "versions")
            },
        },
    ) as model:
        for file in (*model_files(config_id), MANIFEST):
            shutil.copyfile(directory / file, model.path_of(file))
    return tag


def load_scorer(model: bentoml.Model) -> Scorer:
    """Load a stored model version, refusing files that differ from what was imported;
    its encoder from the parameters recorded at import (versions stored before they were
    recorded: from the preprocessor)."""
    metadata = model.info.metadata
    try:
        recorded = metadata.get("features")
        features = FeatureEncoder(**recorded) if recorded is not None else None
    except (TypeError, PreprocessorMismatch) as exc:
        raise ArtifactError(Path(model.path) / "model.yaml", f"recorded features: {exc}") from exc
    return artifacts.load_scorer(
        Path(model.path), metadata["config_id"], metadata["artifacts_sha256"], features
    )
