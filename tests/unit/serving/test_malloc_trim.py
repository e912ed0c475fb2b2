"""The idle trim gives freed C heap memory back to the OS, and never while work goes on."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util

import psutil
import pytest

from serving.malloc_trim import TrimWhenIdle

MB = 2**20
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]

pytestmark = pytest.mark.skipif(
    not hasattr(libc, "malloc_trim"), reason="glibc's malloc_trim is what is tested"
)


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / MB


def leave_freed_memory_with_glibc(blocks: int = 20, size: int = 8 * MB) -> list[int]:
    """What large temporaries do in the runner: after one large block was freed, blocks of
    `size` come from the heap, and freed ones between live ones cannot go back to the OS
    by themselves. Every other block is freed; the live ones are returned, for `free`."""
    libc.free(libc.malloc(2 * size))  # raises glibc's mmap threshold above `size`
    pointers = []
    for _ in range(blocks):
        pointers.append(libc.malloc(size))
        ctypes.memset(pointers[-1], 1, size)  # touch every page
    for pointer in pointers[::2]:
        libc.free(pointer)
    return pointers[1::2]


def test_freed_heap_memory_goes_back_once_idle() -> None:
    async def run() -> tuple[float, float, int]:
        trim = TrimWhenIdle(idle_s=0.05)
        live = leave_freed_memory_with_glibc()
        held = rss_mb()
        trim.touch()
        await asyncio.sleep(0.3)
        after = rss_mb()
        for pointer in live:
            libc.free(pointer)
        return held, after, trim.trims

    libc.malloc_trim(0)  # free memory the suite left with glibc would be reused unseen
    before = rss_mb()
    held, after, trims = asyncio.run(run())
    # 20 blocks of 8 MB touched, 10 of them freed: ~160 MB held if glibc kept the freed half,
    # ~80 MB if it gave it back by itself (then there is nothing to test).
    assert held - before > 120, "glibc returned the memory by itself: nothing to test"
    assert trims == 1
    assert held - after > 60


def test_no_trim_while_work_keeps_coming() -> None:
    async def run() -> list[int]:
        trim = TrimWhenIdle(idle_s=0.2)
        seen = []
        for _ in range(10):  # 0.5 s of work, a touch every 0.05 s
            trim.touch()
            await asyncio.sleep(0.05)
            seen.append(trim.trims)
        await asyncio.sleep(0.3)
        return [*seen, trim.trims]

    assert asyncio.run(run()) == [0] * 10 + [1]
