"""gzip for the large answers only, for clients that accept it."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send


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
