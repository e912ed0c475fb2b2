"""The fleet (tools/fleet.py: replicas of the image from the Deployment manifest, HAProxy,
one PostgreSQL) under 64 clients, as an operator meets it: a replica killed, a promotion of
the challenger and a rollback (rolling updates), the database restarted; and what a second
replica adds (`make test-fleet`, whose image carries a challenger: CHALLENGER in Makefile)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from tools.container import built_image, image_models
from tools.fleet import API_KEY, Fleet
from training_export.paths import REPO_ROOT

pytestmark = pytest.mark.fleet

LOAD_SCRIPT = Path(__file__).with_name("load.lua")
CLIENTS = 64
SECONDS = 60


@pytest.fixture(scope="module")
def fleet(records) -> Iterator[Fleet]:
    image = built_image()
    if image is None or image["ENGINE"] != "podman":
        pytest.fail("the fleet runs the podman image of `make container` (make test-fleet)")
    with Fleet(image["IMAGE"], replicas=2) as running:
        yield running


@pytest.fixture(scope="module")
def versions(fleet) -> tuple[str, str]:
    """The champion (served by default) and the challenger the image carries."""
    health = requests.get(f"{fleet.url}/health", headers={"X-API-Key": API_KEY}, timeout=10)
    served = health.json()["model"]
    packed = image_models("podman", fleet.image)
    others = [tag for tag in packed if tag != served]
    if len(others) != 1:
        pytest.fail(f"the image carries {packed}: `make test-fleet` packs one challenger")
    return served, others[0]


@dataclass
class Load:
    requests: int
    non_200: int
    retry_later: int  # of the non-200: 503 with a Retry-After
    socket_errors: int
    p99_ms: float
    answered: list[str]  # the request ids answered 200
    seconds: float  # how long the load ran

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def __str__(self) -> str:
        return (
            f"{self.requests} requests in {self.seconds} s ({self.rate:.0f}/s), "
            f"{self.non_200} not 200 ({self.retry_later} of them 503 with Retry-After), "
            f"{self.socket_errors} socket errors, p99 {self.p99_ms:.0f} ms"
        )


def load(
    fleet: Fleet,
    run: str,
    body: dict,
    tmp: Path,
    seconds: int,
    during: Callable[[], None],
    tail: float | None = None,
) -> Load:
    """`CLIENTS` connections posting `body` through the balancer for `seconds`, each
    request with an id `run-...`, while `during` runs. With `tail`, the load ends `tail`
    seconds after `during` returns instead (wrk reports on SIGINT), `seconds` at most."""
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "body.json").write_text(json.dumps(body))
    command = [
        "wrk", "-t2", f"-c{CLIENTS}", f"-d{seconds}s", "--timeout", "10s",
        "-s", str(LOAD_SCRIPT), f"{fleet.url}/credit_score_prediction",
        "--", run, str(tmp), str(tmp / "body.json"), API_KEY,
    ]  # fmt: skip
    started = time.monotonic()
    wrk = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    during()
    if tail is not None:
        time.sleep(tail)
        wrk.send_signal(signal.SIGINT)
    out, _ = wrk.communicate(timeout=seconds + 60)
    elapsed = round(time.monotonic() - started)
    found = re.search(
        r"RESULT requests=(\d+) non200=(\d+) retry503=(\d+) connect=(\d+) read=(\d+) "
        r"write=(\d+) timeout=(\d+) p99_ms=([\d.]+)",
        out,
    )
    assert found, out
    total, non_200, retry_later, *errors, p99 = found.groups()
    answered = [i for f in tmp.glob("ok-*.txt") for i in f.read_text().split()]
    return Load(
        int(total), int(non_200), int(retry_later), sum(map(int, errors)), float(p99), answered,
        elapsed,
    )  # fmt: skip


def query(fleet: Fleet, sql: str, **params: object) -> list[sa.Row]:
    """The rows of one statement on the fleet's records database."""
    engine = sa.create_engine(fleet.records_url)
    with engine.connect() as connection:
        rows = connection.execute(sa.text(sql), params).all()
    engine.dispose()
    return rows


def recorded(fleet: Fleet, run: str) -> dict[str, int]:
    """Per request id of the run: its decision records."""
    sql = (
        "SELECT request_id, count(*) FROM decisions WHERE request_id LIKE :run GROUP BY request_id"
    )
    return dict(query(fleet, sql, run=f"{run}-%"))


def served_versions(
    fleet: Fleet, run: str, begin: float, end: float
) -> set[tuple[str, str | None]]:
    """(model, shadow model) of the run's decisions made between two instants."""
    sql = (
        "SELECT DISTINCT model, shadow_model FROM decisions WHERE request_id LIKE :run "
        "AND decided_at > :begin AND decided_at < :end"
    )
    rows = query(
        fleet,
        sql,
        run=f"{run}-%",
        begin=datetime.fromtimestamp(begin, UTC),
        end=datetime.fromtimestamp(min(end, 4e9), UTC),
    )
    return {tuple(row) for row in rows}


