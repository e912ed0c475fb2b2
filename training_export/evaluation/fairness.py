"""Fairness of the decisions by Sex and age band, with fairlearn's MetricFrame.

Per group, at the decision threshold: the approval rate and its ratio to the most approved
group of the same field, the share of good payers approved (equal opportunity), and
calibration (mean P(good) against the observed share of good payers), each with a
bootstrap 95 % interval. Measured on out-of-fold predictions (each row at the threshold of
the fold that held it out) and, in `training_export.fairness`, for the served version on
the committed rows. Also the search for a less discriminatory alternative: expected cost
against the approval ratio women / men for every evaluated model at a range of thresholds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame, selection_rate, true_positive_rate

from credit_risk.decision import expected_cost
from credit_risk.fairness import AGE_BANDS, SEXES, age_bands
from training_export.train import SEED

BOOTSTRAP_RESAMPLES = 500
CI = [0.025, 0.975]
# Thresholds of the search for a less discriminatory alternative.
THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.60, 0.901, 0.01))


def _mean_p_good(y_true: np.ndarray, p_good: np.ndarray) -> float:
    return float(np.mean(p_good))


def _good_rate(y_true: np.ndarray, p_good: np.ndarray) -> float:
    return float(np.mean(y_true))


def group_fields(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The sensitive feature of each row, by field: Sex and the age band."""
    return {"Sex": frame["Sex"].to_numpy(dtype=object), "Age": age_bands(frame["Age"])}


ORDER = {"Sex": SEXES, "Age": tuple(label for label, _, _ in AGE_BANDS)}


def approval_ratio_female_male(approved: np.ndarray, sex: np.ndarray) -> float:
    """Approval rate of women divided by that of men."""
    rates = MetricFrame(
        metrics=selection_rate, y_true=approved, y_pred=approved, sensitive_features=sex
    ).by_group
    return float(rates["female"] / rates["male"])


def group_table(
    y_good: np.ndarray, p_good: np.ndarray, approved: np.ndarray, groups: dict[str, np.ndarray]
) -> dict[str, list[dict[str, Any]]]:
    """Per field, per group: count, approval rate, ratio to the most approved group, share
    of good payers approved, mean P(good) and share of good payers, with 95 % intervals."""
    y = np.asarray(y_good, dtype=int)
    out: dict[str, list[dict[str, Any]]] = {}
    for seed, (field, sensitive) in enumerate(groups.items()):
        boot = {"n_boot": BOOTSTRAP_RESAMPLES, "ci_quantiles": CI, "random_state": SEED + seed}
        decisions = MetricFrame(
            metrics={"approval_rate": selection_rate, "good_payers_approved": true_positive_rate},
            y_true=y,
            y_pred=approved.astype(int),
            sensitive_features=pd.Series(sensitive, name=field),
            **boot,
        )
        calibration = MetricFrame(
            metrics={"mean_p_good": _mean_p_good, "good_rate": _good_rate},
            y_true=y,
            y_pred=p_good,
            sensitive_features=pd.Series(sensitive, name=field),
            **boot,
        )
        rates = decisions.by_group["approval_rate"]
        lows = [decisions.by_group_ci[0], calibration.by_group_ci[0]]
        highs = [decisions.by_group_ci[1], calibration.by_group_ci[1]]
        rows = []
        for group in ORDER[field]:
            if group not in rates.index:
                continue
            row: dict[str, Any] = {"group": group, "count": int((sensitive == group).sum())}
            for frame, low, high in zip(
                (decisions.by_group, calibration.by_group), lows, highs, strict=True
            ):
                for metric in frame.columns:
                    row[metric] = float(frame.loc[group, metric])
                    row[f"{metric}_ci"] = [
                        float(low.loc[group, metric]),
                        float(high.loc[group, metric]),
                    ]
            row["approval_ratio"] = float(rates[group] / rates.max())
            rows.append(row)
        out[field] = rows
    return out


def alternatives(
    y_good: np.ndarray, p_good: dict[str, np.ndarray], own: dict[str, np.ndarray], sex: np.ndarray
) -> list[dict[str, Any]]:
    """Cost and approval ratio women / men of each model's out-of-fold P(good) at its own
    fold thresholds (`own`) and at each of `THRESHOLDS`."""
    rows = []
    for name, p in p_good.items():
        candidates = [("own", own[name])] + [(t, np.full(len(p), t)) for t in THRESHOLDS]
        for threshold, cut in candidates:
            approved = p > cut
            rows.append(
                {
                    "model": name,
                    "threshold": threshold,
                    "cost": expected_cost(y_good, approved),
                    "approval_rate": float(approved.mean()),
                    "approval_ratio_female_male": approval_ratio_female_male(approved, sex),
                }
            )
    return rows


def least_discriminatory(rows: list[dict[str, Any]], within: float = 0.01) -> list[dict[str, Any]]:
    """Per model, the threshold with the highest approval ratio among those whose cost is
    within `within` of that model's cheapest."""
    chosen = []
    for name in dict.fromkeys(r["model"] for r in rows):
        own = [r for r in rows if r["model"] == name]
        cheapest = min(r["cost"] for r in own)
        near = [r for r in own if r["cost"] <= cheapest + within]
        chosen.append(max(near, key=lambda r: (r["approval_ratio_female_male"], -r["cost"])))
    return chosen
