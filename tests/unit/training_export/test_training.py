"""Training is reproducible and the committed artifacts are what the code produces."""

from __future__ import annotations

import json

import numpy as np
import pytest

from credit_risk.artifacts import MANIFEST, model_files
from credit_risk.decision import COST_BAD_CALLED_GOOD
from training_export.configs import CONFIGS
from training_export.export import export
from training_export.paths import ARTIFACTS_DIR
from training_export.train import split, train_baseline

# The single networks; the ensemble (five networks and their teachers, about two minutes)
# is retrained only by the `retrain` tests below (`make test-retrain`).
SINGLE = [i for i, c in CONFIGS.items() if c.members == 1]
ENSEMBLES = [i for i in CONFIGS if i not in SINGLE]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    return [export(tmp_path_factory.mktemp(f"run{i}"), config_ids=SINGLE) for i in range(2)]


def test_training_twice_gives_identical_files(exported: list[dict]) -> None:
    assert exported[0]["models"] == exported[1]["models"]


def test_committed_artifacts_come_from_this_code(exported: list[dict]) -> None:
    assert_committed_match(exported[0])


@pytest.mark.retrain
def test_committed_ensembles_come_from_this_code(tmp_path) -> None:
    assert_committed_match(export(tmp_path, config_ids=ENSEMBLES))


def assert_committed_match(fresh: dict) -> None:
    """The committed manifest's entries for the versions of `fresh` are what it holds."""
    committed = json.loads((ARTIFACTS_DIR / MANIFEST).read_text())
    for key in ("data", "contract", "evaluation"):
        assert fresh[key] == committed[key], key
    for key in ("seed", "rows"):
        assert fresh["test_split"][key] == committed["test_split"][key], key
    for name, value in committed["test_split"]["logistic_regression"].items():
        got = fresh["test_split"]["logistic_regression"][name]
        assert got == pytest.approx(value, abs=1e-4), name
    # On one machine training is bit-identical (above); another CPU's torch kernels round
    # differently: an AMD EPYC moved config 002's test-split AUC by 8e-4 and took two
    # applicants across the threshold. Probability metrics may move by 2e-3; decisions, by
    # two of the test rows.
    rows = committed["test_split"]["rows"]["test"]
    tolerance = {"accuracy": 2 / rows} | {
        name: 2 * COST_BAD_CALLED_GOOD / rows for name in ("cost", "cost_at_0.5", "cost_bayes")
    }
    for config_id in fresh["models"]:
        model = committed["models"][config_id]
        for name, value in model["metrics"].items():
            got = fresh["models"][config_id]["metrics"][name]
            assert got == pytest.approx(value, abs=tolerance.get(name, 2e-3)), (config_id, name)
        assert fresh["models"][config_id]["cv"] == model["cv"]


def test_manifest_records_every_config_with_its_files_and_metrics(exported: list[dict]) -> None:
    manifest = exported[0]
    assert set(manifest["models"]) == set(SINGLE)
    committed = json.loads((ARTIFACTS_DIR / MANIFEST).read_text())
    assert set(committed["models"]) == set(CONFIGS)
    for config_id, model in manifest["models"].items():
        assert set(model["artifacts"]) == set(model_files(config_id))
        assert {"auc", "accuracy", "brier", "log_loss", "cost"} <= set(model["metrics"])
        assert 0.5 < model["metrics"]["auc"] <= 1
    assert manifest["test_split"]["rows"] == {"train": 700, "validation": 150, "test": 150}


def test_split_is_stratified_and_disjoint(dataset) -> None:
    parts = split(dataset)
    indexes = [set(p.index) for p in (parts.train, parts.validation, parts.test)]
    assert sum(map(len, indexes)) == len(set().union(*indexes)) == 1000
    for part in (parts.train, parts.validation, parts.test):
        assert (part["Risk"] == "good").mean() == pytest.approx(0.7, abs=0.01)


def test_baseline_logits_give_its_probabilities(dataset) -> None:
    parts = split(dataset)
    baseline = train_baseline(parts.train)
    features = baseline.preprocessor.transform(parts.test[baseline.preprocessor.feature_names_in_])
    expected = baseline.model.predict_proba(features)[:, 1]
    np.testing.assert_allclose(1 / (1 + np.exp(-baseline.logits(parts.test))), expected)
