"""One whole evaluation: the CV, the pooled calibration, slices, fairness and the report files."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from credit_risk.artifacts import sha256_of
from credit_risk.decision import BAYES_THRESHOLD, cost_minimising_threshold, expected_cost
from credit_risk.fairness import gate_failure
from credit_risk.network import ModelConfig
from credit_risk.selection import selection_key
from training_export import dataset
from training_export.configs import CONFIGS
from training_export.evaluation.cv import (
    INNER_VALIDATION_SHARE,
    LOGISTIC,
    Fold,
    Protocol,
    cross_validate,
    mlp_name,
    out_of_fold,
    summarise,
)
from training_export.evaluation.fairness import alternatives, group_fields, group_table
from training_export.evaluation.metrics import calibration_table
from training_export.evaluation.plot import reliability_plot
from training_export.evaluation.report import CALIBRATION_PNG, REPORT_JSON, REPORT_MD, markdown
from training_export.evaluation.slices import slices
from training_export.paths import DATASET_CSV
from training_export.train import target


def evaluate(
    protocol: Protocol,
    out: Path,
    configs: Mapping[str, ModelConfig] = CONFIGS,
    previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the CV, write the reports, return the JSON report.

    With `previous` (an earlier report), the models it evaluated under the same protocol,
    data and config are not trained again: their per-fold metrics and calibration errors
    are taken from it (training is deterministic, so a full run gives the
    same figures on this machine). The best model must be evaluated anew.
    """
    frame = dataset.load()
    models: dict[str, ModelConfig | None] = {mlp_name(i): c for i, c in configs.items()}
    models[LOGISTIC] = None
    head = _protocol(protocol, len(frame))
    reused = _reusable(previous, head, models)
    fresh = {name: config for name, config in models.items() if name not in reused}
    started = time.monotonic()
    folds = cross_validate(frame, fresh, protocol)
    print(f"cross-validation of {len(fresh)} models: {time.monotonic() - started:.0f} s")
    if reused:
        folds = _with_reused_metrics(folds, previous or {}, reused)
    per_model = summarise(folds, list(models))
    mlps = [mlp_name(i) for i in configs]
    gated = {name: gate_failure(per_model[name]) for name in mlps}
    for name, why in gated.items():
        if why is not None:
            print(f"{name} cannot become best: {why}")
    candidates = [name for name in mlps if gated[name] is None]
    if not candidates:
        raise ValueError("no model passes the fair-lending release gate (see above)")
    best = min(candidates, key=lambda name: selection_key(per_model[name]))
    if best in reused:
        raise ValueError(f"{best} is the best model: evaluate it anew (no `previous`)")
    y = target(frame).astype(np.float64)

    calibration, pooled = {}, {}
    served_thresholds = {name: (previous or {})["served_thresholds"][name] for name in reused}
    for name in fresh:
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
        # The threshold a version is served with: the cheapest over its out-of-fold
        # predictions of all repeats (5000 rows), not over one export's validation rows.
        threshold = cost_minimising_threshold(y_all, p_cal)
        served_thresholds[name] = {
            "threshold": threshold,
            "cost": expected_cost(y_all, p_cal > threshold),
            "approval_rate": float(np.mean(p_cal > threshold)),
        }

    thresholds = _fold_thresholds(folds, best, 0, len(frame))
    best_oof = out_of_fold(folds, best, "p_good", 0, len(frame))
    repeats = range(protocol.n_repeats)
    sex = np.tile(frame["Sex"].to_numpy(dtype=object), protocol.n_repeats)
    fairness_report = {
        "groups": group_table(y, best_oof, best_oof > thresholds, group_fields(frame)),
        "alternatives": alternatives(
            np.tile(y, protocol.n_repeats),
            {
                name: np.concatenate(
                    [out_of_fold(folds, name, "p_good", r, len(frame)) for r in repeats]
                )
                for name in fresh
            },
            {
                name: np.concatenate(
                    [_fold_thresholds(folds, name, r, len(frame)) for r in repeats]
                )
                for name in fresh
            },
            sex,
        ),
    }

    report = {
        "protocol": head,
        "reused": sorted(reused),
        "configs": {mlp_name(i): c.model_dump() for i, c in configs.items()},
        "models": per_model,
        "best": best,
        "best_config_id": best.removeprefix("mlp_"),
        "served_thresholds": {name: served_thresholds[name] for name in models},
        "calibration": {
            name: (
                {kind: table["ece"] for kind, table in calibration[name].items()}
                if name in fresh
                else (previous or {})["calibration"][name]
            )
            for name in models
        },
        "reliability": calibration[best],
        "everyone_bad_cost": expected_cost(y, np.zeros(len(y), dtype=bool)),
        "everyone_good_cost": expected_cost(y, np.ones(len(y), dtype=bool)),
        "slices": slices(frame, best_oof, thresholds),
        "fairness": fairness_report,
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


def _fold_thresholds(folds: list[Fold], name: str, repeat: int, rows: int) -> np.ndarray:
    """The threshold of the fold that predicted each row, in one repeat."""
    out = np.full(rows, np.nan)
    for r, _, test_index, results in folds:
        if r == repeat:
            out[test_index] = results[name]["metrics"]["threshold"]
    return out


def _protocol(protocol: Protocol, rows: int) -> dict[str, Any]:
    return {
        "cv": f"{protocol.n_repeats}x{protocol.n_splits} repeated stratified k-fold",
        "n_splits": protocol.n_splits,
        "n_repeats": protocol.n_repeats,
        "seed": protocol.seed,
        "inner_validation_share": INNER_VALIDATION_SHARE,
        "rows": rows,
        "data_sha256": sha256_of(DATASET_CSV),
        "costs": {"bad_called_good": 5, "good_called_bad": 1},
        "bayes_threshold": BAYES_THRESHOLD,
    }


def _reusable(
    previous: dict[str, Any] | None, head: dict[str, Any], models: dict[str, ModelConfig | None]
) -> set[str]:
    """The models `previous` evaluated under the same protocol and data with the same config."""
    if previous is None or previous["protocol"] != head or "served_thresholds" not in previous:
        return set()
    done = previous["configs"]
    return {
        name
        for name, config in models.items()
        if name in previous["models"]
        and (config is None or (name in done and ModelConfig.model_validate(done[name]) == config))
    }


def _with_reused_metrics(
    folds: list[Fold], previous: dict[str, Any], reused: set[str]
) -> list[Fold]:
    """The folds with the reused models' per-fold metrics of `previous` (no predictions)."""
    earlier = {(f["repeat"], f["fold"]): f["metrics"] for f in previous["folds"]}
    return [
        (r, f, test_index, {**results, **{n: {"metrics": earlier[r, f][n]} for n in reused}})
        for r, f, test_index, results in folds
    ]
