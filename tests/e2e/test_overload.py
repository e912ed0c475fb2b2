"""Load shedding on a real server of its own, with a latency budget the batcher cannot meet."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from credit_risk.contract import EXAMPLE
from serving.http.errors import OVERLOADED, error_body
from tools.server_process import ServerProcess, bentoml_serve, free_port

# Both endpoints with reasons; the batches keep the runner busy for milliseconds at a time.
REQUESTS = [
    ("/credit_score_prediction?reasons=true", EXAMPLE),
    ("/credit_score_prediction/batch?reasons=true", {"applicants": [EXAMPLE] * 20}),
]


def flood(url: str, clients: int = 32, seconds: float = 15) -> list[requests.Response]:
    """Every answer of `clients` closed-loop clients, until one was shed or time is up."""
    answers: list[requests.Response] = []
    shed = threading.Event()
    until = time.monotonic() + seconds

    def client(path: str, body: dict) -> None:
        session = requests.Session()
        while not shed.is_set() and time.monotonic() < until:
            response = session.post(url + path, json=body, timeout=15)
            answers.append(response)
            if response.status_code == 503:
                shed.set()

    threads = [
        threading.Thread(target=client, args=REQUESTS[i % len(REQUESTS)]) for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_a_shed_request_is_a_503_with_retry_after_and_one_warning(stored_model, tmp_path) -> None:
    port = free_port()
    # 1 ms: requests queued behind the batch in flight miss it, and the batcher sheds them.
    env = {"CREDIT_RISK_MAX_LATENCY_MS": "1"}
    log = tmp_path / "serve.log"
    with ServerProcess(bentoml_serve("service:CreditScoring", port), port, log, env=env) as s:
        answers = flood(s.url)
        time.sleep(1)  # the log lines of the last answers
        text = log.read_text(errors="replace")
    shed = [a for a in answers if a.status_code == 503]
    assert shed, "the batcher never shed a request"
    assert {a.status_code for a in answers} <= {200, 503}
    for answer in shed:
        assert answer.json() == error_body(OVERLOADED) == {"error": "overloaded: retry later"}
        assert answer.headers["Retry-After"] == "1"
    warnings = [line for line in text.splitlines() if "shed: overloaded" in line]
    assert len(warnings) == len(shed), warnings
    assert all("[WARNING]" in line for line in warnings)
    assert "Traceback" not in text
    assert "ServiceUnavailable" not in text


def concurrent_batches(url: str, batches: int, size: int) -> list[int]:
    """The statuses of `batches` batches of `size` applicants with reasons sent at once."""
    body = {"applicants": [EXAMPLE] * size}
    with ThreadPoolExecutor(batches) as pool:
        return list(
            pool.map(
                lambda _: (
                    requests.post(
                        f"{url}/credit_score_prediction/batch?reasons=true", json=body, timeout=60
                    ).status_code
                ),
                range(batches),
            )
        )


def test_largest_batches_with_reasons_at_once_are_all_answered(server: str) -> None:
    """Reasons cost at most one forward pass per scored field: three batches of 1000
    applicants with reasons at once fit well within the latency budget."""
    assert concurrent_batches(server, 8, 100) == [200] * 8
    assert concurrent_batches(server, 3, 1000) == [200] * 3
