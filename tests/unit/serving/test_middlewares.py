"""The public service's middlewares, stacked as the service stacks them, around a small
real Starlette app."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from serving import middlewares
from serving.bentoml_fixes import ValidationErrorAs422


async def echo(request: Request) -> JSONResponse:
    body = await request.body()
    if body == b"bad":  # what BentoML answers invalid input
        error = {"type": "missing", "loc": ["Sex"], "msg": "Field required", "url": "https://x"}
        return JSONResponse(
            {"error": "1 validation error for ApplicantIODescriptor", "detail": [error]},
            status_code=400,
        )
    return JSONResponse({"size": len(body)})


async def ok(request: Request) -> JSONResponse:
    return JSONResponse({})


def client(**options) -> TestClient:
    settings = {"api_routes": ["/api"], "max_body_bytes": 100, "api_keys": [], "open_paths": []}
    stack = [
        *middlewares.stack(**settings | options),
        (ValidationErrorAs422, {"paths": ["/api"]}),
    ]
    app = Starlette(
        routes=[Route("/api", echo, methods=["POST"]), Route("/livez", ok)],
        middleware=[Middleware(cls, **kwargs) for cls, kwargs in stack],
    )
    return TestClient(app, base_url="http://127.0.0.1")


def test_request_id_is_echoed_or_created() -> None:
    response = client().post("/api", content=b"{}", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    created = client().post("/api", content=b"{}", headers={"X-Request-ID": "no spaces allowed"})
    assert len(created.headers["x-request-id"]) == 32
    assert client().get("/livez").headers["x-request-id"]


def test_bodies_over_the_limit_are_413_and_others_pass_whole() -> None:
    assert client().post("/api", content=b"x" * 100).json() == {"size": 100}
    response = client().post("/api", content=b"x" * 101)
    assert response.status_code == 413
    assert "100 bytes" in response.json()["error"]

    def chunks():
        for _ in range(50):
            yield b"x" * 10

    assert client().post("/api", content=chunks()).status_code == 413


def test_only_json_bodies_reach_api_routes() -> None:
    for content_type in ("multipart/form-data", "text/plain", "application/x-www-form-urlencoded"):
        response = client().post("/api", content=b"{}", headers={"Content-Type": content_type})
        assert response.status_code == 415, content_type
    for content_type in ("application/json", "application/json; charset=utf-8"):
        response = client().post("/api", content=b"{}", headers={"Content-Type": content_type})
        assert response.status_code == 200, content_type


def test_invalid_input_on_api_routes_becomes_422() -> None:
    response = client().post("/api", content=b"bad")
    assert response.status_code == 422
    assert response.json() == {
        "error": "invalid input: 1 problem",
        "detail": [{"loc": ["Sex"], "msg": "Field required", "type": "missing"}],
    }
    assert int(response.headers["content-length"]) == len(response.content)


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"X-API-Key": "wrong"}, 401),
        ({"X-API-Key": "k2"}, 200),
        ({"X-API-Key": "k1"}, 200),
    ],
)
def test_api_keys_when_configured(headers: dict, status: int) -> None:
    secured = client(api_keys=["k1", "k2"], open_paths=["/livez"])
    response = secured.post("/api", content=b"{}", headers=headers)
    assert response.status_code == status
    if status == 401:
        assert response.headers["www-authenticate"] == "ApiKey"
    assert secured.get("/livez").status_code == 200  # probes stay open
    preflight = secured.options("/api")  # CORS preflight carries no key
    assert preflight.status_code != 401


def test_access_log_is_one_json_line_without_the_body() -> None:
    import json
    import logging

    from serving.middlewares import access_log

    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    access_log.addHandler(handler)
    try:
        client().post("/api", content=b'{"Age": 4711}', headers={"X-Request-ID": "r1"})
    finally:
        access_log.removeHandler(handler)
    (record,) = records
    line = json.loads(record.getMessage())
    assert line["request_id"] == "r1" and line["status"] == 200 and line["path"] == "/api"
    assert "4711" not in record.getMessage()
