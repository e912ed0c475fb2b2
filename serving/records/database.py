"""The decision records' table and database: the engine, its settings and the migrations."""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import alembic.command
import alembic.config
import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError

logger = logging.getLogger(__name__)


class UTCDateTime(sa.types.TypeDecorator):
    """A time with its offset, UTC, on every database: SQLite keeps no offset (it hands back
    naive times), PostgreSQL's timestamptz answers in the session's zone."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("a record's time must carry its offset")
        return None if value is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData()
decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("decided_at", UTCDateTime, nullable=False, index=True),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("threshold", sa.Float, nullable=False),
    sa.Column("applicant", sa.JSON, nullable=False),
    sa.Column("p_good", sa.Float, nullable=False),
    sa.Column("decision", sa.String(8), nullable=False),
    sa.Column("reasons", sa.JSON, nullable=True),
    sa.Column("caller", sa.String(16), nullable=True),
    sa.Column("client_reference", sa.String(128), nullable=True, index=True),
    sa.Column("repaid", sa.Boolean, nullable=True),
    sa.Column("outcome_at", UTCDateTime, nullable=True),
    sa.Column("outcome_by", sa.String(16), nullable=True),  # the reporting key's name
    # Human oversight (`serving.oversight`): the decision answered (approve, refer or
    # decline) and the final one (None while a person has yet to take it), who took it,
    # when, why it differs from the model's, and their note.
    sa.Column("answered", sa.String(8), nullable=True),
    sa.Column("final_decision", sa.String(8), nullable=True),
    sa.Column("reviewed_by", sa.String(16), nullable=True),
    sa.Column("reviewed_at", UTCDateTime, nullable=True),
    sa.Column("override_reason", sa.String(32), nullable=True),
    sa.Column("review_note", sa.String(500), nullable=True),
    # A contest's re-score: the decision contested first (the case), the applicant's
    # statement and the date by which a person must review it.
    sa.Column("contest_of_request_id", sa.String(64), nullable=True),
    sa.Column("contest_of_position", sa.Integer, nullable=True),
    sa.Column("contest_statement", sa.String(2000), nullable=True),
    sa.Column("due_at", UTCDateTime, nullable=True),
    # A score of the loan officer's form's what-if use: no decision, no drift, no queue.
    sa.Column("what_if", sa.Boolean, nullable=False, server_default=sa.false()),
    # With a challenger (`serving.challenger`): the other version's answer to the same
    # applicant, as it would have been given (`model` is the version that answered).
    sa.Column("shadow_model", sa.String(128), nullable=True),
    sa.Column("shadow_p_good", sa.Float, nullable=True),
    sa.Column("shadow_decision", sa.String(8), nullable=True),
    sa.Column("shadow_answered", sa.String(8), nullable=True),
    sa.Column("shadow_reasons", sa.JSON, nullable=True),
    # A request id names one request: its rows are addressed by (request id, position).
    sa.Index("uq_decisions_request_id_position", "request_id", "position", unique=True),
    sa.Index("ix_decisions_awaiting", "final_decision", "id"),
    sa.Index("ix_decisions_contest_of", "contest_of_request_id", "contest_of_position"),
)
SHADOW_COLUMNS = ("shadow_model", "shadow_p_good", "shadow_decision", "shadow_answered",
                  "shadow_reasons")  # fmt: skip
# A recorded outcome is corrected, never overwritten silently: each change, its author and
# the value it replaced.
outcome_corrections = sa.Table(
    "outcome_corrections",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "decision_id",
        sa.Integer,
        sa.ForeignKey("decisions.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("old_repaid", sa.Boolean, nullable=False),
    sa.Column("repaid", sa.Boolean, nullable=False),
    sa.Column("corrected_by", sa.String(16), nullable=True),
    sa.Column("corrected_at", UTCDateTime, nullable=False),
)
COLUMNS = tuple(c.name for c in decisions.columns if c.name != "id")


# The schema's history (Alembic); the database is brought to its head at start-up.
MIGRATIONS = Path(__file__).with_name("migrations")
# PostgreSQL: a connection attempt gives up after this (else a lost server would hold each
# request until the request timeout, a 504, instead of a prompt 503).
CONNECT_TIMEOUT_S = 3
# SQLite: how long a write waits for another connection's write lock. Serving commits hold
# it for about a millisecond; one held longer (another process's open transaction) is a
# lost database: scoring answers 503 rather than holding its requests for longer.
BUSY_TIMEOUT_S = 2
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
        check_durable(engine)
        migrate(engine)
    except (OSError, sa.exc.SQLAlchemyError, CommandError, DatabaseRefused) as exc:
        reason = getattr(exc, "orig", None) or exc
        # Not chained: the driver's words are in the message, and its tracebacks (~130 log
        # lines, again each time BentoML restarts the worker, every ~10 s) would bury it.
        raise RecordsUnavailable(f"decision records database {shown}: {reason}") from None
    return engine


def open_engine(url: str) -> sa.Engine:
    """An engine for `url`, as is (no migration): SQLite in WAL mode, synced at every commit
    (synchronous=FULL: a committed decision survives a power cut), with foreign keys
    enforced, its directory and file made readable by their owner only (SQLite gives its
    -wal and -shm files the database file's mode), PostgreSQL with a connection timeout."""
    parsed = sa.make_url(url)
    if (path := sqlite_file(parsed)) is not None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.touch(mode=0o600, exist_ok=True)
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
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")  # a deleted decision takes its corrections
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


def check_durable(engine: sa.Engine) -> None:
    """PostgreSQL: refuse a database whose commits return before their WAL is flushed
    (synchronous_commit=off: a crash of the server loses acknowledged decisions), and warn
    when the server itself does not sync (fsync=off: a power cut may lose them)."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect() as connection:
        synchronous_commit = connection.exec_driver_sql("SHOW synchronous_commit").scalar()
        fsync = connection.exec_driver_sql("SHOW fsync").scalar()
    if synchronous_commit == "off":
        raise DatabaseRefused(
            "synchronous_commit is off: a commit would return before it is durable, and an "
            "acknowledged decision could be lost; set it on for this database or role"
        )
    if fsync == "off":
        logger.warning(
            "decision records database: the server runs with fsync=off, a power cut may lose "
            "acknowledged decisions (for tests only)"
        )


def migrate(engine: sa.Engine) -> None:
    """Bring the database to the head of `MIGRATIONS`, one process at a time: API workers
    starting together wait for the first one, then find nothing left to do. A database at a
    revision this code does not know (made by a newer version of the service) is refused,
    naming both revisions, and left as it is."""
    config = alembic.config.Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    scripts = ScriptDirectory.from_config(config)
    with first_connection_lock(engine), engine.begin() as connection:
        lock_for_migration(connection)
        current = MigrationContext.configure(connection).get_current_revision()
        if current is not None and not _known(scripts, current):
            raise DatabaseRefused(
                f"its schema is at revision {current}, newer than this service's newest "
                f"{scripts.get_current_head()}: a newer version of the service migrated it; "
                "run that version (or a newer one)"
            )
        config.attributes["connection"] = connection
        alembic.command.upgrade(config, "head")


def _known(scripts: ScriptDirectory, revision: str) -> bool:
    try:
        scripts.get_revision(revision)
    except CommandError:
        return False
    return True


@contextmanager
def first_connection_lock(engine: sa.Engine) -> Iterator[None]:
    """SQLite: hold an exclusive lock on a file next to the database while connecting first.

    Processes switching a new database file to WAL at the same moment can get "database
    is locked" at once, before any busy timeout (seen now and then in the test of three
    workers starting together); the first connection's `journal_mode=WAL` and the migration
    are made one process at a time. Other databases: nothing to do.
    """
    path = lock_file(engine)
    if path is None:
        yield
        return
    with path.open("a") as lock, turn(lock):
        yield


def lock_file(engine: sa.Engine) -> Path | None:
    """SQLite: the file next to the database whose exclusive `flock` one process holds at a
    time, while connecting first (`first_connection_lock`) and while committing decision
    records (`serving.records.writer`). Other databases: None."""
    path = sqlite_file(engine.url)
    return None if path is None else path.with_name(f"{path.name}.lock")


@contextmanager
def turn(lock: IO[str] | None) -> Iterator[None]:
    """Hold the exclusive `flock` of `lock` (an open `lock_file`; None: nothing to hold)."""
    if lock is None:
        yield
        return
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)


def lock_for_migration(connection: sa.Connection) -> None:
    """Hold, until `connection`'s transaction ends, the lock that one migration at a time
    takes (SQLite: its write lock; PostgreSQL: an advisory lock)."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    elif connection.dialect.name == "postgresql":
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK)))


class DatabaseRefused(RuntimeError):
    """The database is not one this service may write its decisions to."""


class RecordsUnavailable(RuntimeError):
    """The records database cannot be reached: no decision may be answered without it."""
