"""What the public API answers: decisions, and the query options."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError

from credit_risk.contract import EXAMPLE
from credit_risk.decision import Decision, decision_rows
from serving.schemas import CreditScore, Options


@pytest.mark.parametrize("p_good", [math.nan, 1.5, -0.1])
def test_an_impossible_probability_is_a_server_fault(p_good: float) -> None:
    with pytest.raises(ArithmeticError):
        CreditScore.from_row(decision_rows(p_good, True)[0], "credit_risk:v", "approve")


@pytest.mark.parametrize(
    ("p_good", "threshold", "label"),
    [(0.9, 0.5, "good"), (0.51, 0.5, "good"), (0.5, 0.5, "bad"), (0.1, 0.5, "bad"),
     (0.8, 0.83, "bad"), (0.84, 0.83, "good"), (0.83, 0.83, "bad")],
)  # fmt: skip
def test_credit_score_keeps_probability_as_p_good(
    p_good: float, threshold: float, label: str
) -> None:
    decision = Decision(platt_slope=1.0, platt_intercept=0.0, threshold=threshold)
    score = CreditScore.from_row(
        decision_rows(p_good, decision.calls_good(p_good))[0], "credit_risk:v", "refer"
    )
    assert score.prediction == label
    assert score.probability == p_good
    assert score.probability_bad == pytest.approx(1 - p_good)
    assert score.decision == "refer"  # as the policy took it, whatever the prediction


@pytest.mark.parametrize(
    ("query", "wanted"),
    [({}, False), ({"reasons": "true"}, True), ({"reasons": "0"}, False), ({"x": "1"}, False)],
)
def test_options_read_the_reasons_query_parameter(query: dict, wanted: bool) -> None:
    assert Options.model_validate(query).reasons is wanted


def test_an_invalid_reasons_parameter_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="reasons"):
        Options.model_validate({"reasons": "maybe"})


BASELINE = {
    "Credit amount": 1500.0,
    "Duration": 12.0,
    "Job": "highly skilled",
    "Housing": "own",
    "Saving accounts": "rich",
    "Checking account": "rich",
    "Purpose": "car",
}


def test_a_row_with_gains_gives_reasons_and_one_without_none() -> None:
    gains = [0.0, 0.7, 0.0, 0.0, 0.2, 0.9, 0.0]  # Duration, Saving accounts, Checking account
    declined = decision_rows(0.4, False, np.array(gains))[0]
    score = CreditScore.from_row(declined, "credit_risk:v", "refer", EXAMPLE, BASELINE)
    assert [r.code for r in score.reasons] == ["CHK-NONE", "DUR-LONG", "SAV-NONE"]
    assert score.without_reasons().reasons is None
    assert "reasons" not in score.without_reasons().model_dump()
    approved = decision_rows(0.9, True)[0]
    approval = CreditScore.from_row(approved, "credit_risk:v", "approve", EXAMPLE, BASELINE)
    assert approval.reasons is None
    with pytest.raises(ValueError, match="reason baseline"):
        CreditScore.from_row(declined, "credit_risk:v", "refer")
