"""One scoring request, from validated applicants to recorded answers, without BentoML.

Encode the applicants (`credit_risk.contract`), score them with the runner together with
the rows of concurrent requests, put each answer in words (with its principal reasons where
it has them) and record every decision before answering it. The service (service.py)
builds a `Scoring` with its runner's calls; a test can build one with any async function of
encoded rows.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from itertools import chain
from typing import Any

import bentoml
import numpy as np
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from credit_risk.contract import Applicant, encode
from model_store.versions import reason_baseline, recorded_threshold
from serving.challenger import answers_challenger
from serving.coalescer import Coalescer
from serving.oversight import REFER, DecisionPolicy
from serving.records.models import CLIENT_REFERENCE_HEADER, ClientReferenceHeader, ContestOf
from serving.records.queries import Records
from serving.records.writer import RecordWriter, rows_for
from serving.schemas import CreditScore
from serving.settings import Settings

logger = logging.getLogger(__name__)
# Rows that one commit of decision records may carry.
MAX_ROWS_PER_COMMIT = 10_000
Runner = Callable[[np.ndarray], Awaitable[np.ndarray]]


class DecisionsNotRecorded(RuntimeError):
    """The decisions could not be recorded: none may be answered (a 503, retried later)."""


class RequestIdTaken(ValueError):
    """The request id names another request (a 409)."""


# What makes a request with a taken request id a retry of the first: who sent it, under
# which reference, about whom (as recorded).
SAME_REQUEST = ("caller", "client_reference", "applicant")


def why(exc: SQLAlchemyError) -> str:
    """The database driver's own words: SQLAlchemy's add the statement and its parameters,
    personal data."""
    return str(getattr(exc, "orig", None) or exc.__class__.__name__).strip()


def _joined(parts: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return list(chain.from_iterable(parts))


@dataclass(frozen=True)
class Version:
    """What the API process needs of a stored version to answer and record its decisions."""

    tag: str
    threshold: float  # recorded with each decision
    baseline: Mapping[str, float | str]  # what each reason is measured against

    @classmethod
    def of(cls, model: bentoml.Model) -> Version:
        """A stored version's threshold and reason baseline, as recorded at import."""
        return cls(str(model.tag), recorded_threshold(model), reason_baseline(model))


