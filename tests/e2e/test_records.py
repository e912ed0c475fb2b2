"""Decision records on real servers: read with a key, outcomes, realised metrics, and no
acknowledged decision lost when the API worker is killed."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import psutil
import pytest
import requests

from credit_risk.contract import EXAMPLE
from serving.records import Records, caller_of, engine_for
from tests.e2e.conftest import KEY
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
    assert record["caller"] == caller_of(KEY) and record["client_reference"] == "app-42"
    unknown = requests.get(restricted + "/decisions/no-such-request", headers=keyed)
    assert unknown.status_code == 404 and "error" in unknown.json()


def test_outcomes_close_the_loop(restricted: str) -> None:
    keyed = {"X-API-Key": KEY}
    requests.post(
        restricted + PREDICT, json=EXAMPLE, headers={**keyed, "X-Request-ID": "e2e-outcome"}
    )
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
    metrics = requests.get(restricted + "/metrics").text
    assert "credit_risk_realised_decisions{model=" in metrics


@pytest.fixture
def recorded_server(stored_model, tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'decisions.db'}"
    port = free_port()
    command = bentoml_serve("service:CreditScoring", port)
    env = {"CREDIT_RISK_RECORDS_URL": url}
    with ServerProcess(command, port, tmp_path / "serve.log", env=env) as server:
        yield server, Records(engine_for(url))


def test_no_acknowledged_decision_is_lost_when_the_api_worker_is_killed(
    recorded_server: tuple[ServerProcess, Records],
) -> None:
    server, records = recorded_server
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
