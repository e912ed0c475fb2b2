"""Decision records on real databases: SQLite in a temporary directory, and PostgreSQL
(a server the tests start, tools/postgres.py)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from pydantic import ValidationError
from sklearn.metrics import roc_auc_score

from credit_risk.contract import EXAMPLE
from credit_risk.reasons import REASON_TABLE_VERSION
from serving.records import (
    MIGRATIONS,
    OUTCOME,
    OutcomeConflict,
    Records,
    RecordsUnavailable,
    auc,
    caller_of,
    engine_for,
    metadata,
    open_engine,
    realised_metrics,
    rows_for,
)
from serving.schemas import CreditScore
from tools.postgres import PASSWORD
from tools.server_process import free_port
from training_export.paths import REPO_ROOT

ANSWER = {"prediction": "good", "probability": 0.9, "probability_bad": 0.1, "model": "m:1"}


@pytest.fixture
def records(records_url: str) -> Records:
    return Records(engine_for(records_url))


def rows(request_id: str, n: int = 1, reference: str | None = None, **answer) -> list[dict]:
    return rows_for(
        request_id=request_id,
        model="m:1",
        threshold=0.8,
        applicants=[{**EXAMPLE, "extra": "dropped"}] * n,
        answers=[CreditScore.model_validate({**ANSWER, **answer})] * n,
        caller=caller_of("key"),
        client_reference=reference,
    )


def test_a_request_is_stored_whole_and_read_back_in_order(records: Records) -> None:
    records.write(rows("r1", 3, reasons=[]))
    found = records.of_request("r1")
    assert [r["position"] for r in found] == [0, 1, 2]
    first = found[0]
    assert first["applicant"] == EXAMPLE  # the nine inputs, nothing else
    assert (first["p_good"], first["decision"], first["threshold"]) == (0.9, "good", 0.8)
    assert first["reasons"] == {"table": REASON_TABLE_VERSION, "reasons": []}
    assert first["decided_at"] is not None and first["repaid"] is None
    assert records.of_request("unknown") == []


def test_the_caller_is_a_hash_never_the_key() -> None:
    assert caller_of(None) is None
    assert caller_of("s3cret") != caller_of("s3cret2")
    assert "s3cret" not in caller_of("s3cret") and len(caller_of("s3cret")) == 16


def outcome(records: Records, body: dict) -> dict:
    return records.record_outcome(OUTCOME.validate_python(body))


def test_outcomes_are_idempotent_and_conflicts_refused(records: Records) -> None:
    records.write(rows("r1", 2) + rows("r2", reference="app-7"))
    first = records.record_outcome(
        OUTCOME.validate_python({"request_id": "r1", "position": 1, "repaid": True})
    )
    assert first["repaid"] is True and first["position"] == 1
    again = records.record_outcome(
        OUTCOME.validate_python({"request_id": "r1", "position": 1, "repaid": True})
    )
    assert again["outcome_at"] == first["outcome_at"]  # unchanged
    with pytest.raises(OutcomeConflict):
        records.record_outcome(
            OUTCOME.validate_python({"request_id": "r1", "position": 1, "repaid": False})
        )
    by_reference = records.record_outcome(
        OUTCOME.validate_python({"client_reference": "app-7", "repaid": False})
    )
    assert by_reference["request_id"] == "r2" and by_reference["repaid"] is False
    with pytest.raises(LookupError):
        outcome(records, {"request_id": "r9", "repaid": True})
    records.write(rows("r3", reference="app-7"))
    with pytest.raises(OutcomeConflict):  # the reference now names two decisions
        records.record_outcome(
            OUTCOME.validate_python({"client_reference": "app-7", "repaid": False})
        )


@pytest.mark.parametrize(
    "body",
    [{"repaid": True}, {"request_id": "r", "client_reference": "c", "repaid": True},
     {"request_id": "r"}, {"request_id": "r", "repaid": "maybe"},
     {"request_id": "r", "position": -1, "repaid": True}, {"request_id": "r", "x": 1, "repaid": 1},
     {"request_id": "r", "position": 2**31, "repaid": True},  # past the database's integers
     {"request_id": "\ud958\udf67", "repaid": True}, {"client_reference": "é", "repaid": True}],
)  # fmt: skip
def test_an_invalid_outcome_is_refused(body: dict) -> None:
    with pytest.raises(ValidationError):
        OUTCOME.validate_python(body)


def test_retention_deletes_only_what_is_older(records: Records) -> None:
    records.write(rows("old") + rows("new"))
    later = datetime.now(UTC) + timedelta(days=10)
    assert records.purge(older_than_days=30, now=later) == 0
    with records.engine.begin() as connection:  # make "old" 40 days old
        from serving.records import decisions

        connection.execute(
            decisions.update()
            .where(decisions.c.request_id == "old")
            .values(decided_at=datetime.now(UTC) - timedelta(days=40))
        )
    assert records.purge(older_than_days=30) == 1
    assert records.of_request("old") == [] and len(records.of_request("new")) == 1


def test_retention_deletes_in_short_transactions(records: Records) -> None:
    """A transaction per chunk: serving commits wait between them rather than fail."""
    records.write(rows("old", 7) + rows("new"))
    later = datetime.now(UTC) + timedelta(days=40)
    transactions = []
    sa.event.listen(records.engine, "commit", lambda _: transactions.append(1))
    deleted = records.purge(older_than_days=30, now=later, chunk=3)
    assert deleted == 8 and transactions == [1, 1, 1]
    assert records.between(None, None) == []


def test_one_applicants_records_can_be_deleted(records: Records) -> None:
    records.write(rows("r1", 2) + rows("r2", reference="app-1"))
    assert records.delete_applicant(None, "app-1") == 1
    assert records.delete_applicant("r1", None) == 2
    assert records.between(None, None) == []
    with pytest.raises(ValueError):
        records.delete_applicant("r1", "app-1")


def test_export_periods_are_half_open(records: Records) -> None:
    records.write(rows("r1"))
    (row,) = records.between(None, None)
    at = row["decided_at"]
    assert len(records.between(at, at + timedelta(seconds=1))) == 1
    assert records.between(at + timedelta(seconds=1), None) == []
    assert records.between(None, at) == []


def test_realised_metrics_per_model_version(records: Records) -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(size=200)
    y = rng.uniform(size=200) < p
    assert auc(y, p) == pytest.approx(roc_auc_score(y, p))
    ties = np.array([0.5, 0.5, 0.2, 0.9])
    assert auc(np.array([True, False, False, True]), ties) == pytest.approx(
        roc_auc_score([1, 0, 0, 1], ties)
    )
    labelled = [
        {"model": "m:1", "p_good": float(pi), "decision": "good" if pi > 0.5 else "bad",
         "repaid": bool(yi)}
        for pi, yi in zip(p, y, strict=True)
    ]  # fmt: skip
    text = realised_metrics([*labelled, {**labelled[0], "model": "m:2"}])
    assert f'credit_risk_realised_decisions{{model="m:1"}} {200.0!r}' in text
    assert f'credit_risk_realised_auc{{model="m:1"}} {auc(y, p)!r}' in text
    assert 'credit_risk_realised_auc{model="m:2"}' not in text  # one outcome: no AUC
    assert 'credit_risk_realised_brier{model="m:2"}' in text


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


def test_a_table_made_before_the_migrations_is_kept(records_url: str) -> None:
    unmigrated = open_engine(records_url)
    metadata.create_all(unmigrated)
    Records(unmigrated).write(rows("before"))
    records = Records(engine_for(records_url))
    assert len(records.of_request("before")) == 1


# An API worker at start-up: imports, then opens the database once told to go.
WORKER = """
import sys
from serving.records import Records, engine_for
print("ready", flush=True)
sys.stdin.readline()
Records(engine_for(sys.argv[1])).write([])
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
    records.write(rows("r1"))
    assert len(records.of_request("r1")) == 1
