"""Faults on a real server of its own: runner killed, memory under load, SIGTERM, and an
attacker's probes of the records, outcomes and metrics."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from credit_risk.contract import EXAMPLE
from reliability import attacks, checks
from tools.server_process import ServerProcess, bentoml_serve, free_port


@pytest.fixture
def own_server(stored_model, tmp_path) -> Iterator[ServerProcess]:
    port = free_port()
    with ServerProcess(bentoml_serve("service:CreditScoring", port), port, tmp_path / "log") as s:
        yield s


def test_killed_runner_recovers_without_wrong_answers(own_server: ServerProcess) -> None:
    result = checks.kill_runner_under_load(own_server, EXAMPLE)
    assert result.not_ready_seen, "/readyz said ready while the runner was dead"
    # BentoML's process manager looks at its workers every 10 s (circus check_delay, not
    # configurable in 1.4): ~6 s on a quiet machine. The target is 10 s; 20 s leaves room
    # for a busy CI machine, and `make reliability` reports the figure against the target.
    assert result.answering_s < 20
    assert result.ready_s < 20
    # One body, one answer: up to float32 rounding of the batch it was computed in.
    assert max(result.answers) - min(result.answers) < 1e-6, result.answers
    assert result.requests > result.failed
    # A dead runner is the service's fault: 5xx (or a dropped connection), never a 4xx,
    # and the answer says nothing of the server's internals.
    assert all(not isinstance(s, int) or s >= 500 for s in result.failure_statuses)
    assert not any("Traceback" in body or 'File "' in body for body in result.error_bodies)


def test_memory_stays_flat_under_load(own_server: ServerProcess) -> None:
    """A leak like the ~350 MB/min seen in a BentoML prototype would show here."""
    result = checks.soak(own_server, EXAMPLE, clients=16, seconds=20)
    assert result.failed == 0
    assert result.rss_mb_end - result.rss_mb_start < 40, result


def test_sigterm_under_load_finishes_accepted_requests(own_server: ServerProcess) -> None:
    result = checks.sigterm_under_load(own_server, EXAMPLE)
    assert result.exit_code == 0
    assert result.stop_s < 30
    assert result.in_flight_failed == 0


def test_stuck_inference_times_out_with_504(stored_model, tmp_path) -> None:
    port = free_port()
    env = {"CREDIT_RISK_REQUEST_TIMEOUT_S": "2"}
    command = bentoml_serve("service:CreditScoring", port)
    with ServerProcess(command, port, tmp_path / "log", env=env) as server:
        result = checks.stuck_runner(server, EXAMPLE)
    assert result.status == 504
    assert 1.5 < result.seconds < 10
    assert result.status_after == 200


def test_an_attackers_probes_of_records_outcomes_and_metrics_are_refused(
    stored_model, tmp_path
) -> None:
    """`make reliability`'s probes, but the one that times scoring (a benchmark's job)."""
    database = tmp_path / "attacked.db"
    port = free_port()
    command = bentoml_serve("service:CreditScoring", port)
    probes = tuple(p for p in attacks.PROBES if p is not attacks.scrape_cost)
    with ServerProcess(command, port, tmp_path / "log", env=attacks.server_env(database)) as s:
        rows = attacks.run(s.url, database, probes)
    assert len(rows) == len(probes) + 1
    assert [row for row in rows if not row.met] == []
