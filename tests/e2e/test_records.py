"""Decision records on real servers: read with a key, outcomes, realised metrics, each
decision synced to disk before it is answered, no acknowledged decision lost when the API
worker is killed, no decision while the database is lost and scoring again by itself once
it is back (both on SQLite and PostgreSQL), and an unreachable database at start-up named
without its password, the service ready by itself once it is up."""

from __future__ import annotations

import contextlib
import itertools
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import NamedTuple

import psutil
import pytest
import requests

from credit_risk.contract import EXAMPLE
from serving.http.errors import RECORDS_RETRY_AFTER_S, RECORDS_UNAVAILABLE, error_body
from serving.records.database import engine_for
from serving.records.queries import Records
from tests.e2e.conftest import KEY, SCORE_ONLY
from tools.postgres import PostgresCluster
from tools.server_process import ServerProcess, bentoml_serve, free_port

PREDICT = "/credit_score_prediction"
API_WORKER_MARK = "--service-name credit_scoring"


def test_a_decision_is_readable_with_a_key_only(restricted: str) -> None:
    keyed = {"X-API-Key": KEY}
    headers = {**keyed, "X-Request-ID": "e2e-read", "X-Application-ID": "app-42"}
    answer = requests.post(restricted + PREDICT, json=EXAMPLE, headers=headers).json()
    assert requests.get(restricted + "/decisions/e2e-read").status_code == 401
    response = requests.get(restricted + "/decisions/e2e-read", headers=keyed)
    assert response.status_code == 200
    (record,) = response.json()
    assert record["applicant"] == EXAMPLE and record["p_good"] == answer["probability"]
    assert record["caller"] == "key-1" and record["client_reference"] == "app-42"
    unknown = requests.get(restricted + "/decisions/no-such-request", headers=keyed)
    assert unknown.status_code == 404 and "error" in unknown.json()


def test_a_request_id_names_one_request_and_a_retry_gets_its_first_answer(
    restricted: str,
) -> None:
    keyed = {"X-API-Key": KEY, "X-Request-ID": "e2e-retry"}
    first = requests.post(restricted + PREDICT, json=EXAMPLE, headers=keyed)
    again = requests.post(restricted + PREDICT, json=EXAMPLE, headers=keyed)
    assert first.status_code == again.status_code == 200 and again.json() == first.json()
    assert again.headers["x-request-id"] == "e2e-retry"
    records = requests.get(restricted + "/decisions/e2e-retry", headers={"X-API-Key": KEY})
    assert len(records.json()) == 1  # no second record
    for body, headers in (
        ({**EXAMPLE, "Age": 51}, keyed),  # another body
        (EXAMPLE, {**keyed, "X-API-Key": SCORE_ONLY["key"]}),  # another caller
        (EXAMPLE, {**keyed, "X-Application-ID": "app-1"}),  # another applicant's file
    ):
        taken = requests.post(restricted + PREDICT, json=body, headers=headers)
        assert taken.status_code == 409, taken.text
        assert taken.json() == {
            "error": "the request id 'e2e-retry' names another request: send a new X-Request-ID"
        }
    batch = {"applicants": [EXAMPLE, {**EXAMPLE, "Age": 51}]}
    taken = requests.post(restricted + PREDICT + "/batch", json=batch, headers=keyed)
    assert taken.status_code == 409
    assert len(requests.get(restricted + "/decisions/e2e-retry", headers=keyed).json()) == 1


