"""Reading, outcomes, purging and deleting records, on real databases: SQLite in a
temporary directory, and PostgreSQL (a server the tests start, tools/postgres.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from serving.records.database import decisions, outcome_corrections
from serving.records.models import OUTCOME, OutcomeConflict
from serving.records.queries import Records
from tests.unit.serving.records.helpers import rows, write


def outcome(records: Records, body: dict, caller: str = "servicing") -> dict:
    return records.record_outcome(OUTCOME.validate_python(body), caller)


def test_outcomes_are_idempotent_and_conflicts_refused(records: Records) -> None:
    write(records.engine, rows("r1", 2) + rows("r2", reference="app-7"))
    first = outcome(records, {"request_id": "r1", "position": 1, "repaid": True})
    assert first["repaid"] is True and first["position"] == 1
    again = outcome(records, {"request_id": "r1", "position": 1, "repaid": True})
    assert again["outcome_at"] == first["outcome_at"]  # unchanged
    with pytest.raises(OutcomeConflict):
        outcome(records, {"request_id": "r1", "position": 1, "repaid": False})
    by_reference = outcome(records, {"client_reference": "app-7", "repaid": False})
    assert by_reference["request_id"] == "r2" and by_reference["repaid"] is False
    with pytest.raises(LookupError):
        outcome(records, {"request_id": "r9", "repaid": True})
    write(records.engine, rows("r3", reference="app-7"))
    with pytest.raises(OutcomeConflict):  # the reference now names two decisions
        outcome(records, {"client_reference": "app-7", "repaid": False})


def test_an_outcome_is_corrected_only_on_purpose_and_the_correction_is_recorded(
    records: Records,
) -> None:
    write(records.engine, rows("r1") + rows("r2"))
    first = outcome(records, {"request_id": "r1", "repaid": True}, caller="servicing")
    assert first["outcome_by"] == "servicing"
    with pytest.raises(OutcomeConflict, match="correction"):
        outcome(records, {"request_id": "r1", "repaid": False})
    corrected = outcome(
        records, {"request_id": "r1", "repaid": False, "correction": True}, caller="desk-2"
    )
    assert corrected["repaid"] is False and corrected["outcome_by"] == "desk-2"
    assert corrected["outcome_at"] == first["outcome_at"]  # when it was first known
    with records.engine.connect() as connection:
        (change,) = connection.execute(sa.select(outcome_corrections)).mappings().all()
    assert (change["old_repaid"], change["repaid"], change["corrected_by"]) == (
        True,
        False,
        "desk-2",
    )
    assert change["decision_id"] == corrected["id"] and change["corrected_at"].tzinfo
    with pytest.raises(OutcomeConflict, match="no outcome to correct"):
        outcome(records, {"request_id": "r2", "repaid": True, "correction": True})
    # /metrics sees the outcome as first reported, then its correction.
    assert [(e["id"], e["repaid"]) for e in records.outcome_events(datetime.now(UTC))] == [
        (corrected["id"], True),
        (corrected["id"], False),
    ]
    # As of an instant: the events before it only.
    before_correction = records.outcome_events(change["corrected_at"])
    assert [(e["id"], e["repaid"]) for e in before_correction] == [(corrected["id"], True)]
    assert records.delete_applicant("r1", None) == 1
    with records.engine.connect() as connection:  # erased with the decision it corrected
        assert connection.execute(sa.select(outcome_corrections)).all() == []


def test_retention_deletes_only_what_is_older(records: Records) -> None:
    write(records.engine, rows("old") + rows("new"))
    later = datetime.now(UTC) + timedelta(days=10)
    assert records.purge(older_than_days=30, now=later) == 0
    with records.engine.begin() as connection:  # make "old" 40 days old
        connection.execute(
            decisions.update()
            .where(decisions.c.request_id == "old")
            .values(decided_at=datetime.now(UTC) - timedelta(days=40))
        )
    assert records.purge(older_than_days=30) == 1
    assert records.of_request("old") == [] and len(records.of_request("new")) == 1


def test_retention_deletes_in_short_transactions(records: Records) -> None:
    """A transaction per chunk: serving commits wait between them rather than fail."""
    write(records.engine, rows("old", 7) + rows("new"))
    later = datetime.now(UTC) + timedelta(days=40)
    transactions = []
    sa.event.listen(records.engine, "commit", lambda _: transactions.append(1))
    deleted = records.purge(older_than_days=30, now=later, chunk=3)
    assert deleted == 8 and transactions == [1, 1, 1]
    assert records.between(None, None) == []


def test_one_applicants_records_can_be_deleted(records: Records) -> None:
    write(records.engine, rows("r1", 2) + rows("r2", reference="app-1"))
    assert records.delete_applicant(None, "app-1") == 1
    assert records.delete_applicant("r1", None) == 2
    assert records.between(None, None) == []
    with pytest.raises(ValueError):
        records.delete_applicant("r1", "app-1")


def test_export_periods_are_half_open(records: Records) -> None:
    write(records.engine, rows("r1"))
    (row,) = records.between(None, None)
    at = row["decided_at"]
    assert len(records.between(at, at + timedelta(seconds=1))) == 1
    assert records.between(at + timedelta(seconds=1), None) == []
    assert records.between(None, at) == []


def test_times_are_read_back_in_utc_with_their_offset(records: Records) -> None:
    write(records.engine, rows("r1"))
    outcome(records, {"request_id": "r1", "repaid": True})
    (row,) = records.between(None, None)
    for name in ("decided_at", "outcome_at"):
        assert row[name].utcoffset() == timedelta(0), name
    assert abs(row["decided_at"] - datetime.now(UTC)) < timedelta(minutes=1)


def test_a_decline_takes_no_outcome(records: Records) -> None:
    declined = {"prediction": "bad", "decision": "decline", "probability": 0.3}
    write(records.engine, rows("declined", **declined, probability_bad=0.7))
    with pytest.raises(OutcomeConflict, match="no credit was extended"):
        outcome(records, {"request_id": "declined", "repaid": False})
    assert records.of_request("declined")[0]["repaid"] is None
