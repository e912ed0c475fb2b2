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
from serving.records.database import SHADOW_COLUMNS, decisions, lock_file, turn
from serving.records.models import ContestOf


class RecordWriter:
    """The serving path's writer: commits from one thread of its own, so that a commit's
    sync to disk (SQLite) or its round trip (a database server) holds no worker's event
    loop; the requests arriving meanwhile share the next commit (`Coalescer`).

    An acknowledged decision must survive a power cut: SQLite syncs the WAL at each commit
    (synchronous=FULL, `open_engine`; its cost: docs/performance.md), and PostgreSQL
    waits for its WAL flush (synchronous_commit=on). SQLite's connection is kept open in
    the thread: a pool checkout and return around each commit would cost more than
    inserting a few rows. A database server can go away between two commits and only the
    pool pings a connection before handing it out, so there each commit checks one out and
    a server that comes back is used again at once.

    SQLite: the API workers' writers take turns on `lock_file`'s flock around each commit.
    SQLite's own write lock is not waited on but polled: a writer that finds it taken
    sleeps 1, then 2, 5, 10... ms (its busy handler), while a commit holds it for less than
    one. A flock's waiter is woken as soon as it is released. Other writers (the records
    routes, `make records-*`) still meet SQLite's busy timeout.
    """

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._thread = ThreadPoolExecutor(1, "records")
        self._keep_open = engine.dialect.name == "sqlite"  # a local file
        self._connection: sa.Connection | None = None  # SQLite's, kept open
        path = lock_file(engine)
        self._turns = None if path is None else path.open("a")

    def _write(self, rows: Sequence[Mapping[str, Any]]) -> list[bool]:
        connection, self._connection = self._connection or self._engine.connect(), None
        try:
            with turn(self._turns):
                committed = _insert(connection, rows)
        except BaseException:
            connection.close()
            raise
        if self._keep_open:
            self._connection = connection
        else:
            connection.close()
        return committed

    async def commit(self, rows: list[Mapping[str, Any]]) -> list[bool]:
        """Insert `rows` (the rows of requests, each from its position 0) for `Coalescer`,
        in one transaction: True for each row committed, False for the rows of a request
        whose request id another request already has."""
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
