"""Clients of a real `bentoml serve`: the API doc's example, BentoML's client, probes."""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
import time

import bentoml
import psutil
import pytest
import requests

from credit_risk.contract import EXAMPLE
from serving.http import routes
from tests.e2e.conftest import scrape

# The Python client example of the API documentation, verbatim but for the base URL.
DOC_CLIENT_EXAMPLE = """
import requests

base_url = "{base_url}"

# Make a prediction request
payload = {{
    "Age": 35,
    "Sex": "male",
    "Job": "unskilled and resident",
    "Housing": "free",
    "Saving accounts": "NA",
    "Checking account": "NA",
    "Credit amount": 9055,
    "Duration": 36,
    "Purpose": "education"
}}

response = requests.post(
    f"{{base_url}}/credit_score_prediction",
    json=payload
)

result = response.json()
print(f"Prediction: {{result['prediction']}}")
print(f"Probability: {{result['probability']}}")
"""


def test_the_api_docs_client_example_prints_a_prediction(server: str) -> None:
    script = DOC_CLIENT_EXAMPLE.format(base_url=server)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    prediction, probability = run.stdout.splitlines()
    assert prediction in ("Prediction: good", "Prediction: bad")
    assert 0 <= float(probability.removeprefix("Probability: ")) <= 1


def test_bentoml_client_gets_the_same_answer(server: str) -> None:
    over_http = requests.post(f"{server}/credit_score_prediction", json=EXAMPLE).json()
    with bentoml.SyncHTTPClient(server, server_ready_timeout=60) as client:
        answer = client.credit_score_prediction(EXAMPLE)  # the flat body, positionally
    assert answer == over_http


def test_invalid_input_is_422_over_the_wire(server: str) -> None:
    response = requests.post(f"{server}/credit_score_prediction", json={**EXAMPLE, "Sex": "x"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["Sex"]


def test_probes_and_pages(server: str, stored_model) -> None:
    for path in ("/livez", "/readyz", "/docs", "/redoc", "/openapi.json"):
        assert requests.get(f"{server}{path}").status_code == 200, path
    assert requests.get(f"{server}/health").json()["model"] == str(stored_model.tag)
    root = requests.get(f"{server}/", allow_redirects=False)
    assert root.headers["location"] == "/docs"


def test_oversized_body_is_413(server: str) -> None:
    padding = "x" * (1_048_576 + 1)
    response = requests.post(
        f"{server}/credit_score_prediction",
        data=f'{{"pad": "{padding}"}}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413


def test_logs_one_json_line_per_request_and_no_client_error_traceback(served) -> None:
    marker = "e2e-log-check"
    invalid = {**EXAMPLE, "Credit amount": 987654.25, "Age": -1}
    response = requests.post(
        f"{served.url}/credit_score_prediction", json=invalid, headers={"X-Request-ID": marker}
    )
    assert response.status_code == 422
    assert response.headers["x-request-id"] == marker
    time.sleep(0.5)  # let the server flush its log
    log = served.log.read_text()
    lines = [json.loads(line) for line in log.splitlines() if marker in line]
    assert [(line["status"], line["path"]) for line in lines] == [(422, "/credit_score_prediction")]
    assert "987654" not in log  # request bodies (personal data) are not logged
    assert "Traceback" not in log


def test_fuzzing_the_openapi_schema_finds_no_5xx_and_only_documented_answers(server: str) -> None:
    from reliability.checks import fuzz

    result = fuzz(server, examples=150)
    assert result.passed, result.summary


def test_metrics_count_requests_by_endpoint_and_status_and_name_the_model(
    server: str, stored_model
) -> None:
    requests.post(f"{server}/credit_score_prediction", json=EXAMPLE)
    requests.post(f"{server}/credit_score_prediction", json={**EXAMPLE, "Age": 0})
    text = scrape(server)
    for status in (200, 422):
        assert re.search(
            rf'^bentoml_service_request_total\{{endpoint="/credit_score_prediction",'
            rf'http_response_code="{status}".*\}} [1-9]',
            text,
            re.M,
        ), status
    assert "bentoml_service_request_duration_seconds_bucket" in text
    assert "bentoml_service_adaptive_batch_size_count" in text
    assert f'credit_risk_model_info{{model="{stored_model.tag}"}} 1.0' in text


def test_keep_alive_connections_are_spread_over_the_api_workers(served) -> None:
    """Each public worker listens on a socket of its own (`serving.bentoml_fixes`): of 64
    connections opened at once, each worker holds its share, every time. On one shared
    socket the worker that woke first often took nearly all of them (62 of 64)."""
    workers = [
        p for p in served.processes() if "--service-name credit_scoring" in " ".join(p.cmdline())
    ]
    if len(workers) < 2:
        pytest.skip("one API worker on this machine")
    port = int(served.url.rsplit(":", 1)[1])
    for _ in range(5):
        assert min(_connections_held(workers, port)) >= 64 // len(workers) // 2


def _connections_held(workers: list[psutil.Process], port: int) -> list[int]:
    """Each worker's share of 64 connections opened one after the other, each asked once."""
    connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(64)]
    try:
        for connection in connections:
            connection.connect()
        for connection in connections:
            connection.request("GET", routes.HEALTH)
            answer = connection.getresponse()
            answer.read()
            assert answer.status == 200
        ours = {connection.sock.getsockname()[1] for connection in connections}
        held = [
            sum(
                bool(c.raddr) and c.laddr.port == port and c.raddr.port in ours
                for c in worker.net_connections("tcp")
            )
            for worker in workers
        ]
    finally:
        for connection in connections:
            connection.close()
    assert sum(held) == 64
    return held
