"""The serving path's records, on real databases: SQLite in a temporary directory, and
PostgreSQL (a server the tests start, tools/postgres.py)."""

from __future__ import annotations

import asyncio
import fcntl
import threading
import time

from credit_risk.contract import EXAMPLE
from credit_risk.reasons import REASON_TABLE_VERSION
from serving.records.database import engine_for, lock_file
from serving.records.queries import Records
from serving.records.writer import RecordWriter
from tests.unit.serving.records.helpers import rows, write


def test_a_request_is_stored_whole_and_read_back_in_order(records: Records) -> None:
    write(records.engine, rows("r1", 3, reasons=[]))
    found = records.of_request("r1")
    assert [r["position"] for r in found] == [0, 1, 2]
    first = found[0]
    assert first["applicant"] == EXAMPLE  # the nine inputs, nothing else
    assert (first["p_good"], first["decision"], first["threshold"]) == (0.9, "good", 0.8)
    assert first["reasons"] == {"table": REASON_TABLE_VERSION, "reasons": []}
    assert first["decided_at"] is not None and first["repaid"] is None
    assert records.of_request("unknown") == []


def test_sqlite_commits_take_turns_on_the_lock_file(tmp_path) -> None:
    """While another API worker's writer holds the lock file, a commit waits for it, and
    goes on as soon as it is released (SQLite's own lock would be polled, sleeping 1, 2,
    5, 10... ms at a time)."""
    engine = engine_for(f"sqlite:///{tmp_path / 'decisions.db'}")
    writer = RecordWriter(engine)
    committed_at: list[float] = []

    def commit() -> None:
        asyncio.run(writer.commit(rows("r1")))
        committed_at.append(time.monotonic())

    committing = threading.Thread(target=commit)
    with lock_file(engine).open("a") as other_worker:  # type: ignore[union-attr]
        fcntl.flock(other_worker, fcntl.LOCK_EX)
        committing.start()
        committing.join(0.3)
        assert committing.is_alive() and Records(engine).of_request("r1") == []
        released_at = time.monotonic()
    committing.join(5)
    assert [r["position"] for r in Records(engine).of_request("r1")] == [0]
    assert committed_at[0] - released_at < 0.2
