"""The public service's calls to the model runner, over unix sockets of the runner's own.

BentoML calls a dependency over HTTP: its client, aiohttp and pickle in the caller
(`_bentoml_impl/client/proxy2.py`), uvicorn, Starlette, its middlewares and IO models in the
runner (`_bentoml_impl/server/app.py`). Around a model that takes the runner ~0.2 ms a call,
that took ~0.5 ms of CPU in the API worker and ~1 ms in the runner (docs/performance.md,
"One request"). Here a call is one frame each way on a connection kept open: a header, then
the rows' bytes, whose dtypes both sides know (no pickle, nothing but numbers is decoded).
Each runner worker hands every call to BentoML's own adaptive batcher, as BentoML's route
does (`bentoml_fixes.batched`), so the calls of all API workers still share its batches.

A frame is `HEADER` and `size` bytes. A call: `kind` is the index of its API in `APIS`,
the payload the float64 rows. An answer: `kind` is `OK` (the payload is the answer's rows,
`columns` of them per applicant: 1, or 2 with a challenger) or `OVERLOADED` / `FAILED`
(the payload is the reason, in UTF-8).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import os
import struct
from collections.abc import Awaitable, Callable, Sequence

import numpy as np
from bentoml.exceptions import ServiceUnavailable

logger = logging.getLogger(__name__)

APIS = ("predict", "explain")
HEADER = struct.Struct("<IBBI")  # call id, kind, columns, payload bytes
OK, OVERLOADED, FAILED = 0, 1, 2
ROW_DTYPE = np.dtype(np.float64)

Api = Callable[[np.ndarray], Awaitable[np.ndarray]]


class _Frames(asyncio.Protocol):
    """Splits a connection's bytes into frames of at most `max_size` bytes of payload; a
    larger one closes the connection (only the service's own processes can connect)."""

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        start = 0
        while len(buffer) - start >= HEADER.size:
            call_id, kind, columns, size = HEADER.unpack_from(buffer, start)
            if size > self.max_size:
                logger.error("runner transport: a frame of %d bytes, closing", size)
                buffer.clear()
                self.transport.close()  # type: ignore[union-attr]
                return
            end = start + HEADER.size + size
            if len(buffer) < end:
                break
            self.frame_received(call_id, kind, columns, bytes(buffer[end - size : end]))
            start = end
        del buffer[:start]

    def frame_received(self, call_id: int, kind: int, columns: int, payload: bytes) -> None:
        raise NotImplementedError

    def send(self, call_id: int, kind: int, columns: int, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(HEADER.pack(call_id, kind, columns, len(payload)) + payload)


class RunnerServer:
    """One runner worker's socket at `path`: each call's rows are answered by its API in
    `apis` (in `APIS` order). Calls carry 1 to `max_rows` rows of `row_width` columns."""

    def __init__(self, path: str, apis: Sequence[Api], *, row_width: int, max_rows: int) -> None:
        self.path, self.apis = path, apis
        self.row_bytes = row_width * ROW_DTYPE.itemsize
        self.max_rows = max_rows
        self._server: asyncio.AbstractServer | None = None
        self._calls: set[asyncio.Task[None]] = set()
        self.connections: set[_ServerConnection] = set()

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):  # left by a killed worker
            os.unlink(self.path)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_unix_server(lambda: _ServerConnection(self), self.path)
        os.chmod(self.path, 0o600)

    async def close(self, timeout_s: float) -> None:
        """Take no more connections, let the calls in flight answer, then close."""
        if self._server is not None:
            self._server.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        if self._calls:
            await asyncio.wait(self._calls, timeout=timeout_s)
        for connection in list(self.connections):
            connection.transport.close()  # type: ignore[union-attr]

    def rows(self, kind: int, payload: bytes) -> np.ndarray | str:
        """The call's rows, or why there are none."""
        if kind >= len(self.apis):
            return f"no API number {kind}"
        rows, rest = divmod(len(payload), self.row_bytes)
        if rest or not 0 < rows <= self.max_rows:
            return f"{len(payload)} bytes are not 1 to {self.max_rows} rows of {self.row_bytes}"
        return np.frombuffer(payload, dtype=ROW_DTYPE).reshape(rows, -1)

    def call(self, connection: _ServerConnection, call_id: int, api: Api, rows: np.ndarray) -> None:
        task = asyncio.get_running_loop().create_task(self._answer(connection, call_id, api, rows))
        self._calls.add(task)
        task.add_done_callback(self._calls.discard)

    async def _answer(
        self, connection: _ServerConnection, call_id: int, api: Api, rows: np.ndarray
    ) -> None:
        try:
            answer = np.ascontiguousarray(await api(rows))
        except ServiceUnavailable as exc:  # the batcher sheds it: the caller answers 503
            connection.send(call_id, OVERLOADED, 0, str(exc).encode())
        except Exception as exc:
            logger.exception("runner transport: a call failed")
            connection.send(call_id, FAILED, 0, type(exc).__name__.encode())
        else:
            columns = 1 if answer.ndim == 1 else answer.shape[1]
            connection.send(call_id, OK, columns, answer.tobytes())


class _ServerConnection(_Frames):
    def __init__(self, server: RunnerServer) -> None:
        super().__init__(max_size=server.max_rows * server.row_bytes)
        self.server = server

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)

    def frame_received(self, call_id: int, kind: int, columns: int, payload: bytes) -> None:
        rows = self.server.rows(kind, payload)
        if isinstance(rows, str):
            self.send(call_id, FAILED, 0, rows.encode())
        else:
            self.server.call(self, call_id, self.server.apis[kind], rows)


