"""How the decisions with an outcome turned out: published in whole blocks of 100."""

from __future__ import annotations

import itertools
import re

from serving.records.outcomes import BLOCK, realised, realised_metrics

IDS = itertools.count()


def labelled(n: int, model: str = "m:1", inverted: bool = False) -> list[dict]:
    """`n` decisions' first outcomes, P(good) ranking them perfectly (or inverted)."""
    rows = []
    for i in range(n):
        repaid = i % 2 == 0
        p = 0.9 if repaid != inverted else 0.1
        rows.append({"id": next(IDS), "model": model, "p_good": p,
                     "decision": "good" if p > 0.5 else "bad", "repaid": repaid})  # fmt: skip
    return rows


def corrections(events: list[dict]) -> list[dict]:
    """A correction of each of `events`: the other outcome."""
    return [{**event, "repaid": not event["repaid"]} for event in events]


def gauge(text: str, name: str, model: str = "m:1") -> float | None:
    found = re.search(rf'^credit_risk_realised_{name}{{model="{model}"}} (\S+)$', text, re.M)
    return None if found is None else float(found.group(1))


def test_figures_move_only_once_a_whole_block_of_outcomes_is_in() -> None:
    honest = labelled(2 * BLOCK)
    text = realised_metrics(honest)
    assert gauge(text, "decisions") == 2 * BLOCK and gauge(text, "auc") == 1.0
    # Up to 99 more outcomes, inverted by an attacker or not, change nothing anyone sees.
    assert realised_metrics(honest + labelled(BLOCK - 1, inverted=True)) == text
    moved = realised_metrics(honest + labelled(BLOCK, inverted=True))
    assert gauge(moved, "decisions") == 3 * BLOCK and gauge(moved, "auc") < 1.0


def test_a_correction_moves_the_figures_only_with_a_whole_block_of_events() -> None:
    honest = labelled(2 * BLOCK)
    text = realised_metrics(honest)
    # One correction, or 99, is not published: its difference would tell what it changed.
    assert realised_metrics(honest + corrections(honest[:1])) == text
    assert realised_metrics(honest + corrections(honest[: BLOCK - 1])) == text
    moved = realised_metrics(honest + corrections(honest[:BLOCK]))
    assert gauge(moved, "decisions") == 2 * BLOCK  # the same decisions, corrected
    assert gauge(moved, "auc") < 1.0


def test_a_version_with_fewer_outcomes_than_a_block_shows_none_of_them() -> None:
    text = realised_metrics(labelled(2 * BLOCK) + labelled(BLOCK - 1, model="m:2"))
    assert gauge(text, "decisions", "m:2") == 0.0
    for name in ("auc", "brier", "cost"):
        assert gauge(text, name, "m:2") is None


def test_the_auditors_figures_count_every_outcome() -> None:
    rows = labelled(7)
    exact = realised(rows)["m:1"]
    assert exact["decisions"] == 7.0 and exact["auc"] == 1.0
    assert exact["brier"] == sum((r["p_good"] - r["repaid"]) ** 2 for r in rows) / 7
