"""Real `bentoml serve`s of the service on free ports, shared by the e2e tests."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tools.server_process import ServerProcess, bentoml_serve, free_port


@pytest.fixture(scope="session")
def served(stored_model, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """`bentoml serve service:CreditScoring` on 127.0.0.1 (a real server), and its log."""
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "serve.log"
    with ServerProcess(bentoml_serve("service:CreditScoring", port), port, log) as server:
        yield server


@pytest.fixture(scope="session")
def server(served: ServerProcess) -> str:
    """Base URL of the real server."""
    return served.url


KEY = "s3cret-key"
ORIGIN = "https://loans.bank.example"


@pytest.fixture(scope="session")
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
