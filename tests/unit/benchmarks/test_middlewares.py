"""The middleware benchmark measures answered requests, not refusals."""

from __future__ import annotations

import asyncio

import pytest

from benchmarks.load import API_KEY
from benchmarks.middlewares import microseconds_per_request, stack
from serving.http.request_checks import ApiKeys
from serving.http.stack import middlewares
from serving.settings import Settings


def test_a_request_refused_on_the_way_is_not_measured() -> None:
    keys = Settings(api_keys=["another key"]).api_keys
    refusing = stack([(ApiKeys, {"keys": keys, "open_paths": []})])
    with pytest.raises(RuntimeError, match="not answered by the app"):
        asyncio.run(microseconds_per_request(refusing, requests=10))


def test_the_served_stack_answers_the_benchmark_request() -> None:
    settings = Settings(api_keys=[API_KEY])
    assert asyncio.run(microseconds_per_request(stack(middlewares(settings)), requests=10)) > 0
