"""Concurrent requests are batched by BentoML's adaptive batcher, without errors."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import requests

CLIENTS = 32
REQUESTS = 600


METRIC = "bentoml_service_adaptive_batch_size"


def metric_sum(text: str, series: str, labels: str) -> float:
    pattern = rf"^{METRIC}_{series}\{{{labels}.*method_name=\"predict\".*\}} (\S+)$"
    return sum(float(value) for value in re.findall(pattern, text, re.M))


def batch_histogram(server: str) -> tuple[float, float]:
    """(batches dispatched, batches of exactly one request) from the server's /metrics."""
    text = requests.get(f"{server}/metrics", timeout=10).text
    return metric_sum(text, "count", ""), metric_sum(text, "bucket", 'le="1\\.0",')


def test_concurrent_requests_are_batched(server: str, records: list[dict]) -> None:
    batches_before, singles_before = batch_histogram(server)
    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=CLIENTS))

    def post(i: int) -> int:
        return session.post(
            f"{server}/credit_score_prediction", json=records[i % len(records)], timeout=30
        ).status_code

    with ThreadPoolExecutor(CLIENTS) as pool:
        statuses = list(pool.map(post, range(REQUESTS)))
    assert statuses == [200] * REQUESTS
    batches, singles = batch_histogram(server)
    dispatched = batches - batches_before
    assert 0 < dispatched < REQUESTS, "every request went alone to the model"
    assert dispatched - (singles - singles_before) > 0, "no batch held more than one request"