class Scoring:
    """Scores applicants with the runner's `predict` (gains of declines) or `explain` (gains
    of every row), both async functions of encoded rows answering `DECISION_ROW`s, and
    records each decision in `records` (None: records off, for benchmarks only).

    With a `challenger`, the runner answers each row's `DECISION_ROW`s of both versions,
    shape (n, 2): the champion's, then the challenger's; the challenger answers the `share`
    percent of applicants `answers_challenger` picks, and the other version's answer is
    recorded beside each."""

    def __init__(
        self,
        *,
        predict: Runner,
        explain: Runner,
        champion: Version,
        records: sa.Engine | None,
        max_rows: int,
        policy: DecisionPolicy,
        challenger: Version | None = None,
        share: int = 0,
    ) -> None:
        # A runner call costs little besides the call itself: one in flight, so that the
        # rows arriving meanwhile make fewer, larger calls.
        self.predict = Coalescer(predict, max_rows=max_rows, max_in_flight=1)
        self.explain = Coalescer(explain, max_rows=max_rows, max_in_flight=1)
        self.champion, self.challenger, self.share = champion, challenger, share
        self.policy = policy  # which decisions a person takes
        # Committed together with the records of concurrent requests, one at a time.
        self.commit = (
            None
            if records is None
            else Coalescer(
                RecordWriter(records).commit,
                max_rows=MAX_ROWS_PER_COMMIT,
                max_in_flight=1,
                join=_joined,
                linger=True,
            )
        )
        self.records = None if records is None else Records(records)
        self.records_lost = False  # logged once when lost, once when back

    @classmethod
    def of_version(
        cls,
        model: bentoml.Model,
        *,
        predict: Runner,
        explain: Runner,
        records: sa.Engine | None,
        settings: Settings,
        challenger: bentoml.Model | None = None,
    ) -> Scoring:
        """The scoring of a stored model version (and a `challenger` beside it), with its
        threshold, reason baseline and training profile as recorded at import."""
        return cls(
            predict=predict,
            explain=explain,
            champion=Version.of(model),
            challenger=None if challenger is None else Version.of(challenger),
            share=settings.challenger_share,
            records=records,
            max_rows=settings.max_batch_size,
            policy=DecisionPolicy.of(settings),
        )

    async def decide(
        self,
        applicants: list[Applicant],
        *,
        reasons: bool,
        request_id: str,
        caller: str | None,
        client_reference: str | None,
        what_if: bool = False,
        contest: ContestOf | None = None,
    ) -> list[CreditScore]:
        """Score `applicants` together with concurrent requests, record every decision
        (a decline's principal reasons always) and answer them, with the reasons of every
        applicant when `reasons`. A `what_if` score decides nothing: recorded as such, out
        of the review queue and of the figures. The re-score of a `contest` is referred.
        A request id already recorded answers the first request's answers again when this
        is its retry (`SAME_REQUEST`), without a second record. Raises pydantic's
        ValidationError for an invalid client reference, DecisionsNotRecorded when the
        records cannot be written, RequestIdTaken when the request id names another request
        (or one answered without the reasons asked now)."""
        header = {CLIENT_REFERENCE_HEADER: client_reference} if client_reference is not None else {}
        reference = ClientReferenceHeader.model_validate(header).client_reference
        named = [applicant.by_name() for applicant in applicants]
        encoded = encode(named)
        decisions = await (self.explain if reasons else self.predict)(encoded)
        answering, shadows = self.champion, None
        if self.challenger is not None:
            pair = (self.champion, self.challenger)
            if answers_challenger(reference or request_id, self.share):
                pair, decisions = pair[::-1], decisions[:, ::-1]
            answering, shadow_version = pair
            shadows = [
                self._answer(row, shadow_version, applicant)
                for applicant, row in zip(named, decisions[:, 1], strict=True)
            ]
            decisions = decisions[:, 0]
        scored = [
            self._answer(row, answering, applicant)
            for applicant, row in zip(named, decisions, strict=True)
        ]
        if contest is not None:
            scored = [answer.model_copy(update={"decision": REFER}) for answer in scored]
        if self.commit is not None:  # answered only once recorded
            records = rows_for(
                request_id=request_id,
                model=answering.tag,
                threshold=answering.threshold,
                applicants=named,
                answers=scored,
                shadow=None if shadows is None else (shadow_version.tag, shadows),
                caller=caller,
                client_reference=reference,
                what_if=what_if,
                contest=contest,
            )
            if not all(await self._commit(records)):  # a retry: answered as first recorded
                scored = await self._first_answers(records, reasons)
        return scored if reasons else [answer.without_reasons() for answer in scored]

    def _answer(self, row: np.void, version: Version, applicant: Mapping[str, Any]) -> CreditScore:
        return CreditScore.from_row(
            row,
            version.tag,
            self.policy.of_row(row, version.threshold),
            applicant,
            version.baseline,
        )

    async def _first_answers(
        self, records: list[dict[str, Any]], reasons: bool
    ) -> list[CreditScore]:
        """The recorded answers of the request that took `records`' request id first, if
        `records` repeat it; else RequestIdTaken."""
        request_id = records[0]["request_id"]
        try:
            first = await asyncio.to_thread(self.records.of_request, request_id)  # type: ignore[union-attr]
        except SQLAlchemyError as exc:
            raise DecisionsNotRecorded("decision records are unavailable") from exc
        if not first:  # deleted meanwhile: the retry will be recorded
            raise DecisionsNotRecorded("decision records are unavailable")
        if len(first) != len(records) or any(
            old[key] != new[key]
            for old, new in zip(first, records, strict=True)
            for key in SAME_REQUEST
        ):
            raise RequestIdTaken(
                f"the request id {request_id!r} names another request: send a new X-Request-ID"
            )
        answers = [CreditScore.from_record(record) for record in first]
        if reasons and any(answer.reasons is None for answer in answers):
            raise RequestIdTaken(
                f"the request id {request_id!r} was answered without reasons: send a new "
                "X-Request-ID to ask for them"
            )
        return answers

    async def _commit(self, records: list[dict[str, Any]]) -> list[bool]:
        try:
            committed = await self.commit(records)  # type: ignore[misc]
        except SQLAlchemyError as exc:  # no decision without its record
            if not self.records_lost:
                self.records_lost = True
                logger.error("decision records database lost, scoring answers 503: %s", why(exc))
            raise DecisionsNotRecorded("decision records are unavailable") from exc
        if self.records_lost:
            self.records_lost = False
            logger.warning("decision records database back, scoring again")
        return committed
