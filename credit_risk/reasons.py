"""Adverse-action reasons: what would have moved this applicant towards approval.

Each scored field is measured against the version's reason baseline, the field's most
favourable attainable value ("points below maximum", as in a scorecard): the value that
gives the training rows the highest mean P(good) when each of them takes it (a partial
dependence), among the field's categories or training deciles. The baseline of an account
balance is never "NA": no applicant is told that holding an account hurt them.

A field's gain is the log-odds of "good" this applicant would gain if only that field took
its baseline value, the others kept as they are: one forward pass per field that differs
from the baseline, at most seven per applicant. The principal reasons are the fields with
the largest gains, at most four (Regulation B's official commentary: more than four is
unlikely to help the applicant), each a stable code and a sentence from `REASON_TABLE`.
Sex and Age are not scored (`credit_risk.contract.MONITORED_FIELDS`), so no reason names them.

The table is versioned (`REASON_TABLE_VERSION`): a record keeps the codes, the version and
the model version, and with the recorded inputs that recomputes its reasons exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from credit_risk.contract import (
    CATEGORIES,
    ENCODED_COLUMNS,
    SCORED_CATEGORICAL_FIELDS,
    SCORED_NUMERIC_FIELDS,
)

REASON_TABLE_VERSION = "1"
# For a numeric field: whether the applicant's value lies above or below the baseline.
HIGHER, LOWER = "higher", "lower"
# Account balances whose baseline is a known balance, never "NA" (no account known).
KNOWN_BALANCE_FIELDS = ("Saving accounts", "Checking account")
# Job's baseline is the highest skill: no applicant is told that more skill, or residence
# (the data's "unskilled and non-resident"), counted against them. The data's Job effect is
# small and not monotone (mean P(good) of the 1000 rows with each value 0.67-0.70), so a
# most-favourable pick among the four would follow noise.
JOB_BASELINE = "highly skilled"

# (field, the applicant's category, or HIGHER / LOWER than the baseline) -> (code, sentence)
REASON_TABLE: dict[tuple[str, str], tuple[str, str]] = {
    ("Credit amount", HIGHER): ("AMT-HIGH", "Amount of credit requested is high"),
    ("Credit amount", LOWER): ("AMT-LOW", "Amount of credit requested is low"),
    ("Duration", HIGHER): ("DUR-LONG", "Duration of the credit is long for the amount"),
    ("Duration", LOWER): ("DUR-SHORT", "Duration of the credit is short for the amount"),
    ("Job", "unskilled and non-resident"): ("JOB-UNSKILLED", "Type of employment: unskilled"),
    ("Job", "unskilled and resident"): ("JOB-UNSKILLED", "Type of employment: unskilled"),
    ("Job", "skilled"): ("JOB-SKILLED", "Type of employment: skilled, not highly skilled"),
    ("Job", "highly skilled"): ("JOB-HIGHLY-SKILLED", "Type of employment: highly skilled"),
    ("Housing", "own"): ("HOUSING-OWN", "Residence: owner-occupied"),
    ("Housing", "rent"): ("HOUSING-RENT", "Residence: rented"),
    ("Housing", "free"): ("HOUSING-FREE", "Residence: lives without paying rent"),
    ("Saving accounts", "NA"): ("SAV-NONE", "No savings account known"),
    ("Saving accounts", "little"): ("SAV-LOW", "Low balance in the savings account"),
    ("Saving accounts", "moderate"): ("SAV-MODERATE", "Moderate balance in the savings account"),
    ("Saving accounts", "quite rich"): (
        "SAV-BELOW-TOP",
        "Balance in the savings account below the highest band",
    ),
    ("Saving accounts", "rich"): ("SAV-TOP", "Balance in the savings account"),
    ("Checking account", "NA"): ("CHK-NONE", "No checking account known"),
    ("Checking account", "little"): ("CHK-LOW", "Low balance in the checking account"),
    ("Checking account", "moderate"): (
        "CHK-MODERATE",
        "Moderate balance in the checking account",
    ),
    ("Checking account", "rich"): ("CHK-TOP", "Balance in the checking account"),
    ("Purpose", "car"): ("PURPOSE-CAR", "Purpose of the credit: car"),
    ("Purpose", "furniture/equipment"): (
        "PURPOSE-FURNITURE",
        "Purpose of the credit: furniture or equipment",
    ),
    ("Purpose", "radio/TV"): ("PURPOSE-RADIO-TV", "Purpose of the credit: radio or TV"),
    ("Purpose", "domestic appliances"): (
        "PURPOSE-APPLIANCES",
        "Purpose of the credit: domestic appliances",
    ),
    ("Purpose", "repairs"): ("PURPOSE-REPAIRS", "Purpose of the credit: repairs"),
    ("Purpose", "education"): ("PURPOSE-EDUCATION", "Purpose of the credit: education"),
    ("Purpose", "business"): ("PURPOSE-BUSINESS", "Purpose of the credit: business"),
    ("Purpose", "vacation/others"): (
        "PURPOSE-OTHER",
        "Purpose of the credit: vacation or other",
    ),
}
MAX_REASONS = 4
# Smaller gains (under 1 % of the odds) are no reason to tell an applicant.
MIN_GAIN = 0.01


class MissingReason(LookupError):
    """A reason the scorer can give has no entry in `REASON_TABLE`."""


def table_keys() -> list[tuple[str, str]]:
    """Every (field, category or direction) a reason can be about."""
    return [(name, d) for name in SCORED_NUMERIC_FIELDS for d in (HIGHER, LOWER)] + [
        (name, label) for name in SCORED_CATEGORICAL_FIELDS for label in CATEGORIES[name]
    ]


def check_table(table: Mapping[tuple[str, str], tuple[str, str]] = REASON_TABLE) -> None:
    """Raise MissingReason naming the first reason without a code and a sentence."""
    for key in table_keys():
        if key not in table or not all(table[key]):
            raise MissingReason(f"no reason code for {key[0]} = {key[1]!r} in the reason table")


check_table()  # at import: a scorer can never reach a reason without words


def baseline_candidates(name: str, profile_edges: Sequence[float]) -> list[float | str]:
    """The values a field's baseline is chosen from: its categories (a known balance for
    the account fields, the highest skill for Job), or the training deciles of a numeric
    field."""
    if name in SCORED_NUMERIC_FIELDS:  # whole months and Deutsche Mark, as applicants ask
        return sorted({float(round(v)) for v in profile_edges})
    if name == "Job":
        return [JOB_BASELINE]
    labels = CATEGORIES[name]
    return [v for v in labels if not (name in KNOWN_BALANCE_FIELDS and v == "NA")]


class Reason(BaseModel):
    """One principal reason of a decision."""

    code: str = Field(description="Stable reason code, e.g. CHK-LOW (see docs/api.md)")
    text: str = Field(
        description='The sentence sent to the applicant, e.g. "Low balance in the checking account"'
    )
    field: str = Field(description="The documented input field it is about")
    value: int | float | str = Field(description="The applicant's value")
    baseline: int | float | str = Field(
        description="The field's most favourable value, which the gain is measured against"
    )
    gain: float = Field(
        description="Log-odds of good the applicant would gain with the baseline value of "
        "this field alone"
    )


def _shown(value: float | str) -> int | float | str:
    """A numeric value as a loan officer reads it: 36, not 36.0."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def principal_reasons(
    record: Mapping[str, Any], baseline: Mapping[str, float | str], gains: Sequence[float]
) -> list[Reason]:
    """The largest gains of `gains` (one per field of `ENCODED_COLUMNS`), at most
    `MAX_REASONS`, largest first, in words."""
    if len(gains) != len(ENCODED_COLUMNS):
        raise ValueError(f"{len(gains)} gains for {len(ENCODED_COLUMNS)} scored fields")
    # Ranked before any is put in words: most fields are not among the principal ones.
    ranked = sorted(
        ((gain, name) for name, gain in zip(ENCODED_COLUMNS, gains, strict=True)
         if gain >= MIN_GAIN),  # NaN too: not computed
        key=lambda pair: -pair[0],
    )[:MAX_REASONS]  # fmt: skip
    reasons = []
    for gain, name in ranked:
        value = record[name]
        if name in SCORED_NUMERIC_FIELDS:
            key = (name, HIGHER if float(value) > float(baseline[name]) else LOWER)
        else:
            key = (name, str(value))
        code, text = REASON_TABLE[key]
        reasons.append(
            Reason(
                code=code,
                text=text,
                field=name,
                value=_shown(value),
                baseline=_shown(baseline[name]),
                gain=float(gain),
            )
        )
    return reasons


