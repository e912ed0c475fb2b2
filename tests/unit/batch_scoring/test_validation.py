"""Vectorised validation of batches against the contract (batch_scoring.validation)."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from pydantic import ValidationError

from batch_scoring.validation import MissingColumns, check
from credit_risk.contract import CATEGORIES, EXAMPLE, FIELDS, NUMERIC_FIELDS, Applicant, encode


def text_batch(rows: list[dict]) -> pa.RecordBatch:
    """Rows as a CSV reader gives them: every cell text, an empty cell missing."""
    return pa.RecordBatch.from_pylist(
        [{k: None if v is None else str(v) for k, v in row.items()} for row in rows],
        schema=pa.schema([pa.field(name, pa.string()) for name in rows[0]]),
    )


def test_valid_rows_are_encoded_like_the_contract(records: list[dict]) -> None:
    for batch in (pa.RecordBatch.from_pylist(records), text_batch(records)):
        checked = check(batch)
        assert checked.valid.all() and checked.errors == [None] * len(records)
        np.testing.assert_array_equal(checked.encoded, encode(records))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("Age", None, "Age: missing"),
        ("Purpose", None, "Purpose: missing"),
        ("Purpose", "boat", "Purpose: not one of ['car', "),
        ("Sex", "Male", "Sex: not one of ['male', 'female']: 'Male'"),
        ("Age", "abc", "Age: not a number: 'abc'"),
        ("Age", "NaN", "Age: not a number: 'NaN'"),
        ("Credit amount", "inf", "Credit amount: not a number: 'inf'"),
        ("Duration", "-4", "Duration: must be greater than 0: '-4'"),
        ("Credit amount", "0", "Credit amount: must be greater than 0: '0'"),
        ("Age", "35.5", "Age: not an integer: '35.5'"),
    ],
)
def test_text_errors_name_row_field_and_value(field: str, value: str, message: str) -> None:
    rows = [EXAMPLE, {**EXAMPLE, field: value}, EXAMPLE]
    checked = check(text_batch(rows), first_row=7)
    assert checked.valid.tolist() == [True, False, True]
    assert checked.errors[0] is None and checked.errors[2] is None
    assert checked.errors[1].startswith(f"row 8: {message}")


def test_text_numbers_in_usual_spellings_are_accepted() -> None:
    rows = [
        {**EXAMPLE, "Age": " 35 ", "Credit amount": "9.055e3", "Duration": "36.0"},
        {**EXAMPLE, "Credit amount": "+9055.", "Duration": "36"},
    ]
    checked = check(text_batch(rows))
    assert checked.valid.all()
    np.testing.assert_array_equal(checked.encoded, encode([EXAMPLE, EXAMPLE]))


def test_every_problem_of_a_row_is_reported_in_field_order() -> None:
    row = {**EXAMPLE, "Purpose": "boat", "Age": "-1", "Housing": None}
    (error,) = check(text_batch([row])).errors
    assert error.startswith("Age: must be at least 18: '-1'; Housing: missing; Purpose: ")


def test_typed_nan_and_infinity_are_rejected() -> None:
    rows = [{**EXAMPLE, "Credit amount": v} for v in (math.nan, math.inf, 9055.0)]
    checked = check(pa.RecordBatch.from_pylist(rows))
    assert checked.errors[:2] == [
        "Credit amount: not a finite number: nan",
        "Credit amount: not a finite number: inf",
    ]
    assert checked.valid.tolist() == [False, False, True]


# Typed values (as in Parquet or Spark) that the API's schema accepts or rejects. Files are
# deliberately more lenient in two ways, tested above: numbers written as text ("36", as
# CSV cells are) and integral floats for integer fields (36.0).
CANDIDATES: dict[str, list] = {
    **{name: [36, 0, -2, 10**9, None, 36.5, math.nan, math.inf, True] for name in NUMERIC_FIELDS},
    **{
        name: [*labels, "boat", "", None, labels[0].upper(), 1]
        for name, labels in CATEGORIES.items()
    },
}


def test_agrees_with_the_api_schema_on_every_candidate_value() -> None:
    rows = [{**EXAMPLE, name: value} for name, values in CANDIDATES.items() for value in values]
    valid = []
    for row in rows:
        try:
            Applicant.model_validate(row)
            valid.append(True)
        except ValidationError:
            valid.append(False)
    # One batch per row: a column mixing Python types has no single Arrow type.
    assert [bool(check(pa.RecordBatch.from_pylist([row])).valid[0]) for row in rows] == valid


def test_missing_columns_are_refused_before_any_row() -> None:
    row = {name: EXAMPLE[name] for name in FIELDS if name not in ("Age", "Purpose")}
    with pytest.raises(MissingColumns, match=r"\['Age', 'Purpose'\]"):
        check(text_batch([row]))
