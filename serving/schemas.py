"""What the public API answers, besides the request body (`credit_risk.contract.Applicant`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from credit_risk.contract import BAD, GOOD, Applicant
from credit_risk.reasons import MAX_REASONS, Reason, principal_reasons
from serving.oversight import DecisionState
from serving.settings import settings


class Options(BaseModel):
    """The query parameters of the prediction endpoints."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    reasons: bool = Field(
        default=False,
        description="Also answer each decision's principal reasons (reason codes), for "
        "approvals too: what held the score down. A decline's reasons are always recorded",
    )
    what_if: bool = Field(
        default=False,
        description="A what-if score (the loan officer's form): recorded as such, it decides "
        "nothing and feeds neither the review queue, drift nor the realised figures",
    )


class CreditScore(BaseModel):
    """The decision for one applicant."""

    prediction: Literal["good", "bad"] = Field(
        description='"good" when P(good) > the model\'s cost-minimising threshold'
    )
    decision: DecisionState = Field(
        description='What happens next: "approve" (final), "decline" (final where '
        'declines need no person) or "refer": a person decides (GET /reviews)'
    )
    probability: float = Field(
        ge=0, le=1, description="Calibrated P(good), whatever the prediction"
    )
    probability_bad: float = Field(ge=0, le=1, description="P(bad) = 1 - P(good)")
    model: str = Field(description="Tag of the model version that scored the request")
    reasons: list[Reason] | None = Field(
        default=None,
        max_length=MAX_REASONS,
        exclude_if=lambda reasons: reasons is None,  # absent unless asked for
        description="The principal reasons, most important first (at most four): the "
        "fields whose most favourable value would have raised P(good) most; only with "
        "?reasons=true",
    )

    @classmethod
    def from_row(
        cls,
        row: np.void,
        model: str,
        decision: DecisionState,
        record: Mapping[str, Any] | None = None,
        baseline: Mapping[str, float | str] | None = None,
    ) -> CreditScore:
        """The answer for a `DECISION_ROW` (`Scorer.decisions`), `decision` as the policy
        takes it (`serving.oversight`) and, where the row has its fields' gains, the
        principal reasons of the applicant `record` against the version's reason
        `baseline`."""
        p_good = float(row["p_good"])
        if not 0.0 <= p_good <= 1.0:  # NaN too: a server fault, never a client's (422)
            raise ArithmeticError(f"model returned P(good) = {p_good}")
        gains = row["gains"]
        reasons = None
        if not np.isnan(gains).all():
            if record is None or baseline is None:
                raise ValueError("reasons need the applicant and the reason baseline")
            reasons = principal_reasons(record, baseline, gains.tolist())
        return cls(
            prediction=GOOD if row["good"] else BAD,
            decision=decision,
            probability=p_good,
            probability_bad=1.0 - p_good,
            model=model,
            reasons=reasons,
        )

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> CreditScore:
        """The answer a decision record (`serving.records.writer.rows_for`) holds, with its
        reasons where it has them."""
        reasons = record["reasons"]
        return cls(
            prediction=record["decision"],
            decision=record["answered"],
            probability=record["p_good"],
            probability_bad=1.0 - record["p_good"],
            model=record["model"],
            reasons=None if reasons is None else reasons["reasons"],
        )

    def without_reasons(self) -> CreditScore:
        """The answer of a request that did not ask for reasons."""
        return self if self.reasons is None else self.model_copy(update={"reasons": None})


class ApplicantBatch(BaseModel):
    """The body of the batch endpoint (its size limit is a setting)."""

    model_config = ConfigDict(extra="forbid")

    applicants: list[Applicant] = Field(
        min_length=1, max_length=settings.max_batch_records, description="The applicants, in order"
    )


class CreditScores(BaseModel):
    """The decisions for a batch of applicants, in request order."""

    predictions: list[CreditScore]


class Health(BaseModel):
    status: Literal["ok"]
    model: str = Field(description="Tag of the served model version")
