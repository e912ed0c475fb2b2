"""Each BentoML work-around is still needed and still fits the BentoML it patches.

A failure here after a BentoML upgrade means: read the piece's docstring in
serving/bentoml_fixes.py, then adapt it or delete it.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import socket
import subprocess
import sys
import threading
import time
from http import HTTPStatus

import bentoml
import numpy as np
import pytest
import uvicorn
from _bentoml_impl.client import proxy2
from _bentoml_impl.server.app import ServiceAppFactory
from _bentoml_sdk.io_models import IOMixin, IORootModel, IterableResponse, ensure_io_descriptor
from bentoml._internal.marshal import dispatcher
from bentoml._internal.server import base_app, http_app
from bentoml._internal.server.http import traffic
from bentoml.exceptions import BentoMLException, ServiceUnavailable
from pydantic import BaseModel, ValidationError
from starlette.responses import JSONResponse
from starlette.testclient import TestClient
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from serving import bentoml_fixes
from serving.http.answers import RetryLaterOn503
from serving.http.errors import (
    OVERLOADED,
    RECORDS_RETRY_AFTER_S,
    RECORDS_UNAVAILABLE,
    error_body,
    mark_records_unavailable,
)
from tools.server_process import free_port

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
    bentoml_fixes.install(max_header_bytes=16 * 1024, header_timeout_s=10)
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
    bentoml_fixes.install(max_header_bytes=16 * 1024, header_timeout_s=10)
    cork = dispatcher.CorkDispatcher(1000, 10, fallback=lambda: None)
    assert isinstance(cork.optimizer, bentoml_fixes.Optimizer)


# A stock BentoML service, in a process of its own: BentoML keeps the served service's
# settings (CORS among them) in global state, so a second service in this process would
# disturb the tests that serve the real one.
STOCK_SERVICE = """
import json, logging, sys
from http import HTTPStatus
import bentoml
from bentoml.exceptions import BentoMLException, ServiceUnavailable
from pydantic import BaseModel
from starlette.testclient import TestClient

class Item(BaseModel):
    size: int

@bentoml.service(name="stock_service")
class Stock:
    @bentoml.api
    def echo(self, item: Item, /) -> Item:
        return item

    @bentoml.api
    def shed(self, item: Item, /) -> Item:  # what a batcher's `fallback` raises
        raise ServiceUnavailable("process is overloaded")

    @bentoml.api
    def conflict(self, item: Item, /) -> Item:
        raise BentoMLException("taken", error_code=HTTPStatus.CONFLICT)

records = []
handler = logging.Handler(logging.ERROR)
handler.emit = records.append
logger = logging.getLogger(sys.argv[1])
logger.addHandler(handler)
with TestClient(Stock.to_asgi()) as client:
    valid = client.post("/echo", json={"size": 1}).status_code
    invalid = client.post("/echo", json={"size": "x"})
    shed = client.post("/shed", json={"size": 1})
    conflict = client.post("/conflict", json={"size": 1})
