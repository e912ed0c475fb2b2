"""The public service's middlewares, stacked as the service stacks them
(`serving.http.stack`), around a small real Starlette app."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from serving.http import routes, stack
from serving.http.request_checks import MAX_HEADER_BYTES, ApiKeys, ConcurrencyLimit, caller
from serving.http.request_context import access_log
from serving.ids import new_request_id
from serving.settings import Settings

API = routes.PREDICTION


async def echo(request: Request) -> JSONResponse:
    body = await request.body()
    if body == b"bad":  # what BentoML answers invalid input
        error = {"type": "missing", "loc": ["Sex"], "msg": "Field required", "url": "https://x"}
        return JSONResponse(
            {"error": "1 validation error for ApplicantIODescriptor", "detail": [error]},
            status_code=400,
        )
    if body.startswith(b"errors:"):  # like BentoML's 400 for a batch of bad records
        detail = [{"loc": [i], "msg": "bad"} for i in range(int(body[7:]))]
        return JSONResponse({"error": "invalid", "detail": detail}, status_code=400)
    return JSONResponse({"size": len(body)})


async def ok(request: Request) -> JSONResponse:
    return JSONResponse({})


renderings = 0


async def scrape(request: Request) -> PlainTextResponse:
    """A /metrics that counts its renderings and fails when asked to."""
    global renderings
    renderings += 1
    await asyncio.sleep(0.01)
    failing = request.query_params.get("fail") == "1"
    return PlainTextResponse(f"renderings {renderings}\n", status_code=503 if failing else 200)


def app(**options) -> Starlette:
    settings = {
        "max_body_bytes": 100,
        "body_timeout_s": 0.5,
        "max_concurrency": 8,
        "api_keys": [],
        "open_paths": [],
        "max_batch_records": 2,  # a body may hold 3 objects: the batch and two applicants
    }
    return Starlette(
        routes=[
            Route(API, echo, methods=["POST"]),
            Route("/livez", ok),
            Route(routes.METRICS, scrape),
        ],
        middleware=[
            Middleware(cls, **kwargs)
            for cls, kwargs in stack.middlewares(Settings(**settings | options))
        ],
    )


def client(**options) -> TestClient:
    return TestClient(app(**options), base_url="http://127.0.0.1")


def post_scope(*headers: tuple[bytes, bytes]) -> dict:
    """An ASGI scope of a POST to the API route, as the HTTP server gives it."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": API,
        "raw_path": API.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 3000),
    }


def stalled_body(first: bytes):
    """A client that sends `first` of its body, then nothing more."""
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": first, "more_body": True}
        await asyncio.Event().wait()  # never

    return receive


async def status_of(asgi: Starlette, scope: dict, receive) -> int:
    """The status the app answers, failing the test after 5 s without an answer."""
    statuses = []

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await asyncio.wait_for(asgi(scope, receive, send), timeout=5)
    return statuses[0]


