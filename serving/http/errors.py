"""Every error answer of the service: its one shape, its wording and the ways it is sent.

`{"error": "<a sentence a person can read>", "detail": [{"loc": [...], "msg": "...",
"type": "..."}], "error_count": n}` (`detail` and `error_count` only for invalid input).
No class names, no links, no input values echoed back (they may hold personal data).

The middlewares send their refusals with `send_json`, rewrite the answers of BentoML and
Starlette with `replace_answer`, the HTTP parser writes `raw_response` to the socket, and
the routes of the FastAPI app answer `error_response`. A scoring request whose decision
cannot be recorded is marked (`mark_records_unavailable`) so that its 503 says so.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import Message, Send

# Enough to fix a request; a body with more problems is mostly noise, and its error
# answer must stay small whatever the size of the input.
MAX_DETAILS = 50

# A request shed under overload, and after how many seconds to retry: the batcher's
# latency budget is about a second, so a queue has drained or shed by then.
OVERLOADED = "overloaded: retry later"
RETRY_AFTER_S = 1
# The decision records cannot be written or read: no decision is given without its record.
RECORDS_UNAVAILABLE = (
    "decision records are unavailable: no decision is given without its record; retry later"
)
RECORDS_RETRY_AFTER_S = 5
# Set on a request's state when its decision could not be recorded (`answers.RetryLaterOn503`).
_RECORDS_UNAVAILABLE_STATE = "records_unavailable"
NO_SUCH_PATH = "no such path"
METHOD_NOT_ALLOWED = "method not allowed on this path"
TOO_MANY_REQUESTS = "too many requests in progress: retry later"


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


def error_body(error: str) -> dict[str, Any]:
    return {"error": error}


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


def retry_after(seconds: int) -> tuple[bytes, bytes]:
    return (b"retry-after", str(seconds).encode())


def mark_records_unavailable(state: MutableMapping[str, Any]) -> None:
    """Mark a request (its ASGI scope's state) whose decision could not be recorded: its
    503 then says so (`unavailable`), not that the service is overloaded."""
    state[_RECORDS_UNAVAILABLE_STATE] = True


def unavailable(state: Mapping[str, Any]) -> tuple[dict[str, Any], int, str]:
    """The body, Retry-After seconds and the log's cause of a 503 on a scoring route."""
    if state.get(_RECORDS_UNAVAILABLE_STATE):
        return (
            error_body(RECORDS_UNAVAILABLE),
            RECORDS_RETRY_AFTER_S,
            "decision records unavailable",
        )
    return error_body(OVERLOADED), RETRY_AFTER_S, "shed: overloaded"


async def send_json(send: Send, status: int, body: dict, headers: Iterable = ()) -> None:
    """A complete JSON response, from a middleware."""
    await replace_answer(send, {"type": "http.response.start"}, status, body, headers)


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


_REPLACED = {b"content-type", b"content-length"}


def raw_response(status: int, reason: str, error: str) -> bytes:
    """A complete HTTP/1.1 JSON error response that closes the connection, for the HTTP
    parser to write before any ASGI app runs."""
    body = json.dumps(error_body(error)).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


def error_response(
    status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """An error answer of a route (the FastAPI app's exception handlers, BentoML's timeout)."""
    return JSONResponse(body, status_code=status, headers=headers)


@contextmanager
def records_reachable() -> Iterator[None]:
    """A records route while the records database is lost: a 503 with Retry-After, not a
    500 (raised as FastAPI's HTTPException, which the docs app answers in the error shape)."""
    try:
        yield
    except SQLAlchemyError as exc:
        raise records_unavailable() from exc


def records_unavailable() -> HTTPException:
    """A records route's 503 with Retry-After."""
    return HTTPException(503, RECORDS_UNAVAILABLE, {"Retry-After": str(RECORDS_RETRY_AFTER_S)})