print(json.dumps({
    "valid": valid,
    "invalid": invalid.status_code,
    "error": invalid.json()["error"],
    "shed": [shed.status_code, shed.text, "retry-after" in shed.headers],
    "conflict": [conflict.status_code, conflict.json()],
    "tracebacks": [r.exc_info is not None and r.exc_info[0].__name__ for r in records],
}))
"""


@pytest.fixture(scope="module")
def stock() -> dict:
    done = subprocess.run(
        [sys.executable, "-c", STOCK_SERVICE, bentoml_fixes.BENTOML_HTTP_LOGGER],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_bentoml_still_answers_invalid_input_with_400_naming_its_classes(stock: dict) -> None:
    assert stock["valid"] == 200
    assert stock["invalid"] == 400, "drop ValidationErrorAs422"
    assert "IODescriptor" in stock["error"], "BentoML words it itself now: drop the rewording"
    source = inspect.getsource(ServiceAppFactory.api_endpoint_wrapper)
    assert "exc.errors(" in source  # every error listed: ValidationErrorAs422 keeps the first


def test_bentoml_still_logs_invalid_input_as_an_error_with_a_traceback(stock: dict) -> None:
    assert http_app.logger.name == bentoml_fixes.BENTOML_HTTP_LOGGER
    assert stock["tracebacks"] == ["ValidationError", "ServiceUnavailable", "BentoMLException"], (
        "drop ExplainedErrorFilter"
    )


def test_bentoml_still_answers_a_client_error_in_an_array(stock: dict) -> None:
    assert stock["conflict"] == [409, [{"error": "taken"}]], (
        "bentoml#5709 is fixed: ClientErrorsInOneShape need not unwrap the array"
    )


def test_the_filter_drops_exactly_the_invalid_input_tracebacks() -> None:
    try:
        Item.model_validate({"size": "x"})
    except ValidationError:
        invalid = logging.LogRecord("x", logging.ERROR, "", 0, "", None, sys.exc_info())
    other = logging.LogRecord("x", logging.ERROR, "", 0, "", None, (ValueError, ValueError(), None))
    shed = logging.LogRecord(
        "x", logging.ERROR, "", 0, "", None, (ServiceUnavailable, ServiceUnavailable("o"), None)
    )
    assert not bentoml_fixes.ExplainedErrorFilter().filter(invalid)
    assert not bentoml_fixes.ExplainedErrorFilter().filter(shed)
    taken = BentoMLException("taken", error_code=HTTPStatus.CONFLICT)
    conflict = logging.LogRecord(
        "x", logging.ERROR, "", 0, "", None, (BentoMLException, taken, None)
    )
    assert not bentoml_fixes.ExplainedErrorFilter().filter(conflict)
    fault = BentoMLException("fault")  # a 500 keeps its traceback
    assert bentoml_fixes.ExplainedErrorFilter().filter(
        logging.LogRecord("x", logging.ERROR, "", 0, "", None, (BentoMLException, fault, None))
    )
    assert bentoml_fixes.ExplainedErrorFilter().filter(other)


def test_bentomls_batcher_still_sheds_with_service_unavailable() -> None:
    source = inspect.getsource(ServiceAppFactory.__init__)
    assert 'raise ServiceUnavailable("process is overloaded")' in source
    assert "fallback=fallback" in source


def test_bentoml_still_answers_a_shed_request_with_a_generic_503(stock: dict) -> None:
    status, body, retry_after = stock["shed"]
    assert status == 503
    assert "unexpected error" in body, "BentoML explains a 503 now: drop RetryLaterOn503?"
    assert not retry_after


async def _generic_503(scope, receive, send) -> None:
    """BentoML's answer to a shed request, as the test above finds it."""
    error = {"error": "An unexpected error has occurred, please check the server log."}
    await JSONResponse(error, status_code=503)(scope, receive, send)


def test_a_shed_request_gets_retry_after_a_clear_body_and_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = TestClient(RetryLaterOn503(_generic_503, paths=["/shed"]))
    with caplog.at_level(logging.INFO):
        response = client.post("/shed", json={"size": 1})
    assert response.status_code == 503
    assert response.json() == error_body(OVERLOADED) == {"error": "overloaded: retry later"}
    assert response.headers["retry-after"] == "1"
    assert response.headers["content-type"] == "application/json"
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [(r.levelno, r.exc_info) for r in warnings] == [(logging.WARNING, None)]
    assert "POST /shed shed: overloaded" in warnings[0].getMessage()


async def _unrecorded_503(scope, receive, send) -> None:
    """The service's 503 when a decision could not be recorded: marked in the request state."""
    mark_records_unavailable(scope.setdefault("state", {}))
    await _generic_503(scope, receive, send)