def test_request_id_is_echoed_or_created() -> None:
    response = client().post(API, content=b"{}", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    created = client().post(API, content=b"{}", headers={"X-Request-ID": "no spaces allowed"})
    assert len(created.headers["x-request-id"]) == 32
    assert client().get("/livez").headers["x-request-id"]


def test_created_request_ids_are_uuid7_and_sort_in_the_order_they_were_made() -> None:
    made = []
    for _ in range(3):
        made += [new_request_id() for _ in range(1000)]
        time.sleep(0.002)  # the next ones are of a later millisecond
    assert len(set(made)) == len(made)
    assert all(uuid.UUID(hex=rid).version == 7 for rid in made)
    assert all(uuid.UUID(hex=rid).variant == uuid.RFC_4122 for rid in made)
    milliseconds = [int(rid[:12], 16) for rid in made]
    assert milliseconds == sorted(milliseconds)
    assert made[0] < made[1000] < made[2000]  # as text too: the index grows at its end
    assert abs(milliseconds[-1] - time.time() * 1000) < 1000


def test_request_ids_of_up_to_64_characters_are_kept_longer_ones_replaced() -> None:
    kept = "a" * 64
    response = client().post(API, content=b"{}", headers={"X-Request-ID": kept})
    assert response.headers["x-request-id"] == kept
    response = client().post(API, content=b"{}", headers={"X-Request-ID": "a" * 65})
    assert response.headers["x-request-id"] != "a" * 65
    assert len(response.headers["x-request-id"]) == 32


def test_headers_over_the_limit_are_431() -> None:
    limit = MAX_HEADER_BYTES
    response = client().post(API, content=b"{}", headers={"X-Pad": "x" * (limit // 2)})
    assert response.status_code == 200
    response = client().post(API, content=b"{}", headers={"X-Pad": "x" * limit})
    assert response.status_code == 431
    assert str(limit) in response.json()["error"]
    many = [(f"X-Pad-{i}", "x" * 100) for i in range(limit // 100)]  # the total counts
    assert client().post(API, content=b"{}", headers=many).status_code == 431


def test_bodies_over_the_limit_are_413_and_others_pass_whole() -> None:
    assert client().post(API, content=b"x" * 100).json() == {"size": 100}
    response = client().post(API, content=b"x" * 101)
    assert response.status_code == 413
    assert "100 bytes" in response.json()["error"]

    def chunks():
        for _ in range(50):
            yield b"x" * 10

    assert client().post(API, content=chunks()).status_code == 413


def test_a_declared_content_length_over_the_limit_is_413_before_any_body_arrives() -> None:
    scope = post_scope((b"content-length", b"99999999999"))
    assert asyncio.run(status_of(app(), scope, stalled_body(b""))) == 413


def test_a_body_not_received_within_the_timeout_is_408() -> None:
    scope = post_scope((b"content-length", b"50"))
    assert asyncio.run(status_of(app(body_timeout_s=0.2), scope, stalled_body(b"{"))) == 408


def test_clients_still_sending_their_body_hold_no_concurrency_slot() -> None:
    async def scenario() -> list[int]:
        asgi = app(max_concurrency=2, body_timeout_s=3)
        slow = [
            asyncio.create_task(
                status_of(asgi, post_scope((b"content-length", b"50")), stalled_body(b"{"))
            )
            for _ in range(4)
        ]
        await asyncio.sleep(0.1)

        async def whole_body() -> dict:
            return {"type": "http.request", "body": b"{}", "more_body": False}

        normal = await status_of(asgi, post_scope((b"content-length", b"2")), whole_body)
        return [normal, *await asyncio.gather(*slow)]

    assert asyncio.run(scenario()) == [200, 408, 408, 408, 408]


def test_requests_beyond_the_concurrency_limit_are_429_but_probes_pass() -> None:
    async def scenario() -> tuple[int, int, int]:
        release = asyncio.Event()

        async def busy(scope, receive, send) -> None:
            await release.wait()
            await JSONResponse({})(scope, receive, send)

        limited = ConcurrencyLimit(busy, max_requests=1, skip_paths=["/livez"])
        scope = post_scope()
        first = asyncio.create_task(status_of(limited, scope, stalled_body(b"")))
        await asyncio.sleep(0.05)
        second = asyncio.create_task(status_of(limited, scope, stalled_body(b"")))
        probe = asyncio.create_task(
            status_of(limited, {**scope, "path": "/livez"}, stalled_body(b""))
        )
        refused = await second
        release.set()
        return await first, refused, await probe

    assert asyncio.run(scenario()) == (200, 429, 200)


def test_only_json_bodies_reach_api_routes() -> None:
    for content_type in ("multipart/form-data", "text/plain", "application/x-www-form-urlencoded"):
        response = client().post(API, content=b"{}", headers={"Content-Type": content_type})
        assert response.status_code == 415, content_type
    for content_type in ("application/json", "application/json; charset=utf-8"):
        response = client().post(API, content=b"{}", headers={"Content-Type": content_type})
        assert response.status_code == 200, content_type


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br"])
def test_compressed_bodies_are_415_with_a_clear_message(encoding: str) -> None:
    response = client().post(API, content=b"{}", headers={"Content-Encoding": encoding})
    assert response.status_code == 415
    assert "Content-Encoding" in response.json()["error"]
    identity = client().post(API, content=b"{}", headers={"Content-Encoding": "identity"})
    assert identity.status_code == 200


def test_a_duplicate_json_key_is_422() -> None:
    response = client().post(API, content=b'{"Age": 30, "Sex": "male", "Age": 200}')
    assert response.status_code == 422
    assert '"Age"' in response.json()["error"]
    nested = client(max_body_bytes=1000).post(API, content=b'{"a": [{"Sex": 1, "Sex": 2}]}')
    assert nested.status_code == 422
    assert client().post(API, content=b'{"Age": 30, "Sex": "male"}').status_code == 200


def test_many_unknown_keys_are_422_before_validation_and_other_bodies_pass() -> None:
    unknown = [f"x{i}" for i in range(stack.MAX_UNKNOWN_KEYS + 1)]
    too_many = json.dumps([dict.fromkeys(unknown[:25], 1), dict.fromkeys(unknown[25:], 1)])
    response = client(max_body_bytes=2000).post(API, content=too_many.encode())
    assert response.status_code == 422
    assert response.json()["error_count"] == 1
    fewer = json.dumps([dict.fromkeys(unknown[:25], 1), dict.fromkeys(unknown[25:-1], 1)])
    assert client(max_body_bytes=2000).post(API, content=fewer.encode()).status_code == 200
    assert client().post(API, content=b"not json").status_code == 200  # BentoML answers


def test_more_objects_than_a_full_batch_holds_are_422() -> None:
    assert client().post(API, content=b'{"a": [{}, {}]}').status_code == 200
    response = client().post(API, content=b'{"a": [{}, {}, {}]}')
    assert response.status_code == 422
    assert "3 JSON objects" in response.json()["error"]


def test_a_422_lists_the_first_50_errors_and_counts_all() -> None:
    response = client().post(API, content=b"errors:120")
    assert response.status_code == 422
    answer = response.json()
    assert answer["error_count"] == 120
    assert [error["loc"] for error in answer["detail"]] == [[i] for i in range(50)]
    assert int(response.headers["content-length"]) == len(response.content)


def test_invalid_input_on_api_routes_becomes_422() -> None:
    response = client().post(API, content=b"bad")
    assert response.status_code == 422
    assert response.json() == {
        "error": "invalid input: 1 problem",
        "detail": [{"loc": ["Sex"], "msg": "Field required", "type": "missing"}],
        "error_count": 1,
    }
    assert int(response.headers["content-length"]) == len(response.content)


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ([], 401),
        ([("X-API-Key", "wrong")], 401),
        ([("X-API-Key", "key-two")], 200),
        ([("X-API-Key", "key-one")], 200),
        ([("X-API-Key", "key-on")], 401),  # a prefix of a key
        ([("X-API-Key", "key-one-and-more")], 401),
        ([("X-API-Key", "")], 401),
        ([("X-API-Key", "wrong"), ("X-API-Key", "key-one")], 401),  # never "last one wins"
        ([("X-API-Key", "key-one"), ("X-API-Key", "wrong")], 401),
        ([("X-API-Key", "key-one"), ("X-API-Key", "key-one")], 401),
    ],
)
def test_api_keys_when_configured(headers: list, status: int) -> None:
    secured = client(api_keys=["key-one", "key-two"], open_paths=["/livez"])
    response = secured.post(API, content=b"{}", headers=headers)
    assert response.status_code == status
    if status == 401:
        assert response.headers["www-authenticate"] == "ApiKey"
    assert secured.get("/livez").status_code == 200  # probes stay open
    preflight = secured.options(API)  # CORS preflight carries no key
    assert preflight.status_code != 401


def test_access_log_is_one_json_line_per_request_without_the_body() -> None:
    """Requests that end in one turn of the event loop share a logging call."""
    import logging

    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    access_log.addHandler(handler)

    async def two_at_once(asgi: Starlette) -> None:
        async def discard(message: dict) -> None:
            pass

        def body(content: bytes):
            async def receive() -> dict:
                return {"type": "http.request", "body": content, "more_body": False}

            return receive

        await asyncio.gather(
            asgi(post_scope((b"x-request-id", b"r2")), body(b'{"Age": 4712}'), discard),
            asgi(post_scope((b"x-request-id", b"r3")), body(b"{}"), discard),
        )
        await asyncio.sleep(0)  # the turn that logs their lines

    try:
        with TestClient(app(), base_url="http://127.0.0.1") as test_client:
            test_client.post(API, content=b'{"Age": 4711}', headers={"X-Request-ID": "r1"})
            test_client.portal.call(two_at_once, test_client.app)
    finally:
        access_log.removeHandler(handler)
    lines = [json.loads(line) for r in records for line in r.getMessage().split("\n")]
    assert [line["request_id"] for line in lines] == ["r1", "r2", "r3"]
    assert len(records) == 2  # r2 and r3 ended in the same turn
    assert all(line["status"] == 200 and line["path"] == API for line in lines)
    assert not any("471" in r.getMessage() for r in records)


def test_a_key_opens_only_the_routes_of_its_roles_and_names_the_caller() -> None:
    async def who(request: Request) -> JSONResponse:
        return JSONResponse({"caller": caller(request.scope)})

    keys = Settings(
        api_keys=["every-role", {"name": "servicing", "key": "k2", "roles": ["outcomes"]}]
    ).api_keys
    asgi = Starlette(
        routes=[Route(path, who, methods=["POST"]) for path in (API, routes.OUTCOMES, "/docs")],
        middleware=[Middleware(ApiKeys, keys=keys, open_paths=[])],
    )
    secured = TestClient(asgi, base_url="http://127.0.0.1")
    servicing = {"X-API-Key": "k2"}
    assert secured.post(routes.OUTCOMES, headers=servicing).json() == {"caller": "servicing"}
    assert secured.post("/docs", headers=servicing).json() == {"caller": "servicing"}
    refused = secured.post(API, headers=servicing)
    assert refused.status_code == 403
    assert refused.json()["error"] == (
        f"the API key 'servicing' lacks the role 'score' ({routes.PREDICTION})"
    )
    every = {"X-API-Key": "every-role"}
    assert secured.post(API, headers=every).json() == {"caller": "key-1"}


def test_scrapes_within_the_max_age_share_one_rendering() -> None:
    scraper = client(metrics_max_age_s=0.3)
    first = scraper.get(routes.METRICS).text
    assert scraper.get(routes.METRICS).text == first  # within 0.3 s: the same rendering
    time.sleep(0.3)
    assert scraper.get(routes.METRICS).text != first


def test_concurrent_scrapes_wait_for_one_rendering() -> None:
    asgi, before = app(metrics_max_age_s=60), renderings
    scope = {**post_scope(), "method": "GET", "path": routes.METRICS, "raw_path": b"/metrics"}

    async def no_body() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def scrapes() -> list[int]:
        return await asyncio.gather(*(status_of(asgi, scope, no_body) for _ in range(20)))

    assert asyncio.run(scrapes()) == [200] * 20
    assert renderings == before + 1


def test_a_failed_scrape_is_not_kept_and_max_age_0_renders_each() -> None:
    scraper = client(metrics_max_age_s=60)
    assert scraper.get(routes.METRICS, params={"fail": "1"}).status_code == 503
    after_failure = scraper.get(routes.METRICS).text
    assert scraper.get(routes.METRICS).text == after_failure
    uncached = client(metrics_max_age_s=0)
    assert uncached.get(routes.METRICS).text != uncached.get(routes.METRICS).text
