"""The HTTP surface in process: `CreditScoring.to_asgi()` under Starlette's TestClient.

The runner is a local instance here (no batching); tests/e2e use a real `bentoml serve`.
"""

from __future__ import annotations

import asyncio
import gc
import json
from html import escape

import pytest
from starlette.testclient import TestClient

from credit_risk.contract import CATEGORIES, EXAMPLE, FIELDS, encode
from credit_risk.reasons import principal_reasons
from serving.http import routes
from serving.http.openapi import DESCRIPTION, TITLE, VERSION


def test_documented_example_gets_a_documented_answer(
    client: TestClient, stored_model, served_decision
) -> None:
    response = client.post("/credit_score_prediction", json=EXAMPLE)
    assert response.status_code == 200
    body = response.json()
    assert body["prediction"] in ("good", "bad")
    assert 0 <= body["probability"] <= 1
    threshold = served_decision.threshold
    assert body["prediction"] == ("good" if body["probability"] > threshold else "bad")
    assert body["probability_bad"] == pytest.approx(1 - body["probability"])
    assert body["model"] == str(stored_model.tag)


def test_answered_requests_leave_no_timeout_timers_behind(client: TestClient) -> None:
    """BentoML's request-timeout timer kept each request's context (with its tracing span)
    alive for the whole timeout after the answer, which made full GCs frequent and slow
    (serving/bentoml_fixes.py)."""

    def timers() -> int:
        gc.collect()  # what is left is reachable, not garbage waiting for a collection
        return sum(
            isinstance(o, asyncio.TimerHandle) and "_set_timer_out" in repr(o)
            for o in gc.get_objects()
        )

    before = timers()
    for _ in range(200):
        assert client.post("/credit_score_prediction", json=EXAMPLE).status_code == 200
    assert timers() - before < 10


def test_invalid_input_is_422_with_field_detail(client: TestClient) -> None:
    response = client.post(
        "/credit_score_prediction", json={**EXAMPLE, "Age": 0, "Job": 2, "Purpose": "boat"}
    )
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert {tuple(error["loc"]) for error in detail} == {("Age",), ("Job",), ("Purpose",)}
    assert "Traceback" not in response.text


