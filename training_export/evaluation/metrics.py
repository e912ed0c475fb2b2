"""Metrics on predicted probabilities: calibration error, fast AUC, summaries, bootstrap CIs."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import rankdata

from credit_risk.decision import expected_cost

ECE_BINS = 10
BOOTSTRAP_RESAMPLES = 1000


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))


def summary(values: list[float]) -> dict[str, float]:
    return {"mean": float(np.mean(values)), "sd": float(np.std(values, ddof=1))}


def calibration_table(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """Expected calibration error over equal-width bins, and the bins themselves."""
    edges = np.linspace(0, 1, ECE_BINS + 1)
    index = np.clip(np.digitize(p, edges[1:-1]), 0, ECE_BINS - 1)
    bins, ece = [], 0.0
    for b in range(ECE_BINS):
        mask = index == b
        if mask.any():
            gap = abs(float(p[mask].mean()) - float(y[mask].mean()))
            ece += mask.mean() * gap
            bins.append(
                {
                    "low": float(edges[b]),
                    "high": float(edges[b + 1]),
                    "count": int(mask.sum()),
                    "mean_predicted": float(p[mask].mean()),
                    "observed_good": float(y[mask].mean()),
                }
            )
    return {"ece": float(ece), "bins": bins}


def fast_auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney statistic (ties count half), without sklearn's checks."""
    ranks = rankdata(p)
    positives = y == 1
    n_pos, n_neg = positives.sum(), (~positives).sum()
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def bootstrap(
    y: np.ndarray, p: np.ndarray, threshold: np.ndarray, seed: int
) -> dict[str, list[float]]:
    """95 % percentile intervals of AUC, Brier score and expected cost over resampled rows.

    `threshold` is per row (the threshold of the fold that predicted it).
    """
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {"auc": [], "brier": [], "cost": []}
    for _ in range(BOOTSTRAP_RESAMPLES):
        i = rng.integers(0, len(y), len(y))
        if 0 < y[i].sum() < len(i):
            draws["auc"].append(fast_auc(y[i], p[i]))
        draws["brier"].append(float(np.mean((p[i] - y[i]) ** 2)))
        draws["cost"].append(expected_cost(y[i], p[i] > threshold[i]))
    return {k: [float(np.percentile(v, q)) for q in (2.5, 97.5)] for k, v in draws.items()}
