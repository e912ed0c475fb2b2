"""The data contract and the request schema derived from it."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from pydantic import ValidationError

from credit_risk.contract import (
    CATEGORICAL_FIELDS,
    CATEGORIES,
    ENCODED_COLUMNS,
    EXAMPLE,
    FIELDS,
    MIN_AGE,
    MONITORED_FIELDS,
    NUMERIC_FIELDS,
    SCORED_CATEGORICAL_FIELDS,
    SCORED_FIELDS,
    Applicant,
    encode,
    encode_applicants,
)


def test_documented_fields_and_categories() -> None:
    assert FIELDS == (
        "Age",
        "Sex",
        "Job",
        "Housing",
        "Saving accounts",
        "Checking account",
        "Credit amount",
        "Duration",
        "Purpose",
    )
    assert set(FIELDS) == set(NUMERIC_FIELDS) | set(CATEGORICAL_FIELDS)
    assert CATEGORIES["Job"] == (
        "unskilled and non-resident",
        "unskilled and resident",
        "skilled",
        "highly skilled",
    )
    assert "NA" in CATEGORIES["Saving accounts"]
    assert "NA" in CATEGORIES["Checking account"]
    for labels in CATEGORIES.values():
        assert len(set(labels)) == len(labels)


def test_schema_uses_documented_names_enums_and_requires_everything() -> None:
    schema = Applicant.model_json_schema(by_alias=True)
    assert list(schema["properties"]) == list(FIELDS)
    assert set(schema["required"]) == set(FIELDS)
    for name, labels in CATEGORIES.items():
        assert schema["properties"][name]["enum"] == list(labels)
    for name in ("Credit amount", "Duration"):
        assert schema["properties"][name]["exclusiveMinimum"] == 0
    assert schema["properties"]["Age"]["minimum"] == MIN_AGE == 18  # applicants are adults


def test_example_is_valid_and_round_trips_by_documented_name_only() -> None:
    applicant = Applicant.model_validate(EXAMPLE)
    assert applicant.by_name() == {**EXAMPLE, "Credit amount": 9055.0}
    assert Applicant.model_validate(applicant.by_name()) == applicant
    with pytest.raises(ValidationError):  # "age", "credit_amount": unknown fields
        Applicant.model_validate(applicant.model_dump())


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("Age", 0),
        ("Age", -3),
        ("Age", 17),
        ("Age", "35"),
        ("Age", 35.5),
        ("Age", 121),
        ("Credit amount", 1e308),
        ("Duration", 601),
        ("Age", True),
        ("Age", None),
        ("Credit amount", 0),
        ("Credit amount", -1.0),
        ("Credit amount", math.nan),
        ("Credit amount", math.inf),
        ("Credit amount", "9055"),
        ("Duration", 0),
        ("Duration", "36"),
        ("Sex", "Male"),
        ("Job", 1),
        ("Job", "unskilled"),
        ("Saving accounts", None),
        ("Saving accounts", "unknown"),
        ("Checking account", "na"),
        ("Purpose", "vacation"),
    ],
)
def test_invalid_values_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as info:
        Applicant.model_validate({**EXAMPLE, field: value})
    assert info.value.errors()[0]["loc"] == (field,)


def test_integral_json_numbers_are_integers() -> None:
    """JSON Schema counts 36.0 as an integer; so does the API."""
    applicant = Applicant.model_validate_json(
        json.dumps({**EXAMPLE, "Age": 35.0, "Duration": 36.0})
    )
    assert (applicant.age, applicant.duration) == (35, 36)


def test_json_infinity_and_huge_numbers_are_refused() -> None:
    body = json.dumps(EXAMPLE)
    for text in ("1e309", "Infinity", "NaN", "-1e309"):
        with pytest.raises(ValidationError):
            Applicant.model_validate_json(body.replace("9055", text))


def test_missing_and_extra_fields_are_refused() -> None:
    for name in FIELDS:
        with pytest.raises(ValidationError):
            Applicant.model_validate({k: v for k, v in EXAMPLE.items() if k != name})
    with pytest.raises(ValidationError):
        Applicant.model_validate({**EXAMPLE, "Saving_accounts": "NA"})


def test_encode_puts_numbers_then_category_codes() -> None:
    encoded = encode_applicants([Applicant.model_validate(EXAMPLE)])
    assert encoded.shape == (1, len(ENCODED_COLUMNS))
    row = dict(zip(ENCODED_COLUMNS, encoded[0], strict=True))
    assert row["Credit amount"] == 9055 and row["Duration"] == 36
    for name in SCORED_CATEGORICAL_FIELDS:
        assert CATEGORIES[name][int(row[name])] == EXAMPLE[name]


def test_sex_and_age_are_validated_but_never_encoded() -> None:
    """Fair lending: no model can read a protected basis."""
    assert set(MONITORED_FIELDS) == {"Sex", "Age"}
    assert not set(ENCODED_COLUMNS) & set(MONITORED_FIELDS)
    assert set(ENCODED_COLUMNS) | set(MONITORED_FIELDS) == set(FIELDS)
    assert tuple(name for name in FIELDS if name in ENCODED_COLUMNS) == SCORED_FIELDS
    one = encode([EXAMPLE])
    other = encode([{**EXAMPLE, "Sex": "female", "Age": 80}])
    np.testing.assert_array_equal(one, other)
    assert encode([{k: v for k, v in EXAMPLE.items() if k not in MONITORED_FIELDS}]).shape == (
        1,
        len(ENCODED_COLUMNS),
    )


def test_encode_refuses_unknown_labels_instead_of_encoding_nothing() -> None:
    with pytest.raises(KeyError):
        encode([{**EXAMPLE, "Job": 2}])
    assert encode([]).shape == (0, len(ENCODED_COLUMNS))
    assert encode([EXAMPLE]).dtype == np.float64