def field_gains(
    encoded: np.ndarray, baseline: np.ndarray, logits: Callable[[np.ndarray], np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """The rows' `logits` (encoded rows -> one number each) and, per row and column, the
    gain in logit when that column alone takes the `baseline` row's value (0 where it has
    it already). `logits` is called once, on the rows and all their variants: one forward
    pass costs less than two."""
    rows, columns = np.nonzero(encoded != baseline)
    variants = encoded[rows].copy()
    variants[np.arange(len(rows)), columns] = baseline[columns]
    values = logits(np.concatenate([encoded, variants]))
    gains = np.zeros(encoded.shape)
    gains[rows, columns] = values[len(encoded) :] - values[rows]
    return values[: len(encoded)], gains


def encoded_baseline(baseline: Mapping[str, float | str]) -> np.ndarray:
    """The baseline as an encoded row (`contract.encode` of the scored fields); raises
    ValueError unless it names exactly the scored fields, each with an allowed value."""
    if set(baseline) != set(ENCODED_COLUMNS):
        raise ValueError(f"the reason baseline names {sorted(baseline)}, not {ENCODED_COLUMNS}")
    row = []
    for name in ENCODED_COLUMNS:
        value = baseline[name]
        if name in SCORED_NUMERIC_FIELDS:
            if isinstance(value, str) or not np.isfinite(value) or value <= 0:
                raise ValueError(f"the reason baseline of {name} is not a positive number")
            row.append(float(value))
        else:
            if value not in baseline_candidates(name, ()):
                raise ValueError(f"the reason baseline of {name} cannot be {value!r}")
            row.append(float(CATEGORIES[name].index(value)))
    return np.array(row)


def fit_baseline(
    encoded: np.ndarray, p_good: Any, numeric_edges: Mapping[str, Sequence[float]]
) -> dict[str, float | str]:
    """Each field's most favourable value for the model `p_good` (encoded rows -> P(good)):
    of `baseline_candidates`, the one that gives the rows `encoded` (the training rows) the
    highest mean P(good) when all of them take it."""
    baseline: dict[str, float | str] = {}
    for j, name in enumerate(ENCODED_COLUMNS):
        candidates = baseline_candidates(name, numeric_edges.get(name, ()))
        codes = [
            float(v) if name in SCORED_NUMERIC_FIELDS else float(CATEGORIES[name].index(v))
            for v in candidates
        ]
        variants = np.concatenate([encoded] * len(codes))
        variants[:, j] = np.repeat(codes, len(encoded))
        means = p_good(variants).reshape(len(codes), len(encoded)).mean(axis=1)
        baseline[name] = candidates[int(np.argmax(means))]
    return baseline
