"""Human oversight: which decisions a person takes, and the words a reviewer may use.

The model recommends (`prediction`: good or bad); the answer's `decision` says what happens
next: `approve` (final), `decline` (final only where declines need no review) or `refer` (a
person decides: `GET /reviews`, `POST /decisions/{request_id}/review`). A P(good) within the
review band of the threshold is always referred: there the model's call is least reliable.
A contested decision is scored again and always referred.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from serving.settings import Settings

APPROVE, REFER, DECLINE = "approve", "refer", "decline"
DecisionState = Literal["approve", "refer", "decline"]
FinalDecision = Literal["approve", "decline"]

# Why a reviewer's final decision differs from the model's recommendation. A record keeps
# the code; the table's version says which wording it had.
OVERRIDE_REASONS_VERSION = "2026-12"
OVERRIDE_REASONS: dict[str, str] = {
    "verified_income": "Income or assets verified beyond what the application shows",
    "collateral": "Collateral or a guarantor secures the credit",
    "relationship": "The applicant's repayment history with the lender",
    "corrected_data": "The application's data was wrong and the corrected data supports it",
    "affordability": "The affordability assessment does not support the credit",
    "adverse_information": "Information outside the application (fraud or credit bureau check)",
    "policy": "The lender's credit policy (an exception, or a rule the model does not know)",
}
OverrideReason = Literal[tuple(OVERRIDE_REASONS)]  # type: ignore[valid-type]


def recommendation(prediction: str) -> FinalDecision:
    """The final decision the model's `prediction` ("good" or "bad") recommends."""
    return APPROVE if prediction == "good" else DECLINE


@dataclass(frozen=True)
class DecisionPolicy:
    """Which model decisions are final and which a person takes (the review settings)."""

    review_band: float
    decline_needs_review: bool

    def state(self, p_good: float, good: bool, threshold: float) -> DecisionState:
        """The decision answered for one applicant scored `p_good` (`good`: above
        `threshold`)."""
        if abs(p_good - threshold) <= self.review_band:
            return REFER
        if good:
            return APPROVE
        return REFER if self.decline_needs_review else DECLINE

    def of_row(self, row: np.void, threshold: float) -> DecisionState:
        """`state` of a `DECISION_ROW` (`credit_risk.decision`)."""
        return self.state(float(row["p_good"]), bool(row["good"]), threshold)

    @classmethod
    def of(cls, settings: Settings) -> DecisionPolicy:
        return cls(settings.review_band, settings.decline_needs_review)
