"""What the decision records' routes take and answer."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, TypeAdapter

from credit_risk.contract import JSON_NUMBER
from serving.ids import REQUEST_ID_PATTERN


class OutcomeConflict(ValueError):
    """The outcome contradicts what is recorded, or names no single decision."""


# The client's own reference (X-Application-ID): printable ASCII, as a header value is.
CLIENT_REFERENCE_HEADER = "X-Application-ID"
ClientReference = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\x20-\x7e]+$")]
# An applicant's index in its request: bounded like the database's integers.
Position = Annotated[
    int, Field(ge=0, lt=2**31, description="The applicant's index in a batch"), JSON_NUMBER
]


class OutcomeByRequest(BaseModel):
    """Whether a decided applicant repaid, naming the decision by its request id (and the
    applicant's position in a batch request)."""

    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(pattern=REQUEST_ID_PATTERN)
    position: Position = 0
    repaid: StrictBool = Field(description="True: repaid as agreed; false: defaulted")
    correction: StrictBool = Field(
        default=False,
        description="True to correct an outcome already recorded (the change is recorded "
        "with its author and the old value); without it, another outcome is a 409",
    )


class OutcomeByReference(BaseModel):
    """Whether a decided applicant repaid, naming the decision by the client's reference."""

    model_config = ConfigDict(extra="forbid")

    client_reference: ClientReference
    repaid: StrictBool = Field(description="True: repaid as agreed; false: defaulted")
    correction: StrictBool = Field(
        default=False,
        description="True to correct an outcome already recorded (the change is recorded "
        "with its author and the old value); without it, another outcome is a 409",
    )


class ClientReferenceHeader(BaseModel):
    """The request's X-Application-ID header: an invalid one is a 422 that names it."""

    client_reference: ClientReference | None = Field(default=None, alias=CLIENT_REFERENCE_HEADER)


Outcome = OutcomeByRequest | OutcomeByReference
OUTCOME = TypeAdapter(Outcome)


class DecisionRecord(BaseModel):
    """One recorded decision (GET /decisions/{request_id})."""

    request_id: str
    position: int = Field(description="The applicant's index in its request")
    decided_at: datetime
    model: str
    threshold: float
    applicant: dict[str, Any] = Field(description="The nine inputs, by documented name")
    p_good: float
    decision: str
    reasons: dict[str, Any] | None = Field(
        description='The principal reasons ("reasons", as answered) and the version of the '
        'reason table ("table"); always for a decline'
    )
    caller: str | None = Field(
        description="The name of the caller's API key (CREDIT_RISK_API_KEYS)"
    )
    client_reference: str | None = Field(description="The client's X-Application-ID")
    repaid: bool | None = Field(description="The outcome, once known")
    outcome_at: datetime | None
    outcome_by: str | None = Field(
        description="The name of the key that reported the outcome (or last corrected it)"
    )
