"""Slices: the best MLP's metrics by Sex and by age band, and for everyone."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, roc_auc_score

from credit_risk.decision import expected_cost
from credit_risk.fairness import AGE_BANDS
from training_export.evaluation.metrics import bootstrap
from training_export.train import SEED, target


def slices(frame: pd.DataFrame, p_good: np.ndarray, thresholds: np.ndarray) -> list[dict[str, Any]]:
    """Metrics by Sex and age band on out-of-fold predictions, with bootstrap 95 % CIs.

    `thresholds` is the threshold of the fold that predicted each row.
    """
    y = target(frame).astype(np.float64)
    groups = [("Sex", sex, frame["Sex"] == sex) for sex in ("female", "male")]
    groups += [("Age", band, frame["Age"].between(lo, hi - 1)) for band, lo, hi in AGE_BANDS]
    groups += [("all", "all", frame["Age"] > 0)]
    out = []
    for seed, (field, group, mask_series) in enumerate(groups):
        mask = mask_series.to_numpy()
        yg, pg, tg = y[mask], p_good[mask], thresholds[mask]
        called_good = pg > tg
        both = 0 < yg.sum() < len(yg)
        ci = bootstrap(yg, pg, tg, SEED + seed)
        out.append(
            {
                "field": field,
                "group": group,
                "count": int(mask.sum()),
                "bad": int(len(yg) - yg.sum()),
                "bad_rate": float(1 - yg.mean()),
                "auc": float(roc_auc_score(yg, pg)) if both else None,
                "auc_ci": ci["auc"],
                "brier": float(brier_score_loss(yg, pg)),
                "brier_ci": ci["brier"],
                "cost": expected_cost(yg, called_good),
                "cost_ci": ci["cost"],
                "called_bad_rate": float(1 - called_good.mean()),
                "good_called_bad": float((~called_good & (yg == 1)).sum() / max(yg.sum(), 1)),
                "bad_called_good": float(
                    (called_good & (yg == 0)).sum() / max(len(yg) - yg.sum(), 1)
                ),
                "mean_p_good": float(pg.mean()),
            }
        )
    return out
