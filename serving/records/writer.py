"""The serving path's records: the rows of one request's answers, and their group commit."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from credit_risk.contract import FIELDS
from credit_risk.reasons import REASON_TABLE_VERSION
from serving.oversight import REFER
from serving.records.database import SHADOW_COLUMNS, decisions
from serving.records.models import ContestOf


class RecordWriter:
    """The serving path's writer. SQLite: commits on the event loop itself, over one
    connection kept open; a database server: from one thread of its own.

    A SQLite commit in WAL mode with synchronous=NORMAL writes to the page cache and syncs
    nothing: ~150 µs of CPU for the ~10 rows a commit carries at 64 clients, less than
    handing it to a thread and back (the futex and self-pipe wake-ups and the GIL handovers
    cost ~45 µs of CPU per request, 8 % of the throughput). A pool checkout and return
    around each commit would cost more than inserting a few rows. The price: a commit that
    waits for another worker's write lock (busy timeout) holds this worker's loop meanwhile.
    A database server is reached over the network, where a commit may wait for seconds,
    and can go away between two commits: only the pool pings a connection before handing
    it out, so there each commit checks one out, in the thread, and a server that comes
    back is used again at once.
    """

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        # None on SQLite (a local file): commits run on the event loop.
        self._thread = None if engine.dialect.name == "sqlite" else ThreadPoolExecutor(1, "records")
        self._connection: sa.Connection | None = None  # SQLite's, kept open

    def _write(self, rows: Sequence[Mapping[str, Any]]) -> list[bool]:
        connection, self._connection = self._connection or self._engine.connect(), None
        try:
            committed = _insert(connection, rows)
        except BaseException:
            connection.close()
            raise
        if self._thread is None:
            self._connection = connection
        else:
            connection.close()
        return committed

    async def commit(self, rows: list[Mapping[str, Any]]) -> list[bool]:
        """Insert `rows` (the rows of requests, each from its position 0) for `Coalescer`,
        in one transaction: True for each row committed, False for the rows of a request
        whose request id another request already has."""
        if self._thread is None:
            return self._write(rows)
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._write, rows)


def _insert(connection: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> list[bool]:
    """Insert `rows` in one transaction; if a request id is taken, each request's rows in
    a transaction of their own (False for the refused ones)."""
    try:
        with connection.begin():
            connection.execute(decisions.insert(), list(rows))
        return [True] * len(rows)
    except sa.exc.IntegrityError:
        starts = [i for i, row in enumerate(rows) if row["position"] == 0] + [len(rows)]
        if len(starts) == 2:
            return [False] * len(rows)
    committed = []
    for start, end in itertools.pairwise(starts):
        try:
            with connection.begin():
                connection.execute(decisions.insert(), list(rows[start:end]))
            committed += [True] * (end - start)
        except sa.exc.IntegrityError:
            committed += [False] * (end - start)
    return committed


def rows_for(
    *,
    request_id: str,
    model: str,
    threshold: float,
    applicants: Iterable[Mapping[str, Any]],
    answers: Iterable[Any],
    caller: str | None,
    client_reference: str | None,
    what_if: bool = False,
    contest: ContestOf | None = None,
    shadow: tuple[str, Sequence[Any]] | None = None,
) -> list[dict[str, Any]]:
    """The records of one request's answers (`serving.schemas.CreditScore`), in order: a
    decision answered `refer` (and any `what_if` score) has no final decision yet. With
    `shadow` (the other version's tag and answers), each record keeps the other's too."""
    now = datetime.now(UTC)
    answers = list(answers)
    shadow_model, shadow_answers = shadow if shadow is not None else (None, [None] * len(answers))
    return [
        {
            "request_id": request_id,
            "position": position,
            "decided_at": now,
            "model": model,
            "threshold": threshold,
            "applicant": {name: applicant[name] for name in FIELDS},
            "p_good": answer.probability,
            "decision": answer.prediction,
            "reasons": _reasons(answer),
            "caller": caller,
            "client_reference": client_reference,
            "answered": answer.decision,
            "final_decision": None if what_if or answer.decision == REFER else answer.decision,
            "what_if": what_if,
            **ContestOf.columns_of(contest),
            **_shadow_columns(shadow_model, shadow),
        }
        for position, (applicant, answer, shadow) in enumerate(
            zip(applicants, answers, shadow_answers, strict=True)
        )
    ]


def _reasons(answer: Any) -> dict[str, Any] | None:
    if answer.reasons is None:
        return None
    return {
        "table": REASON_TABLE_VERSION,
        "reasons": [reason.model_dump() for reason in answer.reasons],
    }


def _shadow_columns(model: str | None, answer: Any) -> dict[str, Any]:
    """The other version's answer, as recorded beside the one answered."""
    if answer is None:
        return dict.fromkeys(SHADOW_COLUMNS)
    return {
        "shadow_model": model,
        "shadow_p_good": answer.probability,
        "shadow_decision": answer.prediction,
        "shadow_answered": answer.decision,
        "shadow_reasons": _reasons(answer),
    }
