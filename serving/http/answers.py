"""The middlewares that rewrite answers: gzip for large ones, and the answers of BentoML
and Starlette in the one error shape (`errors`) with the documented statuses.

- `CompressedOn`: gzip on the paths with large answers, for clients that accept it;
- `ClientErrorsInOneShape`: BentoML's 400 for invalid input is the documented 422, its
  other client errors an object;
- `RetryLaterOn503`: BentoML's "unexpected error" 503 says what it is, with Retry-After;
- `PlainErrorsAsJson`: Starlette's plain-text 404 and 405 in the error shape.

Each names the BentoML source whose answer it rewrites; tests/unit/serving/
test_bentoml_fixes.py fails when BentoML changes that answer.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable

from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.http.errors import (
    METHOD_NOT_ALLOWED,
    NO_SUCH_PATH,
    error_body,
    replace_answer,
    retry_after,
    unavailable,
    validation_error_body,
)

logger = logging.getLogger(__name__)
# The client errors BentoML answers itself (`ClientErrorsInOneShape`): invalid input, a
# request id that names another request.
REWORDED = frozenset({400, 409})


class CompressedOn:
    """Starlette's GZipMiddleware on paths starting with one of `prefixes`. Elsewhere not:
    BentoML streams a single decision (~150 bytes) without a length, which GZipMiddleware
    would compress whatever its size, at a CPU cost on every request."""

    def __init__(self, app: ASGIApp, *, prefixes: Iterable[str], minimum_size: int = 1024) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=minimum_size)
        self.prefixes = tuple(prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefixes):
            return await self.gzip(scope, receive, send)
        await self.app(scope, receive, send)


class ClientErrorsInOneShape:
    """On `paths`, BentoML's answers to a client's error in the one error shape
    (`_bentoml_impl/server/app.py`, `api_endpoint_wrapper`):

    - its 400 for invalid input is the documented 422, its body reworded
      (`errors.validation_error_body`): BentoML's names its own classes ("9 validation
      error for ApplicantIODescriptor") and links to pydantic's site;
    - its body for another 4xx (`BentoMLException` with a client error code, a 409 here) is
      a JSON array holding the object, `detail = ({"error": str(exc)},)`: answered as the
      object (bentoml/BentoML#5709, open).
    """

    def __init__(self, app: ASGIApp, *, paths: Iterable[str]) -> None:
        self.app = app
        self.paths = frozenset(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            return await self.app(scope, receive, send)
        start: Message | None = None
        chunks: list[bytes] = []

        async def send_reworded(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start" and message["status"] in REWORDED:
                start = message  # held back until the whole body is known
                return
            if start is None or message["type"] != "http.response.body":
                return await send(message)
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = json.loads(b"".join(chunks))
            (body,) = body if isinstance(body, list) else (body,)
            if start["status"] == 400:
                errors = body.get("detail") or []
                answer = validation_error_body(errors, len(errors))
                return await replace_answer(send, start, 422, answer)
            await replace_answer(send, start, start["status"], error_body(body["error"]))

        await self.app(scope, receive, send_reworded)


class RetryLaterOn503:
    """On `paths`, a 503 says what it is, with a Retry-After header and one WARNING line in
    the log (`errors.unavailable`: the records were unavailable when the service marked
    the request so, else it was overloaded).

    BentoML answers every 503 with "An unexpected error has occurred, please check the server
    log": a request its batcher shed (in the runner, passed on by the runner's client as
    `ServiceUnavailable`), the runner being unready, and the service's own
    `ServiceUnavailable` when the decision records cannot be written. Retrying later is
    right for all of them.
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
                state = scope.get("state", {})
                body, seconds, cause = unavailable(state)
                await replace_answer(send, message, 503, body, [retry_after(seconds)])
                logger.warning(
                    "%s %s %s, answered 503 (Retry-After: %d s), request id %s",
                    scope["method"],
                    scope["path"],
                    cause,
                    seconds,
                    state.get("request_id"),
                )
            elif not replaced:  # BentoML's body of the 503 is dropped
                await send(message)

        await self.app(scope, receive, send_retry_later)


class PlainErrorsAsJson:
    """Starlette's plain-text 404 and 405 (unknown path, wrong method) in the error shape."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start: Message | None = None

        async def send_json(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers", ()))
                plain = headers.get(b"content-type", b"").startswith(b"text/plain")
                if message["status"] in (404, 405) and plain:
                    start = message  # held back until the body is known
                    return
            elif start is not None and message["type"] == "http.response.body":
                error = NO_SUCH_PATH if start["status"] == 404 else METHOD_NOT_ALLOWED
                return await replace_answer(send, start, start["status"], error_body(error))
            await send(message)

        await self.app(scope, receive, send_json)
