"""One whole evaluation: the CV, the pooled calibration, slices, ablation and the report files."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from credit_risk.artifacts import sha256_of
from credit_risk.decision import BAYES_THRESHOLD, expected_cost
from credit_risk.network import ModelConfig
from training_export import dataset
from training_export.configs import CONFIGS
from training_export.evaluation.ablation import run_ablation
from training_export.evaluation.cv import (
    INNER_VALIDATION_SHARE,
    LOGISTIC,
    Protocol,
    cross_validate,
    mlp_name,
    out_of_fold,
    summarise,
)
from training_export.evaluation.metrics import calibration_table
from training_export.evaluation.plot import reliability_plot
from training_export.evaluation.report import CALIBRATION_PNG, REPORT_JSON, REPORT_MD, markdown
from training_export.evaluation.slices import slices
from training_export.paths import DATASET_CSV
from training_export.train import SEED, target


def evaluate(
    protocol: Protocol, out: Path, configs: Mapping[str, ModelConfig] = CONFIGS
) -> dict[str, Any]:
    """Run the CV and the training ablation, write the reports, return the JSON report."""
    frame = dataset.load()
    models: dict[str, ModelConfig | None] = {mlp_name(i): c for i, c in configs.items()}
    models[LOGISTIC] = None
    folds = cross_validate(frame, models, protocol)
    per_model = summarise(folds, list(models))
    mlps = [mlp_name(i) for i in configs]
    best = max(mlps, key=lambda name: per_model[name]["auc"]["mean"])
    y = target(frame).astype(np.float64)

    calibration, pooled = {}, {}
    for name in models:
        p_cal, p_raw = (
            np.concatenate(
                [out_of_fold(folds, name, key, r, len(frame)) for r in range(protocol.n_repeats)]
            )
            for key in ("p_good", "p_uncalibrated")
        )
        y_all = np.tile(y, protocol.n_repeats)
        calibration[name] = {
            "calibrated": calibration_table(y_all, p_cal),
            "uncalibrated": calibration_table(y_all, p_raw),
        }
        pooled[name] = (y_all, p_raw, p_cal)

    thresholds = np.full(len(frame), np.nan)
    for r, _, test_index, results in folds:
        if r == 0:
            thresholds[test_index] = results[best]["metrics"]["threshold"]
    best_oof = out_of_fold(folds, best, "p_good", 0, len(frame))

    ablation = run_ablation(frame, protocol, folds, configs)
    report = {
        "protocol": {
            "cv": f"{protocol.n_repeats}x{protocol.n_splits} repeated stratified k-fold",
            "n_splits": protocol.n_splits,
            "n_repeats": protocol.n_repeats,
            "seed": SEED,
            "inner_validation_share": INNER_VALIDATION_SHARE,
            "rows": len(frame),
            "data_sha256": sha256_of(DATASET_CSV),
            "costs": {"bad_called_good": 5, "good_called_bad": 1},
            "bayes_threshold": BAYES_THRESHOLD,
        },
        "configs": {mlp_name(i): c.model_dump() for i, c in configs.items()},
        "models": per_model,
        "best": best,
        "best_config_id": best.removeprefix("mlp_"),
        "calibration": {
            name: {kind: table["ece"] for kind, table in tables.items()}
            for name, tables in calibration.items()
        },
        "reliability": calibration[best],
        "everyone_bad_cost": expected_cost(y, np.zeros(len(y), dtype=bool)),
        "everyone_good_cost": expected_cost(y, np.ones(len(y), dtype=bool)),
        "slices": slices(frame, best_oof, thresholds),
        "ablation": ablation,
        "folds": [
            {"repeat": r, "fold": f, "metrics": {n: res[n]["metrics"] for n in models}}
            for r, f, _, res in folds
        ],
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / REPORT_JSON).write_text(json.dumps(report, indent=1) + "\n")
    (out / REPORT_MD).write_text(markdown(report))
    reliability_plot(pooled[best], best, out / CALIBRATION_PNG)
    return report
