"""The checks a request passes before it is scored, in the order they run (`stack`):
each refuses what it checks with a clear 4xx, in the one error shape (`errors`).

- `HeaderLimit`: request headers of at most `MAX_HEADER_BYTES` in total (431);
- `ApiKeys`: optional API keys (exactly one X-API-Key, constant-time comparison), else 401,
  and the key's role for the route, else 403;
- `JsonOnly`: API routes take uncompressed application/json only (415);
- `BodyLimit`: a request-body limit (413) and deadline (408) on API routes, which
  BentoML 1.4 does not have;
- `JsonBody`: no duplicate keys, and few unknown ones, in API bodies (422);
- `ConcurrencyLimit`: requests in progress per worker (429), counted once the body is in.

The HTTP parser itself bounds headers before any of these run: `bentoml_fixes.BoundedHttpTools`.
A new check is a class here, with its place in `stack.middlewares`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
from collections import Counter
from collections.abc import Iterable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.http import routes
from serving.http.errors import (
    TOO_MANY_REQUESTS,
    error_body,
    send_json,
    validation_error_body,
)
from serving.http.request_context import header
from serving.keys import ApiKey

API_KEY_HEADER = b"x-api-key"
# Where `ApiKeys` puts the caller's key name on the request's state.
CALLER_STATE = "caller"
# Far above what a browser or an API client sends (a few hundred bytes here).
MAX_HEADER_BYTES = 16 * 1024
# Time a client has to send its request line and headers; a byte now and then is not enough.
HEADER_TIMEOUT_S = 10.0


def _headers(scope: Scope, name: bytes) -> list[bytes]:
    return [value for key, value in scope["headers"] if key == name]


class HeaderLimit:
    """431 when the request headers hold more than `max_bytes` in total."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            size = sum(len(key) + len(value) + 4 for key, value in scope["headers"])  # ": ", CRLF
            if size > self.max_bytes:
                error = error_body(f"request headers larger than {self.max_bytes} bytes")
                return await send_json(send, 431, error)
        await self.app(scope, receive, send)


class ApiKeys:
    """Without keys configured, everything is open; with keys, all but `open_paths` and
    CORS preflights need one (401), and a route of `routes.ROLE_OF` a key with its role
    (403). The key's name goes on the request's state as `caller`."""

    def __init__(self, app: ASGIApp, *, keys: Iterable[ApiKey], open_paths: Iterable[str]) -> None:
        self.app = app
        self.keys = [(key.key.get_secret_value().encode(), key) for key in keys]
        self.open_paths = frozenset(open_paths)

    def _key_of(self, scope: Scope) -> ApiKey | None:
        given = _headers(scope, API_KEY_HEADER)
        if len(given) != 1:  # two keys: which one a proxy or a server reads differs
            return None
        # Compare with every key, always: the time taken does not tell which one matched.
        found = None
        for secret, key in self.keys:
            if hmac.compare_digest(given[0], secret):
                found = key
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or not self.keys
            or scope["method"] == "OPTIONS"
            or scope["path"] in self.open_paths
        ):
            return await self.app(scope, receive, send)
        key = self._key_of(scope)
        if key is None:
            return await send_json(
                send,
                401,
                error_body("exactly one X-API-Key header with a valid key is required"),
                [(b"www-authenticate", b"ApiKey")],
            )
        route = routes.route_label(scope["path"])
        role = routes.ROLE_OF.get(route)
        if role is not None and role not in key.roles:
            error = error_body(f"the API key {key.name!r} lacks the role {role!r} ({route})")
            return await send_json(send, 403, error)
        scope.setdefault("state", {})[CALLER_STATE] = key.name
        await self.app(scope, receive, send)


def caller(scope: Scope) -> str | None:
    """The name of the key a request came with (None where keys are off or not needed)."""
    return scope.get("state", {}).get(CALLER_STATE)


