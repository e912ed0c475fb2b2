"""Importing artifacts into a real (temporary) BentoML model store."""

from __future__ import annotations

from pathlib import Path

import bentoml
import pytest

from credit_risk.artifacts import MANIFEST, PREPROCESSOR, ArtifactError, weights_file
from credit_risk.contract import CATEGORIES, FIELDS
from credit_risk.paths import ARTIFACTS_DIR
from model_store import import_artifacts, load_scorer


def versions(name: str) -> list[str]:
    return [str(m.tag) for m in bentoml.models.list() if m.tag.name == name]


def test_metadata_describes_the_model(stored_model) -> None:
    meta = stored_model.info.metadata
    assert set(meta["artifacts_sha256"]) == {
        "model_weights_001.pth",
        "model_config_001.yaml",
        "preprocessor.joblib",
    }
    assert set(meta["metrics"]["mlp"]) == {"auc", "accuracy", "brier", "log_loss"}
    assert meta["contract"]["fields"] == list(FIELDS)
    assert meta["contract"]["categories"] == {k: list(v) for k, v in CATEGORIES.items()}
    assert meta["config"]["hidden_layers"] == [128, 64, 32]
    assert len(meta["data"]["sha256"]) == 64
    assert {"torch", "scikit-learn", "bentoml"} <= set(meta["versions"])
    assert stored_model.info.labels["config_id"] == "001"


def test_identical_content_is_imported_once(artifact_copy: Path) -> None:
    first = import_artifacts(artifact_copy, name="once")
    again = import_artifacts(ARTIFACTS_DIR, name="once")
    assert first == again
    assert versions("once") == [str(first)]


def test_refused_artifacts_never_enter_the_store(artifact_copy: Path) -> None:
    (artifact_copy / weights_file("001")).write_bytes(b"garbage")
    with pytest.raises(ArtifactError, match=r"model_weights_001\.pth: sha256"):
        import_artifacts(artifact_copy, name="refused")
    (artifact_copy / MANIFEST).unlink()
    with pytest.raises(ArtifactError, match=r"manifest\.json: file is missing"):
        import_artifacts(artifact_copy, name="refused")
    assert versions("refused") == []


def test_file_altered_inside_the_store_is_refused_at_load(artifact_copy: Path) -> None:
    model = bentoml.models.get(import_artifacts(artifact_copy, name="tampered"))
    Path(model.path_of(PREPROCESSOR)).write_bytes(b"malicious pickle")
    with pytest.raises(ArtifactError, match=r"preprocessor\.joblib: sha256"):
        load_scorer(model)


def test_store_location_is_the_temporary_bentoml_home(stored_model) -> None:
    import os

    assert Path(stored_model.path).is_relative_to(os.environ["BENTOML_HOME"])
