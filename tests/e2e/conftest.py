"""A real `bentoml serve` of the service on a free port, shared by the e2e tests."""

from __future__ import annotations

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
