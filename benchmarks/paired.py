"""One client's latency on servers running side by side, each request sent to all of them.

Measured one after the other, two servers' p50s at one client differ by the machine's
drift as much as by the servers: on this 2-core VM one build's p50 moved between 2.9 and
5.3 ms from one 10-s run to the next. Sending every request to each server in turn, in an
order that alternates, puts the drift into all of them alike and leaves their difference.
The client writes prepared bytes on a raw keep-alive socket, so that its own time, added to
every server's, dilutes their ratio little.
"""

from __future__ import annotations

import socket
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

# Requests per block: the ratio of each block's p50s shows how steady the ratio is.
BLOCK = 500


class Connection:
    """One keep-alive HTTP/1.1 connection posting JSON bodies to one path."""

    def __init__(self, url: str, path: str, headers: Mapping[str, str]) -> None:
        where = urlsplit(url)
        self.sock = socket.create_connection((where.hostname, where.port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        lines = [f"POST {path} HTTP/1.1", f"Host: {where.netloc}",
                 "Content-Type: application/json",
                 *(f"{name}: {value}" for name, value in headers.items())]  # fmt: skip
        self.head = ("\r\n".join(lines) + "\r\nContent-Length: ").encode()

    def post(self, body: bytes) -> tuple[int, float]:
        """The answer's status and the seconds from sending to its last byte."""
        start = time.perf_counter()
        self.sock.sendall(b"%s%d\r\n\r\n%s" % (self.head, len(body), body))
        data = b""
        while b"\r\n\r\n" not in data:
            data += self._recv()
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        length = next(int(line.split(b":", 1)[1]) for line in lines
                      if line.lower().startswith(b"content-length:"))  # fmt: skip
        while len(rest) < length:
            rest += self._recv()
        return int(lines[0].split()[1]), time.perf_counter() - start

    def _recv(self) -> bytes:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        return chunk

    def close(self) -> None:
        self.sock.close()


@dataclass(frozen=True)
class Paired:
    """Each server's latencies (seconds) of the same requests, sent in alternating order."""

    latencies: list[list[float]]

    def p50_ms(self, server: int) -> float:
        return statistics.median(self.latencies[server]) * 1e3

    def block_ratios(self, over: int, under: int) -> list[float]:
        """The ratio of two servers' p50s in each block of `BLOCK` requests."""
        a, b = self.latencies[over], self.latencies[under]
        return [statistics.median(a[i : i + BLOCK]) / statistics.median(b[i : i + BLOCK])
                for i in range(0, len(a) - BLOCK + 1, BLOCK)]  # fmt: skip


def paired(
    urls: Sequence[str],
    path: str,
    bodies: Sequence[bytes],
    requests: int,
    headers: Mapping[str, str],
    warm_up: int = 200,
) -> Paired:
    """One client posting each of `requests` bodies (`bodies` in turn) to every server of
    `urls`, the first server first for even requests and last for odd ones; raises
    RuntimeError on any answer but 200."""
    connections = [Connection(url, path, headers) for url in urls]
    latencies: list[list[float]] = [[] for _ in urls]
    try:
        for i in range(-warm_up, requests):
            order = range(len(urls)) if i % 2 == 0 else range(len(urls) - 1, -1, -1)
            for k in order:
                status, seconds = connections[k].post(bodies[i % len(bodies)])
                if status != 200:
                    raise RuntimeError(f"{urls[k]}{path} answered {status}")
                if i >= 0:
                    latencies[k].append(seconds)
    finally:
        for connection in connections:
            connection.close()
    return Paired(latencies)
