"""Loading an artifact set refuses anything altered, corrupt or mismatched, naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pytest
import torch

from credit_risk.artifacts import (
    MANIFEST,
    PREPROCESSOR,
    ArtifactError,
    config_file,
    decision_file,
    load_scorer,
    sha256_of,
    weights_file,
)
from credit_risk.contract import encode
from credit_risk.decision import Decision
from credit_risk.features import feature_names
from training_export.configs import CONFIGS

ID = "001"


def hashes(directory: Path, config_id: str = ID) -> dict[str, str]:
    return json.loads((directory / MANIFEST).read_text())["models"][config_id]["artifacts"]


def rehash(directory: Path) -> dict[str, str]:
    """Expected hashes equal to the files' current content: only the content checks remain."""
    return {name: sha256_of(directory / name) for name in hashes(directory)}


def test_committed_artifacts_load_and_score(
    artifact_copy: Path, records, reference_proba, stored_model
) -> None:
    config_id = stored_model.info.labels["config_id"]
    scorer = load_scorer(artifact_copy, config_id, hashes(artifact_copy, config_id))
    p_good = scorer.predict_proba(encode(records))
    np.testing.assert_allclose(p_good, reference_proba.to_numpy(), rtol=0, atol=1e-6)
    assert ((p_good > 0) & (p_good < 1)).all()


@pytest.mark.parametrize("config_id", sorted(CONFIGS))
def test_every_exported_version_loads_with_its_decision(artifact_copy: Path, config_id) -> None:
    scorer = load_scorer(artifact_copy, config_id, hashes(artifact_copy, config_id))
    assert scorer.decision == Decision.from_json(artifact_copy / decision_file(config_id))
    assert scorer.config == CONFIGS[config_id]


def test_altered_decision_file_is_refused(artifact_copy: Path) -> None:
    path = artifact_copy / decision_file(ID)
    path.write_text(path.read_text().replace('"threshold": 0.', '"threshold": 0.0'))
    with pytest.raises(ArtifactError, match=r"decision_001\.json: sha256 .* does not match"):
        load_scorer(artifact_copy, ID, hashes(artifact_copy))


def test_invalid_decision_file_is_refused(artifact_copy: Path) -> None:
    (artifact_copy / decision_file(ID)).write_text('{"platt_slope": -1, "threshold": 2}')
    with pytest.raises(ArtifactError, match=r"decision_001\.json: invalid decision file"):
        load_scorer(artifact_copy, ID, rehash(artifact_copy))


def test_altered_file_is_refused_before_it_is_loaded(artifact_copy: Path) -> None:
    path = artifact_copy / PREPROCESSOR
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(ArtifactError, match=r"preprocessor\.joblib: sha256 .* does not match"):
        load_scorer(artifact_copy, ID, hashes(artifact_copy))


def test_missing_file_is_refused(artifact_copy: Path) -> None:
    (artifact_copy / weights_file(ID)).unlink()
    with pytest.raises(ArtifactError, match=r"model_weights_001\.pth: file is missing"):
        load_scorer(artifact_copy, ID, hashes(artifact_copy))


def test_corrupt_weights_are_refused(artifact_copy: Path) -> None:
    (artifact_copy / weights_file(ID)).write_bytes(b"not a torch file")
    with pytest.raises(ArtifactError, match=r"model_weights_001\.pth: cannot be loaded"):
        load_scorer(artifact_copy, ID, rehash(artifact_copy))


def test_config_that_does_not_match_the_weights_is_refused(artifact_copy: Path) -> None:
    CONFIGS["000"].to_yaml(artifact_copy / config_file(ID))
    with pytest.raises(ArtifactError, match=r"model_weights_001\.pth: does not fit .*model_config"):
        load_scorer(artifact_copy, ID, rehash(artifact_copy))


def test_invalid_config_is_refused(artifact_copy: Path) -> None:
    (artifact_copy / config_file(ID)).write_text("hidden_layers: [128]\n")
    with pytest.raises(ArtifactError, match=r"model_config_001\.yaml: invalid model config"):
        load_scorer(artifact_copy, ID, rehash(artifact_copy))


def test_preprocessor_with_another_width_is_refused(artifact_copy: Path) -> None:
    state = torch.load(artifact_copy / weights_file(ID))
    state["0.weight"] = state["0.weight"][:, :-1]
    torch.save(state, artifact_copy / weights_file(ID))
    width = len(feature_names())  # the scored fields' features
    with pytest.raises(ArtifactError, match=rf"{width} inputs from preprocessor\.joblib"):
        load_scorer(artifact_copy, ID, rehash(artifact_copy))


def test_preprocessor_of_another_schema_is_refused(artifact_copy: Path) -> None:
    preprocessor = joblib.load(artifact_copy / PREPROCESSOR)
    preprocessor.named_transformers_["categorical"].categories_[1][2] = "2"  # Job as an int code
    joblib.dump(preprocessor, artifact_copy / PREPROCESSOR)
    with pytest.raises(ArtifactError, match=r"preprocessor\.joblib: output features"):
        load_scorer(artifact_copy, ID, rehash(artifact_copy))


def test_preprocessor_with_a_scale_that_is_not_finite_is_refused(artifact_copy: Path) -> None:
    preprocessor = joblib.load(artifact_copy / PREPROCESSOR)
    preprocessor.named_transformers_["numeric"].scale_[0] = np.nan
    joblib.dump(preprocessor, artifact_copy / PREPROCESSOR)
    with pytest.raises(ArtifactError, match=r"preprocessor\.joblib: scaler parameters are not"):
        load_scorer(artifact_copy, ID, rehash(artifact_copy))
