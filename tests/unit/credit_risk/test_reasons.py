"""The reason table, the ranking of gains into principal reasons, and the baseline's fit."""

from __future__ import annotations

import numpy as np
import pytest

from credit_risk.contract import CATEGORIES, ENCODED_COLUMNS, EXAMPLE, encode
from credit_risk.reasons import (
    MAX_REASONS,
    MIN_GAIN,
    REASON_TABLE,
    MissingReason,
    check_table,
    encoded_baseline,
    field_gains,
    fit_baseline,
    principal_reasons,
    table_keys,
)

BASELINE = {
    "Credit amount": 1500.0,
    "Duration": 12.0,
    "Job": "highly skilled",
    "Housing": "own",
    "Saving accounts": "rich",
    "Checking account": "rich",
    "Purpose": "car",
}


def gains_of(**by_field: float) -> list[float]:
    return [by_field.get(name, 0.0) for name in ENCODED_COLUMNS]


def test_every_reason_the_scorer_can_give_has_a_code_and_a_sentence() -> None:
    check_table()
    assert set(table_keys()) <= set(REASON_TABLE)


def test_a_missing_entry_is_refused_naming_it() -> None:
    table = {k: v for k, v in REASON_TABLE.items() if k != ("Purpose", "repairs")}
    with pytest.raises(MissingReason, match="Purpose = 'repairs'"):
        check_table(table)


def test_reasons_are_ranked_by_gain_at_most_four_with_codes_and_sentences() -> None:
    gains = gains_of(
        **{
            "Duration": 0.4,
            "Checking account": 0.9,
            "Credit amount": 0.2,
            "Saving accounts": 0.3,
            "Purpose": 0.1,
            "Housing": -0.5,
        }
    )
    reasons = principal_reasons(EXAMPLE, BASELINE, gains)
    assert len(reasons) == MAX_REASONS
    assert [r.field for r in reasons] == [
        "Checking account",
        "Duration",
        "Saving accounts",
        "Credit amount",
    ]
    first = reasons[0]
    assert (first.code, first.text) == REASON_TABLE[("Checking account", "NA")]
    assert (first.value, first.baseline) == ("NA", "rich")
    duration = reasons[1]
    assert (duration.code, duration.value, duration.baseline) == ("DUR-LONG", 36, 12)


def test_small_negative_and_uncomputed_gains_are_no_reasons() -> None:
    gains = gains_of(Duration=MIN_GAIN / 2, Purpose=-1.0, Housing=float("nan"))
    assert principal_reasons(EXAMPLE, BASELINE, gains) == []


def test_gains_must_cover_the_scored_fields() -> None:
    with pytest.raises(ValueError, match="scored fields"):
        principal_reasons(EXAMPLE, BASELINE, [0.5])


def test_field_gains_move_one_column_at_a_time() -> None:
    weights = np.arange(1.0, len(ENCODED_COLUMNS) + 1)
    rows = encode([EXAMPLE, {**EXAMPLE, **BASELINE}])
    base = encoded_baseline(BASELINE)
    logits, gains = field_gains(rows, base, lambda x: x @ weights)
    np.testing.assert_allclose(logits, rows @ weights)
    np.testing.assert_allclose(gains[0], (base - rows[0]) * weights)
    assert (gains[1] == 0).all()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"Checking account": "NA"}, "Checking account cannot be 'NA'"),
        ({"Purpose": "yacht"}, "Purpose cannot be"),
        ({"Duration": float("nan")}, "Duration is not a positive number"),
        ({"Sex": "male"}, "names"),
    ],
)
def test_a_bad_baseline_is_refused(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        encoded_baseline(BASELINE | change)


def test_the_baseline_is_the_value_with_the_highest_mean_p_good() -> None:
    rows = encode([EXAMPLE] * 3)
    saving = ENCODED_COLUMNS.index("Saving accounts")
    checking = ENCODED_COLUMNS.index("Checking account")

    def p_good(x: np.ndarray) -> np.ndarray:
        # Prefers "NA" checking (never a baseline), then "moderate"; short durations.
        return 1 / (1 + np.exp(x[:, ENCODED_COLUMNS.index("Duration")] / 10
                               - (x[:, checking] == 2) - 3 * (x[:, checking] == 0)
                               - 0.1 * x[:, saving]))  # fmt: skip

    edges = {"Credit amount": [1000.0, 2000.0], "Duration": [6.0, 12.0, 24.0]}
    baseline = fit_baseline(rows, p_good, edges)
    assert baseline["Checking account"] == "moderate"
    assert baseline["Duration"] == 6.0
    assert baseline["Saving accounts"] == CATEGORIES["Saving accounts"][-1]
