"""Champion and challenger compared on the same applicants, from the decision records.

Each record made with a challenger holds both versions' answers (`serving.challenger`):
the one answered (`model`, `p_good`, `decision`) and the other (`shadow_*`). Per pair of
versions: how often their decisions differ, how their P(good) differ, each one's approval
rate, the fair-lending figures of each (`serving.fairness`: groups of 100 or more only),
and, over the applicants with an outcome, each one's realised AUC, Brier score and cost.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from credit_risk.contract import GOOD
from serving.fairness import FairnessReport, live_fairness
from serving.records.outcomes import realised


class Difference(BaseModel):
    """P(good) of the second version minus that of the first, over the applicants."""

    mean: float
    p05: float
    p50: float
    p95: float
    max_abs: float


class PairComparison(BaseModel):
    versions: tuple[str, str] = Field(description="The two versions, in tag order")
    applicants: int = Field(description="Applicants scored by both (what-if scores left out)")
    answered: dict[str, int] = Field(description="Applicants each version answered")
    approval_rate: dict[str, float] = Field(description="Share each version calls good")
    flip_rate: float = Field(description="Share whose decision differs between the two")
    p_good_difference: Difference
    fairness: FairnessReport = Field(description="Each version's decisions, by group")
    realised: dict[str, dict[str, float | None]] = Field(
        description="Each version on the same applicants with an outcome"
    )


def _as(version: str, record: Mapping[str, Any]) -> dict[str, Any]:
    """`record` as `version` decided it."""
    own = record["model"] == version
    return {
        "model": version,
        "applicant": record["applicant"],
        "p_good": record["p_good"] if own else record["shadow_p_good"],
        "decision": record["decision"] if own else record["shadow_decision"],
        "repaid": record["repaid"],
    }


def compare(records: Iterable[Mapping[str, Any]]) -> list[PairComparison]:
    """The comparison of each pair of versions over `records` (any period; records
    without a second version's answer are left out)."""
    pairs: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for record in records:
        if record["shadow_model"] is not None and not record["what_if"]:
            first, second = sorted((record["model"], record["shadow_model"]))
            pairs.setdefault((first, second), []).append(record)
    comparisons = []
    for (first, second), paired in sorted(pairs.items()):
        views = {v: [_as(v, r) for r in paired] for v in (first, second)}
        good = {v: np.array([r["decision"] == GOOD for r in rows]) for v, rows in views.items()}
        p_good = {v: np.array([r["p_good"] for r in rows]) for v, rows in views.items()}
        difference = p_good[second] - p_good[first]
        p05, p50, p95 = np.quantile(difference, [0.05, 0.5, 0.95])
        comparisons.append(
            PairComparison(
                versions=(first, second),
                applicants=len(paired),
                answered={v: sum(r["model"] == v for r in paired) for v in (first, second)},
                approval_rate={v: float(g.mean()) for v, g in good.items()},
                flip_rate=float(np.mean(good[first] != good[second])),
                p_good_difference=Difference(
                    mean=float(difference.mean()),
                    p05=float(p05),
                    p50=float(p50),
                    p95=float(p95),
                    max_abs=float(np.abs(difference).max()),
                ),
                fairness=live_fairness(views[first] + views[second]),
                realised=realised(
                    r for rows in views.values() for r in rows if r["repaid"] is not None
                ),
            )
        )
    return comparisons


def comparison_metrics(counts: Iterable[Mapping[str, Any]]) -> str:
    """`Records.paired_counts` as Prometheus gauges, per pair of versions (`model` the first
    in tag order, `other` the second) and, for the per-version figures, per version
    (`model`) within its pair (`other`): no figure by group here."""
    pairs: dict[tuple[str, str], dict[str, Any]] = {}
    for row in counts:
        first, second = sorted((row["model"], row["shadow_model"]))
        pair = pairs.setdefault(
            (first, second),
            {"applicants": 0, "flips": 0, "difference": 0.0, "answered": {}, "good": {}},
        )
        n = int(row["applicants"])
        pair["applicants"] += n
        pair["flips"] += int(row["flips"])
        sign = 1.0 if row["model"] == first else -1.0  # as second minus first
        pair["difference"] += sign * float(row["difference"])
        pair["answered"][row["model"]] = pair["answered"].get(row["model"], 0) + n
        for version, good in (
            (row["model"], row["good"]),
            (row["shadow_model"], row["shadow_good"]),
        ):
            pair["good"][version] = pair["good"].get(version, 0) + int(good)
    if not pairs:
        return ""
    lines = []
    for name, meaning in (
        ("applicants", "Applicants scored by both versions of the pair."),
        ("flip_rate", "Share of them whose decision differs between the two versions."),
        ("p_good_difference_mean", "Mean P(good) of the other version less the model's."),
    ):
        lines += [
            f"# HELP credit_risk_challenger_{name} {meaning}",
            f"# TYPE credit_risk_challenger_{name} gauge",
        ]
        for (first, second), pair in sorted(pairs.items()):
            value = {
                "applicants": pair["applicants"],
                "flip_rate": pair["flips"] / pair["applicants"],
                "p_good_difference_mean": pair["difference"] / pair["applicants"],
            }[name]
            labels = f'model="{first}",other="{second}"'
            lines.append(f"credit_risk_challenger_{name}{{{labels}}} {float(value)!r}")
    for name, meaning in (
        ("answered", "Applicants of the pair the version answered."),
        ("approval_rate", "Share of the pair's applicants the version calls good."),
    ):
        lines += [
            f"# HELP credit_risk_challenger_{name} {meaning}",
            f"# TYPE credit_risk_challenger_{name} gauge",
        ]
        for (first, second), pair in sorted(pairs.items()):
            for version, other in ((first, second), (second, first)):
                value = (
                    pair["answered"].get(version, 0)
                    if name == "answered"
                    else pair["good"].get(version, 0) / pair["applicants"]
                )
                lines.append(
                    f'credit_risk_challenger_{name}{{model="{version}",other="{other}"}} '
                    f"{float(value)!r}"
                )
    return "\n".join(lines) + "\n"
