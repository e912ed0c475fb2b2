"""What the public API answers, besides the request body (`credit_risk.contract.Applicant`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from credit_risk.contract import BAD, GOOD, Applicant
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
    def from_row(
        cls,
        row: Sequence[float],
        model: str,
        record: Mapping[str, Any] | None = None,
        reference: Mapping[str, Any] | None = None,
    ) -> CreditScore:
        """The answer for a row of `Scorer.decisions`: P(good), the decision (1.0: good)
        and, when the row has them, the contributions, ranked into reasons for the
        applicant `record` against the `reference` applicant."""
        p_good, good = float(row[0]), bool(row[1])
        if not 0.0 <= p_good <= 1.0:  # NaN too: a server fault, never a client's (422)
            raise ArithmeticError(f"model returned P(good) = {p_good}")
        reasons = None
        if len(row) > 2:
            if record is None or reference is None:
                raise ValueError("reasons need the applicant and the reference applicant")
            reasons = Reasons.rank(record, reference, [float(c) for c in row[2:]])
        return cls(
            prediction=GOOD if good else BAD,
            probability=p_good,
            probability_bad=1.0 - p_good,
            model=model,
            reasons=reasons,
        )


class ApplicantBatch(BaseModel):
    """The body of the batch endpoint (its size limit is a setting)."""

    applicants: list[Applicant] = Field(min_length=1, description="The applicants, in order")


class CreditScores(BaseModel):
    """The decisions for a batch of applicants, in request order."""

    predictions: list[CreditScore]


class Health(BaseModel):
    status: Literal["ok"]
    model: str = Field(description="Tag of the served model version")
