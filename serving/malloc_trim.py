"""Give the C allocator's free memory back to the OS once a serving process is idle.

glibc serves a large allocation with its own mmap (returned to the OS on free) only while
the allocation is above its mmap threshold, and it raises that threshold to the size of
every such block freed. After a flood of 1000-applicant batches with reasons, the runner's
large numpy and torch temporaries are carved from the heap instead, and glibc keeps their
pages once they are freed: the runner stayed at ~580 MB instead of ~445 MB for good, with
no live object holding them (`malloc_trim` brought it back). Fixing the threshold instead
(`M_MMAP_THRESHOLD`) bounds it too but maps and faults in every temporary again: the
256-row batch with reasons took about twice as long here. Trimming once the process has
been idle for a moment costs nothing while it is busy (docs/performance.md).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
from collections.abc import Callable

# Long enough that a steady trickle of requests never triggers a trim between two of them.
IDLE_S = 1.0


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim`, or None where the C library has none (musl, macOS)."""
    name = ctypes.util.find_library("c")
    return getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None


class TrimWhenIdle:
    """`touch()` after each piece of work: `malloc_trim(0)` runs once no work came for
    `idle_s` seconds.

    A touch only notes the time; one timer at a time on the running event loop looks at it
    when it fires and waits again for the rest of the idle time if there was work meanwhile
    (cancelling and arming a timer per touch cost ~1 % of a busy process's CPU).
    """

    def __init__(self, idle_s: float = IDLE_S) -> None:
        self.idle_s = idle_s
        self.trims = 0  # how many times the memory was trimmed
        self._malloc_trim = _malloc_trim()
        self._timer: asyncio.TimerHandle | None = None
        self._last_work = 0.0  # the event loop's time of the last touch

    def touch(self) -> None:
        """Work was done: trim once `idle_s` pass without another touch."""
        if self._malloc_trim is None:
            return
        loop = asyncio.get_running_loop()
        self._last_work = loop.time()
        if self._timer is None:
            self._timer = loop.call_at(self._last_work + self.idle_s, self._trim_if_idle)

    def _trim_if_idle(self) -> None:
        loop = asyncio.get_running_loop()
        idle_from = self._last_work + self.idle_s
        if loop.time() < idle_from:  # touched meanwhile: wait for the rest
            self._timer = loop.call_at(idle_from, self._trim_if_idle)
            return
        self._timer = None
        self._malloc_trim(0)
        self.trims += 1
