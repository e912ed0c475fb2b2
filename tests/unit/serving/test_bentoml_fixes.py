"""Each BentoML work-around is still needed and still fits the BentoML it patches.

A failure here after a BentoML upgrade means: read the piece's docstring in
serving/bentoml_fixes.py, then adapt it or delete it.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import subprocess
import sys

import pytest
from _bentoml_impl.client import proxy2
from bentoml._internal.server import base_app, http_app
from bentoml._internal.server.http import traffic
from pydantic import BaseModel, ValidationError

from serving import bentoml_fixes

STOCK_TIMEOUT = bentoml_fixes.TimeoutMiddleware.__mro__[1]


async def _answer(scope, receive, send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def _timers_left(middleware_cls: type) -> int:
    """Timeout timers still scheduled after one answered request."""

    async def one_request() -> int:
        scope = {"type": "http", "method": "GET", "path": "/", "headers": []}

        async def receive() -> dict:
            return {"type": "http.request", "body": b""}

        async def send(message: dict) -> None:
            pass

        await middleware_cls(_answer, timeout=60)(scope, receive, send)
        loop = asyncio.get_running_loop()
        return sum(
            "_set_timer_out" in repr(handle) and not handle.cancelled()
            for handle in loop._scheduled  # type: ignore[attr-defined]
        )

    return asyncio.run(one_request())


def test_bentoml_still_leaves_its_timeout_timer_running_and_ours_does_not() -> None:
    assert STOCK_TIMEOUT.__module__ == traffic.__name__
    assert _timers_left(STOCK_TIMEOUT) == 1, "BentoML cancels its timer now: drop the fix"
    assert _timers_left(bentoml_fixes.TimeoutMiddleware) == 0


def test_bentoml_still_looks_the_timeout_middleware_up_when_it_builds_an_app() -> None:
    source = inspect.getsource(base_app.BaseAppFactory.middlewares.fget)
    assert "from .http.traffic import TimeoutMiddleware" in source
    bentoml_fixes.install()
    assert traffic.TimeoutMiddleware is bentoml_fixes.TimeoutMiddleware


def test_bentomls_client_still_recycles_its_session_unless_told_otherwise() -> None:
    defaults = inspect.signature(proxy2.SessionManager.__init__).parameters
    assert defaults["max_requests"].default == 100, "the recycling changed: see bentoml#5540"
    assert defaults["max_age"].default == 300.0
    assert "runner_connection" in inspect.getsource(proxy2)
    assert isinstance(bentoml_fixes.RUNNER_CONNECTION["max_age"], float)


def test_tracing_is_excluded_for_every_url_unless_spans_are_wanted() -> None:
    assert bentoml_fixes.tracing(False) == {"excluded_urls": ".*"}
    assert bentoml_fixes.tracing(True) == {}


# A stock BentoML service, in a process of its own: BentoML keeps the served service's
# settings (CORS among them) in global state, so a second service in this process would
# disturb the tests that serve the real one.
STOCK_SERVICE = """
import json, logging, sys
import bentoml
from pydantic import BaseModel
from starlette.testclient import TestClient

class Item(BaseModel):
    size: int

@bentoml.service(name="stock_service")
class Stock:
    @bentoml.api
    def echo(self, item: Item, /) -> Item:
        return item

records = []
handler = logging.Handler(logging.ERROR)
handler.emit = records.append
logger = logging.getLogger(sys.argv[1])
logger.addHandler(handler)
with TestClient(Stock.to_asgi()) as client:
    valid = client.post("/echo", json={"size": 1}).status_code
    invalid = client.post("/echo", json={"size": "x"})
print(json.dumps({
    "valid": valid,
    "invalid": invalid.status_code,
    "error": invalid.json()["error"],
    "tracebacks": [r.exc_info is not None and r.exc_info[0].__name__ for r in records],
}))
"""


@pytest.fixture(scope="module")
def stock() -> dict:
    done = subprocess.run(
        [sys.executable, "-c", STOCK_SERVICE, bentoml_fixes.BENTOML_HTTP_LOGGER],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_bentoml_still_answers_invalid_input_with_400_naming_its_classes(stock: dict) -> None:
    assert stock["valid"] == 200
    assert stock["invalid"] == 400, "drop ValidationErrorAs422"
    assert "IODescriptor" in stock["error"], "BentoML words it itself now: drop the rewording"


def test_bentoml_still_logs_invalid_input_as_an_error_with_a_traceback(stock: dict) -> None:
    assert http_app.logger.name == bentoml_fixes.BENTOML_HTTP_LOGGER
    assert stock["tracebacks"] == ["ValidationError"], "drop ClientErrorFilter"


def test_the_filter_drops_exactly_the_invalid_input_tracebacks() -> None:
    try:
        Item.model_validate({"size": "x"})
    except ValidationError:
        invalid = logging.LogRecord("x", logging.ERROR, "", 0, "", None, sys.exc_info())
    other = logging.LogRecord("x", logging.ERROR, "", 0, "", None, (ValueError, ValueError(), None))
    assert not bentoml_fixes.ClientErrorFilter().filter(invalid)
    assert bentoml_fixes.ClientErrorFilter().filter(other)


class Item(BaseModel):
    size: int
