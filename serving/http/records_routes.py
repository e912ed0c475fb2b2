"""What the decision records' routes answer, and who may read them.

Records hold personal data: they are readable only where API keys are configured (the
key middleware then admits only callers with a key), never on a service without keys.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException

from serving.fairness import FairnessReport, live_fairness
from serving.http.errors import records_reachable
from serving.records.models import Outcome, OutcomeConflict, OversightReport, Review
from serving.records.queries import Records
from serving.records.reviews import ReviewConflict, ReviewRefused, Reviews
from serving.settings import Settings


class RecordsRoutes:
    """The answers of GET /decisions/{request_id}, POST /outcomes, GET /fairness and the
    oversight routes over `records` (None: records are off)."""

    def __init__(self, records: Records | None, settings: Settings) -> None:
        self._records = records
        self._reviews = None if records is None else Reviews(records.engine)
        self._keys_configured = bool(settings.api_keys)

    def _readable(self) -> Records:
        if self._records is None:
            raise HTTPException(404, "decision records are off (CREDIT_RISK_RECORDS)")
        if not self._keys_configured:
            raise HTTPException(403, "decision records need API keys (CREDIT_RISK_API_KEYS)")
        return self._records

    def of_request(self, request_id: str) -> list[dict[str, Any]]:
        records = self._readable()
        with records_reachable():
            found = records.of_request(request_id)
        if not found:
            raise HTTPException(404, "no decision with that request id")
        return found

    def record_outcome(self, outcome: Outcome, caller: str | None) -> dict[str, Any]:
        records = self._readable()
        try:
            with records_reachable():
                return records.record_outcome(outcome, caller)
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from exc
        except OutcomeConflict as exc:
            raise HTTPException(409, str(exc)) from exc

    def fairness(self) -> FairnessReport:
        records = self._readable()
        with records_reachable():
            return live_fairness(records.for_fairness())

    def _oversight(self) -> Reviews:
        self._readable()
        assert self._reviews is not None
        return self._reviews

    def queue(self, limit: int, after: int | None) -> dict[str, Any]:
        reviews = self._oversight()
        with records_reachable():
            return reviews.queue(limit, after)

    def review(self, request_id: str, review: Review, reviewer: str | None) -> dict[str, Any]:
        reviews = self._oversight()
        try:
            with records_reachable():
                return reviews.review(request_id, review, reviewer)
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from exc
        except ReviewConflict as exc:
            raise HTTPException(409, str(exc)) from exc
        except ReviewRefused as exc:
            raise HTTPException(422, str(exc)) from exc

    def contestable(self, request_id: str, position: int, caller: str | None) -> dict[str, Any]:
        reviews = self._oversight()
        try:
            with records_reachable():
                return reviews.contestable(request_id, position, caller)
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from exc
        except ReviewConflict as exc:
            raise HTTPException(409, str(exc)) from exc

    def oversight(self) -> OversightReport:
        reviews = self._oversight()
        with records_reachable():
            return reviews.figures()
