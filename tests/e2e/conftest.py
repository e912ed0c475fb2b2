"""A real `bentoml serve` of the service on a free port, shared by the e2e tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from credit_risk.paths import REPO_ROOT

STARTUP_TIMEOUT_S = 120


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def server(stored_model, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of `bentoml serve service:CreditScoring` on 127.0.0.1 (a real server)."""
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "serve.log"
    bentoml_cli = Path(sys.executable).with_name("bentoml")
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(bentoml_cli), "serve", "service:CreditScoring",
             "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO_ROOT, env=os.environ.copy(), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"bentoml serve exited with {process.returncode}:\n{log.read_text()}")
            try:
                if requests.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:  # not listening or not answering yet
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server not ready after {STARTUP_TIMEOUT_S}s:\n{log.read_text()}")
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
