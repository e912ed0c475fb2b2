"""BentoML's per-request timeout, without keeping every request alive for the whole timeout.

BentoML 1.4's `TimeoutMiddleware` (bentoml/_internal/server/http/traffic.py) arms a
`loop.call_later(timeout, ...)` timer per request and never cancels it. The timer holds a
copy of the request's `contextvars` context, which holds the request's OpenTelemetry span
(BentoML records a span per request even when no trace is sampled or exported), its
attributes, locks and deques, and the middleware's future: for `traffic.timeout` seconds
after the answer (10 s here), i.e. ~10k requests' worth of objects at ~1000 req/s. They
outlive the young GC generations, land in the oldest one and then die by the thousand, which
triggers a full collection about once a second, 100-240 ms each, with the event loop
stopped: the p99 tail (issue 5). The answers, the 504 after the timeout and the rest of the
behaviour are BentoML's; this only cancels the timer once the request is done.

`install()` must run before BentoML builds the ASGI app: `service.py` calls it at import.
"""

from __future__ import annotations

import asyncio

from bentoml._internal.server.http import traffic
from starlette.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send


class TimeoutMiddleware(traffic.TimeoutMiddleware):
    """BentoML's middleware (504 when the response has not started within `timeout`
    seconds), with its timer cancelled when the request ends."""

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


def install() -> None:
    """Make BentoML use `TimeoutMiddleware` above (it imports the class when it builds an app)."""
    traffic.TimeoutMiddleware = TimeoutMiddleware
