"""CPU per request of the public service's own ASGI middlewares, in process.

The whole stack of `serving.http.stack.middlewares` (configured as `make bench` serves ours:
an API key required) around a stand-in for BentoML's app that reads the body and answers
a small JSON, driven by a request like `make bench`'s (one applicant, an API key); then the
stack without each middleware in turn, the difference being that middleware's share. The
access log is written to a temporary file. The HTTP server, BentoML's app and the model are
not included: `make bench` measures those.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from benchmarks.load import API_KEY
from credit_risk.contract import EXAMPLE
from serving.http.request_context import access_log, configure_access_log
from serving.http.stack import middlewares as served_middlewares
from serving.settings import Settings

BODY = json.dumps(EXAMPLE).encode()
ANSWER = b'{"prediction":"good","probability":0.79}'
REQUESTS = 30_000
ROUNDS = 5


async def answer(scope: Scope, receive: Receive, send: Send) -> None:
    """Stands for BentoML's app: the body read, a JSON answer sent."""
    await receive()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(ANSWER))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": ANSWER})


def stack(layers: Sequence[tuple[type, dict[str, Any]]]) -> Any:
    app: Any = answer
    for middleware, options in reversed(layers):
        app = middleware(app, **options)
    return app


async def microseconds_per_request(app: Any, requests: int = REQUESTS) -> float:
    """Mean CPU per request; raises RuntimeError unless every warm-up request is answered
    by `answer` (a refusal on the way would be measured instead)."""
    headers = [
        (b"host", b"127.0.0.1"),
        (b"content-type", b"application/json"),
        (b"x-api-key", API_KEY.encode()),
        (b"content-length", b"%d" % len(BODY)),
    ]
    bodies: list[bytes] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body":
            bodies.append(message["body"])

    def scope() -> Scope:
        return {"type": "http", "method": "POST", "path": "/credit_score_prediction",
                "headers": headers, "query_string": b"", "client": ("127.0.0.1", 50000),
                "state": {}}  # fmt: skip

    for _ in range(max(1, requests // 10)):  # warm-up
        await app(scope(), receive, send)
    if set(bodies) != {ANSWER}:
        raise RuntimeError(f"the request was not answered by the app: {bodies[0]!r}")
    timings = []
    for _ in range(ROUNDS):
        started = time.process_time()
        for _ in range(requests // ROUNDS):
            await app(scope(), receive, send)
        timings.append((time.process_time() - started) / (requests // ROUNDS) * 1e6)
    return min(timings)  # the least disturbed round


async def measure(layers: Sequence[tuple[type, dict[str, Any]]]) -> None:
    bare = await microseconds_per_request(answer)
    whole = await microseconds_per_request(stack(layers))
    print(f"| the whole stack ({len(layers)} middlewares) | {whole - bare:.1f} |")
    for i, (middleware, _) in enumerate(layers):
        without = await microseconds_per_request(stack([*layers[:i], *layers[i + 1 :]]))
        print(f"| {middleware.__name__} | {whole - without:.1f} |")


def main() -> None:
    os.environ.setdefault("CREDIT_RISK_API_KEYS", json.dumps([API_KEY]))
    with tempfile.TemporaryFile("w") as log:
        configure_access_log()
        for handler in access_log.handlers:
            handler.setStream(log)  # type: ignore[attr-defined]
        print("| middleware | µs of CPU per request |\n|---|---:|")
        asyncio.run(measure(served_middlewares(Settings())))


if __name__ == "__main__":
    main()
