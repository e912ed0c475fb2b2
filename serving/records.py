"""Decision records: every scored applicant kept in a database, and outcomes joined to them.

One row per applicant decision: the request id and the applicant's position in the
request, the UTC time, the model version and its threshold, the nine inputs, P(good), the
decision, its principal reasons (always for a decline; with the reason table's version, so
that the inputs and the model version compute them again exactly), the caller (a hash of
its API key, never the key) and the client's own reference (X-Application-ID). Outcomes
(repaid or not) are added later.

SQLite in WAL mode by default, or any database SQLAlchemy reaches by URL (PostgreSQL in
production, through psycopg); its schema is made by the migrations in serving/migrations/.
Records of concurrent requests are committed in one transaction
(`serving.coalescer.Coalescer`), and a request is answered only once its records are
committed. With WAL and synchronous=NORMAL a killed process loses no committed transaction.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import alembic.command
import alembic.config
import numpy as np
import sqlalchemy as sa
from alembic.util import CommandError
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from credit_risk.contract import FIELDS, GOOD
from credit_risk.reasons import REASON_TABLE_VERSION
from serving.middlewares import REQUEST_ID_PATTERN

metadata = sa.MetaData()
decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(64), nullable=False, index=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("threshold", sa.Float, nullable=False),
    sa.Column("applicant", sa.JSON, nullable=False),
    sa.Column("p_good", sa.Float, nullable=False),
    sa.Column("decision", sa.String(8), nullable=False),
    sa.Column("reasons", sa.JSON, nullable=True),
    sa.Column("caller", sa.String(16), nullable=True),
    sa.Column("client_reference", sa.String(128), nullable=True, index=True),
    sa.Column("repaid", sa.Boolean, nullable=True),
    sa.Column("outcome_at", sa.DateTime(timezone=True), nullable=True),
)
COLUMNS = tuple(c.name for c in decisions.columns if c.name != "id")


def caller_of(api_key: str | None) -> str | None:
    """Who called, without the key: the first 16 hex digits of its sha256."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:16] if api_key else None


# The schema's history (Alembic); the database is brought to its head at start-up.
MIGRATIONS = Path(__file__).with_name("migrations")
# PostgreSQL: a connection attempt gives up after this (else a lost server would hold each
# request until the request timeout, a 504, instead of a prompt 503).
CONNECT_TIMEOUT_S = 3
# SQLite: how long a write waits for another connection's write lock. Serving commits hold
# it for well under a millisecond; one held longer (another process's open transaction) is
# a lost database: scoring answers 503 rather than holding a worker's event loop, where it
# commits (`RecordWriter`), for longer.
BUSY_TIMEOUT_S = 2
# Rows the purge deletes per transaction: each holds the write lock for well under
# `BUSY_TIMEOUT_S`, so that serving commits wait between them rather than fail.
PURGE_CHUNK = 5000
# The PostgreSQL advisory lock that one migrating process holds at a time.
MIGRATION_LOCK = 0x637265646974  # "credit"


def engine_for(url: str) -> sa.Engine:
    """The database at `url`, migrated to this code's schema (`migrate`).

    Raises RecordsUnavailable, naming the URL without its password, if it cannot be reached.
    """
    try:
        shown = sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError as exc:  # not a URL; the message does not echo it
        raise RecordsUnavailable(f"decision records database URL: {exc}") from exc
    try:
        engine = open_engine(url)
        migrate(engine)
    except (OSError, sa.exc.SQLAlchemyError, CommandError) as exc:
        reason = getattr(exc, "orig", None) or exc
        # Not chained: the driver's words are in the message, and its tracebacks (~130 log
        # lines, again each time BentoML restarts the worker, every ~10 s) would bury it.
        raise RecordsUnavailable(f"decision records database {shown}: {reason}") from None
    return engine


def open_engine(url: str) -> sa.Engine:
    """An engine for `url`, as is (no migration): SQLite in WAL mode, its directory made,
    PostgreSQL with a connection timeout."""
    parsed = sa.make_url(url)
    if (path := sqlite_file(parsed)) is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
    engine = sa.create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)
    if engine.dialect.name == "sqlite":

        @sa.event.listens_for(engine, "connect")
        def _wal(connection: Any, _: Any) -> None:
            cursor = connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")  # others write too
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    return engine


