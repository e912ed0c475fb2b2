"""What the public API answers, besides the request body (`credit_risk.contract.Applicant`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from credit_risk.contract import BAD, GOOD
from credit_risk.explain import Reasons


class Options(BaseModel):
    """The query parameters of the prediction endpoints."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    reasons: bool = Field(
        default=False,
        description="Also answer the fields that pushed each decision most (reason codes); "
        "they cost 64 forward passes of the network per applicant on average",
    )


class CreditScore(BaseModel):
    """The decision for one applicant."""

    prediction: Literal["good", "bad"] = Field(
        description='"good" when P(good) > the model\'s cost-minimising threshold'
    )
    probability: float = Field(
        ge=0, le=1, description="Calibrated P(good), whatever the prediction"
    )
    probability_bad: float = Field(ge=0, le=1, description="P(bad) = 1 - P(good)")
    model: str = Field(description="Tag of the model version that scored the request")
    reasons: Reasons | None = Field(
        default=None,
        exclude_if=lambda reasons: reasons is None,  # absent unless asked for
        description="The fields that pushed the decision most; only with ?reasons=true",
    )

    @classmethod
    def from_decision(
        cls, p_good: float, good: bool, model: str, reasons: Reasons | None = None
    ) -> CreditScore:
        """The answer for P(good) and the model version's decision (`Decision.calls_good`)."""
        if not 0.0 <= p_good <= 1.0:  # NaN too: a server fault, never a client's (422)
            raise ArithmeticError(f"model returned P(good) = {p_good}")
        return cls(
            prediction=GOOD if good else BAD,
            probability=p_good,
            probability_bad=1.0 - p_good,
            model=model,
            reasons=reasons,
        )


class CreditScores(BaseModel):
    """The decisions for a batch of applicants, in request order."""

    predictions: list[CreditScore]


class Health(BaseModel):
    status: Literal["ok"]
    model: str = Field(description="Tag of the served model version")
