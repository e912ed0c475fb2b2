"""Decision rows for the records' tests, written as serving writes them."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from credit_risk.contract import EXAMPLE
from serving.records.writer import RecordWriter, rows_for
from serving.schemas import CreditScore

ANSWER = {
    "prediction": "good",
    "decision": "approve",
    "probability": 0.9,
    "probability_bad": 0.1,
    "model": "m:1",
}


def rows(request_id: str, n: int = 1, reference: str | None = None, **answer) -> list[dict]:
    return rows_for(
        request_id=request_id,
        model="m:1",
        threshold=0.8,
        applicants=[{**EXAMPLE, "extra": "dropped"}] * n,
        answers=[CreditScore.model_validate({**ANSWER, **answer})] * n,
        caller="key-1",
        client_reference=reference,
    )


def write(engine: sa.Engine, written: list[dict]) -> None:
    """Commit `written` in one transaction, with the serving path's writer."""
    asyncio.run(RecordWriter(engine).commit(written))
