"""Training is reproducible and the committed artifacts are what the code produces."""

from __future__ import annotations

import json

import pytest

from credit_risk.artifacts import MANIFEST
from credit_risk.paths import ARTIFACTS_DIR
from training_export.configs import SERVED_CONFIG_ID
from training_export.export import export
from training_export.train import split


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    return [export(SERVED_CONFIG_ID, tmp_path_factory.mktemp(f"run{i}")) for i in range(2)]


def test_training_twice_gives_identical_files(exported: list[dict]) -> None:
    assert exported[0]["artifacts"] == exported[1]["artifacts"]
    assert exported[0]["metrics"] == exported[1]["metrics"]


def test_committed_artifacts_come_from_this_code(exported: list[dict]) -> None:
    committed = json.loads((ARTIFACTS_DIR / MANIFEST).read_text())
    fresh = exported[0]
    assert fresh["data"] == committed["data"]
    assert fresh["contract"] == committed["contract"]
    for model in ("mlp", "logistic_regression"):
        for name, value in committed["metrics"][model].items():
            assert fresh["metrics"][model][name] == pytest.approx(value, abs=1e-4), (model, name)


def test_manifest_records_metrics_for_both_models(exported: list[dict]) -> None:
    assert set(exported[0]["artifacts"]) == {
        "model_weights_001.pth",
        "model_config_001.yaml",
        "preprocessor.joblib",
    }
    metrics = exported[0]["metrics"]
    assert metrics["rows"] == {"train": 700, "validation": 150, "test": 150}
    for model in ("mlp", "logistic_regression"):
        assert set(metrics[model]) == {"auc", "accuracy", "brier", "log_loss"}
        assert 0.5 < metrics[model]["auc"] <= 1


def test_split_is_stratified_and_disjoint(dataset) -> None:
    parts = split(dataset)
    indexes = [set(p.index) for p in (parts.train, parts.validation, parts.test)]
    assert sum(map(len, indexes)) == len(set().union(*indexes)) == 1000
    for part in (parts.train, parts.validation, parts.test):
        assert (part["Risk"] == "good").mean() == pytest.approx(0.7, abs=0.01)
