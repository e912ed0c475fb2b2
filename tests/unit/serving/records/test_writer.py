"""The serving path's records, on real databases: SQLite in a temporary directory, and
PostgreSQL (a server the tests start, tools/postgres.py)."""

from __future__ import annotations

from credit_risk.contract import EXAMPLE
from credit_risk.reasons import REASON_TABLE_VERSION
from serving.records.queries import Records
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