class JsonOnly:
    """No Content-Type (BentoML then reads JSON) or application/json on `paths`, and no
    Content-Encoding (BentoML would read compressed bytes as JSON), else 415."""

    def __init__(self, app: ASGIApp, *, paths: Iterable[str]) -> None:
        self.app = app
        self.paths = frozenset(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and routes.route_label(scope["path"]) in self.paths:
            content_type = (header(scope, b"content-type") or b"application/json").decode("latin-1")
            if content_type.split(";")[0].strip().lower() != "application/json":
                return await send_json(send, 415, error_body("the body must be application/json"))
            encoding = (header(scope, b"content-encoding") or b"identity").strip().lower()
            if encoding != b"identity":
                error = error_body("Content-Encoding is not supported: send the JSON uncompressed")
                return await send_json(send, 415, error)
        await self.app(scope, receive, send)


class BodyLimit:
    """Read POST bodies on `paths` whole before anything else: 413 when the declared or the
    received size exceeds `max_bytes`, 408 when the body is not all there within
    `timeout_s` (a client sending a byte now and then holds nothing for long)."""

    def __init__(
        self, app: ASGIApp, *, paths: Iterable[str], max_bytes: int, timeout_s: float
    ) -> None:
        self.app = app
        self.paths = frozenset(paths)
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        if routes.route_label(scope["path"]) not in self.paths:
            return await self.app(scope, receive, send)
        too_large = error_body(f"request body larger than {self.max_bytes} bytes")
        declared = header(scope, b"content-length")  # the HTTP parser refuses a malformed one
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await send_json(send, 413, too_large, [(b"connection", b"close")])
        try:
            async with asyncio.timeout(self.timeout_s):
                body = await self._read_body(receive)
        except TimeoutError:
            error = error_body(f"the request body was not received within {self.timeout_s} s")
            return await send_json(send, 408, error, [(b"connection", b"close")])
        if body is None:
            return await send_json(send, 413, too_large, [(b"connection", b"close")])
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


class _BodyRefused(Exception):
    """Raised while parsing to stop at the first problem."""


class JsonBody:
    """422 for a JSON body on `paths` with a duplicate key (a client bug: which value
    counts differs between parsers), more than `max_unknown_keys` keys that are not in
    `known_keys` (each costs validation errors; thousands only make a huge answer), or
    more than `max_objects` objects (1 MB holds 250,000 `{}`: ~0.3 s of parsing and validation).

    Runs after `BodyLimit`, which has the body in memory; bodies that are not JSON pass,
    for BentoML's own answer.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        paths: Iterable[str],
        known_keys: Iterable[str],
        max_unknown_keys: int,
        max_objects: int,
    ) -> None:
        self.app = app
        self.paths = frozenset(paths)
        self.known_keys = frozenset(known_keys)
        self.max_unknown_keys = max_unknown_keys
        self.max_objects = max_objects

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        if routes.route_label(scope["path"]) not in self.paths:
            return await self.app(scope, receive, send)
        message = await receive()  # the whole body, replayed by `BodyLimit`
        try:
            self._check(message.get("body", b""))
        except _BodyRefused as refused:
            problem = {"type": "json_invalid", "loc": [], "msg": str(refused)}
            body = validation_error_body([problem], 1) | error_body(f"invalid input: {refused}")
            return await send_json(send, 422, body)
        await self.app(scope, _replay(message.get("body", b""), receive), send)

    def _check(self, body: bytes) -> None:
        unknown = objects = 0

        def checked_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
            nonlocal unknown, objects
            objects += 1
            if objects > self.max_objects:
                raise _BodyRefused(f"more than {self.max_objects} JSON objects")
            obj = dict(pairs)
            if len(obj) != len(pairs):
                duplicate = next(k for k, n in Counter(k for k, _ in pairs).items() if n > 1)
                raise _BodyRefused(f"the key {json.dumps(duplicate)} appears twice in an object")
            unknown += len(obj.keys() - self.known_keys)
            if unknown > self.max_unknown_keys:
                raise _BodyRefused(f"more than {self.max_unknown_keys} unknown fields")
            return obj

        # Not JSON, not UTF-8 or nested too deep for Python: BentoML answers it.
        with contextlib.suppress(ValueError, RecursionError):
            json.loads(body, object_pairs_hook=checked_object)


class ConcurrencyLimit:
    """429 when `max_requests` requests are in progress in this worker, probes excepted.

    Replaces BentoML's `traffic.max_concurrency`, which counts a request from its first
    byte: 600 clients sending their bodies a byte at a time refused everyone else. Inside
    `BodyLimit`, a request counts once its body has arrived.
    """

    def __init__(self, app: ASGIApp, *, max_requests: int, skip_paths: Iterable[str]) -> None:
        self.app = app
        self.skip_paths = frozenset(skip_paths)
        self._semaphore = asyncio.Semaphore(max_requests)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.skip_paths:
            return await self.app(scope, receive, send)
        if self._semaphore.locked():
            return await send_json(send, 429, error_body(TOO_MANY_REQUESTS))
        async with self._semaphore:
            await self.app(scope, receive, send)


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
