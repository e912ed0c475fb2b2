"""Behavioural expectations of the credit-risk model, measured on the 1000 applicants.

Each expectation perturbs every applicant in one field and compares the mean calibrated
P(good) of the model before and after (or across the ordered levels of a field). They
are stated in the model card and checked by tests/model/test_behaviour.py against the
exported model; a violation is reported there, never hidden.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from credit_risk.artifacts import Scorer
from credit_risk.contract import MAX_AGE, MIN_AGE, encode

Record = Mapping[str, Any]
# Account levels from least to most money; "NA" (no account known) has no place in the order.
ORDERED_LEVELS: dict[str, tuple[str, ...]] = {
    "Checking account": ("little", "moderate", "rich"),
    "Saving accounts": ("little", "moderate", "quite rich", "rich"),
}
# Regulation B's elderly applicant (12 CFR 1002.2(o)).
ELDERLY_AGE = 62
LONGER_BY_MONTHS = 12
LARGER_BY_FACTOR = 1.5


@dataclass(frozen=True)
class Check:
    name: str
    expectation: str
    observed: str
    holds: bool


def mean_p_good(scorer: Scorer, records: list[Record], change: Callable[[Record], Record]) -> float:
    return float(scorer.predict_proba(encode(change(r) for r in records)).mean())


def _ordered(scorer: Scorer, records: list[Record], field: str) -> Check:
    levels = ORDERED_LEVELS[field]
    means = [mean_p_good(scorer, records, lambda r, v=v: {**r, field: v}) for v in levels]
    return Check(
        name=f"{field.lower().replace(' ', '_')}_order",
        expectation=f"More money in the {field.lower()} ({' < '.join(levels)}) does not lower "
        "the mean P(good) of the applicants, all else equal.",
        observed=", ".join(f"{v}: {m:.3f}" for v, m in zip(levels, means, strict=True)),
        holds=bool(np.all(np.diff(means) >= 0)),
    )


def _shift(
    scorer: Scorer, records: list[Record], name: str, expectation: str, change: Callable
) -> Check:
    before = scorer.predict_proba(encode(records))
    after = scorer.predict_proba(encode(change(r) for r in records))
    delta = after - before
    return Check(
        name=name,
        expectation=expectation,
        observed=f"mean change {delta.mean():+.4f}; raised for {np.mean(delta > 0):.0%} "
        "of the applicants",
        holds=bool(delta.mean() <= 0),
    )


def _elderly(scorer: Scorer, records: list[Record]) -> Check:
    """Regulation B 1002.6(b)(2), over every whole age from `MIN_AGE` to `MAX_AGE`."""
    ages = range(MIN_AGE, MAX_AGE + 1)
    p = np.stack([scorer.predict_proba(encode({**r, "Age": a} for r in records)) for a in ages])
    elderly = np.array(ages) >= ELDERLY_AGE
    shortfall = p[~elderly].max(axis=0) - p[elderly].min(axis=0)
    return Check(
        name="elderly_not_scored_below_younger",
        expectation=f"For every applicant, P(good) at any age of {ELDERLY_AGE} or more is at "
        f"least the highest P(good) the same applicant gets at any age below {ELDERLY_AGE} "
        f"(ages {MIN_AGE}-{MAX_AGE}).",
        observed=f"{int((shortfall > 0).sum())} applicants scored lower at an elderly age; "
        f"largest shortfall {max(float(shortfall.max()), 0.0):.4f}",
        holds=bool((shortfall <= 0).all()),
    )


def checks(scorer: Scorer, records: list[Record]) -> list[Check]:
    """Every behavioural expectation, measured on `records`."""
    return [
        _ordered(scorer, records, "Checking account"),
        _ordered(scorer, records, "Saving accounts"),
        _shift(
            scorer,
            records,
            "longer_duration",
            f"A duration {LONGER_BY_MONTHS} months longer with the same credit amount does "
            "not raise the mean P(good).",
            lambda r: {**r, "Duration": r["Duration"] + LONGER_BY_MONTHS},
        ),
        _shift(
            scorer,
            records,
            "larger_amount",
            f"A credit amount {LARGER_BY_FACTOR}x larger with the same duration does not "
            "raise the mean P(good).",
            lambda r: {**r, "Credit amount": r["Credit amount"] * LARGER_BY_FACTOR},
        ),
        _elderly(scorer, records),
    ]


def sex_flip(scorer: Scorer, records: list[Record]) -> dict[str, float]:
    """What the model does with Sex alone: P(good) with each applicant's Sex flipped.

    Sex is not an input (`credit_risk.contract.MONITORED_FIELDS`), so every change is 0; the
    card reports it as measured, and tests/model/test_behaviour.py checks it.
    """
    flipped = {"male": "female", "female": "male"}
    before = scorer.predict_proba(encode(records))
    after = scorer.predict_proba(encode({**r, "Sex": flipped[r["Sex"]]} for r in records))
    to_female = np.array([r["Sex"] == "male" for r in records])
    return {
        "mean_abs_change": float(np.abs(after - before).mean()),
        "male_to_female_mean_change": float((after - before)[to_female].mean()),
        "female_to_male_mean_change": float((after - before)[~to_female].mean()),
    }
