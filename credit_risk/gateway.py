"""The front door of the public service, one ASGI middleware.

- a request id (the client's X-Request-ID if sane, else a new one) echoed in the response;
- optional API keys (X-API-Key, constant-time comparison), 401 without a valid one;
- a request-body limit (413), which BentoML 1.4 does not have, and JSON only (415);
- the documented 422 for invalid input where BentoML answers 400;
- one JSON access-log line per request, without the body (it holds personal data).
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

from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "x-request-id"
API_KEY_HEADER = "x-api-key"
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

access_log = logging.getLogger("credit_risk.access")


def configure_access_log() -> None:
    """JSON lines on stdout, independent of BentoML's own logging setup."""
    if not access_log.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        access_log.addHandler(handler)
        access_log.setLevel(logging.INFO)
        access_log.propagate = False


class ClientErrorFilter(logging.Filter):
    """Drop BentoML's ERROR-level traceback for a client's invalid input.

    The access log already has one line (status 422 and the request id) for it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        from pydantic import ValidationError

        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, ValidationError)


async def _json_response(send: Send, status: int, body: dict, headers: list) -> None:
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


class Gateway:
    """See the module docstring. `api_routes` get the 422 mapping and the body limit."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        api_routes: Iterable[str],
        max_body_bytes: int,
        api_keys: Iterable[str] = (),
        open_paths: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.api_routes = frozenset(api_routes)
        self.max_body_bytes = max_body_bytes
        self.api_keys = [key.encode() for key in api_keys]
        self.open_paths = tuple(open_paths)
        configure_access_log()

    def _authorized(self, scope: Scope, headers: dict[bytes, bytes]) -> bool:
        if not self.api_keys or scope["method"] == "OPTIONS":
            return True
        if scope["path"] in self.open_paths:
            return True
        given = headers.get(API_KEY_HEADER.encode(), b"")
        # Compare with every key, always: the time taken does not tell which one matched.
        return sum(hmac.compare_digest(given, key) for key in self.api_keys) > 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])
        given_id = headers.get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
        request_id = given_id if _SANE_REQUEST_ID.match(given_id) else uuid.uuid4().hex
        id_header = (REQUEST_ID_HEADER.encode(), request_id.encode())
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if status == 400 and scope["path"] in self.api_routes:
                    status = 422
                message = {**message, "status": status, "headers": [*message["headers"], id_header]}
            await send(message)

        try:
            if not self._authorized(scope, headers):
                await _json_response(
                    send_with_id, 401, {"error": "a valid X-API-Key header is required"},
                    [(b"www-authenticate", b"ApiKey")],
                )  # fmt: skip
            elif scope["path"] in self.api_routes and not _is_json(headers):
                await _json_response(
                    send_with_id, 415, {"error": "the body must be application/json"}, []
                )
            elif scope["path"] in self.api_routes and scope["method"] == "POST":
                body = await self._read_body(receive)
                if body is None:
                    await _json_response(
                        send_with_id, 413,
                        {"error": f"request body larger than {self.max_body_bytes} bytes"}, [],
                    )  # fmt: skip
                else:
                    await self.app(scope, _replay(body, receive), send_with_id)
            else:
                await self.app(scope, receive, send_with_id)
        finally:
            line = {
                "ts": round(time.time(), 3),
                "request_id": request_id,
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                "client": scope["client"][0] if scope.get("client") else None,
            }
            access_log.info(json.dumps(line))

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The whole body, or None as soon as it exceeds the limit."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _is_json(headers: dict[bytes, bytes]) -> bool:
    """No Content-Type (BentoML then reads JSON) or application/json."""
    content_type = headers.get(b"content-type", b"application/json").decode("latin-1")
    return content_type.split(";")[0].strip().lower() == "application/json"


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
