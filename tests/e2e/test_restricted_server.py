"""A server configured for production through the environment: keys, origins, a small limit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from credit_risk.contract import EXAMPLE
from tools.server_process import ServerProcess, bentoml_serve, free_port

KEY = "s3cret-key"
ORIGIN = "https://loans.bank.example"
PREDICT = "/credit_score_prediction"


@pytest.fixture(scope="module")
def restricted(stored_model, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    env = {
        "CREDIT_RISK_API_KEYS": json.dumps([KEY, "other-key"]),
        "CREDIT_RISK_CORS_ORIGINS": json.dumps([ORIGIN]),
        "CREDIT_RISK_MAX_CONCURRENCY": "4",
    }
    log = tmp_path_factory.mktemp("restricted") / "serve.log"
    with ServerProcess(bentoml_serve("service:CreditScoring", port), port, log, env=env) as server:
        yield server.url


def test_api_key_is_required_except_on_probes(restricted: str) -> None:
    assert requests.post(restricted + PREDICT, json=EXAMPLE).status_code == 401
    wrong = requests.post(restricted + PREDICT, json=EXAMPLE, headers={"X-API-Key": "nope"})
    assert wrong.status_code == 401
    assert "Traceback" not in wrong.text
    right = requests.post(restricted + PREDICT, json=EXAMPLE, headers={"X-API-Key": KEY})
    assert right.status_code == 200
    for path in ("/livez", "/readyz", "/health", "/metrics"):
        assert requests.get(restricted + path).status_code == 200, path
    # Drift figures are statistics of applicants' personal data: a key is needed.
    for path in ("/docs", "/drift"):
        assert requests.get(restricted + path).status_code == 401, path
    assert requests.get(restricted + "/drift", headers={"X-API-Key": KEY}).status_code == 200
    # The form's page opens without a key (a browser cannot send one); its calls need one.
    assert requests.get(restricted + "/ui").status_code == 200


def test_only_the_configured_origin_is_allowed(restricted: str) -> None:
    for origin, allowed in ((ORIGIN, True), ("https://evil.example", False)):
        preflight = requests.options(
            restricted + PREDICT,
            headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        )
        assert (preflight.headers.get("access-control-allow-origin") == origin) is allowed


def test_a_burst_beyond_the_limit_is_refused_fast_then_service_recovers(restricted: str) -> None:
    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=64))

    def post(_: int) -> int:
        return session.post(
            restricted + PREDICT, json=EXAMPLE, headers={"X-API-Key": KEY}, timeout=10
        ).status_code

    with ThreadPoolExecutor(64) as pool:
        statuses = list(pool.map(post, range(640)))
    assert set(statuses) <= {200, 429}
    assert statuses.count(429) > 0, "the limit of 4 was never reached"
    assert statuses.count(200) > 0
    assert post(0) == 200
