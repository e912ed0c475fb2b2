"""Lone requests are as fast after a flood as before it, on a real server of its own."""

from __future__ import annotations

from credit_risk.contract import EXAMPLE
from reliability import checks
from tools.server_process import ServerProcess, bentoml_serve, free_port


def test_lone_requests_recover_within_seconds_after_a_flood(stored_model, tmp_path) -> None:
    """BentoML's batcher made lone requests with reasons wait ~80 times longer for minutes
    after a flood of large batches with reasons (~0.5 s instead of ~6 ms)."""
    port = free_port()
    with ServerProcess(bentoml_serve("service:CreditScoring", port), port, tmp_path / "log") as s:
        result = checks.flood_recovery(s, EXAMPLE, clients=4, seconds=5, probe_s=3)
    assert result.flood_requests > 0
    assert set(result.flood_statuses) <= {200, 503}, result.flood_statuses
    # The target is 1.5 times (`make reliability` reports it); 10 leaves room for a machine
    # busy with other work, and is far below the 40-100 times without the fix.
    assert result.worst_ratio < 10, result
