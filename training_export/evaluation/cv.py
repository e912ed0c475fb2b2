"""The cross-validation: the protocol, the folds (the same for every model), one fold's
training and scoring, and per-model summaries over the folds.

In each outer training fold an inner stratified validation split is held out for early
stopping, Platt calibration and the threshold; the outer test fold is only scored.
"""

from __future__ import annotations

import multiprocessing
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import brier_score_loss, log_loss
from sklearn.model_selection import RepeatedStratifiedKFold, train_test_split

from credit_risk.contract import TARGET
from credit_risk.decision import Decision
from credit_risk.network import ModelConfig
from training_export.evaluation.fairness import approval_ratio_female_male
from training_export.evaluation.metrics import sigmoid, summary
from training_export.train import SEED, scores, target, train_baseline, train_network

LOGISTIC = "logistic_regression"
INNER_VALIDATION_SHARE = 0.2

# (rows, seed of the folds, repeat, fold, training and test row positions, models)
Job = tuple[pd.DataFrame, int, int, int, np.ndarray, np.ndarray, dict[str, ModelConfig | None]]
# (repeat, fold, test row positions, per model: metrics and predictions)
Fold = tuple[int, int, np.ndarray, dict[str, dict[str, Any]]]


@dataclass(frozen=True)
class Protocol:
    n_splits: int = 5
    n_repeats: int = 5
    processes: int = 2
    seed: int = SEED  # of the folds and the inner splits; the networks' seeds do not change


def mlp_name(config_id: str) -> str:
    return f"mlp_{config_id}"


def _evaluate_fold(job: Job) -> Fold:
    frame, seed, repeat, fold, train_index, test_index, models = job
    torch.set_num_threads(1)
    outer_train, test = frame.iloc[train_index], frame.iloc[test_index]
    inner_train, validation = train_test_split(
        outer_train,
        test_size=INNER_VALIDATION_SHARE,
        stratify=outer_train[TARGET],
        random_state=seed + 100 * repeat + fold,
    )
    y_val, y_test = target(validation), target(test)
    sex = test["Sex"].to_numpy(dtype=object)
    results: dict[str, dict[str, Any]] = {}
    for name, config in models.items():
        if config is None:
            model = train_baseline(inner_train)
            decision = Decision.fit(model.logits(validation), y_val)
            results[name] = _scored(model.logits(test), decision, y_test, sex)
            continue
        model = train_network(config, inner_train, validation)
        platt = config.calibration == "platt"
        logits = model.logits(test)
        results[name] = _scored(
            logits, Decision.fit(model.validation_logits, y_val, platt), y_test, sex
        )
        # The same network under the other calibration: the ablation's calibration row.
        other = Decision.fit(model.validation_logits, y_val, not platt)
        results[name]["other_calibration"] = _scored(logits, other, y_test, sex)["metrics"]
    return repeat, fold, test_index, results


def _scored(
    logits: np.ndarray, decision: Decision, y_test: np.ndarray, sex: np.ndarray
) -> dict[str, Any]:
    """One model's metrics and predictions on a test fold."""
    p_raw, p_good = sigmoid(logits), decision.calibrate(logits)
    return {
        "metrics": {
            **scores(y_test, p_good, decision.threshold),
            "brier_uncalibrated": float(brier_score_loss(y_test, p_raw)),
            "log_loss_uncalibrated": float(log_loss(y_test, p_raw, labels=[0, 1])),
            "threshold": decision.threshold,
            "approval_ratio_female_male": approval_ratio_female_male(
                p_good > decision.threshold, sex
            ),
        },
        "p_good": p_good,
        "p_uncalibrated": p_raw,
    }


def cross_validate(
    frame: pd.DataFrame, models: dict[str, ModelConfig | None], protocol: Protocol
) -> list[Fold]:
    """Per fold: (repeat, fold, test row positions, per-model metrics and predictions).

    A model whose config is None is the logistic-regression baseline.
    """
    folds = RepeatedStratifiedKFold(
        n_splits=protocol.n_splits, n_repeats=protocol.n_repeats, random_state=protocol.seed
    ).split(frame, frame[TARGET])
    jobs = [
        (frame, protocol.seed, i // protocol.n_splits, i % protocol.n_splits, train, test, models)
        for i, (train, test) in enumerate(folds)
    ]
    if protocol.processes == 1:
        return [_evaluate_fold(job) for job in jobs]
    with multiprocessing.get_context("fork").Pool(protocol.processes) as pool:
        return pool.map(_evaluate_fold, jobs, chunksize=1)


def out_of_fold(folds: list[Fold], name: str, key: str, repeat: int, rows: int) -> np.ndarray:
    """The predictions of one repeat, each row predicted by the fold that held it out."""
    out = np.full(rows, np.nan)
    for r, _, test_index, results in folds:
        if r == repeat:
            out[test_index] = results[name][key]
    return out


def summarise(folds: list[Fold], models: list[str]) -> dict[str, Any]:
    """Mean ± sd over folds of every metric, per model."""
    per_model = {}
    for name in models:
        metrics = [results[name]["metrics"] for *_, results in folds]
        per_model[name] = {key: summary([m[key] for m in metrics]) for key in metrics[0]}
    return per_model