def sqlite_file(url: sa.URL) -> Path | None:
    """The database file of a SQLite URL; None for other databases, an in-memory one, or a
    `file:` URI (SQLite opens those itself, with their own options)."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    if url.query.get("uri") == "true":
        return None
    return Path(url.database)


def migrate(engine: sa.Engine) -> None:
    """Bring the database to the head of `MIGRATIONS`, one process at a time: API workers
    starting together wait for the first one, then find nothing left to do."""
    config = alembic.config.Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with first_connection_lock(engine), engine.begin() as connection:
        lock_for_migration(connection)
        config.attributes["connection"] = connection
        alembic.command.upgrade(config, "head")


@contextmanager
def first_connection_lock(engine: sa.Engine) -> Iterator[None]:
    """SQLite: hold an exclusive lock on a file next to the database while connecting first.

    Processes switching a new database file to WAL at the same moment can get "database
    is locked" at once, before any busy timeout (seen now and then in the test of three
    workers starting together); the first connection's `journal_mode=WAL` and the migration
    are made one process at a time. Other databases: nothing to do.
    """
    path = sqlite_file(engine.url)
    if path is None:
        yield
        return
    with open(f"{path}.lock", "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)  # released when the file is closed
        yield


def lock_for_migration(connection: sa.Connection) -> None:
    """Hold, until `connection`'s transaction ends, the lock that one migration at a time
    takes (SQLite: its write lock; PostgreSQL: an advisory lock)."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    elif connection.dialect.name == "postgresql":
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK)))


class RecordsUnavailable(RuntimeError):
    """The records database cannot be reached: no decision may be answered without it."""


@dataclass(frozen=True)
class Records:
    """The decision records of one database."""

    engine: sa.Engine

    def write(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert `rows` in one transaction."""
        if rows:
            with self.engine.begin() as connection:
                connection.execute(decisions.insert(), list(rows))

    def of_request(self, request_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as connection:
            found = connection.execute(
                sa.select(decisions)
                .where(decisions.c.request_id == request_id)
                .order_by(decisions.c.position, decisions.c.id)
            )
            return [dict(row._mapping) for row in found]

    def record_outcome(self, outcome: Outcome) -> dict[str, Any]:
        """Set the outcome of the one decision `outcome` names. Raises LookupError when no
        decision matches, OutcomeConflict when several do or it already has another one."""
        if isinstance(outcome, OutcomeByRequest):
            match = (decisions.c.request_id == outcome.request_id) & (
                decisions.c.position == outcome.position
            )
        else:
            match = decisions.c.client_reference == outcome.client_reference
        with self.engine.begin() as connection:
            found = connection.execute(sa.select(decisions).where(match)).all()
            if not found:
                raise LookupError("no decision with that request id or client reference")
            if len(found) > 1:
                raise OutcomeConflict(f"{len(found)} decisions match: name one by request id")
            (row,) = found
            if row.repaid is not None and row.repaid != outcome.repaid:
                raise OutcomeConflict("that decision already has the other outcome")
            if row.repaid is None:
                connection.execute(
                    decisions.update()
                    .where(decisions.c.id == row.id)
                    .values(repaid=outcome.repaid, outcome_at=datetime.now(UTC))
                )
            return dict(
                connection.execute(sa.select(decisions).where(decisions.c.id == row.id))
                .one()
                ._mapping
            )

    def between(self, since: datetime | None, until: datetime | None) -> list[dict[str, Any]]:
        """Every record decided in [since, until), oldest first."""
        query = sa.select(decisions).order_by(decisions.c.decided_at, decisions.c.id)
        if since is not None:
            query = query.where(decisions.c.decided_at >= since)
        if until is not None:
            query = query.where(decisions.c.decided_at < until)
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def purge(
        self, older_than_days: int, now: datetime | None = None, chunk: int = PURGE_CHUNK
    ) -> int:
        """Delete the records decided more than `older_than_days` ago, `chunk` rows to a
        transaction; how many."""
        cutoff = (now or datetime.now(UTC)) - timedelta(days=older_than_days)
        oldest = (
            sa.select(decisions.c.id).where(decisions.c.decided_at < cutoff).limit(chunk)
        ).scalar_subquery()
        deleted = 0
        while True:
            with self.engine.begin() as connection:
                count = connection.execute(
                    decisions.delete().where(decisions.c.id.in_(oldest))
                ).rowcount
            deleted += count
            if count < chunk:
                return deleted

    def delete_applicant(self, request_id: str | None, client_reference: str | None) -> int:
        """Delete one applicant's records (by request id or client reference); how many."""
        if (request_id is None) == (client_reference is None):
            raise ValueError("name the records by request id or by client reference")
        match = (
            decisions.c.request_id == request_id
            if request_id is not None
            else decisions.c.client_reference == client_reference
        )
        with self.engine.begin() as connection:
            return connection.execute(decisions.delete().where(match)).rowcount

    def for_fairness(self) -> list[dict[str, Any]]:
        """Model, inputs, decision and outcome of every decision (`serving.fairness`)."""
        query = sa.select(
            decisions.c.model, decisions.c.applicant, decisions.c.decision, decisions.c.repaid
        )
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def labelled(self) -> list[dict[str, Any]]:
        """Model, P(good), decision and outcome of every decision with an outcome."""
        query = sa.select(
            decisions.c.model, decisions.c.p_good, decisions.c.decision, decisions.c.repaid
        ).where(decisions.c.repaid.is_not(None))
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]


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

    def _write(self, rows: Sequence[Mapping[str, Any]]) -> None:
        connection, self._connection = self._connection or self._engine.connect(), None
        try:
            with connection.begin():
                connection.execute(decisions.insert(), list(rows))
        except BaseException:
            connection.close()
            raise
        if self._thread is None:
            self._connection = connection
        else:
            connection.close()

    async def commit(self, rows: list[Mapping[str, Any]]) -> list[bool]:
        """Insert `rows` in one transaction, for `Coalescer`: True for each once committed."""
        if self._thread is None:
            self._write(rows)
        else:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._write, rows)
        return [True] * len(rows)


