"""The public service's ASGI middlewares, one concern each, outermost first (`stack`).

- `RequestId`: the client's X-Request-ID if sane, else a new one, echoed in the response;
- `AccessLog`: one JSON line per request, without the body (it holds personal data);
- `ApiKeys`: optional API keys (X-API-Key, constant-time comparison), 401 without one;
- `JsonOnly`: API routes take application/json only (415);
- `BodyLimit`: a request-body limit on API routes (413), which BentoML 1.4 does not have.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Iterable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = b"x-request-id"
API_KEY_HEADER = b"x-api-key"
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

access_log = logging.getLogger("serving.access")


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


def request_id(scope: Scope) -> str:
    """The id `RequestId` gave this request."""
    return scope["state"]["request_id"]


async def send_json(send: Send, status: int, body: dict, headers: Iterable = ()) -> None:
    """A complete JSON response."""
    payload = json.dumps(body).encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            *headers,
        ],
    })  # fmt: skip
    await send({"type": "http.response.body", "body": payload})


class RequestId:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        given = (_header(scope, REQUEST_ID_HEADER) or b"").decode("latin-1")
        rid = given if _SANE_REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        header = (REQUEST_ID_HEADER, rid.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), header]}
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
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
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
            line: dict[str, Any] = {
                "ts": round(time.time(), 3),
                "request_id": scope.get("state", {}).get("request_id"),
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                "client": scope["client"][0] if scope.get("client") else None,
            }
            access_log.info(json.dumps(line))


class ApiKeys:
    """Without keys configured, everything is open; with keys, all but `open_paths` and
    CORS preflights need one."""

    def __init__(self, app: ASGIApp, *, keys: Iterable[str], open_paths: Iterable[str]) -> None:
        self.app = app
        self.keys = [key.encode() for key in keys]
        self.open_paths = frozenset(open_paths)

    def _authorized(self, scope: Scope) -> bool:
        if not self.keys or scope["method"] == "OPTIONS" or scope["path"] in self.open_paths:
            return True
        given = _header(scope, API_KEY_HEADER) or b""
        # Compare with every key, always: the time taken does not tell which one matched.
        return sum(hmac.compare_digest(given, key) for key in self.keys) > 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._authorized(scope):
            return await self.app(scope, receive, send)
        await send_json(
            send,
            401,
            {"error": "a valid X-API-Key header is required"},
            [(b"www-authenticate", b"ApiKey")],
        )


class JsonOnly:
    """No Content-Type (BentoML then reads JSON) or application/json on `paths`, else 415."""

    def __init__(self, app: ASGIApp, *, paths: Iterable[str]) -> None:
        self.app = app
        self.paths = frozenset(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in self.paths:
            content_type = (_header(scope, b"content-type") or b"application/json").decode(
                "latin-1"
            )
            if content_type.split(";")[0].strip().lower() != "application/json":
                return await send_json(send, 415, {"error": "the body must be application/json"})
        await self.app(scope, receive, send)


class BodyLimit:
    """Read POST bodies on `paths` whole, 413 as soon as one exceeds `max_bytes`."""

    def __init__(self, app: ASGIApp, *, paths: Iterable[str], max_bytes: int) -> None:
        self.app = app
        self.paths = frozenset(paths)
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        body = await self._read_body(receive)
        if body is None:
            error = {"error": f"request body larger than {self.max_bytes} bytes"}
            return await send_json(send, 413, error)
        await self.app(scope, _replay(body, receive), send)

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The whole body, or None as soon as it exceeds the limit."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive callable that yields the already-read body, then defers to the real one."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def stack(
    *,
    api_routes: Iterable[str],
    max_body_bytes: int,
    api_keys: Iterable[str],
    open_paths: Iterable[str],
) -> list[tuple[type, dict[str, Any]]]:
    """The middlewares of the public service with their options, outermost first."""
    routes = list(api_routes)
    return [
        (RequestId, {}),
        (AccessLog, {}),
        (ApiKeys, {"keys": list(api_keys), "open_paths": list(open_paths)}),
        (JsonOnly, {"paths": routes}),
        (BodyLimit, {"paths": routes, "max_bytes": max_body_bytes}),
    ]