def assert_no_failure_and_every_answer_recorded_once(result: Load, records: dict) -> None:
    assert (result.non_200, result.socket_errors) == (0, 0), result
    assert result.answered and len(set(result.answered)) == len(result.answered)
    assert all(records.get(i) == 1 for i in result.answered), "a 200 without one record"
    assert all(count == 1 for count in records.values()), "a request recorded twice"


def at(seconds: float, action: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        time.sleep(seconds)
        action()

    return run


def test_a_replica_killed_under_load_fails_no_request(fleet, records, tmp_path) -> None:
    def kill_and_replace() -> None:
        fleet.kill_replica(0)
        time.sleep(10)  # the controller notices, replaces the pod
        fleet.replace_replica(0)
        fleet.wait_serving(0)

    result = load(fleet, "kill", records[0], tmp_path, SECONDS, at(15, kill_and_replace))
    print(f"a replica killed (SIGKILL) and replaced, {CLIENTS} clients: {result}")
    assert_no_failure_and_every_answer_recorded_once(result, recorded(fleet, "kill"))


def test_a_promotion_and_a_rollback_under_load_fail_no_request(
    fleet, versions, records, tmp_path
) -> None:
    """Rolling updates of the settings alone: the challenger becomes champion (the old one
    shadow-scored beside it), then the old champion comes back alone. Between and after
    the updates, every decision is the one version's; no request fails."""
    champion, challenger = versions
    promoted = {"CREDIT_RISK_SERVED_MODEL": challenger, "CREDIT_RISK_CHALLENGER_MODEL": champion}
    rolled_back = {"CREDIT_RISK_SERVED_MODEL": champion}  # as before: no challenger
    phases: list[tuple[float, float]] = []  # (done, next update begins), epoch seconds

    def promote_then_roll_back() -> None:
        fleet.rolling_update(promoted)
        phases.append((time.time(), time.time() + 5))
        time.sleep(5)
        fleet.rolling_update(rolled_back)
        phases.append((time.time(), float("inf")))

    # Two rolling updates of two replicas take ~50 s each on a busy machine, more on CI:
    # the load lasts until 10 s after the rollback, whenever that is.
    result = load(fleet, "roll", records[1], tmp_path, 400, at(5, promote_then_roll_back), tail=10)
    print(f"promotion, then rollback, {CLIENTS} clients: {result}")
    assert len(phases) == 2, "the rolling updates outlasted the load"
    assert_no_failure_and_every_answer_recorded_once(result, recorded(fleet, "roll"))
    assert len(fleet.running) == fleet.replicas
    for (begin, end), (served, shadow) in zip(
        phases, [(challenger, champion), (champion, None)], strict=True
    ):
        versions_seen = served_versions(fleet, "roll", begin, end)
        assert versions_seen == {(served, shadow)}, (begin, end, versions_seen)


def test_a_database_restart_under_load_is_503_with_retry_after_then_every_replica_recovers(
    fleet, records, tmp_path
) -> None:
    down_s = 5
    result = load(
        fleet, "pg", records[2], tmp_path, 30, at(10, lambda: fleet.restart_database(down_s))
    )
    print(f"PostgreSQL down {down_s} s, {CLIENTS} clients: {result}")
    assert result.socket_errors == 0, result
    assert 0 < result.retry_later == result.non_200, "a failure other than 503 Retry-After"
    records_of_run = recorded(fleet, "pg")
    assert all(records_of_run.get(i) == 1 for i in result.answered), "a 200 without one record"
    assert all(count == 1 for count in records_of_run.values()), "a request recorded twice"
    # Every replica on its own port, not through the balancer: each answers again.
    for slot in fleet.running:
        response = requests.post(
            f"http://127.0.0.1:{fleet.ports[slot]}/credit_score_prediction",
            json=records[3],
            headers={"X-API-Key": API_KEY},
            timeout=30,
        )
        assert response.status_code == 200, (slot, response.text)


def test_two_replicas_against_one(fleet, records, tmp_path) -> None:
    """Reported, not asserted beyond working: on 2 cores a second replica shares them."""
    two = load(fleet, "two", records[4], tmp_path / "two", 20, lambda: None)
    paused = max(fleet.running)
    fleet.haproxy(f"set server replicas/r{paused + 1} state maint")
    try:
        one = load(fleet, "one", records[4], tmp_path / "one", 20, lambda: None)
    finally:
        fleet.haproxy(f"set server replicas/r{paused + 1} state ready")
        fleet.wait_serving(paused)
    print(
        f"through HAProxy, {CLIENTS} clients, 20 s each: 1 replica {one.rate:.0f} req/s "
        f"(p99 {one.p99_ms:.0f} ms), 2 replicas {two.rate:.0f} req/s (p99 "
        f"{two.p99_ms:.0f} ms): {two.rate / one.rate:.2f}x"
    )
    (REPO_ROOT / "build").mkdir(exist_ok=True)
    (REPO_ROOT / "build" / "fleet-throughput.txt").write_text(
        f"one {one.rate:.1f} two {two.rate:.1f} ratio {two.rate / one.rate:.3f}\n"
    )
    assert one.non_200 == two.non_200 == 0
