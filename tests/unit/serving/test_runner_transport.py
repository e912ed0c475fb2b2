"""The runner transport over real unix sockets, with async functions for the runner's APIs."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
from bentoml.exceptions import ServiceUnavailable

from credit_risk.decision import DECISION_ROW, decision_rows
from serving.runner_transport import APIS, FAILED, HEADER, RunnerClient, RunnerServer

WIDTH = 3


async def _scores(rows: np.ndarray) -> np.ndarray:
    return decision_rows(rows.sum(axis=1), rows[:, 0] > 0)


async def _two_versions(rows: np.ndarray) -> np.ndarray:
    return np.stack([await _scores(rows), await _scores(-rows)], axis=1)


async def _shed(rows: np.ndarray) -> np.ndarray:
    raise ServiceUnavailable("process is overloaded")


async def _broken(rows: np.ndarray) -> np.ndarray:
    raise ZeroDivisionError("secret detail")


def _run(
    tmp_path: Path,
    apis: list[Callable[[np.ndarray], Awaitable[np.ndarray]]],
    scenario: Callable[[RunnerClient, RunnerServer], Awaitable[Any]],
    timeout_s: float = 5,
) -> Any:
    async def main() -> Any:
        server = RunnerServer(str(tmp_path / "r.sock.1"), apis, row_width=WIDTH, max_rows=8)
        await server.start()
        client = RunnerClient(
            [server.path], answer_dtype=DECISION_ROW, max_rows=8, timeout_s=timeout_s
        )
        try:
            return await scenario(client, server)
        finally:
            await client.close()
            await server.close(timeout_s=1)

    return asyncio.run(main())


def test_a_call_answers_each_row_in_order(tmp_path: Path) -> None:
    rows = np.arange(12, dtype=np.float64).reshape(4, WIDTH) - 5

    async def scenario(client: RunnerClient, _: RunnerServer) -> list[np.ndarray]:
        return await asyncio.gather(*(client.api(api)(rows[i:]) for i, api in enumerate(APIS)))

    first, second = _run(tmp_path, [_scores, _scores], scenario)
    expected = asyncio.run(_scores(rows))
    assert first.dtype == DECISION_ROW and first.tobytes() == expected.tobytes()
    assert second.tobytes() == expected[1:].tobytes()


def test_two_versions_answer_two_rows_per_applicant(tmp_path: Path) -> None:
    rows = np.ones((3, WIDTH))

    async def scenario(client: RunnerClient, _: RunnerServer) -> np.ndarray:
        return await client.api("predict")(rows)

    answer = _run(tmp_path, [_two_versions, _two_versions], scenario)
    assert answer.shape == (3, 2)
    assert list(answer[:, 0]["p_good"]) == [3.0] * 3
    assert list(answer[:, 1]["p_good"]) == [-3.0] * 3


def test_the_socket_is_the_owners_alone(tmp_path: Path) -> None:
    async def scenario(_: RunnerClient, server: RunnerServer) -> int:
        return stat.S_IMODE(os.stat(server.path).st_mode)

    assert _run(tmp_path, [_scores, _scores], scenario) == 0o600


def test_a_shed_call_is_a_service_unavailable_and_a_failed_one_says_only_its_kind(
    tmp_path: Path,
) -> None:
    async def scenario(client: RunnerClient, _: RunnerServer) -> list[BaseException]:
        return await asyncio.gather(
            client.api("predict")(np.ones((1, WIDTH))),
            client.api("explain")(np.ones((1, WIDTH))),
            return_exceptions=True,
        )

    shed, failed = _run(tmp_path, [_shed, _broken], scenario)
    assert isinstance(shed, ServiceUnavailable) and "overloaded" in str(shed)
    assert isinstance(failed, RuntimeError) and "ZeroDivisionError" in str(failed)
    assert "secret" not in str(failed)


def test_calls_out_of_bounds_are_refused_and_the_connection_serves_on(tmp_path: Path) -> None:
    async def scenario(client: RunnerClient, server: RunnerServer) -> list[Any]:
        raw = socket.socket(socket.AF_UNIX)
        raw.connect(server.path)
        raw.setblocking(False)
        loop = asyncio.get_running_loop()
        answers = []
        for call_id, kind, payload in [
            (1, 7, np.ones((1, WIDTH)).tobytes()),  # no such API
            (2, 0, b"12345"),  # not whole rows
            (3, 0, b""),  # no rows
        ]:
            await loop.sock_sendall(raw, HEADER.pack(call_id, kind, 0, len(payload)) + payload)
            head = await loop.sock_recv(raw, HEADER.size)
            answer_id, answer_kind, _, size = HEADER.unpack(head)
            answers.append((answer_id, answer_kind, (await loop.sock_recv(raw, size)).decode()))
        raw.close()
        answers.append(await client.api("predict")(np.ones((1, WIDTH))))
        return answers

    *refused, served = _run(tmp_path, [_scores, _scores], scenario)
    assert [(call_id, kind) for call_id, kind, _ in refused] == [
        (1, FAILED),
        (2, FAILED),
        (3, FAILED),
    ]
    assert "no API" in refused[0][2] and "rows of 24" in refused[1][2]
    assert served["p_good"].tolist() == [3.0]


def test_an_oversized_frame_closes_its_connection_only(tmp_path: Path) -> None:
    async def scenario(client: RunnerClient, server: RunnerServer) -> tuple[bytes, np.ndarray]:
        reader, writer = await asyncio.open_unix_connection(server.path)
        rows = np.ones((9, WIDTH)).tobytes()  # more rows than a call may carry
        writer.write(HEADER.pack(1, 0, 0, len(rows)) + rows)
        closed = await reader.read()
        writer.close()
        return closed, await client.api("predict")(np.ones((2, WIDTH)))

    closed, served = _run(tmp_path, [_scores, _scores], scenario)
    assert closed == b"" and len(served) == 2


def test_an_unreachable_runner_is_a_service_unavailable_until_it_is_back(tmp_path: Path) -> None:
    async def main() -> tuple[BaseException, np.ndarray, BaseException, np.ndarray]:
        path = str(tmp_path / "r.sock.1")
        client = RunnerClient([path], answer_dtype=DECISION_ROW, max_rows=8, timeout_s=5)
        call = client.api("predict")
        rows = np.ones((1, WIDTH))
        before = (await asyncio.gather(call(rows), return_exceptions=True))[0]
        server = RunnerServer(path, [_scores, _scores], row_width=WIDTH, max_rows=8)
        await server.start()
        first = await call(rows)
        await server.close(timeout_s=1)  # its connections end, as a killed runner's
        await asyncio.sleep(0.05)
        gone = (await asyncio.gather(call(rows), return_exceptions=True))[0]
        restarted = RunnerServer(path, [_scores, _scores], row_width=WIDTH, max_rows=8)
        await restarted.start()
        back = await call(rows)
        await client.close()
        await restarted.close(timeout_s=1)
        return before, first, gone, back

    before, first, gone, back = asyncio.run(main())
    assert isinstance(before, ServiceUnavailable) and "not reachable" in str(before)
    assert isinstance(gone, ServiceUnavailable)
    assert first.tobytes() == back.tobytes()


def test_a_runner_that_does_not_answer_in_time_is_a_service_unavailable(tmp_path: Path) -> None:
    async def stuck(rows: np.ndarray) -> np.ndarray:
        await asyncio.sleep(10)
        raise AssertionError

    async def scenario(client: RunnerClient, _: RunnerServer) -> BaseException:
        (outcome,) = await asyncio.gather(
            client.api("predict")(np.ones((1, WIDTH))), return_exceptions=True
        )
        return outcome

    outcome = _run(tmp_path, [stuck, stuck], scenario, timeout_s=0.2)
    assert isinstance(outcome, ServiceUnavailable) and "in time" in str(outcome)


def test_calls_in_flight_are_answered_when_the_server_closes(tmp_path: Path) -> None:
    async def slow(rows: np.ndarray) -> np.ndarray:
        await asyncio.sleep(0.2)
        return await _scores(rows)

    async def scenario(client: RunnerClient, server: RunnerServer) -> np.ndarray:
        call = asyncio.ensure_future(client.api("predict")(np.ones((1, WIDTH))))
        await asyncio.sleep(0.05)
        await server.close(timeout_s=2)
        return await call

    assert len(_run(tmp_path, [slow, slow], scenario)) == 1


def test_calls_take_the_runner_workers_in_turn(tmp_path: Path) -> None:
    workers = 2
    seen: list[int] = []

    def worker(index: int) -> Callable[[np.ndarray], Awaitable[np.ndarray]]:
        async def api(rows: np.ndarray) -> np.ndarray:
            seen.append(index)
            return await _scores(rows)

        return api

    async def main() -> None:
        servers = [
            RunnerServer(
                str(tmp_path / f"r.sock.{i}"), [worker(i)] * 2, row_width=WIDTH, max_rows=8
            )
            for i in range(workers)
        ]
        for server in servers:
            await server.start()
        client = RunnerClient(
            [s.path for s in servers], answer_dtype=DECISION_ROW, max_rows=8, timeout_s=5
        )
        for _ in range(4):
            await client.api("predict")(np.ones((1, WIDTH)))
        await client.close()
        for server in servers:
            await server.close(timeout_s=1)

    asyncio.run(main())
    assert seen == [0, 1, 0, 1]
