"""The loan officer's form is rendered from the contract's schema."""

from __future__ import annotations

from credit_risk.contract import MAX_AGE, MAX_CREDIT_AMOUNT, MAX_DURATION, MIN_AGE, Applicant
from serving.http.loan_form import number_limits

PROPERTIES = Applicant.model_json_schema()["properties"]


def test_integer_fields_get_whole_steps_and_the_next_integer_above_an_exclusive_minimum() -> None:
    assert number_limits(PROPERTIES["Age"]) == (
        {"step": 1, "min": MIN_AGE, "max": MAX_AGE},
        "18 to 120",
    )
    assert number_limits(PROPERTIES["Duration"])[0] == {"step": 1, "min": 1, "max": MAX_DURATION}


def test_a_real_valued_field_keeps_its_exclusive_minimum_as_the_bound() -> None:
    attributes, hint = number_limits(PROPERTIES["Credit amount"])
    assert attributes == {"step": "any", "min": 0, "max": MAX_CREDIT_AMOUNT}
    assert hint == "more than 0, at most 10,000,000"
