"""The records' database and its migrations, on real databases: SQLite in a temporary
directory, and PostgreSQL (a server the tests start, tools/postgres.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from serving.records.database import (
    MIGRATIONS,
    SHADOW_COLUMNS,
    RecordsUnavailable,
    decisions,
    engine_for,
    metadata,
    open_engine,
)
from serving.records.queries import Records
from tests.unit.serving.records.helpers import rows, write
from tools.postgres import PASSWORD
from tools.server_process import free_port
from training_export.paths import REPO_ROOT


def test_an_unusable_database_is_a_clear_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(RecordsUnavailable, match="file"):
        engine_for(f"sqlite:///{blocker / 'records.db'}")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RecordsUnavailable, match="nowhere"):
        engine_for("sqlite:///file:nowhere?mode=ro&uri=true")
    assert [p.name for p in tmp_path.iterdir()] == ["file"]  # no lock file left behind


def test_an_unreachable_server_is_a_clear_error_without_the_password(postgres) -> None:
    closed = f"postgresql+psycopg://auditor:pw-123@127.0.0.1:{free_port()}/records"
    with pytest.raises(RecordsUnavailable) as refused:
        engine_for(closed)
    assert "auditor:***@127.0.0.1" in str(refused.value) and "pw-123" not in str(refused.value)
    assert "refused" in str(refused.value)
    wrong = postgres.url().replace(PASSWORD, "not-the-password")
    with pytest.raises(RecordsUnavailable, match="password authentication failed") as denied:
        engine_for(wrong)
    assert "not-the-password" not in str(denied.value)


def test_migrations_make_the_schema_the_code_expects(records_url: str) -> None:
    engine = engine_for(records_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection)
        assert set(context.get_current_heads()) == set(ScriptDirectory(str(MIGRATIONS)).get_heads())
        assert compare_metadata(context, metadata) == []


def test_a_database_of_a_newer_schema_is_refused_naming_both_revisions(
    records_url: str,
) -> None:
    engine_for(records_url).dispose()
    with open_engine(records_url).begin() as connection:  # as a newer service leaves it
        connection.execute(sa.text("UPDATE alembic_version SET version_num = '9001'"))
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    with pytest.raises(
        RecordsUnavailable, match=f"revision 9001, newer than this service's newest {head}"
    ):
        engine_for(records_url)
    with open_engine(records_url).connect() as connection:  # left as it was
        assert MigrationContext.configure(connection).get_current_revision() == "9001"


def test_sqlite_syncs_every_commit(tmp_path: Path) -> None:
    """WAL with synchronous=FULL: a committed decision survives a power cut (NORMAL would
    sync only at checkpoints)."""
    engine = engine_for(f"sqlite:///{tmp_path / 'decisions.db'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL


def test_a_postgresql_database_without_synchronous_commit_is_refused(
    postgres, caplog: pytest.LogCaptureFixture
) -> None:
    url = postgres.create_database()
    engine_for(url).dispose()
    # The tests' server runs with fsync=off, for speed: said, not refused.
    assert "fsync=off, a power cut may lose acknowledged decisions" in caplog.text
    database = sa.make_url(url).database
    with open_engine(url).connect() as connection:
        connection.execute(sa.text(f'ALTER DATABASE "{database}" SET synchronous_commit = off'))
        connection.commit()
    with pytest.raises(RecordsUnavailable, match="synchronous_commit is off"):
        engine_for(url)


# The columns added by migrations after the first.
ADDED_LATER = {
    "outcome_by",
    "answered",
    "final_decision",
    "reviewed_by",
    "reviewed_at",
    "override_reason",
    "review_note",
    "contest_of_request_id",
    "contest_of_position",
    "contest_statement",
    "due_at",
    "what_if",
    *SHADOW_COLUMNS,
}


def made_before_the_migrations(records_url: str, written: list[dict]) -> None:
    unmigrated = open_engine(records_url)
    before = sa.MetaData()
    sa.Table(
        "decisions",
        before,
        *(c._copy() for c in decisions.columns if c.name not in ADDED_LATER),
        sa.Index("ix_decisions_request_id", "request_id"),  # made unique later
    )
    before.create_all(unmigrated)
    with unmigrated.begin() as connection:
        connection.execute(before.tables["decisions"].insert(), written)
    unmigrated.dispose()


def test_a_table_made_before_the_migrations_is_kept(records_url: str) -> None:
    made_before_the_migrations(records_url, rows("before"))
    records = Records(engine_for(records_url))
    (record,) = records.of_request("before")
    # Final as answered: the model's decision, as it was then.
    expected = "approve" if record["decision"] == "good" else "decline"
    assert record["answered"] == record["final_decision"] == expected
    assert record["what_if"] is False and record["reviewed_by"] is None


def test_a_request_id_used_twice_before_it_named_one_request_stops_the_migration(
    records_url: str,
) -> None:
    made_before_the_migrations(records_url, rows("twice") + rows("twice") + rows("once"))
    with pytest.raises(RecordsUnavailable, match="request ids that name several decisions: 1 "):
        engine_for(records_url)
    with open_engine(records_url).connect() as connection:  # nothing changed meanwhile
        assert connection.execute(sa.text("SELECT count(*) FROM decisions")).scalar() == 3


# An API worker at start-up: imports, then opens the database once told to go.
WORKER = """
import sys
from serving.records.database import engine_for
print("ready", flush=True)
sys.stdin.readline()
engine_for(sys.argv[1]).dispose()
print("opened", flush=True)
"""


def test_workers_starting_together_all_get_the_database(records_url: str) -> None:
    """Each API worker process migrates the database at start-up, all at the same moment:
    one migrates, the others wait for it and find nothing left to do."""
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, records_url],
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    for worker in workers:
        assert worker.stdout.readline() == "ready\n", worker.communicate()[1]
    for worker in workers:  # go
        worker.stdin.write("\n")
        worker.stdin.flush()
    results = [worker.communicate(timeout=60) for worker in workers]
    assert [out for out, _ in results] == ["opened\n"] * 3, [err for _, err in results]
    records = Records(engine_for(records_url))
    write(records.engine, rows("r1"))
    assert len(records.of_request("r1")) == 1
