"""Import exported artifacts into the BentoML model store as one model version.

The version is derived from the artifacts' content, so importing identical files twice
returns the existing version. Nothing enters the store unless it loads and fits together,
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
from credit_risk.settings import MODEL_NAME


def content_version(artifact_sha256: dict[str, str]) -> str:
    """A model version named by the artifacts' content."""
    joined = "\n".join(f"{name} {digest}" for name, digest in sorted(artifact_sha256.items()))
    return hashlib.sha256(joined.encode()).hexdigest()[:20]


def import_artifacts(directory: Path, name: str = MODEL_NAME) -> bentoml.Tag:
    """Check the artifacts in `directory` and store them; return the model's tag."""
    manifest = read_manifest(directory)
    config_id = manifest.get("config_id")
    expected = manifest.get("artifacts", {})
    if not isinstance(config_id, str) or set(expected) != set(model_files(config_id)):
        raise ArtifactError(
            directory / MANIFEST,
            "needs a config_id and the sha256 of exactly its three files",
        )
    scorer = artifacts.load_scorer(directory, config_id, expected)  # raises ArtifactError
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
            "config": scorer.config.model_dump(),
            **{
                key: manifest[key]
                for key in ("metrics", "training", "data", "contract", "versions")
            },
        },
    ) as model:
        for file in (*model_files(config_id), MANIFEST):
            shutil.copyfile(directory / file, model.path_of(file))
    return tag


def load_scorer(model: bentoml.Model) -> Scorer:
    """Load a stored model version, refusing files that differ from what was imported."""
    return artifacts.load_scorer(
        Path(model.path),
        model.info.metadata["config_id"],
        model.info.metadata["artifacts_sha256"],
    )