def test_outcomes_close_the_loop(
    restricted: str, approved_applicant: dict, declined_applicant: dict
) -> None:
    keyed = {"X-API-Key": KEY}
    requests.post(
        restricted + PREDICT,
        json=approved_applicant,
        headers={**keyed, "X-Request-ID": "e2e-outcome"},
    )
    requests.post(
        restricted + PREDICT,
        json=declined_applicant,
        headers={**keyed, "X-Request-ID": "e2e-declined"},
    )
    declined = {"request_id": "e2e-declined", "repaid": False}
    refused = requests.post(restricted + "/outcomes", json=declined, headers=keyed)
    assert refused.status_code == 409 and "no credit was extended" in refused.json()["error"]
    outcome = {"request_id": "e2e-outcome", "repaid": False}
    first = requests.post(restricted + "/outcomes", json=outcome, headers=keyed)
    assert first.status_code == 200 and first.json()["repaid"] is False
    assert requests.post(restricted + "/outcomes", json=outcome, headers=keyed).json() == (
        first.json()
    )
    conflict = requests.post(
        restricted + "/outcomes", json={**outcome, "repaid": True}, headers=keyed
    )
    assert conflict.status_code == 409
    unknown = {"request_id": "nobody", "repaid": True}
    assert requests.post(restricted + "/outcomes", json=unknown, headers=keyed).status_code == 404
    invalid = requests.post(restricted + "/outcomes", json={"repaid": "?"}, headers=keyed)
    assert invalid.status_code == 422 and invalid.json()["detail"]
    assert requests.post(restricted + "/outcomes", json=outcome).status_code == 401
    # One outcome: the version's series, with none of its figures (published per 100).
    for _ in range(100):  # each scrape of each worker refreshes them in the background
        metrics = requests.get(restricted + "/metrics").text
        if "credit_risk_realised_decisions{model=" in metrics:
            break
        time.sleep(0.05)
    assert "credit_risk_realised_decisions{model=" in metrics
    assert "credit_risk_realised_brier{model=" not in metrics


@pytest.fixture(scope="module")
def postgres_served(
    stored_model, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, PostgresCluster, str]]:
    """A server keeping its records on a PostgreSQL server of its own (stopped and started
    again by a test), and the records database's URL."""
    with PostgresCluster() as cluster:
        url = cluster.create_database()
        port = free_port()
        log = tmp_path_factory.mktemp("postgres-served") / "serve.log"
        env = {"CREDIT_RISK_RECORDS_URL": url}
        with ServerProcess(bentoml_serve("service:CreditScoring", port), port, log, env=env) as s:
            yield s, cluster, url


class Recorded(NamedTuple):
    """A server, its records, and how to lose its database for a while."""

    server: ServerProcess
    records: Records
    lost: Callable[[], AbstractContextManager[None]]


