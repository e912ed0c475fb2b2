"""A whole evaluation run on a reduced protocol (2 folds, 1 repeat, one short config).

The full 5 x 5 run is `make evaluate`; its committed output is checked in test_model_card.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from training_export.configs import CONFIGS
from training_export.evaluation.ablation import (
    ABLATION,
    FINAL_TRAINING,
    OTHER_CALIBRATION,
    markdown,
    run_ablation,
    variants_of,
)
from training_export.evaluation.cv import LOGISTIC, Protocol
from training_export.evaluation.report import CALIBRATION_PNG, REPORT_JSON, REPORT_MD
from training_export.evaluation.run import evaluate

SHORT = {"000": CONFIGS["000"].model_copy(update={"epochs": 15})}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("reports")
    return evaluate(Protocol(n_splits=2, n_repeats=1, processes=1), out, SHORT), out


def test_every_model_is_scored_on_the_same_folds(report: tuple[dict, Path]) -> None:
    result, out = report
    assert set(result["models"]) == {"mlp_000", LOGISTIC}
    assert len(result["folds"]) == 2
    for fold in result["folds"]:
        assert set(fold["metrics"]) == {"mlp_000", LOGISTIC}
    for metrics in result["models"].values():
        for name in ("auc", "accuracy", "brier", "log_loss", "cost", "cost_at_0.5", "threshold"):
            assert np.isfinite(metrics[name]["mean"]) and metrics[name]["sd"] >= 0
        assert 0.6 < metrics["auc"]["mean"] < 0.9
        assert metrics["cost"]["mean"] < result["everyone_good_cost"]
    assert result["everyone_bad_cost"] == pytest.approx(0.7)
    assert result["best"] == "mlp_000"
    assert json.loads((out / REPORT_JSON).read_text()) == result
    assert (out / CALIBRATION_PNG).read_bytes().startswith(b"\x89PNG")
    assert "| mlp_000 |" in (out / REPORT_MD).read_text()


def test_slices_cover_every_row_once_per_field(report: tuple[dict, Path]) -> None:
    slices = report[0]["slices"]
    for field in ("Sex", "Age"):
        assert sum(s["count"] for s in slices if s["field"] == field) == 1000
    for s in slices:
        low, high = s["brier_ci"]
        assert low <= s["brier"] <= high


def test_ablation_reports_each_training_variant() -> None:
    ensemble = CONFIGS["000"].model_copy(update={"epochs": 2, "members": 2, "distillation": 0.5})
    result = run_ablation({**SHORT, "009": ensemble}, Protocol(n_splits=2, processes=1))
    rows = result["ablation"]
    assert [name.split(" | ")[1] for name in rows if name.startswith("mlp_000")] == list(ABLATION)
    assert FINAL_TRAINING in ABLATION
    assert [name for name in rows if name.startswith("mlp_009")] == [
        f"mlp_009 | {variant}" for variant in variants_of(ensemble)
    ]
    # The other calibration is the same networks: the same ranking, so the same AUC.
    final = "mlp_009 | " + next(v for v, change in variants_of(ensemble).items() if not change)
    other = rows["mlp_009 | " + OTHER_CALIBRATION[ensemble.calibration][0]]
    assert other["auc"] == pytest.approx(rows[final]["auc"])
    assert other["brier"] != rows[final]["brier"]
    assert "| mlp_009 | one network, distillation 0.5 |" in markdown(result)


def test_a_rerun_reuses_unchanged_models_and_evaluates_the_new_one(
    report: tuple[dict, Path], tmp_path: Path
) -> None:
    # Figures of `previous` are taken as they are: make the reused MLP the worse one, so the
    # new one is the best (which must be evaluated anew).
    previous = copy.deepcopy(report[0])
    for fold in previous["folds"]:
        fold["metrics"]["mlp_000"]["brier"] += 0.1
    previous["models"]["mlp_000"]["brier"]["mean"] += 0.1
    ensemble = CONFIGS["000"].model_copy(update={"epochs": 2, "members": 2, "distillation": 0.5})
    result = evaluate(
        Protocol(n_splits=2, n_repeats=1, processes=1),
        tmp_path,
        {**SHORT, "009": ensemble},
        previous=previous,
    )
    assert result["reused"] == [LOGISTIC, "mlp_000"]
    assert result["best"] == "mlp_009"
    for name in result["reused"]:
        for metric, stat in previous["models"][name].items():
            assert result["models"][name][metric] == pytest.approx(stat), (name, metric)
        assert result["calibration"][name] == previous["calibration"][name]
    assert set(result["models"]) == {"mlp_000", "mlp_009", LOGISTIC}
    assert "Not trained again in this run" in (tmp_path / REPORT_MD).read_text()


def test_fairness_by_group_and_the_alternatives_are_reported(report: tuple[dict, Path]) -> None:
    result, _ = report
    for model in result["models"].values():
        assert 0 < model["approval_ratio_female_male"]["mean"] < 2
    groups = result["fairness"]["groups"]
    assert [g["group"] for g in groups["Sex"]] == ["female", "male"]
    assert sum(g["count"] for g in groups["Age"]) == 1000
    for row in groups["Sex"] + groups["Age"]:
        low, high = row["approval_rate_ci"]
        assert low <= row["approval_rate"] <= high
    thresholds = {r["threshold"] for r in result["fairness"]["alternatives"]}
    assert "own" in thresholds and 0.8 in thresholds


def test_each_model_is_served_at_the_cheapest_threshold_over_its_out_of_fold_predictions(
    report: tuple[dict, Path],
) -> None:
    """No fixed threshold and no per-fold threshold costs less on the same predictions."""
    result, _ = report
    for name, served in result["served_thresholds"].items():
        assert 0 < served["threshold"] < 1 and 0 < served["approval_rate"] < 1
        others = [r["cost"] for r in result["fairness"]["alternatives"] if r["model"] == name]
        assert len(others) > 1
        assert served["cost"] <= min(others) + 1e-4, name  # the alternatives are rounded