class RunnerClient:
    """The runner's APIs (`api(name)`), called over the sockets at `paths`, one per runner
    worker, in turn. Answers are `answer_dtype` rows. A call raises ServiceUnavailable (the
    service answers 503) when the runner sheds it, is unreachable or has not answered in
    `timeout_s`, and RuntimeError when it failed."""

    def __init__(
        self, paths: Sequence[str], *, answer_dtype: np.dtype, max_rows: int, timeout_s: float
    ) -> None:
        self.paths, self.answer_dtype, self.timeout_s = list(paths), answer_dtype, timeout_s
        # An answer of 2 versions' rows per applicant, or a reason.
        self.max_size = max(max_rows * 2 * answer_dtype.itemsize, 4096)
        self._connections: list[_ClientConnection | None] = [None] * len(self.paths)
        self._locks = [asyncio.Lock() for _ in self.paths]
        self._turn = itertools.cycle(range(len(self.paths)))
        self._ids = itertools.count(1)

    def api(self, name: str) -> Api:
        return functools.partial(self.call, APIS.index(name))

    async def call(self, kind: int, rows: np.ndarray) -> np.ndarray:
        connection = await self._connection(next(self._turn))
        call_id = next(self._ids) & 0xFFFFFFFF
        answer = connection.expect(call_id)
        connection.send(call_id, kind, 0, np.ascontiguousarray(rows, dtype=ROW_DTYPE).tobytes())
        try:
            kind, columns, payload = await asyncio.wait_for(answer, self.timeout_s)
        except TimeoutError:
            raise ServiceUnavailable("the model runner did not answer in time") from None
        finally:
            connection.pending.pop(call_id, None)
        if kind == OVERLOADED:
            raise ServiceUnavailable(payload.decode(errors="replace"))
        if kind != OK:
            raise RuntimeError(f"the model runner failed: {payload.decode(errors='replace')}")
        decisions = np.frombuffer(payload, dtype=self.answer_dtype)
        return decisions if columns == 1 else decisions.reshape(-1, columns)

    async def _connection(self, index: int) -> _ClientConnection:
        connection = self._connections[index]
        if connection is None or connection.closing:
            async with self._locks[index]:  # one connect at a time; the others wait for it
                connection = self._connections[index]
                if connection is None or connection.closing:
                    connection = self._connections[index] = await self._connect(index)
        return connection

    async def _connect(self, index: int) -> _ClientConnection:
        loop = asyncio.get_running_loop()
        try:
            _, connection = await loop.create_unix_connection(
                lambda: _ClientConnection(self.max_size), self.paths[index]
            )
        except OSError as exc:  # not started yet, or restarting
            raise ServiceUnavailable(f"the model runner is not reachable: {exc.strerror}") from None
        return connection

    async def close(self) -> None:
        for connection in self._connections:
            if connection is not None and connection.transport is not None:
                connection.transport.close()


class _ClientConnection(_Frames):
    def __init__(self, max_size: int) -> None:
        super().__init__(max_size)
        self.pending: dict[int, asyncio.Future[tuple[int, int, bytes]]] = {}
        self.lost = False

    @property
    def closing(self) -> bool:
        """Lost, or going: a frame sent now would never be answered."""
        return self.lost or self.transport is None or self.transport.is_closing()

    def expect(self, call_id: int) -> asyncio.Future[tuple[int, int, bytes]]:
        future = asyncio.get_running_loop().create_future()
        self.pending[call_id] = future
        return future

    def frame_received(self, call_id: int, kind: int, columns: int, payload: bytes) -> None:
        future = self.pending.pop(call_id, None)
        if future is not None and not future.done():  # else it timed out
            future.set_result((kind, columns, payload))

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        for future in self.pending.values():
            if not future.done():
                future.set_exception(ServiceUnavailable("the model runner went away"))
        self.pending.clear()
