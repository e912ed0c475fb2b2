"""Every work-around for BentoML 1.4 (pinned: bentoml==1.4.39), in one place.

Each piece names the upstream issue or the BentoML source it depends on, and
tests/unit/serving/test_bentoml_fixes.py fails when that source changes, or when an
upstream fix makes the piece unnecessary. `install()` must run before BentoML builds the
service's ASGI app: service.py calls it at import. BentoML's answers that the documented API
words otherwise (its 400 for invalid input, its 503s) are rewritten by the middlewares of
`serving.http.answers`.

1. `TimeoutMiddleware`: BentoML's per-request timer is never cancelled
   (bentoml/_internal/server/http/traffic.py, `TimeoutMiddleware.__call__`).
2. `RUNNER_CONNECTION`: the caller's client recycles its session under requests in flight
   (bentoml#5540, bentoml#5544; `_bentoml_impl/client/proxy2.py`, `SessionManager`).
3. `tracing()`: a span per request even with nothing sampled or exported.
4. `ExplainedErrorFilter`: invalid input (a 400 in BentoML), and a request shed under
   overload, are logged with a traceback at ERROR level
   (`bentoml/_internal/server/http_app.py`, `log_exception`).
5. `Optimizer`: the adaptive batcher's learned wait feeds on itself and outlives a flood
   by minutes (`bentoml/_internal/marshal/dispatcher.py`, `Optimizer.trigger_refresh` and
   `CorkDispatcher.controller`).
6. `BoundedHttpTools`: BentoML starts uvicorn itself (`_bentoml_impl/worker/service.py`,
   `main`) with no way to choose its options, and uvicorn's httptools protocol
   (`uvicorn/protocols/http/httptools_impl.py`) reads request headers of any size, for any
   time: no header limit, no timeout before the first request or while headers arrive.
7. `cached_mime_type`: the media type of every response is worked out again from a freshly
   built JSON schema (`_bentoml_sdk/io_models.py`, `IOMixin.mime_type`, called by
   `IOMixin.to_http_response`; `IORootModel.model_json_schema` builds a `TypeAdapter`).
8. `send_in_one_body`: every answer is sent as its bytes and then an empty last message
   (`_bentoml_sdk/io_models.py`, `IterableResponse.__call__`).
9. `cached_local_call`: every request rebuilds the API function's wrapper and signature
   (`_bentoml_impl/server/app.py`, `api_endpoint`: `getattr(instance, name).local`;
   `_bentoml_sdk/method.py`, `APIMethod._local_call`).
10. `RouteLabelledMetrics`: the request metrics are labelled by the raw request path
   (`bentoml/_internal/server/http/instruments.py`, `RunnerTrafficMetricsMiddleware.__call__`:
   `endpoint = scope["path"]`): every path anyone asks for, keyless 401s included, is a new
   series in every worker, and request ids asked for at /decisions/{id} become labels.
11. `batched`, `runner_sockets`: BentoML calls a dependency over HTTP only, at ~1.5 ms of
   CPU a call on its two sides around a model of ~0.2 ms (bentoml#3431 measured the same
   for a runner that does nothing). `serving.runner_transport` carries the runner calls
   instead; these give it BentoML's adaptive batcher for them (`ServiceAppFactory.
   batch_infer`, in `_bentoml_impl/server/app.py`, kept by a wrapped `create_instance`)
   and the runner's socket (`BENTOML_RUNNER_MAP`, filled by `serve_http` in
   `_bentoml_impl/server/serving.py`, `_get_server_socket`).
12. `shared_port_socket`, `startup_on_own_socket`: the public service's workers share one
   listening socket (`serve_http` in `_bentoml_impl/server/serving.py` makes one
   `CircusSocket` named `API_SERVER_NAME`, passed to every worker as `--fd`), and the worker
   that wakes first accepts every connection waiting (bentoml#5426): of 64 keep-alive
   connections one of two workers took 59 to 63, and ran at ~80 % of a core while the other
   idled. Now each worker listens on a socket of its own on the same port (SO_REUSEPORT),
   and the kernel spreads new connections over them by a hash of their addresses.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import circus.sockets
import numpy as np
import uvicorn.config
import uvicorn.server
from _bentoml_impl.server.app import ServiceAppFactory
from _bentoml_sdk.io_models import IOMixin, IterableResponse
from _bentoml_sdk.method import APIMethod
from bentoml._internal.configuration.containers import BentoMLContainer
from bentoml._internal.context import server_context
from bentoml._internal.marshal import dispatcher
from bentoml._internal.server.http import instruments, traffic
from bentoml._internal.utils.uri import uri_to_path
from bentoml.exceptions import BentoMLException, ServiceUnavailable
from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from serving.http.errors import error_body, error_response, raw_response
from serving.http.routes import route_label

# The logger BentoML's `log_exception` writes to (bentoml/_internal/server/http_app.py).
BENTOML_HTTP_LOGGER = "bentoml._internal.server.http_app"

logger = logging.getLogger(__name__)

# bentoml#5540: the client recycles its aiohttp session every `max_requests` requests or
# `max_age` seconds and closes it under requests in flight (500s under concurrency). The
# caller reads these limits from the *called* service's config (max_age must be a float).
RUNNER_CONNECTION: dict[str, Any] = {"max_requests": 10**9, "max_age": 1e9}


def tracing(trace_requests: bool) -> dict[str, str]:
    """BentoML's `tracing` service setting: every URL excluded unless spans are wanted.

    BentoML records an OpenTelemetry span per request even when no trace is sampled or
    exported; with no exporter that cost ~40 % of the API process's CPU here.
    """
    return {} if trace_requests else {"excluded_urls": ".*"}


class TimeoutMiddleware(traffic.TimeoutMiddleware):
    """BentoML's middleware (504 when the response has not started within `timeout`
    seconds), with its timer cancelled when the request ends.

    BentoML arms `loop.call_later(timeout, ...)` per request and never cancels it. The
    timer holds the request's `contextvars` context (its span, attributes, locks) for the
    whole timeout after the answer: ~10k requests' worth of objects at ~1000 req/s, which
    die in the oldest GC generation and cause full collections of 100-240 ms, the p99 tail.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        timer = loop.call_later(self.timeout, self._set_timer_out, waiter)

        async def _send(message: Message) -> None:
            if not waiter.done():
                waiter.set_result(None)
            await send(message)

        fut = asyncio.ensure_future(self.app(scope, receive, _send))
        try:
            await waiter
        except TimeoutError:
            if fut.cancel():
                error = f"Not able to process the request in {self.timeout} seconds"
                await error_response(504, error_body(error))(scope, receive, send)
        else:
            await fut
        finally:
            timer.cancel()


