"""`ScrapeCache`: one /metrics answer per worker at most every `max_age_s`.

/metrics needs no key. BentoML renders it with prometheus_client's `MultiProcessCollector`,
which reads and merges every process's metric files on each scrape (~10 ms of CPU on the
reference machine), so keyless scrape loops took CPU from scoring. Prometheus scrapes every
few seconds; a scrape inside `max_age_s` of the last one gets that answer again, and
concurrent scrapes wait for one rendering instead of each making their own.
"""

from __future__ import annotations

import asyncio
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class ScrapeCache:
    """On GET `path`, the last 200 answer again while it is younger than `max_age_s`
    (0: every scrape is rendered)."""

    def __init__(self, app: ASGIApp, *, path: str, max_age_s: float) -> None:
        self.app = app
        self.path = path
        self.max_age_s = max_age_s
        self._answer: list[Message] = []
        self._rendered = -float("inf")
        self._lock = asyncio.Lock()

    def _fresh(self) -> bool:
        return time.monotonic() - self._rendered < self.max_age_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (
            self.max_age_s > 0
            and scope["type"] == "http"
            and scope["method"] == "GET"
            and scope["path"] == self.path
        ):
            return await self.app(scope, receive, send)
        if not self._fresh():
            async with self._lock:  # one rendering; the scrapes that waited share it
                if not self._fresh():
                    await self._render(scope, receive)
        start, *body = self._answer
        # A copy of the headers: an outer middleware may add to them (CORS does, in place).
        await send({**start, "headers": list(start.get("headers", ()))})
        for message in body:
            await send(message)

    async def _render(self, scope: Scope, receive: Receive) -> None:
        started = time.monotonic()
        answer: list[Message] = []

        async def keep(message: Message) -> None:
            answer.append(message)

        await self.app(scope, receive, keep)
        self._answer = answer
        # Only a 200 is kept: an error is rendered again by the next scrape.
        if answer and answer[0]["type"] == "http.response.start" and answer[0]["status"] == 200:
            self._rendered = started
        else:
            self._rendered = -float("inf")