class OutcomeConflict(ValueError):
    """The outcome contradicts what is recorded, or names no single decision."""


# The client's own reference (X-Application-ID): printable ASCII, as a header value is.
ClientReference = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\x20-\x7e]+$")]
# An applicant's index in its request: bounded like the database's integers.
Position = Annotated[int, Field(ge=0, lt=2**31, description="The applicant's index in a batch")]


class OutcomeByRequest(BaseModel):
    """Whether a decided applicant repaid, naming the decision by its request id (and the
    applicant's position in a batch request)."""

    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(pattern=REQUEST_ID_PATTERN)
    position: Position = 0
    repaid: bool = Field(description="True: repaid as agreed; false: defaulted")


class OutcomeByReference(BaseModel):
    """Whether a decided applicant repaid, naming the decision by the client's reference."""

    model_config = ConfigDict(extra="forbid")

    client_reference: ClientReference
    repaid: bool = Field(description="True: repaid as agreed; false: defaulted")


Outcome = OutcomeByRequest | OutcomeByReference
OUTCOME = TypeAdapter(Outcome)


def rows_for(
    *,
    request_id: str,
    model: str,
    threshold: float,
    applicants: Iterable[Mapping[str, Any]],
    answers: Iterable[Any],
    caller: str | None,
    client_reference: str | None,
) -> list[dict[str, Any]]:
    """The records of one request's answers (`serving.schemas.CreditScore`), in order."""
    now = datetime.now(UTC)
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
            "reasons": None
            if answer.reasons is None
            else {
                "table": REASON_TABLE_VERSION,
                "reasons": [reason.model_dump() for reason in answer.reasons],
            },
            "caller": caller,
            "client_reference": client_reference,
        }
        for position, (applicant, answer) in enumerate(zip(applicants, answers, strict=True))
    ]


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
    caller: str | None = Field(description="sha256 prefix of the caller's API key")
    client_reference: str | None = Field(description="The client's X-Application-ID")
    repaid: bool | None = Field(description="The outcome, once known")
    outcome_at: datetime | None


def realised(labelled: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Per model version, over the decisions with an outcome: their count, the AUC of
    P(good) (None unless both outcomes occur), the Brier score and the mean cost under the
    UCI cost matrix."""
    from credit_risk.decision import expected_cost

    by_model: dict[str, list[Mapping[str, Any]]] = {}
    for row in labelled:
        by_model.setdefault(row["model"], []).append(row)
    summary = {}
    for model, rows in sorted(by_model.items()):
        y = np.array([bool(r["repaid"]) for r in rows])
        p = np.array([float(r["p_good"]) for r in rows])
        called_good = np.array([r["decision"] == GOOD for r in rows])
        summary[model] = {
            "decisions": float(len(rows)),
            "auc": auc(y, p) if y.any() and not y.all() else None,
            "brier": float(np.mean((p - y) ** 2)),
            "cost": expected_cost(y, called_good),
        }
    return summary


def realised_metrics(labelled: Iterable[Mapping[str, Any]]) -> str:
    """`realised` as Prometheus gauges, one per statistic and model version."""
    lines = []
    for name, meaning in (
        ("decisions", "Decisions with a recorded outcome."),
        ("auc", "AUC of P(good) over decisions with an outcome."),
        ("brier", "Brier score of P(good) over decisions with an outcome."),
        ("cost", "Mean cost per decision with an outcome under the UCI cost matrix."),
    ):
        lines += [
            f"# HELP credit_risk_realised_{name} {meaning}",
            f"# TYPE credit_risk_realised_{name} gauge",
        ]
        for model, stats in realised(labelled).items():
            if stats[name] is not None:
                lines.append(f'credit_risk_realised_{name}{{model="{model}"}} {stats[name]!r}')
    return "\n".join(lines) + "\n"


def auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve: the chance that a positive scores above a negative
    (ties count half), from the ranks (Mann-Whitney U)."""
    order = score.argsort(kind="mergesort")
    ranks = np.empty(len(score))
    ranks[order] = np.arange(1, len(score) + 1)
    for value in np.unique(score):  # tied scores share their mean rank
        tied = score == value
        ranks[tied] = ranks[tied].mean()
    positives = int(y.sum())
    negatives = len(y) - positives
    return float((ranks[y].sum() - positives * (positives + 1) / 2) / (positives * negatives))
