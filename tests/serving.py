"""Starting a server process for a test and waiting until it is ready."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

STARTUP_TIMEOUT_S = 120


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, process: subprocess.Popen, log: Path) -> None:
    """Poll `url`/readyz until it answers 200; fail with the log if the process exits first."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if requests.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except requests.RequestException:  # not listening or not answering yet
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"server not ready after {STARTUP_TIMEOUT_S}s:\n{log.read_text()}")
        time.sleep(0.5)


@contextmanager
def bentoml_serve(
    bentoml_cli: Path, target: str, cwd: Path, env: dict[str, str], log: Path
) -> Iterator[str]:
    """`bentoml serve TARGET` on a free 127.0.0.1 port; yields its base URL, stops it after."""
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(bentoml_cli), "serve", target, "--host", "127.0.0.1", "--port", str(port)],
            cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process, log)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def expected_answer(model) -> tuple[dict, dict]:
    """The API doc's example body and the answer `model` gives it, computed in process."""
    from credit_risk.contract import Applicant, CreditScore, encode_applicants
    from model_store import load_scorer

    example = Applicant.model_config["json_schema_extra"]["example"]
    p_good = load_scorer(model).predict_proba(encode_applicants([Applicant(**example)]))[0]
    answer = CreditScore.from_probability(float(p_good), str(model.tag)).model_dump()
    return example, {
        **answer,
        "probability": pytest.approx(answer["probability"], abs=1e-6),
        "probability_bad": pytest.approx(answer["probability_bad"], abs=1e-6),
    }
