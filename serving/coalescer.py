"""Merge concurrent calls of the public service into few multi-row calls.

Used for the runner (numpy rows, below) and for committing decision records together.

Each call to the runner is a round trip to another process (a frame each way),
whatever its number of rows. The coalescer keeps at most `max_in_flight` runner calls
open; rows that arrive meanwhile ride together in the next call. A lone request is sent
at once (no timer, so no added latency), and batches grow with load by themselves. The
runner's adaptive batcher still merges the calls of all front workers.

With `linger`, a call is sent one turn of the event loop later, so that the callers
resumed in the same turn (the requests of one runner batch, on their way to the records)
share it: about 10 rows per commit instead of 1-2, at a few microseconds of latency.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

import numpy as np

Rows = TypeVar("Rows", bound=Sequence[Any] | np.ndarray)


class Coalescer(Generic[Rows]):
    """`call` on the rows of concurrent callers joined by `join`; its result, one item per
    row, is split back to them in order."""

    def __init__(
        self,
        call: Callable[[Rows], Awaitable[Rows]],
        *,
        max_rows: int,
        max_in_flight: int,
        join: Callable[[list[Rows]], Rows] = np.concatenate,
        linger: bool = False,
    ) -> None:
        self._call = call
        self._max_rows = max_rows
        self._max_in_flight = max_in_flight
        self._join = join
        self._waiting: deque[tuple[Rows, asyncio.Future[Rows]]] = deque()
        self._in_flight = 0
        self._linger = linger

    async def __call__(self, rows: Rows) -> Rows:
        """The call's result for `rows`, computed together with other waiting rows."""
        future: asyncio.Future[Rows] = asyncio.get_running_loop().create_future()
        self._waiting.append((rows, future))
        if self._linger:  # let the callers resumed in this turn of the event loop join
            asyncio.get_running_loop().call_soon(self._dispatch)
        else:
            self._dispatch()
        return await future

    def _dispatch(self) -> None:
        while self._waiting and self._in_flight < self._max_in_flight:
            jobs, size = [], 0
            while self._waiting and (not jobs or size + len(self._waiting[0][0]) <= self._max_rows):
                rows, future = self._waiting.popleft()
                if not future.done():  # its client may have gone away
                    jobs.append((rows, future))
                    size += len(rows)
            if jobs:
                self._in_flight += 1
                asyncio.get_running_loop().create_task(self._run(jobs))

    async def _run(self, jobs: list[tuple[Rows, asyncio.Future[Rows]]]) -> None:
        try:
            result = await self._call(self._join([rows for rows, _ in jobs]))
        except Exception as exc:  # every caller of the batch gets the error
            for _, future in jobs:
                if not future.done():
                    future.set_exception(exc)
        else:
            start = 0
            for rows, future in jobs:
                if not future.done():
                    future.set_result(result[start : start + len(rows)])
                start += len(rows)
        finally:
            self._in_flight -= 1
            self._dispatch()
