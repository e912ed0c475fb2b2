"""The side-by-side client measures each server's own answers, every one of them a 200."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from benchmarks.paired import BLOCK, paired


@contextmanager
def http_server(delay_s: float, status: int = 200) -> Iterator[str]:
    """A keep-alive server answering every POST with `status` after `delay_s`, echoing
    its body."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        wbufsize, disable_nagle_algorithm = 1 << 16, True  # one write per answer

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            assert self.headers["X-API-Key"] == "k"
            time.sleep(delay_s)
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_slower_server_has_the_higher_p50_in_every_block() -> None:
    bodies = [b'{"a": 1}', b'{"b": "' + b"x" * 100_000 + b'"}']  # one needs many reads
    with http_server(0.004) as slow, http_server(0.001) as fast:
        result = paired([slow, fast], "/x", bodies, BLOCK * 2, {"X-API-Key": "k"}, warm_up=2)
    assert [len(x) for x in result.latencies] == [BLOCK * 2, BLOCK * 2]
    assert result.p50_ms(0) >= 4 > result.p50_ms(1) >= 1
    ratios = result.block_ratios(0, 1)
    assert len(ratios) == 2 and min(ratios) > 1.5


def test_an_answer_other_than_200_stops_the_measurement() -> None:
    with (
        http_server(0, 200) as good,
        http_server(0, 503) as shedding,
        pytest.raises(RuntimeError, match="answered 503"),
    ):
        paired([good, shedding], "/x", [b"{}"], 10, {"X-API-Key": "k"}, warm_up=0)