def test_a_decision_that_cannot_be_recorded_is_not_called_overload(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = TestClient(RetryLaterOn503(_unrecorded_503, paths=["/score"]))
    with caplog.at_level(logging.INFO):
        response = client.post("/score", json={"size": 1})
    assert response.status_code == 503
    assert response.json() == error_body(RECORDS_UNAVAILABLE)
    assert "decision records are unavailable" in response.json()["error"]
    assert "overloaded" not in response.text
    assert response.headers["retry-after"] == str(RECORDS_RETRY_AFTER_S)
    (warning,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "POST /score decision records unavailable, answered 503" in warning.getMessage()


class Item(BaseModel):
    size: int


def test_bentoml_still_starts_uvicorn_with_its_default_http_protocol() -> None:
    from _bentoml_impl.worker import service as worker

    source = inspect.getsource(worker.main.callback)
    config_call = source[source.index("uvicorn.Config(") :]
    config_call = config_call[: config_call.index("\n    )")]
    assert "http=" not in config_call, "BentoML chooses the protocol now: adapt BoundedHttpTools"
    assert source.index("load(bento_identifier") < source.index("uvicorn.Config(")
    bentoml_fixes.install(max_header_bytes=16 * 1024, header_timeout_s=10)
    config = uvicorn.Config(app=_answer)
    config.load()
    assert config.http_protocol_class is bentoml_fixes.BoundedHttpTools


class Uvicorn:
    """A real uvicorn server of `_slow_answer` in a thread, on a free port."""

    def __init__(self, protocol: type) -> None:
        config = uvicorn.Config(_slow_answer, host="127.0.0.1", port=free_port(), http=protocol)
        config.log_config = None
        self.port = config.port
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run)

    def __enter__(self) -> Uvicorn:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port))
        sock.settimeout(5)
        return sock


async def _slow_answer(scope, receive, send) -> None:
    if scope["type"] == "http":
        await asyncio.sleep(0.6)  # longer than the header deadline of the tests
        await _answer(scope, receive, send)


def _bounded(max_header_bytes: int = 16 * 1024, header_timeout_s: float = 0.3) -> type:
    """`BoundedHttpTools` with its limits, without touching the shared class."""
    limits = {"max_header_bytes": max_header_bytes, "header_timeout_s": header_timeout_s}
    return type("Bounded", (bentoml_fixes.BoundedHttpTools,), limits)


def _send_header_in_pieces(sock: socket.socket, pieces: int) -> tuple[int, bytes]:
    """Send a header of `pieces` * 16 KiB piece by piece until the server answers or
    closes: how many pieces it took, and what came back."""
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ")
    try:
        for sent in range(pieces):
            sock.sendall(b"x" * 16384)
            sock.settimeout(0.02)  # one read per piece; an answer or a close ends it
            try:
                return sent + 1, sock.recv(65536)
            except TimeoutError:
                pass
        sock.settimeout(5)
        sock.sendall(b"\r\n\r\n")
        return pieces, sock.recv(65536)
    except OSError as error:  # reset: the server closed with the client's bytes unread
        return sent + 1, repr(error).encode()


def test_uvicorn_still_reads_headers_of_any_size_and_bounded_http_tools_does_not() -> None:
    with Uvicorn(HttpToolsProtocol) as stock:
        pieces, answer = _send_header_in_pieces(stock.connect(), pieces=64)  # 1 MiB
    assert answer.startswith(b"HTTP/1.1 200"), "uvicorn limits headers now: drop the fix"
    with Uvicorn(_bounded(header_timeout_s=5)) as bounded:
        pieces, answer = _send_header_in_pieces(bounded.connect(), pieces=64)
    assert pieces <= 3, (pieces, answer[:80])  # 16 KiB counted, plus the first read
    assert answer.startswith(b"HTTP/1.1 431") or answer in (b"", b"ConnectionResetError"), answer


def test_bounded_http_tools_answers_431_once_headers_exceed_the_limit() -> None:
    with Uvicorn(_bounded(max_header_bytes=20_000, header_timeout_s=5)) as bounded:
        sock = bounded.connect()
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ")
        time.sleep(0.05)
        sock.sendall(b"x" * 16_000)
        assert not _closed(sock, wait_s=0.1)  # under the limit: still reading
        sock.sendall(b"x" * 16_000)
        assert sock.recv(65536).startswith(b"HTTP/1.1 431")
        assert sock.recv(100) == b""  # and closed


