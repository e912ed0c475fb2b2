"""What every request gets before any check: one spelling of its path, an id, a log line.

- `NoTrailingSlash`: "/credit_score_prediction/" is served as "/credit_score_prediction";
- `RequestId`: the client's X-Request-ID if sane, else a new one, echoed in the response;
- `AccessLog`: one JSON line per request, without the body (it holds personal data).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.ids import SANE_REQUEST_ID, new_request_id

REQUEST_ID_HEADER = b"x-request-id"

access_log = logging.getLogger("serving.access")


def header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of request header `name` (lower case), if any."""
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


class NoTrailingSlash:
    """ "/credit_score_prediction/" is "/credit_score_prediction": served, not redirected.

    Starlette's router answers a path with an extra slash with a 307 to the path without
    it, which many clients do not follow for a POST. Runs first, so every middleware and
    the router see the one spelling of each path.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and len(path) > 1 and path.endswith("/"):
            scope = {**scope, "path": path.rstrip("/") or "/"}
        await self.app(scope, receive, send)


class RequestId:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        given = (header(scope, REQUEST_ID_HEADER) or b"").decode("latin-1")
        rid = given if SANE_REQUEST_ID.match(given) else new_request_id()
        scope.setdefault("state", {})["request_id"] = rid
        echoed = (REQUEST_ID_HEADER, rid.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), echoed]}
            await send(message)

        await self.app(scope, receive, send_with_id)


def configure_access_log() -> None:
    """JSON lines on stdout, independent of BentoML's own logging setup."""
    if not access_log.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        access_log.addHandler(handler)
        access_log.setLevel(logging.INFO)
        access_log.propagate = False


class AccessLog:
    """One JSON line per request, without its body.

    The lines of the requests that end in one turn of the event loop (under load, those of
    one runner batch) are logged together, in one logging call: a call per line cost ~12 µs
    of CPU per request, a quarter of the whole middleware stack (`benchmarks/middlewares.py`),
    and ~5 % of the requests served at 64 clients.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._lines: list[str] = []  # of this turn of the event loop
        configure_access_log()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 0

        async def send_seen(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_seen)
        finally:
            line = {
                "ts": round(time.time(), 3),
                "request_id": scope.get("state", {}).get("request_id"),
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                "client": scope["client"][0] if scope.get("client") else None,
            }
            self._lines.append(json.dumps(line))
            if len(self._lines) == 1:
                asyncio.get_running_loop().call_soon(self._write)

    def _write(self) -> None:
        lines, self._lines = self._lines, []
        access_log.info("\n".join(lines))
