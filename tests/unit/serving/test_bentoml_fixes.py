"""Each BentoML work-around is still needed and still fits the BentoML it patches.

A failure here after a BentoML upgrade means: read the piece's docstring in
serving/bentoml_fixes.py, then adapt it or delete it.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Iterator

import bentoml
import pytest
from _bentoml_impl.client import proxy2
from _bentoml_impl.server.app import ServiceAppFactory
from bentoml._internal.marshal import dispatcher
from bentoml._internal.server import base_app, http_app
from bentoml._internal.server.http import traffic
from bentoml.exceptions import ServiceUnavailable
from pydantic import BaseModel
from starlette.testclient import TestClient

from serving import bentoml_fixes

STOCK_TIMEOUT = bentoml_fixes.TimeoutMiddleware.__mro__[1]
STOCK_OPTIMIZER = bentoml_fixes.Optimizer.__mro__[1]


async def _answer(scope, receive, send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def _timers_left(middleware_cls: type) -> int:
    """Timeout timers still scheduled after one answered request."""

    async def one_request() -> int:
        scope = {"type": "http", "method": "GET", "path": "/", "headers": []}

        async def receive() -> dict:
            return {"type": "http.request", "body": b""}

        async def send(message: dict) -> None:
            pass

        await middleware_cls(_answer, timeout=60)(scope, receive, send)
        loop = asyncio.get_running_loop()
        return sum(
            "_set_timer_out" in repr(handle) and not handle.cancelled()
            for handle in loop._scheduled  # type: ignore[attr-defined]
        )

    return asyncio.run(one_request())


def test_bentoml_still_leaves_its_timeout_timer_running_and_ours_does_not() -> None:
    assert STOCK_TIMEOUT.__module__ == traffic.__name__
    assert _timers_left(STOCK_TIMEOUT) == 1, "BentoML cancels its timer now: drop the fix"
    assert _timers_left(bentoml_fixes.TimeoutMiddleware) == 0


def test_bentoml_still_looks_the_timeout_middleware_up_when_it_builds_an_app() -> None:
    source = inspect.getsource(base_app.BaseAppFactory.middlewares.fget)
    assert "from .http.traffic import TimeoutMiddleware" in source
    bentoml_fixes.install()
    assert traffic.TimeoutMiddleware is bentoml_fixes.TimeoutMiddleware


def test_bentomls_client_still_recycles_its_session_unless_told_otherwise() -> None:
    defaults = inspect.signature(proxy2.SessionManager.__init__).parameters
    assert defaults["max_requests"].default == 100, "the recycling changed: see bentoml#5540"
    assert defaults["max_age"].default == 300.0
    assert "runner_connection" in inspect.getsource(proxy2)
    assert isinstance(bentoml_fixes.RUNNER_CONNECTION["max_age"], float)


def test_tracing_is_excluded_for_every_url_unless_spans_are_wanted() -> None:
    assert bentoml_fixes.tracing(False) == {"excluded_urls": ".*"}
    assert bentoml_fixes.tracing(True) == {}


def _after_a_flood(optimizer: dispatcher.Optimizer) -> dispatcher.Optimizer:
    """The optimizer after full batches that each waited 0.4 s behind the one in flight."""
    for _ in range(dispatcher.Optimizer.N_KEPT_SAMPLE + 10):
        optimizer.log_outbound(n=256, wait=0.4, duration=0.4)
    optimizer.trigger_refresh()
    return optimizer


def _lone_call_seconds(optimizer_cls: type) -> float:
    """How long a lone request takes through a batcher that has seen a flood."""

    async def run() -> float:
        async def double(batch):
            return [2 * x for x in batch]

        cork = dispatcher.CorkDispatcher(
            1000, 256, fallback=lambda: None, get_batch_size=lambda _: 1
        )
        cork.optimizer = optimizer_cls(cork.max_latency)
        call = cork(double)
        for i in range(20):  # BentoML's training rounds: one request at a time
            assert await call(i) == 2 * i
        _after_a_flood(cork.optimizer)
        started = time.monotonic()
        assert await call(1) == 2
        cork.shutdown()
        return time.monotonic() - started

    return asyncio.run(run())


def test_bentomls_batcher_still_holds_lone_requests_back_after_a_flood_and_ours_does_not() -> None:
    assert _after_a_flood(STOCK_OPTIMIZER(1.0)).wait == pytest.approx(0.4)
    # BentoML waits 0.95 of the learned wait before it sends a lone request.
    assert _lone_call_seconds(STOCK_OPTIMIZER) > 0.3, "BentoML's wait changed: drop the fix"
    assert _lone_call_seconds(bentoml_fixes.Optimizer) < 0.1
    ours, stock = _after_a_flood(bentoml_fixes.Optimizer(1.0)), _after_a_flood(STOCK_OPTIMIZER(1.0))
    assert ours.wait == 0
    assert (ours.o_a, ours.o_b) == (stock.o_a, stock.o_b)  # the cost model that sheds is kept


def test_bentomls_batcher_still_makes_its_optimizer_when_it_is_made() -> None:
    assert "Optimizer(self.max_latency)" in inspect.getsource(dispatcher.CorkDispatcher.__init__)
    assert "self.optimizer.wait" in inspect.getsource(dispatcher.CorkDispatcher.controller)
    bentoml_fixes.install()
    cork = dispatcher.CorkDispatcher(1000, 10, fallback=lambda: None)
    assert isinstance(cork.optimizer, bentoml_fixes.Optimizer)


class Item(BaseModel):
    size: int


@bentoml.service(name="stock_service")
class Stock:
    @bentoml.api
    def echo(self, item: Item, /) -> Item:
        return item

    @bentoml.api
    def shed(self, item: Item, /) -> Item:
        """What a service sees when its batcher sheds the request (app.py's `fallback`)."""
        raise ServiceUnavailable("process is overloaded")


@pytest.fixture(scope="module")
def stock() -> TestClient:
    with TestClient(Stock.to_asgi()) as client:
        yield client


def test_bentoml_still_answers_invalid_input_with_400(stock: TestClient) -> None:
    assert stock.post("/echo", json={"size": 1}).status_code == 200
    assert stock.post("/echo", json={"size": "x"}).status_code == 400, "drop ValidationErrorAs422"
    assert inspect.getsource(ServiceAppFactory.api_endpoint_wrapper).count("status_code=400") == 1


@contextlib.contextmanager
def _without_our_filter() -> Iterator[None]:
    """See what BentoML logs without the filter (`install()` may have run in this process)."""
    ours = [f for f in http_app.logger.filters if isinstance(f, bentoml_fixes.ExplainedErrorFilter)]
    for f in ours:
        http_app.logger.removeFilter(f)
    try:
        yield
    finally:
        for f in ours:
            http_app.logger.addFilter(f)


@pytest.mark.parametrize(
    "path, body", [("/echo", {"size": "x"}), ("/shed", {"size": 1})], ids=["invalid", "shed"]
)
def test_bentoml_still_logs_invalid_input_and_shed_requests_with_a_traceback(
    stock: TestClient, caplog: pytest.LogCaptureFixture, path: str, body: dict
) -> None:
    assert http_app.logger.name == bentoml_fixes.BENTOML_HTTP_LOGGER
    with _without_our_filter(), caplog.at_level(logging.ERROR, bentoml_fixes.BENTOML_HTTP_LOGGER):
        stock.post(path, json=body)
    (record,) = [r for r in caplog.records if r.name == bentoml_fixes.BENTOML_HTTP_LOGGER]
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
    assert not bentoml_fixes.ExplainedErrorFilter().filter(record)


def test_bentomls_batcher_still_sheds_with_service_unavailable() -> None:
    source = inspect.getsource(ServiceAppFactory.__init__)
    assert 'raise ServiceUnavailable("process is overloaded")' in source
    assert "fallback=fallback" in source


def test_bentoml_still_answers_a_shed_request_with_a_generic_503(stock: TestClient) -> None:
    response = stock.post("/shed", json={"size": 1})
    assert response.status_code == 503
    assert "unexpected error" in response.text, "BentoML explains a 503 now: drop the fix?"
    assert "retry-after" not in response.headers


def test_a_shed_request_gets_retry_after_a_clear_body_and_one_warning(
    stock: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    bentoml_fixes.install()
    # The stock app, started by the fixture, behind the fix.
    client = TestClient(bentoml_fixes.RetryLaterOn503(stock.app, paths=["/shed"]))
    with caplog.at_level(logging.INFO):
        response = client.post("/shed", json={"size": 1})
        assert client.post("/echo", json={"size": 1}).status_code == 200
    assert response.status_code == 503
    assert response.json() == bentoml_fixes.OVERLOADED == {"error": "overloaded: retry later"}
    assert response.headers["retry-after"] == "1"
    assert response.headers["content-type"] == "application/json"
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [(r.levelno, r.exc_info) for r in warnings] == [(logging.WARNING, None)]
    assert "POST /shed shed: overloaded" in warnings[0].getMessage()