def _closed(sock: socket.socket, wait_s: float) -> bool:
    sock.settimeout(wait_s)
    try:
        return sock.recv(100) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    finally:
        sock.settimeout(5)


def test_bounded_http_tools_closes_connections_whose_headers_do_not_arrive_in_time() -> None:
    with Uvicorn(HttpToolsProtocol) as stock:
        assert not _closed(stock.connect(), wait_s=1), "uvicorn closes idle connections now"
    with Uvicorn(_bounded(header_timeout_s=0.3)) as bounded:
        idle = bounded.connect()
        trickle = bounded.connect()
        trickle.sendall(b"GET / HTTP/1.1\r\n")
        with contextlib.suppress(OSError):  # closed under the client's feet
            for _ in range(8):  # a byte every 0.1 s does not renew the deadline
                time.sleep(0.1)
                trickle.sendall(b"X")
        assert _closed(trickle, wait_s=0.05)
        assert _closed(idle, wait_s=2)


def test_bounded_http_tools_leaves_slow_answers_and_keep_alive_alone() -> None:
    with Uvicorn(_bounded(header_timeout_s=0.3)) as bounded:
        sock = bounded.connect()
        for _ in range(2):  # each answer takes longer than the header deadline
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")


@bentoml.service(name="stock_service")
class Stock:
    """A stock BentoML service, never served in this process (see STOCK_SERVICE)."""

    @bentoml.api
    def echo(self, item: Item, /) -> Item:
        return item


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
    bentoml_fixes.install(max_header_bytes=16 * 1024, header_timeout_s=10)
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
    bentoml_fixes.install(max_header_bytes=16 * 1024, header_timeout_s=10)
    assert IterableResponse.__call__ is bentoml_fixes.send_in_one_body


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
    bentoml_fixes.install(max_header_bytes=16 * 1024, header_timeout_s=10)
    instance = Stock.inner()
    first = instance.echo.local
    assert instance.echo.local is first
    assert Stock.inner().echo.local is not first  # another instance, another wrapper
    stock = bentoml_fixes.STOCK_LOCAL_CALL(Stock.apis["echo"], instance)
    assert first(Item(size=3)) == stock(Item(size=3)) == Item(size=3)
    assert inspect.signature(first) == inspect.signature(stock)


def test_bentomls_request_metrics_still_label_the_raw_path_and_are_looked_up_late() -> None:
    from bentoml._internal.server.http import instruments

    (stock,) = bentoml_fixes.RouteLabelledMetrics.__bases__  # install() replaces the name
    assert stock.__module__ == instruments.__name__
    source = inspect.getsource(stock.__call__)
    assert 'endpoint = scope["path"]' in source, "BentoML labels routes now: drop the subclass"
    app_source = inspect.getsource(ServiceAppFactory.middlewares.fget)
    assert "from bentoml._internal.server.http.instruments import" in app_source
    bentoml_fixes.install(max_header_bytes=16 * 1024, header_timeout_s=10)
    assert instruments.RunnerTrafficMetricsMiddleware is bentoml_fixes.RouteLabelledMetrics


@pytest.mark.parametrize(
    ("path", "label"),
    [("/credit_score_prediction", "/credit_score_prediction"),
     ("/credit_score_prediction/", "/credit_score_prediction"),
     ("/decisions/abc\x00def", "/decisions/{request_id}"), ("/junk-17", "unmatched"),
     ("/docs-assets/redoc.standalone.js", "/docs-assets"), ("/predict", "/predict"),
     ("/", "/")],
)  # fmt: skip
def test_requests_are_labelled_by_route_template(path: str, label: str) -> None:
    from serving.http.routes import route_label

    assert route_label(path) == label


def test_bentoml_still_batches_through_batch_infer_after_making_the_instance() -> None:
    """`batched` calls `batch_infer` as BentoML's route does; the app factory is noted
    before the startup hooks, which run once the instance is made."""
    assert list(inspect.signature(ServiceAppFactory.batch_infer).parameters) == [
        "self",
        "name",
        "input_args",
        "input_kwargs",
    ]
    assert "self.dispatchers[name]" in inspect.getsource(ServiceAppFactory.batch_infer)
    assert "self.batch_infer(name, call_args, call_kwargs)" in inspect.getsource(
        ServiceAppFactory.api_endpoint
    )
    source = inspect.getsource(bentoml_fixes.STOCK_CREATE_INSTANCE)
    assert source.index("self.service()") < source.index("__bentoml_startup_hook__")


