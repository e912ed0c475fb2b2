"""Every work-around for BentoML 1.4 (pinned: bentoml==1.4.39), in one place.

Each piece names the upstream issue or the BentoML source it depends on, and
tests/unit/serving/test_bentoml_fixes.py fails when that source changes, or when an
upstream fix makes the piece unnecessary. `install()` must run before BentoML builds the
service's ASGI app: service.py calls it at import.

1. `TimeoutMiddleware`: BentoML's per-request timer is never cancelled
   (bentoml/_internal/server/http/traffic.py, `TimeoutMiddleware.__call__`).
2. `RUNNER_CONNECTION`: the caller's client recycles its session under requests in flight
   (bentoml#5540, bentoml#5544; `_bentoml_impl/client/proxy2.py`, `SessionManager`).
3. `tracing()`: a span per request even with nothing sampled or exported.
4. `ValidationErrorAs422`: invalid input is a 400 in BentoML
   (`_bentoml_impl/server/app.py`, `api_endpoint_wrapper`); the documented API says 422.
5. `ExplainedErrorFilter`: that 400, and a request shed under overload, are logged with a
   traceback at ERROR level (`bentoml/_internal/server/http_app.py`, `log_exception`).
6. `RetryLaterOn503`: a request the batcher sheds (`_bentoml_impl/server/app.py`, the
   dispatchers' `fallback`) is a 503 with a body that says "unexpected error"
   (`api_endpoint_wrapper`) and no Retry-After.
7. `Optimizer`: the adaptive batcher's learned wait feeds on itself and outlives a flood
   by minutes (`bentoml/_internal/marshal/dispatcher.py`, `Optimizer.trigger_refresh` and
   `CorkDispatcher.controller`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from typing import Any

from bentoml._internal.marshal import dispatcher
from bentoml._internal.server.http import traffic
from bentoml.exceptions import ServiceUnavailable
from pydantic import ValidationError
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The logger BentoML's `log_exception` writes to (bentoml/_internal/server/http_app.py).
BENTOML_HTTP_LOGGER = "bentoml._internal.server.http_app"
# What a client shed under overload is told, and after how many seconds to retry: the
# batcher's latency budget is about a second, so a queue has drained or shed by then.
OVERLOADED = {"error": "overloaded: retry later"}
RETRY_AFTER_S = 1

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
                await JSONResponse({"error": error}, status_code=504)(scope, receive, send)
        else:
            await fut
        finally:
            timer.cancel()


class ValidationErrorAs422:
    """The documented 422 on `paths` where BentoML answers 400 for invalid input."""

    def __init__(self, app: ASGIApp, *, paths: Iterable[str]) -> None:
        self.app = app
        self.paths = frozenset(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            return await self.app(scope, receive, send)

        async def send_422(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 400:
                message = {**message, "status": 422}
            await send(message)

        await self.app(scope, receive, send_422)


class RetryLaterOn503:
    """On `paths`, a 503 says what it is: `OVERLOADED` with a Retry-After header, and one
    WARNING line in the log.

    BentoML answers a request its batcher shed (in the runner, passed on by the runner's
    client as `ServiceUnavailable`) with 503 and "An unexpected error has occurred, please
    check the server log". The runner being unready is the only other 503 there: retrying
    later is right for both.
    """

    def __init__(self, app: ASGIApp, *, paths: Iterable[str]) -> None:
        self.app = app
        self.paths = frozenset(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            return await self.app(scope, receive, send)
        replaced = False

        async def send_retry_later(message: Message) -> None:
            nonlocal replaced
            if message["type"] == "http.response.start" and message["status"] == 503:
                replaced = True
                body = json.dumps(OVERLOADED).encode()
                kept = [
                    (k, v)
                    for k, v in message.get("headers", ())
                    if k.lower() not in (b"content-length", b"content-type")
                ]
                await send({
                    **message,
                    "headers": [
                        *kept,
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"retry-after", str(RETRY_AFTER_S).encode()),
                    ],
                })  # fmt: skip
                await send({"type": "http.response.body", "body": body})
                logger.warning(
                    "%s %s shed: overloaded, answered 503 (Retry-After: %d s), request id %s",
                    scope["method"],
                    scope["path"],
                    RETRY_AFTER_S,
                    scope.get("state", {}).get("request_id"),
                )
            elif not replaced:  # BentoML's body of the 503 is dropped
                await send(message)

        await self.app(scope, receive, send_retry_later)


class ExplainedErrorFilter(logging.Filter):
    """Drop BentoML's ERROR-level traceback for what is no fault of the code: a client's
    invalid input (the access log has its 422) and a request shed under overload
    (`RetryLaterOn503` writes one WARNING line for it; the runner that shed it is quiet)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, (ValidationError, ServiceUnavailable))


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


def install() -> None:
    """Make BentoML build its apps with the fixed `TimeoutMiddleware` (it imports the
    class from `traffic` when it builds an app) and its batchers with the fixed
    `Optimizer` (a `CorkDispatcher` looks it up when it is made), and quiet its
    tracebacks for invalid input and shed requests."""
    traffic.TimeoutMiddleware = TimeoutMiddleware
    dispatcher.Optimizer = Optimizer
    http_logger = logging.getLogger(BENTOML_HTTP_LOGGER)
    if not any(isinstance(f, ExplainedErrorFilter) for f in http_logger.filters):
        http_logger.addFilter(ExplainedErrorFilter())