class ExplainedErrorFilter(logging.Filter):
    """Drop BentoML's ERROR-level traceback for what is no fault of the code: a client's
    invalid input or other client error (the access log has its 4xx), a request shed under
    overload and one whose decision could not be recorded (`RetryLaterOn503` writes one
    WARNING line for each; the runner that shed it is quiet, the service logs losing the
    database once)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        client_error = isinstance(exc, BentoMLException) and exc.error_code < 500
        return not (client_error or isinstance(exc, (ValidationError, ServiceUnavailable)))


class Optimizer(dispatcher.Optimizer):
    """BentoML's cost model of the adaptive batcher (`duration = a·n + b`, which decides
    what to shed), without its learned wait: a request is sent as soon as no batch is in
    flight.

    BentoML holds a request back until it has waited the average wait of the last 50
    batches. That wait includes the time spent queued behind the batch in flight, and the
    wait it imposes is measured again: after 10 s of 1000-applicant batches with reasons,
    a lone request waited ~0.5 s instead of ~7 ms, still 4 minutes later. Batches form
    without it: requests that arrive while one batch runs go together in the next.
    """

    def trigger_refresh(self) -> None:
        super().trigger_refresh()
        self.wait = 0


class BoundedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with a limit on request headers (431) and a deadline
    for them (the connection is closed).

    httptools keeps a header's value in memory until the header ends: a 64 MB header held
    the event loop for seconds and raised the RSS by 60-130 MB. Bytes are counted from the
    second read of a request's headers on, so at most `max_header_bytes` plus one read
    (uvloop reads up to 256 KiB) are parsed; `middlewares.HeaderLimit` then checks the
    exact total. The deadline starts when the connection opens or a request begins, and
    is not renewed by each byte (a client sending a byte a second keeps no connection).
    """

    # Set by `install`.
    max_header_bytes: int
    header_timeout_s: float

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_bytes = 0
        self._message_began = False
        self._header_timer: asyncio.TimerHandle | None = None
        self._arm_header_timer()

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_late)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        self._message_began = False
        super().data_received(data)
        if self._header_timer is None or self._message_began or self.transport.is_closing():
            return  # headers complete, or this read began them
        self._header_bytes += len(data)
        if self._header_bytes > self.max_header_bytes:
            error = f"request headers larger than {self.max_header_bytes} bytes"
            self.transport.write(raw_response(431, "Request Header Fields Too Large", error))
            self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._message_began = True
        self._header_bytes = 0
        self._arm_header_timer()

    def on_headers_complete(self) -> None:
        self._disarm_header_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)