def test_bentoml_still_serves_a_dependency_on_a_unix_socket_named_in_the_runner_map() -> None:
    """`runner_sockets` finds the runner's socket in `BENTOML_RUNNER_MAP` as a file URI,
    and each runner worker knows its index."""
    from _bentoml_impl.server import serving
    from _bentoml_impl.worker import service
    from bentoml._internal.utils.uri import path_to_uri, uri_to_path

    assert "return path_to_uri(socket_path)" in inspect.getsource(serving._get_server_socket)
    assert '"BENTOML_RUNNER_MAP": json.dumps(dependency_map)' in inspect.getsource(
        serving.serve_http
    )
    assert "server_context.worker_index = worker_id" in inspect.getsource(service.main.callback)
    uri = path_to_uri("/tmp/bentoml-uds-x/1 2.sock")
    assert uri.startswith("file://") and uri_to_path(uri) == "/tmp/bentoml-uds-x/1 2.sock"


def test_bentoml_still_shares_one_listening_socket_among_the_public_workers() -> None:
    """`shared_port_socket` and `startup_on_own_socket` fit `serve_http`'s one circus socket
    for the public service, made when it runs and passed to each worker as `--fd`, and the
    worker's uvicorn started on it; BentoML balancing the workers itself (bentoml#5426)
    would make them unnecessary."""
    from _bentoml_impl.server import serving
    from _bentoml_impl.worker import service

    assert serving.API_SERVER_NAME == bentoml_fixes.API_SERVER_SOCKET
    source = inspect.getsource(serving.serve_http)
    assert "from circus.sockets import CircusSocket" in source
    assert "name=API_SERVER_NAME" in source
    assert 'f"$(circus.sockets.{API_SERVER_NAME})"' in source
    assert "reuseport" not in source.lower()
    assert "uvicorn.Server(config).run(sockets=[socket])" in inspect.getsource(
        service.main.callback
    )


def test_each_public_worker_listens_on_a_socket_of_its_own_beside_the_shared_one() -> None:
    """The public service's circus socket refuses a port that something listens on. Two
    uvicorn servers started on it each listen on a socket of their own on its port, the
    shared one is shut (no connection waits there unanswered), and both answer."""
    from circus.sockets import CircusSocket

    bentoml_fixes.install(max_header_bytes=16 * 1024, header_timeout_s=10)
    with socket.create_server(("127.0.0.1", 0)) as taken, pytest.raises(OSError, match="in use"):
        CircusSocket(
            name=bentoml_fixes.API_SERVER_SOCKET, host="127.0.0.1", port=taken.getsockname()[1]
        )
    shared = CircusSocket(name=bentoml_fixes.API_SERVER_SOCKET, host="127.0.0.1", port=0)
    shared.bind_and_listen()
    port = shared.getsockname()[1]

    async def answer(scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def serve_twice() -> list[int]:
        servers = [
            uvicorn.Server(uvicorn.Config(answer, lifespan="off", log_level="warning"))
            for _ in range(2)
        ]
        serving = []
        for server in servers:
            serving.append(asyncio.create_task(server.serve(sockets=[shared])))
            while not server.started:
                await asyncio.sleep(0.01)
        try:
            listening = [server.servers[0].sockets[0] for server in servers]
            assert all(sock.getsockname()[1] == port for sock in listening)
            assert shared.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 0
            statuses = []
            for _ in range(4):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                statuses.append(int((await reader.readline()).split()[1]))
                writer.close()
            return statuses
        finally:
            for server in servers:
                server.should_exit = True
            await asyncio.gather(*serving)

    try:
        assert asyncio.run(serve_twice()) == [200] * 4
    finally:
        shared.close()
