"""What the decision records' routes take and answer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, TypeAdapter

from credit_risk.contract import FIELDS, JSON_NUMBER
from serving.ids import REQUEST_ID_PATTERN
from serving.oversight import OVERRIDE_REASONS, DecisionState, FinalDecision, OverrideReason


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
# A note or a statement: printable text, lines allowed.
Text = Annotated[str, Field(min_length=1, pattern=r"^[^\x00-\x08\x0b-\x1f\x7f]+$")]


class Review(BaseModel):
    """A person's final decision on a referred decision (POST /decisions/{id}/review)."""

    model_config = ConfigDict(extra="forbid")

    position: Position = 0
    decision: FinalDecision
    override_reason: OverrideReason | None = Field(
        default=None,
        description="Needed when the decision differs from the model's recommendation, "
        "else refused: " + "; ".join(f"{code}: {text}" for code, text in OVERRIDE_REASONS.items()),
    )
    note: Annotated[Text, Field(max_length=500)] | None = Field(
        default=None, description="The reviewer's note, kept with the decision"
    )


class Contest(BaseModel):
    """An applicant contests a final decision (POST /decisions/{id}/contest): their
    statement and any fields they correct; the decision is scored again with them and
    referred to a person."""

    model_config = ConfigDict(extra="forbid")

    position: Position = 0
    statement: Annotated[Text, Field(max_length=2000)]
    corrections: dict[str, Any] = Field(
        default={},
        max_length=len(FIELDS),
        description="Fields of the application to correct, by documented name (e.g. "
        '{"Saving accounts": "moderate"}); the others stay as recorded',
    )


@dataclass(frozen=True)
class ContestOf:
    """The record columns of a contest's re-score: the case (the decision contested
    first), the applicant's statement and the review's due date."""

    request_id: str
    position: int
    statement: str
    due_at: datetime

    @staticmethod
    def columns_of(contest: ContestOf | None) -> dict[str, Any]:
        """The columns, all None for a decision that is no contest's."""
        return {
            "contest_of_request_id": None if contest is None else contest.request_id,
            "contest_of_position": None if contest is None else contest.position,
            "contest_statement": None if contest is None else contest.statement,
            "due_at": None if contest is None else contest.due_at,
        }


class ReviewPage(BaseModel):
    """The query of GET /reviews."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=20, ge=1, le=100, description="Most decisions in one page")
    after: Annotated[int, Field(ge=0, lt=2**63)] | None = Field(
        default=None, description="The previous page's `next`: the page after it"
    )


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
    answered: DecisionState | None = Field(
        description="The decision answered: approve, refer (a person decides) or decline"
    )
    final_decision: FinalDecision | None = Field(
        description="approve or decline; none while a person has yet to decide"
    )
    reviewed_by: str | None = Field(description="The name of the reviewer's API key")
    reviewed_at: datetime | None
    override_reason: str | None = Field(
        description="Why the final decision differs from the model's recommendation"
    )
    review_note: str | None
    contest_of_request_id: str | None = Field(
        description="A contest's re-score: the request id of the decision contested first"
    )
    contest_of_position: int | None
    contest_statement: str | None = Field(description="The applicant's statement")
    due_at: datetime | None = Field(description="A contest's review is due by then")
    what_if: bool = Field(description="A what-if score of the loan officer's form: no decision")
    shadow_model: str | None = Field(
        default=None,
        description="With a challenger: the other version, which scored this applicant too",
    )
    shadow_p_good: float | None = Field(default=None, description="The other version's P(good)")
    shadow_decision: str | None = Field(
        default=None, description="The other version's prediction (good or bad)"
    )
    shadow_answered: DecisionState | None = Field(
        default=None, description="What the other version would have answered"
    )
    shadow_reasons: dict[str, Any] | None = Field(
        default=None, description="The other version's principal reasons, always for a decline"
    )


class Queued(DecisionRecord):
    """A decision awaiting a person, with what the model recommends."""

    recommendation: FinalDecision = Field(description="What the model's prediction recommends")
    next_key: int = Field(exclude=True)


class ReviewQueue(BaseModel):
    """One page of GET /reviews: the oldest decisions awaiting a person first."""

    reviews: list[Queued]
    next: int | None = Field(description="`after` for the next page; none on the last one")


class GroupOverrides(BaseModel):
    field: str = Field(description='"Sex" or "Age" (the band)')
    group: str
    reviewed: int = Field(description="Decisions of the group a person took")
    override_rate: float = Field(description="Share of them that differ from the model's")


class VersionOversight(BaseModel):
    """How people decided the decisions of one model version (what-if scores aside)."""

    model: str
    decisions: int
    referred: int = Field(description="Answered refer: a person decides")
    awaiting: int = Field(description="Not yet decided by a person")
    reviewed: int
    overrides: int = Field(description="Reviewed decisions that differ from the model's")
    override_rate: float | None = Field(description="overrides / reviewed")
    queue_seconds_p50: float | None = Field(description="Median time from answer to review")
    queue_seconds_p95: float | None
    contests_open: int = Field(description="Contests awaiting a person")
    contests_overdue: int = Field(description="Of those, past their due date")
    override_rate_by_group: list[GroupOverrides] = Field(
        description="By Sex and age band, groups of min_group_size reviewed decisions or more"
    )
    withheld: list[str] = Field(description="Groups with too few reviewed decisions for a figure")


class OversightReport(BaseModel):
    """GET /oversight."""

    min_group_size: int
    versions: list[VersionOversight]