# BentoML's `IOMixin.mime_type`, as it comes.
STOCK_MIME_TYPE = IOMixin.__dict__["mime_type"].__func__


@functools.cache
def cached_mime_type(cls: type) -> str:
    """BentoML's `IOMixin.mime_type`, worked out once per IO descriptor class.

    BentoML answers it from the class's media type, multipart fields and JSON schema, all
    fixed when the class is made, but for a root model (an `np.ndarray` output, say) it
    builds a pydantic `TypeAdapter` and its JSON schema again on every response: 20-27 % of the
    model runner's CPU at 64 clients here, more than the model itself.
    """
    return STOCK_MIME_TYPE(cls)


# BentoML's `IterableResponse.__call__`, as it comes.
STOCK_ITERABLE_RESPONSE_CALL = IterableResponse.__call__


async def send_in_one_body(
    self: IterableResponse, scope: Scope, receive: Receive, send: Send
) -> None:
    """BentoML's `IterableResponse.__call__` with the body in one message, not each chunk
    and then an empty last one.

    Its content is always a serialized payload held in memory (`Payload.data`, with its
    Content-Length set), so nothing streams; each ASGI message passes every middleware
    and is one more write to the socket, in the API process and in the runner.
    """
    await send(
        {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
    )
    await send({"type": "http.response.body", "body": b"".join(self.body_iterator)})
    if self.background is not None:
        await self.background()


# BentoML's `APIMethod._local_call`, as it comes.
STOCK_LOCAL_CALL = APIMethod._local_call
# Each service instance's local callers, by API name; gone with the instance.
_LOCAL_CALLERS: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def cached_local_call(self: APIMethod, instance: Any) -> Any:
    """BentoML's `APIMethod._local_call`, made once per API of each service instance.

    BentoML looks the API function up on the instance for every request, and each look-up
    builds a new wrapper around the same function with `inspect.signature` (~3 % of each
    process's CPU). The wrapper depends only on the function and the instance.
    """
    callers = _LOCAL_CALLERS.setdefault(instance, {})
    if self.name not in callers:
        callers[self.name] = STOCK_LOCAL_CALL(self, instance)
    return callers[self.name]


class RouteLabelledMetrics(instruments.RunnerTrafficMetricsMiddleware):
    """BentoML's request metrics, labelled by route template (`routes.route_label`): the
    stock middleware sees a copy of the scope with the template as its path, and the app
    inside it the request's own path again."""

    def __init__(self, app: ASGIApp, **options: Any) -> None:
        super().__init__(self._with_own_path, **options)
        self._inner = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await super().__call__(scope, receive, send)
        labelled = {**scope, "path": route_label(scope["path"]), _OWN_PATH: scope["path"]}
        await super().__call__(labelled, receive, send)

    async def _with_own_path(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _OWN_PATH in scope:
            scope = {**scope, "path": scope[_OWN_PATH]}
            del scope[_OWN_PATH]
        await self._inner(scope, receive, send)


_OWN_PATH = "credit_risk.own_path"


# BentoML's `ServiceAppFactory.create_instance`, as it comes.
STOCK_CREATE_INSTANCE = ServiceAppFactory.create_instance
# This process's app factory of each service, by service name: one per worker process.
_APPS: dict[str, ServiceAppFactory] = {}


async def create_instance_noting_app(self: ServiceAppFactory, app: Any) -> None:
    """BentoML's `create_instance`, after noting which app factory makes the instance
    (its startup hooks run inside, and may need the factory's batchers)."""
    _APPS[self.service.name] = self
    await STOCK_CREATE_INSTANCE(self, app)


def batched(service_name: str, api: str) -> Callable[[np.ndarray], Awaitable[np.ndarray]]:
    """A batchable `api` of this process's `service_name`, through the same adaptive
    batcher, metrics and load shedding as its HTTP route (`ServiceAppFactory.batch_infer`:
    ServiceUnavailable when shed). Only while BentoML serves the service in this process."""
    app = _APPS[service_name]

    async def call(rows: np.ndarray) -> np.ndarray:
        return await app.batch_infer(api, (rows,), {})

    return call


def runner_sockets(service_name: str) -> list[str] | None:
    """Where each worker of `service_name` serves `serving.runner_transport`: beside the unix
    socket BentoML serves it on (a directory of this server's own, mode 0700), one per
    worker. None when BentoML serves it otherwise: in this process (development mode, an
    in-process test), over TCP (`BENTOML_NO_UDS`) or elsewhere (a URL)."""
    url = BentoMLContainer.remote_runner_mapping.get().get(service_name, "")
    if not url.startswith("file://"):  # `path_to_uri` of a unix socket
        return None
    workers = BentoMLContainer.config.services[service_name].get().get("workers") or 1
    if not isinstance(workers, int):  # "cpu_count": not used for the runner
        raise ValueError(f"services.{service_name}.workers must be a number, not {workers!r}")
    return [f"{uri_to_path(url)}.{index}" for index in range(1, workers + 1)]


def worker_socket(service_name: str) -> str | None:
    """This worker's socket among `runner_sockets`."""
    paths = runner_sockets(service_name)
    return None if paths is None else paths[server_context.worker_index - 1]


# `API_SERVER_NAME` of `_bentoml_impl/server/serving.py`: the public service's socket.
API_SERVER_SOCKET = "_bento_api_server"
# circus's `CircusSocket.__init__` and uvicorn's `Server.startup`, as they come.
STOCK_CIRCUS_SOCKET_INIT = circus.sockets.CircusSocket.__init__
STOCK_STARTUP = uvicorn.server.Server.startup


def shared_port_socket(self: circus.sockets.CircusSocket, *args: Any, **kwargs: Any) -> None:
    """circus's socket; the public service's with SO_REUSEPORT, so that each of its workers
    can listen beside it (`startup_on_own_socket`). It is bound, as before, by BentoML's
    arbiter, which first checks that nothing listens on the port: sockets with
    SO_REUSEPORT of one user share a port silently, so another server of the service on
    the same port would otherwise take part of its connections, not fail to start."""
    STOCK_CIRCUS_SOCKET_INIT(self, *args, **kwargs)
    if self.name == API_SERVER_SOCKET and not self.is_unix:
        with socket.socket(self.family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as circus does
            probe.bind((self.host, self.port))  # "Address already in use"
        self.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)


def _shares_its_port(sock: socket.socket) -> bool:
    return sock.family in (socket.AF_INET, socket.AF_INET6) and bool(
        sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
    )


def _beside(shared: socket.socket) -> socket.socket:
    """A socket of this process's own on `shared`'s address, in its group (SO_REUSEPORT)."""
    sock = socket.socket(shared.family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(shared.getsockname())
    return sock


async def startup_on_own_socket(
    self: uvicorn.server.Server, sockets: list[socket.socket] | None = None
) -> None:
    """uvicorn's `startup`, listening on a socket of this worker's own in place of a shared
    `shared_port_socket`, which it then shuts: it leaves the port's group of sockets (any
    connection waiting in it is reset; none waits once a worker serves) and keeps the port
    for the workers that BentoML starts again."""
    shared = [sock for sock in sockets or () if _shares_its_port(sock)]
    if not shared:
        await STOCK_STARTUP(self, sockets)
        return
    own = [_beside(sock) if sock in shared else sock for sock in sockets or ()]
    await STOCK_STARTUP(self, own)
    for sock in shared:
        with contextlib.suppress(OSError):  # shut by another worker already
            sock.shutdown(socket.SHUT_RDWR)


def install(*, max_header_bytes: int, header_timeout_s: float) -> None:
    """Make BentoML build its apps with the fixed `TimeoutMiddleware` (it imports the
    class from `traffic` when it builds an app) and its batchers with the fixed
    `Optimizer` (a `CorkDispatcher` looks it up when it is made), make uvicorn serve HTTP
    with `BoundedHttpTools` (BentoML builds uvicorn's `Config` with `http="auto"` after
    importing the service), label request metrics by route template, work out each
    response's media type once per type, send each answer's body in one message, wrap
    each API function once, note each service's app factory (`batched`), give each public
    worker a listening socket of its own, and quiet its tracebacks for invalid input and
    shed requests."""
    traffic.TimeoutMiddleware = TimeoutMiddleware
    instruments.RunnerTrafficMetricsMiddleware = RouteLabelledMetrics
    dispatcher.Optimizer = Optimizer
    BoundedHttpTools.max_header_bytes = max_header_bytes
    BoundedHttpTools.header_timeout_s = header_timeout_s
    uvicorn.config.HTTP_PROTOCOLS["auto"] = f"{__name__}:{BoundedHttpTools.__name__}"
    IOMixin.mime_type = classmethod(cached_mime_type)
    IterableResponse.__call__ = send_in_one_body
    APIMethod._local_call = cached_local_call
    ServiceAppFactory.create_instance = create_instance_noting_app
    circus.sockets.CircusSocket.__init__ = shared_port_socket
    uvicorn.server.Server.startup = startup_on_own_socket
    http_logger = logging.getLogger(BENTOML_HTTP_LOGGER)
    if not any(isinstance(f, ExplainedErrorFilter) for f in http_logger.filters):
        http_logger.addFilter(ExplainedErrorFilter())