@pytest.mark.parametrize(
    "body",
    [b"", b"{not json", b"[]", b"null", b'"text"'],
)
def test_malformed_bodies_are_422(client: TestClient, body: bytes) -> None:
    response = client.post(
        "/credit_score_prediction", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text


def test_missing_field_is_422(client: TestClient) -> None:
    body = {k: v for k, v in EXAMPLE.items() if k != "Saving accounts"}
    response = client.post("/credit_score_prediction", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["Saving accounts"]


def test_root_redirects_to_docs(client: TestClient) -> None:
    response = client.get("/", follow_redirects=False)
    assert response.status_code in (302, 307)
    assert response.headers["location"] == "/docs"


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_documentation_pages_use_local_assets(client: TestClient, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200
    assert "/openapi.json" in response.text
    assets = [part.split('"')[0] for part in response.text.split('src="')[1:]]
    assert assets, "no script on the page"
    for asset in assets:
        assert asset.startswith("/docs-assets/"), asset  # nothing from a CDN
        assert client.get(asset).status_code == 200


def test_openapi_document_has_the_documented_info_and_schema(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["info"] == {"title": TITLE, "version": VERSION, "description": DESCRIPTION}
    operation = spec["paths"]["/credit_score_prediction"]["post"]
    assert set(operation["responses"]) >= {"200", "422", "500"}
    assert "400" not in operation["responses"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    assert list(schema["properties"]) == list(FIELDS)
    assert set(schema["required"]) == set(FIELDS)
    for name, labels in CATEGORIES.items():
        assert schema["properties"][name]["enum"] == list(labels)


def test_bentomls_document_path_serves_the_same_document(client: TestClient) -> None:
    assert client.get("/docs.json").json() == client.get("/openapi.json").json()


def test_the_favicon_is_served_locally(client: TestClient) -> None:
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert 'href="/favicon.ico"' in client.get("/docs").text


def test_a_cross_origin_page_can_read_the_request_id(client: TestClient) -> None:
    response = client.post(
        "/credit_score_prediction", json=EXAMPLE, headers={"Origin": "https://bank.example"}
    )
    exposed = response.headers["access-control-expose-headers"].lower().split(",")
    assert "x-request-id" in [h.strip() for h in exposed]


def test_health_names_the_served_model(client: TestClient, stored_model) -> None:
    assert client.get("/health").json() == {"status": "ok", "model": str(stored_model.tag)}
    assert client.get("/livez").status_code == 200
    assert client.get("/readyz").status_code == 200


def test_cors_allows_any_origin_with_credentials(client: TestClient) -> None:
    origin = "https://frontend.example"
    preflight = client.options(
        "/credit_score_prediction",
        headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == origin
    assert preflight.headers["access-control-allow-credentials"] == "true"
    response = client.post("/credit_score_prediction", json=EXAMPLE, headers={"Origin": origin})
    assert response.headers["access-control-allow-origin"] == origin


def test_batch_scores_each_record_in_order(client: TestClient, records: list[dict]) -> None:
    batch = records[:50]
    response = client.post("/credit_score_prediction/batch", json={"applicants": batch})
    assert response.status_code == 200
    predictions = response.json()["predictions"]
    singles = [client.post("/credit_score_prediction", json=r).json() for r in batch]
    assert [p["prediction"] for p in predictions] == [s["prediction"] for s in singles]
    # float32 matrix products round differently for different batch sizes: ~1e-8 here.
    for batched, single in zip(predictions, singles, strict=True):
        assert batched["probability"] == pytest.approx(single["probability"], abs=1e-6)


def test_batch_names_the_index_and_field_of_each_bad_record(client: TestClient) -> None:
    body = {"applicants": [EXAMPLE, {**EXAMPLE, "Age": 0}, EXAMPLE, {**EXAMPLE, "Job": 2}]}
    response = client.post("/credit_score_prediction/batch", json=body)
    assert response.status_code == 422
    locations = {tuple(error["loc"]) for error in response.json()["detail"]}
    assert locations == {("applicants", 1, "Age"), ("applicants", 3, "Job")}


@pytest.mark.parametrize("size", [0, 1001])
def test_batch_size_is_limited(client: TestClient, size: int) -> None:
    response = client.post("/credit_score_prediction/batch", json={"applicants": [EXAMPLE] * size})
    assert response.status_code == 422


@pytest.mark.parametrize(
    "body",
    [
        b'{"Age": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",  # deeply nested
        json.dumps({**EXAMPLE, "Purpose": "x" * 500_000}).encode(),  # very long string
        json.dumps(EXAMPLE).replace("male", "m\\u00e4le").encode(),  # unknown non-ASCII value
        json.dumps(EXAMPLE).encode().replace(b"free", b"fr\xff\xfe"),  # not UTF-8
        json.dumps(EXAMPLE).encode().replace(b"35", b"1e309"),  # infinite
        json.dumps(EXAMPLE).encode().replace(b"9055", b"NaN"),
    ],
)
def test_hostile_bodies_are_4xx_never_5xx(client: TestClient, body: bytes) -> None:
    response = client.post(
        "/credit_score_prediction", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text[:300]
    assert "Traceback" not in response.text


def test_reasons_only_when_asked_and_as_computed_offline(
    client: TestClient, stored_model, served_scorer
) -> None:
    assert "reasons" not in client.post("/credit_score_prediction", json=EXAMPLE).json()
    body = client.post("/credit_score_prediction?reasons=true", json=EXAMPLE).json()
    row = served_scorer.decisions(encode([EXAMPLE]), with_reasons=True)[0]
    baseline = served_scorer.decision.reason_baseline
    expected = principal_reasons(EXAMPLE, baseline, row["gains"].tolist())
    assert expected, "the example applicant should have principal reasons"
    assert [r["code"] for r in body["reasons"]] == [r.code for r in expected]
    assert [r["text"] for r in body["reasons"]] == [r.text for r in expected]
    served = [r["gain"] for r in body["reasons"]]
    assert served == pytest.approx([r.gain for r in expected], abs=1e-6)


def test_batch_gives_reasons_for_every_record_when_asked(client: TestClient, records) -> None:
    batch = records[:20]
    response = client.post("/credit_score_prediction/batch?reasons=1", json={"applicants": batch})
    assert response.status_code == 200
    for record, answer in zip(batch, response.json()["predictions"], strict=True):
        for reason in answer["reasons"]:
            assert reason["value"] == record[reason["field"]]


@pytest.mark.parametrize("route", ["/credit_score_prediction", "/credit_score_prediction/batch"])
def test_an_invalid_reasons_parameter_is_422_naming_it(client: TestClient, route: str) -> None:
    body = EXAMPLE if route == "/credit_score_prediction" else {"applicants": [EXAMPLE]}
    response = client.post(f"{route}?reasons=maybe", json=body)
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [["reasons"]]


def test_openapi_documents_the_query_parameters(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for route in ("/credit_score_prediction", "/credit_score_prediction/batch"):
        parameters = spec["paths"][route]["post"]["parameters"]
        assert [(p["name"], p["in"]) for p in parameters] == [
            ("reasons", "query"),
            ("what_if", "query"),
        ]
        for parameter in parameters:
            assert parameter["schema"] == {"type": "boolean", "default": False}


def test_loan_form_has_every_field_with_its_choices_and_nothing_remote(
    client: TestClient,
) -> None:
    response = client.get("/ui")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    for name in FIELDS:
        assert f'name="{name}"' in page, name
    for labels in CATEGORIES.values():
        for label in labels:
            assert f'<option value="{escape(label)}"' in page, label
    assert "http://" not in page and "https://" not in page  # no CDN, no remote fonts
    assert "/ui" not in client.get("/openapi.json").json()["paths"]


def test_a_duplicate_key_in_the_body_is_422_not_the_last_value(client: TestClient) -> None:
    body = json.dumps(EXAMPLE)[:-1] + ', "Age": 200}'
    response = client.post("/credit_score_prediction", content=body.encode())
    assert response.status_code == 422
    assert '"Age"' in response.json()["error"]


def test_a_batch_of_bad_records_gets_a_short_422_with_the_count(client: TestClient) -> None:
    junk = {f"unknown_field_{i}": 1 for i in range(145)}
    response = client.post("/credit_score_prediction/batch", json={"applicants": [junk] * 100})
    assert response.status_code == 422
    assert len(response.content) < 2000  # refused before validation: 14,500 unknown fields
    empty = client.post("/credit_score_prediction/batch", json={"applicants": [{}] * 100_000})
    assert empty.status_code == 422
    assert "JSON objects" in empty.json()["error"]  # refused before validation
    bad = {field: "x" for field in FIELDS}
    response = client.post("/credit_score_prediction/batch", json={"applicants": [bad] * 1000})
    assert response.status_code == 422
    answer = response.json()
    assert answer["error_count"] == 9000
    assert len(answer["detail"]) == 50
    assert answer["detail"][0]["loc"][:2] == ["applicants", 0]


def test_only_the_documented_field_names_are_accepted(client: TestClient) -> None:
    snake = {name.lower().replace(" ", "_"): value for name, value in EXAMPLE.items()}
    response = client.post("/credit_score_prediction", json=snake)
    assert response.status_code == 422, response.text
    batch = client.post(routes.BATCH, json={"applicants": [EXAMPLE], "extra": 1})
    assert batch.status_code == 422
    assert ["extra"] in [problem["loc"] for problem in batch.json()["detail"]]


@pytest.mark.parametrize(
    "outcome",
    [{"repaid": "no"}, {"repaid": 1}, {"repaid": "off"}, {"repaid": True, "position": True}],
)
def test_an_outcome_takes_true_or_false_only(client: TestClient, outcome: dict) -> None:
    response = client.post("/outcomes", json={"request_id": "r1", **outcome})
    assert response.status_code == 422, response.text


def test_outcomes_follow_the_same_body_policy_as_scoring(client: TestClient) -> None:
    duplicate = b'{"request_id": "r1", "repaid": true, "repaid": false}'
    assert client.post("/outcomes", content=duplicate).status_code == 422
    huge = b'{"request_id": "' + b"x" * (2 * 1024 * 1024) + b'", "repaid": true}'
    assert client.post("/outcomes", content=huge).status_code == 413
    gzipped = client.post("/outcomes", content=b"{}", headers={"Content-Encoding": "gzip"})
    assert gzipped.status_code == 415


def test_a_bad_application_id_is_422_naming_the_header(client: TestClient) -> None:
    response = client.post(
        "/credit_score_prediction", json=EXAMPLE, headers={"X-Application-ID": "x" * 129}
    )
    assert response.status_code == 422, response.text
    assert [problem["loc"] for problem in response.json()["detail"]] == [["X-Application-ID"]]


def test_the_loan_form_cannot_be_framed_or_load_anything_remote(client: TestClient) -> None:
    page = client.get("/ui")
    assert page.headers["x-frame-options"] == "DENY"
    policy = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy
