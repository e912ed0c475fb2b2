"""The public service in process, one app for the whole session: BentoML registers its
Prometheus metrics once per process, so a second `to_asgi()` here would fail."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient


@pytest.fixture(scope="session")
def client(stored_model) -> Iterator[TestClient]:
    """`CreditScoring.to_asgi()` under Starlette's TestClient; the runner is a local
    instance (no batching)."""
    from service import CreditScoring

    with TestClient(CreditScoring.to_asgi(), base_url="http://127.0.0.1") as client:
        yield client
