"""How the recorded decisions with an outcome turned out, per model version.

What anyone may scrape (/metrics) is published in whole blocks of `BLOCK` outcome events
(an outcome reported, or corrected) of a version, in the order they happened: a figure
changes only once 100 more are in, so no difference between two scrapes tells one
applicant's P(good), decision or outcome, nor what a correction changed. The auditor's
export (behind the database's own access) has them all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from credit_risk.contract import GOOD
from credit_risk.decision import expected_cost

# Outcome events per published block.
BLOCK = 100


def realised(labelled: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Per model version, over its decisions with an outcome: their count, the AUC of
    P(good) (None unless both outcomes occur), the Brier score and the mean cost under the
    UCI cost matrix."""
    from sklearn.metrics import roc_auc_score  # only once outcomes are recorded

    by_model: dict[str, list[Mapping[str, Any]]] = {}
    for row in labelled:
        by_model.setdefault(row["model"], []).append(row)
    summary = {}
    for model, rows in sorted(by_model.items()):
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


def published(events: Iterable[Mapping[str, Any]], block: int = BLOCK) -> list[Mapping[str, Any]]:
    """The labelled decisions as the first whole `block`s of each version's outcome events
    (`Records.outcome_events`, in order) leave them: a later event of a decision replaces
    its outcome."""
    by_model: dict[str, list[Mapping[str, Any]]] = {}
    for event in events:
        by_model.setdefault(event["model"], []).append(event)
    state: dict[int, Mapping[str, Any]] = {}
    for every in by_model.values():
        for event in every[: len(every) // block * block]:
            state[event["id"]] = event
    return list(state.values())


def realised_metrics(events: Iterable[Mapping[str, Any]]) -> str:
    """`realised` over the `published` outcome events, as Prometheus gauges, one per
    statistic and model version (a version with no whole block shows 0 decisions)."""
    events = list(events)
    stats_by_model = realised(published(events))
    empty = {"decisions": 0.0, "auc": None, "brier": None, "cost": None}
    for model in {event["model"] for event in events} - stats_by_model.keys():
        stats_by_model[model] = empty
    lines = []
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
        for model, stats in sorted(stats_by_model.items()):
            if stats[name] is not None:
                lines.append(f'credit_risk_realised_{name}{{model="{model}"}} {stats[name]!r}')
    return "\n".join(lines) + "\n"
