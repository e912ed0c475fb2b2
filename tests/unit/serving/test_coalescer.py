"""The coalescer against a runner of rows that answers each row with its own id."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from serving.coalescer import Coalescer


class Runner:
    """Answers each row with its value times ten; with `hold`, each call waits for
    `release` (all calls from then on) or `release_held` (the calls waiting now)."""

    def __init__(self, *, hold: bool = False, fail_after: int | None = None) -> None:
        self.calls: list[list[int]] = []
        self.hold = hold
        self.gates: list[asyncio.Event] = []
        self.fail_after = fail_after  # calls answered before the runner starts failing

    async def __call__(self, rows: np.ndarray) -> np.ndarray:
        self.calls.append(rows[:, 0].tolist())
        if self.hold:
            gate = asyncio.Event()
            self.gates.append(gate)
            await gate.wait()
        if self.fail_after is not None and len(self.calls) > self.fail_after:
            raise RuntimeError("runner down")
        return rows * 10

    def release_held(self) -> None:
        for gate in self.gates:
            gate.set()

    def release(self) -> None:
        self.hold = False
        self.release_held()


def rows(*ids: int) -> np.ndarray:
    return np.array([[i] for i in ids], dtype=np.float64)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def done(call: asyncio.Future) -> np.ndarray:
    """The call's result: a call left unanswered fails the test instead of hanging it."""
    return await asyncio.wait_for(call, timeout=2)


def answered(result: np.ndarray) -> list[int]:
    return (result[:, 0] / 10).astype(int).tolist()


def test_a_lone_call_is_sent_at_once_with_its_rows() -> None:
    async def scenario() -> None:
        runner = Runner()
        coalescer = Coalescer(runner, max_rows=64, max_in_flight=1)
        call = asyncio.create_task(coalescer(rows(1, 2)))
        await settle()  # no timer: the runner has the rows before any time passes
        assert runner.calls == [[1, 2]]
        assert answered(await done(call)) == [1, 2]

    asyncio.run(scenario())


def test_waiting_calls_ride_together_and_get_their_own_rows_back_in_order() -> None:
    async def scenario() -> None:
        runner = Runner(hold=True)
        coalescer = Coalescer(runner, max_rows=64, max_in_flight=1)
        first = asyncio.create_task(coalescer(rows(1)))
        await settle()
        waiting = [asyncio.create_task(coalescer(rows(*ids))) for ids in ([2, 3], [4], [5, 6, 7])]
        await settle()
        runner.release()
        results = await done(asyncio.gather(first, *waiting))
        assert runner.calls == [[1], [2, 3, 4, 5, 6, 7]]
        assert [answered(r) for r in results] == [[1], [2, 3], [4], [5, 6, 7]]

    asyncio.run(scenario())


def test_up_to_max_in_flight_calls_are_open_and_the_rest_wait_for_one_to_end() -> None:
    async def scenario() -> None:
        runner = Runner(hold=True)
        coalescer = Coalescer(runner, max_rows=64, max_in_flight=2)
        first = asyncio.create_task(coalescer(rows(1)))
        await settle()
        second = asyncio.create_task(coalescer(rows(2)))
        await settle()
        later = [asyncio.create_task(coalescer(rows(i))) for i in (3, 4)]
        await settle()
        assert runner.calls == [[1], [2]]  # two open, the later rows wait together
        runner.release()
        assert [answered(await done(call)) for call in (first, second, *later)] == [
            [1],
            [2],
            [3],
            [4],
        ]
        assert runner.calls == [[1], [2], [3, 4]]

    asyncio.run(scenario())


@pytest.mark.parametrize(("linger", "calls"), [(False, [[1], [2, 3]]), (True, [[1, 2, 3]])])
def test_with_linger_the_callers_of_one_loop_turn_share_the_first_call(
    linger: bool, calls: list[list[int]]
) -> None:
    async def scenario() -> None:
        runner = Runner()
        coalescer = Coalescer(runner, max_rows=64, max_in_flight=1, linger=linger)
        # Three callers resumed in one turn, as the requests of one runner batch are.
        results = await done(asyncio.gather(*(coalescer(rows(i)) for i in (1, 2, 3))))
        assert runner.calls == calls
        assert [answered(r) for r in results] == [[1], [2], [3]]

    asyncio.run(scenario())


@pytest.mark.parametrize("cancel_while", ["waiting", "in_flight"])
def test_no_result_goes_to_the_wrong_caller_after_another_caller_cancelled(
    cancel_while: str,
) -> None:
    async def scenario() -> None:
        runner = Runner(hold=True)
        coalescer = Coalescer(runner, max_rows=64, max_in_flight=1)
        first = asyncio.create_task(coalescer(rows(1)))
        await settle()
        before, gone, after = (
            asyncio.create_task(coalescer(rows(*ids))) for ids in ([2], [3, 4], [5])
        )
        await settle()
        if cancel_while == "waiting":  # cancelled before its batch is sent
            gone.cancel()
            runner.release()
        else:  # cancelled while its batch is at the runner
            runner.release_held()
            await done(first)
            await settle()
            gone.cancel()
            runner.release()
        assert answered(await done(first)) == [1]
        assert answered(await done(before)) == [2]
        assert answered(await done(after)) == [5]
        with pytest.raises(asyncio.CancelledError):
            await done(gone)
        if cancel_while == "waiting":
            assert runner.calls == [[1], [2, 5]]
        else:
            assert runner.calls == [[1], [2, 3, 4, 5]]

    asyncio.run(scenario())


def test_a_runner_error_reaches_every_caller_of_a_merged_batch_and_the_next_call_runs() -> None:
    async def scenario() -> None:
        runner = Runner(hold=True, fail_after=1)
        coalescer = Coalescer(runner, max_rows=64, max_in_flight=1)
        first = asyncio.create_task(coalescer(rows(1)))
        await settle()
        merged = [asyncio.create_task(coalescer(rows(i))) for i in (2, 3, 4)]
        await settle()
        runner.release()
        assert answered(await done(first)) == [1]
        for task in merged:
            with pytest.raises(RuntimeError, match="runner down"):
                await done(task)
        assert runner.calls == [[1], [2, 3, 4]]
        runner.fail_after = None
        assert answered(await done(coalescer(rows(5)))) == [5]

    asyncio.run(scenario())


def test_batches_never_exceed_max_rows_but_a_larger_call_still_goes_alone() -> None:
    async def scenario() -> None:
        runner = Runner(hold=True)
        coalescer = Coalescer(runner, max_rows=3, max_in_flight=1)
        first = asyncio.create_task(coalescer(rows(1)))
        await settle()
        rest = [
            asyncio.create_task(coalescer(rows(*ids))) for ids in ([2, 3], [4, 5], [6, 7, 8, 9])
        ]
        await settle()
        runner.release()
        results = await done(asyncio.gather(first, *rest))
        assert runner.calls == [[1], [2, 3], [4, 5], [6, 7, 8, 9]]
        assert [answered(r) for r in results] == [[1], [2, 3], [4, 5], [6, 7, 8, 9]]

    asyncio.run(scenario())
