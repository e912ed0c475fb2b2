"""A real `bentoml serve` of the service on a free port, shared by the e2e tests."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from credit_risk.paths import REPO_ROOT
from tests.serving import bentoml_serve


@pytest.fixture(scope="session")
def server(stored_model, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of `bentoml serve service:CreditScoring` on 127.0.0.1 (a real server)."""
    log = tmp_path_factory.mktemp("server") / "serve.log"
    bentoml_cli = Path(sys.executable).with_name("bentoml")
    with bentoml_serve(
        bentoml_cli, "service:CreditScoring", REPO_ROOT, os.environ.copy(), log
    ) as url:
        yield url