@contextlib.contextmanager
def write_lock_held(path: Path) -> Iterator[None]:
    """SQLite's write lock held by another process past the records' busy timeout."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("BEGIN EXCLUSIVE")
        yield
    finally:
        connection.close()  # rolls back, releasing the lock


@pytest.fixture(params=["sqlite", "postgresql"])
def recorded_server(
    request: pytest.FixtureRequest, stored_model, tmp_path: Path
) -> Iterator[Recorded]:
    """PostgreSQL is lost while it is stopped; SQLite while another process holds its
    write lock."""
    if request.param == "postgresql":
        server, cluster, url = request.getfixturevalue("postgres_served")

        @contextlib.contextmanager
        def stopped() -> Iterator[None]:
            cluster.stop()
            try:
                yield
            finally:
                cluster.start()

        yield Recorded(server, Records(engine_for(url)), stopped)
        return
    path = tmp_path / "decisions.db"
    port = free_port()
    command = bentoml_serve("service:CreditScoring", port)
    env = {"CREDIT_RISK_RECORDS_URL": f"sqlite:///{path}"}
    with ServerProcess(command, port, tmp_path / "serve.log", env=env) as server:
        records = Records(engine_for(f"sqlite:///{path}"))
        yield Recorded(server, records, lambda: write_lock_held(path))


def synced_before_answered(trace: str, database: Path) -> list[bool]:
    """For each 200 a traced process sent, whether a sync of `database`'s WAL had returned
    since the previous answer (strace -f -y: fds with their paths; a call interrupted by
    another thread's is split into "<unfinished ...>" and "<... resumed>")."""
    wal, synced, answers = f"{database}-wal>", False, []
    unfinished: set[str] = set()  # threads inside a sync of the WAL
    for line in trace.splitlines():
        thread = line.split(" ", 1)[0]
        if "fdatasync(" in line or "fsync(" in line:
            if "<unfinished" in line and wal in line:
                unfinished.add(thread)
            elif "resumed>" in line:
                synced |= thread in unfinished and line.rstrip().endswith("= 0")
                unfinished.discard(thread)
            else:
                synced |= wal in line and line.rstrip().endswith("= 0")
        elif '"HTTP/1.1 200' in line:
            answers.append(synced)
            synced = False
    return answers


def test_a_decision_is_synced_to_disk_before_it_is_answered(stored_model, tmp_path: Path) -> None:
    """A power cut after a 200 loses no decision: the API worker's sync of the SQLite WAL
    (synchronous=FULL) returns before each answer is written to its socket, as traced."""
    if shutil.which("strace") is None:
        pytest.fail("this test needs strace (make strace, Debian's strace)", pytrace=False)
    path = tmp_path / "decisions.db"
    port = free_port()
    env = {"CREDIT_RISK_RECORDS_URL": f"sqlite:///{path}", "CREDIT_RISK_API_WORKERS": "1"}
    command = bentoml_serve("service:CreditScoring", port)
    with ServerProcess(command, port, tmp_path / "serve.log", env=env) as server:
        (worker,) = [p for p in server.processes() if API_WORKER_MARK in " ".join(p.cmdline())]
        trace = tmp_path / "strace.log"
        tracer = subprocess.Popen(
            ["strace", "-f", "-y", "-s", "16", "-o", str(trace), "-p", str(worker.pid),
             "-e", "trace=fsync,fdatasync,write,writev,sendto,sendmsg"],
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            while "attached" not in tracer.stderr.readline():
                assert tracer.poll() is None, tracer.stderr.read()
            with requests.Session() as session:
                for n in range(5):
                    answer = session.post(
                        server.url + PREDICT, json=EXAMPLE, headers={"X-Request-ID": f"sync-{n}"}
                    )
                    assert answer.status_code == 200
        finally:
            tracer.send_signal(signal.SIGINT)
            tracer.wait(timeout=10)
        records = Records(engine_for(f"sqlite:///{path}"))
        assert len(records.between(None, None)) == 5
    assert synced_before_answered(trace.read_text(), path) == [True] * 5


def test_no_acknowledged_decision_is_lost_when_the_api_worker_is_killed(
    recorded_server: Recorded,
) -> None:
    server, records, _ = recorded_server
    acknowledged: list[str] = []
    numbers = itertools.count()
    stop = threading.Event()

    def client() -> None:
        session = requests.Session()
        while not stop.is_set():
            request_id = f"kill-{next(numbers)}"
            try:
                response = session.post(
                    server.url + PREDICT, json=EXAMPLE, headers={"X-Request-ID": request_id},
                    timeout=10,
                )  # fmt: skip
            except requests.RequestException:
                time.sleep(0.05)
                continue
            if response.status_code == 200:
                acknowledged.append(request_id)

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(3)
    workers = [p for p in server.processes() if API_WORKER_MARK in " ".join(p.cmdline())]
    assert workers
    for worker in workers:
        worker.send_signal(9)
    psutil.wait_procs(workers, timeout=10)
    time.sleep(3)  # the arbiter starts a new worker; clients go on
    stop.set()
    for thread in threads:
        thread.join()
    stored = {r["request_id"] for r in records.between(None, None)}
    assert acknowledged and not set(acknowledged) - stored
    complete = {len(r["applicant"]) for r in records.between(None, None)}
    assert complete == {9}  # nothing half-written


def test_no_decision_while_the_database_is_lost_and_scoring_again_once_it_is_back(
    recorded_server: Recorded,
) -> None:
    server, records, lost = recorded_server
    batch = {"applicants": [EXAMPLE, EXAMPLE]}
    for _ in range(8):  # each API worker has written, and may keep a connection
        assert requests.post(server.url + PREDICT, json=EXAMPLE, timeout=10).status_code == 200
    with lost():
        answers = [
            requests.post(server.url + path, json=body, headers={"X-Request-ID": f"lost-{i}"},
                          timeout=10)
            for i, (path, body) in enumerate([(PREDICT, EXAMPLE), (PREDICT + "/batch", batch)] * 2)
        ]  # fmt: skip
        for answer in answers:
            assert answer.status_code == 503
            assert answer.json() == error_body(RECORDS_UNAVAILABLE)
            assert "decision records are unavailable" in answer.json()["error"]
            assert answer.headers["Retry-After"] == str(RECORDS_RETRY_AFTER_S)
        assert requests.get(server.url + "/health", timeout=10).status_code == 200
        assert requests.get(server.url + "/metrics", timeout=10).status_code == 200
    back = [  # on every worker, also one that got none of the requests above
        requests.post(
            server.url + PREDICT, json=EXAMPLE, headers={"X-Request-ID": f"back-{i}"}, timeout=10
        )
        for i in range(8)
    ]
    assert [answer.status_code for answer in back] == [200] * 8  # at once: no restart, no wait
    assert all(len(records.of_request(f"back-{i}")) == 1 for i in range(8))
    assert all(records.of_request(f"lost-{i}") == [] for i in range(4))
    expected = (
        "decision records database lost, scoring answers 503",
        "decision records unavailable, answered 503 (Retry-After",
        "decision records database back, scoring again",
    )
    deadline = time.monotonic() + 10  # a worker's log lines reach the file after its answers
    while not all(line in (log := server.log.read_text(errors="replace")) for line in expected):
        assert time.monotonic() < deadline, [line for line in expected if line not in log]
        time.sleep(0.1)
    assert "[SQL:" not in log  # statements and their parameters (personal data) unlogged


def test_an_unreachable_database_at_start_up_is_named_without_its_password(
    stored_model, tmp_path: Path
) -> None:
    closed = free_port()
    url = f"postgresql+psycopg://auditor:pw-123@127.0.0.1:{closed}/records"
    port = free_port()
    log = tmp_path / "serve.log"
    env = {"CREDIT_RISK_RECORDS_URL": url, "CREDIT_RISK_API_WORKERS": "1"}
    server = ServerProcess(bentoml_serve("service:CreditScoring", port), port, log, env=env)
    shown = f"decision records database postgresql+psycopg://auditor:***@127.0.0.1:{closed}/records"
    server.start(wait=False)
    try:
        deadline = time.monotonic() + 60
        while shown not in log.read_text(errors="replace") and time.monotonic() < deadline:
            time.sleep(0.2)
        with pytest.raises(requests.RequestException):  # no worker answers
            requests.get(server.url + "/readyz", timeout=1)
    finally:  # nothing started to stop gracefully: killed after 3 s
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.stop(timeout_s=3)
    text = log.read_text(errors="replace")
    assert f"{shown}: connection failed" in text and "Connection refused" in text
    assert "pw-123" not in text
    # One short traceback per attempt: not the driver's chained ones, which buried it.
    assert "direct cause of the following exception" not in text


def test_a_service_started_without_its_database_is_ready_once_the_database_is_up(
    stored_model, tmp_path: Path
) -> None:
    """BentoML starts a worker that failed again (every ~10 s): no one has to restart it."""
    with PostgresCluster() as cluster:
        url = cluster.create_database()
        cluster.stop()
        port = free_port()
        env = {"CREDIT_RISK_RECORDS_URL": url, "CREDIT_RISK_API_WORKERS": "1"}
        log = tmp_path / "serve.log"
        server = ServerProcess(bentoml_serve("service:CreditScoring", port), port, log, env=env)
        server.start(wait=False)
        try:
            deadline = time.monotonic() + 60
            while "connection failed" not in log.read_text(errors="replace"):
                assert time.monotonic() < deadline, server.tail()
                time.sleep(0.2)
            cluster.start()
            server.wait_ready(timeout_s=60)
            answer = requests.post(server.url + PREDICT, json=EXAMPLE, timeout=10)
            assert answer.status_code == 200
        finally:
            server.stop(timeout_s=10)
