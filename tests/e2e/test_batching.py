"""Concurrent requests reach the model in batches, without errors.

Two layers batch: the public service's coalescer merges concurrent requests into one runner
call (serving/coalescer.py), and BentoML's adaptive batcher merges concurrent calls. The
batcher's histogram counts calls, so a batch of one call may hold many requests.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.e2e.conftest import scrape

CLIENTS = 32
REQUESTS = 600


METRIC = "bentoml_service_adaptive_batch_size"


def batches_dispatched(server: str) -> float:
    """Batches the runner's adaptive batcher has dispatched, from the server's /metrics."""
    text = scrape(server)
    pattern = rf"^{METRIC}_count\{{.*method_name=\"predict\".*\}} (\S+)$"
    return sum(float(value) for value in re.findall(pattern, text, re.M))


def test_concurrent_requests_are_batched(server: str, records: list[dict]) -> None:
    batches_before = batches_dispatched(server)
    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=CLIENTS))

    def post(i: int) -> int:
        return session.post(
            f"{server}/credit_score_prediction", json=records[i % len(records)], timeout=30
        ).status_code

    with ThreadPoolExecutor(CLIENTS) as pool:
        statuses = list(pool.map(post, range(REQUESTS)))
    assert statuses == [200] * REQUESTS
    dispatched = batches_dispatched(server) - batches_before
    assert dispatched > 0
    assert dispatched <= REQUESTS / 2, f"{dispatched} batches for {REQUESTS} requests"
