"""Each BentoML work-around is still needed and still fits the BentoML it patches.

A failure here after a BentoML upgrade means: read the piece's docstring in
serving/bentoml_fixes.py, then adapt it or delete it.
"""

from __future__ import annotations

import asyncio
import inspect
import logging

import bentoml
import numpy as np
import pytest
from _bentoml_impl.client import proxy2
from _bentoml_impl.server.app import ServiceAppFactory
from _bentoml_sdk.io_models import IOMixin, IORootModel, IterableResponse, ensure_io_descriptor
from bentoml._internal.server import base_app, http_app
from bentoml._internal.server.http import traffic
from pydantic import BaseModel
from starlette.testclient import TestClient

from serving import bentoml_fixes

STOCK_TIMEOUT = bentoml_fixes.TimeoutMiddleware.__mro__[1]


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


class Item(BaseModel):
    size: int


@bentoml.service(name="stock_service")
class Stock:
    @bentoml.api
    def echo(self, item: Item, /) -> Item:
        return item


@pytest.fixture(scope="module")
def stock() -> TestClient:
    with TestClient(Stock.to_asgi()) as client:
        yield client


def test_bentoml_still_answers_invalid_input_with_400(stock: TestClient) -> None:
    assert stock.post("/echo", json={"size": 1}).status_code == 200
    assert stock.post("/echo", json={"size": "x"}).status_code == 400, "drop ValidationErrorAs422"
    assert inspect.getsource(ServiceAppFactory.api_endpoint_wrapper).count("status_code=400") == 1


def test_bentoml_still_logs_invalid_input_as_an_error_with_a_traceback(
    stock: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    assert http_app.logger.name == bentoml_fixes.BENTOML_HTTP_LOGGER
    ours = [f for f in http_app.logger.filters if isinstance(f, bentoml_fixes.ClientErrorFilter)]
    for f in ours:  # installed by another test: see what BentoML logs without it
        http_app.logger.removeFilter(f)
    try:
        with caplog.at_level(logging.ERROR, logger=bentoml_fixes.BENTOML_HTTP_LOGGER):
            stock.post("/echo", json={"size": "x"})
    finally:
        for f in ours:
            http_app.logger.addFilter(f)
    (record,) = [r for r in caplog.records if r.name == bentoml_fixes.BENTOML_HTTP_LOGGER]
    assert record.exc_info is not None
    assert not bentoml_fixes.ClientErrorFilter().filter(record)


def _schemas_built(mime_type, descriptor: type, calls: int) -> int:
    """How many JSON schemas `mime_type` builds for `descriptor` in `calls` calls."""
    built = 0
    stock_schema = IORootModel.__dict__["model_json_schema"].__func__

    def counting(cls, *args, **kwargs):
        nonlocal built
        built += 1
        return stock_schema(cls, *args, **kwargs)

    original = IORootModel.__dict__["model_json_schema"]
    IORootModel.model_json_schema = classmethod(counting)
    try:
        for _ in range(calls):
            mime_type(descriptor)
    finally:
        IORootModel.model_json_schema = original
    return built


def test_bentoml_still_builds_a_json_schema_for_every_responses_media_type() -> None:
    # Every response goes through `mime_type`, which BentoML does not cache.
    assert "cls.mime_type()" in inspect.getsource(IOMixin.to_http_response)
    assert "model_json_schema()" in inspect.getsource(bentoml_fixes.STOCK_MIME_TYPE)
    ndarray_out = ensure_io_descriptor(np.ndarray)
    assert _schemas_built(bentoml_fixes.STOCK_MIME_TYPE, ndarray_out, 3) == 3, (
        "BentoML caches the media type now: drop cached_mime_type"
    )


def test_the_media_type_is_worked_out_once_per_type_and_is_bentomls() -> None:
    bentoml_fixes.install()
    assert IOMixin.mime_type.__func__ is bentoml_fixes.cached_mime_type
    bentoml_fixes.cached_mime_type.cache_clear()
    ndarray_out = ensure_io_descriptor(np.ndarray)
    assert _schemas_built(lambda cls: cls.mime_type(), ndarray_out, 3) == 1
    for typ in (np.ndarray, str, int, Item):
        descriptor = ensure_io_descriptor(typ)
        assert descriptor.mime_type() == bentoml_fixes.STOCK_MIME_TYPE(descriptor)
    assert ensure_io_descriptor(str).mime_type() == "text/plain"


def _messages(call, chunks: tuple) -> list[dict]:
    """The ASGI messages `call` sends for an IterableResponse of `chunks`, as BentoML makes it."""
    length = str(sum(len(c) for c in chunks))
    response = IterableResponse(content=chunks, headers={"content-length": length})
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(call(response, {"type": "http"}, None, send))
    return sent


CHUNKS = (b'{"size":', memoryview(b"1}"))


def test_bentoml_still_sends_each_chunk_then_an_empty_last_body() -> None:
    source = inspect.getsource(IOMixin.to_http_response)
    assert "IterableResponse(\n                content=payload.data," in source
    bodies = [m["body"] for m in _messages(bentoml_fixes.STOCK_ITERABLE_RESPONSE_CALL, CHUNKS)[1:]]
    assert bodies == [*CHUNKS, b""], "BentoML sends one body now: drop send_in_one_body"


def test_ours_sends_the_same_answer_in_one_body() -> None:
    stock = _messages(bentoml_fixes.STOCK_ITERABLE_RESPONSE_CALL, CHUNKS)
    ours = _messages(bentoml_fixes.send_in_one_body, CHUNKS)
    assert ours[0] == stock[0]  # status and headers, Content-Length among them
    assert ours[1:] == [{"type": "http.response.body", "body": b'{"size":1}'}]
    bentoml_fixes.install()
    assert IterableResponse.__call__ is bentoml_fixes.send_in_one_body


def test_answers_over_http_are_whole_with_their_content_length(stock: TestClient) -> None:
    bentoml_fixes.install()
    answer = stock.post("/echo", json={"size": 7})
    assert answer.json() == {"size": 7}
    assert answer.headers["content-length"] == str(len(answer.content))


def test_bentoml_still_wraps_the_api_function_anew_for_every_request() -> None:
    source = inspect.getsource(ServiceAppFactory.api_endpoint)
    assert "getattr(self._service_instance, name).local" in source
    assert "inspect.signature(self.func)" in inspect.getsource(bentoml_fixes.STOCK_LOCAL_CALL)
    method, instance = Stock.apis["echo"], Stock.inner()
    first = bentoml_fixes.STOCK_LOCAL_CALL(method, instance)
    assert first is not bentoml_fixes.STOCK_LOCAL_CALL(method, instance), (
        "BentoML reuses the wrapper now: drop cached_local_call"
    )


def test_the_api_function_is_wrapped_once_per_instance_and_behaves_the_same() -> None:
    bentoml_fixes.install()
    instance = Stock.inner()
    first = instance.echo.local
    assert instance.echo.local is first
    assert Stock.inner().echo.local is not first  # another instance, another wrapper
    stock = bentoml_fixes.STOCK_LOCAL_CALL(Stock.apis["echo"], instance)
    assert first(Item(size=3)) == stock(Item(size=3)) == Item(size=3)
    assert inspect.signature(first) == inspect.signature(stock)
