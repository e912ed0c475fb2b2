"""The one error shape of every error answer, from every layer, and its wording.

`{"error": "<a sentence a person can read>", "detail": [{"loc": [...], "msg": "...",
"type": "..."}], "error_count": n}` (`detail` and `error_count` only for invalid input).
No class names, no links, no input values echoed back (they may hold personal data).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Enough to fix a request; a body with more problems is mostly noise, and its error
# answer must stay small whatever the size of the input.
MAX_DETAILS = 50


class ErrorDetail(BaseModel):
    loc: list[str | int] = Field(description="Where: the field, or the record index and field")
    msg: str = Field(description="What is wrong, in words")
    type: str = Field(description="A stable code for the kind of problem, e.g. missing")


class ErrorBody(BaseModel):
    error: str = Field(description="What went wrong, in words")
    detail: list[ErrorDetail] | None = Field(
        default=None,
        description=f"Invalid input only: each problem, at most {MAX_DETAILS}",
    )
    error_count: int | None = Field(
        default=None, description="Invalid input only: how many problems there were in all"
    )


def validation_error_body(errors: Iterable[Mapping[str, Any]], count: int) -> dict[str, Any]:
    """The 422 body for pydantic-style `errors` (`count` of them in all): the first
    MAX_DETAILS, worded without class names, links or input values."""
    detail = [
        {"loc": list(e.get("loc", [])), "msg": str(e.get("msg", "")), "type": str(e.get("type"))}
        for _, e in zip(range(MAX_DETAILS), errors, strict=False)
    ]
    shown = "" if count <= MAX_DETAILS else f" (the first {MAX_DETAILS} are listed)"
    noun = "problem" if count == 1 else "problems"
    return {
        "error": f"invalid input: {count} {noun}{shown}",
        "detail": detail,
        "error_count": count,
    }


async def replace_answer(
    send: Send, start: Message, status: int, body: dict[str, Any], headers: Iterable = ()
) -> None:
    """Send `body` as JSON with `status` in place of the answer that `start` began: its
    other headers kept, its length and type replaced. For the middlewares that reword an
    answer of BentoML's or Starlette's."""
    payload = json.dumps(body).encode()
    kept = [(k, v) for k, v in start.get("headers", ()) if k.lower() not in _REPLACED]
    await send({
        **start,
        "status": status,
        "headers": [
            *kept,
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            *headers,
        ],
    })  # fmt: skip
    await send({"type": "http.response.body", "body": payload})


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
                return await replace_answer(
                    send, start, start["status"], {"error": _plain_error(start["status"])}
                )
            await send(message)

        await self.app(scope, receive, send_json)


_REPLACED = {b"content-type", b"content-length"}


def _plain_error(status: int) -> str:
    return "no such path" if status == 404 else "method not allowed on this path"
