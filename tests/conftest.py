"""Shared fixtures: a temporary BentoML store holding the committed artifacts."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd
import pytest


def pytest_configure(config: pytest.Config) -> None:
    # Before anything imports bentoml: every test uses a fresh, temporary model store.
    os.environ["BENTOML_HOME"] = tempfile.mkdtemp(prefix="bentoml-home-")
    os.environ["BENTOML_DO_NOT_TRACK"] = "true"


@pytest.fixture(scope="session")
def dataset() -> pd.DataFrame:
    from training_export import dataset

    return dataset.load()


@pytest.fixture(scope="session")
def records(dataset: pd.DataFrame) -> list[dict]:
    """The 1000 dataset rows as request bodies."""
    from credit_risk.contract import FIELDS

    return dataset[list(FIELDS)].to_dict("records")


@pytest.fixture(scope="session")
def stored_model():
    """The committed artifacts imported into the temporary store (what `make store` does);
    the version the service serves by default."""
    import bentoml

    from credit_risk.paths import ARTIFACTS_DIR
    from credit_risk.served import resolve
    from credit_risk.settings import settings
    from model_store import import_artifacts

    import_artifacts(ARTIFACTS_DIR)
    return bentoml.models.get(resolve(settings.served_model))


@pytest.fixture(scope="session")
def served_decision(stored_model):
    """Calibration and threshold of the served version, from its committed decision file."""
    from credit_risk.artifacts import decision_file
    from credit_risk.decision import Decision
    from credit_risk.paths import ARTIFACTS_DIR

    return Decision.from_json(ARTIFACTS_DIR / decision_file(stored_model.info.labels["config_id"]))


@pytest.fixture(scope="session")
def reference_proba(dataset: pd.DataFrame, stored_model, served_decision) -> pd.Series:
    """Calibrated P(good) of every dataset row from the offline pipeline (scikit-learn +
    torch + Platt) for the served version."""
    import joblib
    import torch

    from credit_risk.artifacts import PREPROCESSOR, config_file, weights_file
    from credit_risk.network import ModelConfig, build_network
    from credit_risk.paths import ARTIFACTS_DIR
    from training_export.train import reference_proba

    config_id = stored_model.info.labels["config_id"]
    preprocessor = joblib.load(ARTIFACTS_DIR / PREPROCESSOR)
    config = ModelConfig.from_yaml(ARTIFACTS_DIR / config_file(config_id))
    network = build_network(config, len(preprocessor.get_feature_names_out()))
    network.load_state_dict(torch.load(ARTIFACTS_DIR / weights_file(config_id)))
    p_good = reference_proba(preprocessor, network.eval(), served_decision, dataset)
    return pd.Series(p_good, index=dataset.index)


@pytest.fixture
def artifact_copy(tmp_path: Path) -> Path:
    """A writable copy of the committed artifacts."""
    import shutil

    from credit_risk.paths import ARTIFACTS_DIR

    return Path(shutil.copytree(ARTIFACTS_DIR, tmp_path / "artifacts"))
