"""How the recorded decisions with an outcome turned out, per model version.

What anyone may scrape (/metrics) is published in whole blocks of `BLOCK` labelled
decisions, in the order their outcomes were recorded: a figure changes only once 100 more
outcomes are in, so no difference between two scrapes tells one applicant's P(good),
decision or outcome. The auditor's export (behind the database's own access) has them all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from credit_risk.contract import GOOD
from credit_risk.decision import expected_cost

# Labelled decisions per published block.
BLOCK = 100


def realised(
    labelled: Iterable[Mapping[str, Any]], block: int = 1
) -> dict[str, dict[str, float | None]]:
    """Per model version, over its first decisions with an outcome in whole `block`s (in
    `labelled`'s order): their count, the AUC of P(good) (None unless both outcomes occur),
    and the Brier score and the mean cost under the UCI cost matrix (None for no block)."""
    from sklearn.metrics import roc_auc_score  # only once outcomes are recorded

    by_model: dict[str, list[Mapping[str, Any]]] = {}
    for row in labelled:
        by_model.setdefault(row["model"], []).append(row)
    summary = {}
    for model, every in sorted(by_model.items()):
        rows = every[: len(every) // block * block]
        if not rows:
            summary[model] = {"decisions": 0.0, "auc": None, "brier": None, "cost": None}
            continue
        y = np.array([bool(r["repaid"]) for r in rows])
        p = np.array([float(r["p_good"]) for r in rows])
        called_good = np.array([r["decision"] == GOOD for r in rows])
        summary[model] = {
            "decisions": float(len(rows)),
            "auc": float(roc_auc_score(y, p)) if y.any() and not y.all() else None,
            "brier": float(np.mean((p - y) ** 2)),
            "cost": expected_cost(y, called_good),
        }
    return summary


def realised_metrics(labelled: Iterable[Mapping[str, Any]]) -> str:
    """`realised` in blocks of `BLOCK`, as Prometheus gauges, one per statistic and model
    version."""
    lines, stats_by_model = [], realised(labelled, BLOCK)
    for name, meaning in (
        ("decisions", "Decisions with a recorded outcome."),
        ("auc", "AUC of P(good) over decisions with an outcome."),
        ("brier", "Brier score of P(good) over decisions with an outcome."),
        ("cost", "Mean cost per decision with an outcome under the UCI cost matrix."),
    ):
        lines += [
            f"# HELP credit_risk_realised_{name} {meaning}",
            f"# TYPE credit_risk_realised_{name} gauge",
        ]
        for model, stats in stats_by_model.items():
            if stats[name] is not None:
                lines.append(f'credit_risk_realised_{name}{{model="{model}"}} {stats[name]!r}')
    return "\n".join(lines) + "\n"
