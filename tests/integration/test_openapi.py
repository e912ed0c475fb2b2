"""The one OpenAPI document, as a client generator and a client author read it."""

from __future__ import annotations

import json

import pytest
from openapi_spec_validator import validate
from starlette.testclient import TestClient

from credit_risk.contract import EXAMPLE
from serving.http.errors import ErrorBody
from serving.http.openapi import API_ERRORS, INVALID_EXAMPLE

PREDICT, BATCH = "/credit_score_prediction", "/credit_score_prediction/batch"


@pytest.fixture(scope="module")
def spec(client: TestClient) -> dict:
    return client.get("/openapi.json").json()


def test_the_document_is_valid_openapi_3_1_at_both_paths(client: TestClient, spec: dict) -> None:
    validate(spec)
    assert spec["openapi"].startswith("3.1")
    assert client.get("/docs.json").json() == spec


def test_one_applicant_schema_serves_both_endpoints(spec: dict) -> None:
    schemas = spec["components"]["schemas"]
    assert not [name for name in schemas if "IODescriptor" in name or "Input" in name]
    body = spec["paths"][PREDICT]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/Applicant"}
    batch = spec["paths"][BATCH]["post"]["requestBody"]["content"]["application/json"]
    batch_schema = schemas[batch["schema"]["$ref"].rsplit("/", 1)[1]]
    items = batch_schema["properties"]["applicants"]
    assert items["items"] == {"$ref": "#/components/schemas/Applicant"}
    assert (items["minItems"], items["maxItems"]) == (1, 1000)


def test_our_request_schemas_agree_with_what_bentoml_validates(stored_model) -> None:
    """The document is built from our models; BentoML validates the method signatures."""
    from service import CreditScoring

    generated = CreditScoring.openapi_spec.asdict()
    applicant = generated["components"]["schemas"]["Applicant"]
    ours = json.loads(json.dumps(spec_of(stored_model)["components"]["schemas"]["Applicant"]))
    assert applicant["properties"] == ours["properties"]
    assert set(applicant["required"]) == set(ours["required"])
    batch = generated["paths"][BATCH]["post"]["requestBody"]["content"]["application/json"]
    wrapper = batch["schema"]
    if "$ref" in wrapper:
        wrapper = generated["components"]["schemas"][wrapper["$ref"].rsplit("/", 1)[1]]
    generated_items = wrapper["properties"]["applicants"]
    our_items = spec_of(stored_model)["components"]["schemas"]["ApplicantBatch"]["properties"][
        "applicants"
    ]
    for key in ("minItems", "maxItems", "items"):
        assert generated_items[key] == our_items[key], key


def spec_of(stored_model) -> dict:
    from service import _openapi

    return _openapi()


@pytest.mark.parametrize(
    ("route", "operation_id"),
    [(PREDICT, "credit_score_prediction"), (BATCH, "batch_credit_score_prediction")],
)
def test_operations_have_meaningful_ids_tags_and_every_error_status(
    spec: dict, route: str, operation_id: str
) -> None:
    operation = spec["paths"][route]["post"]
    assert operation["operationId"] == operation_id
    assert operation["tags"] == ["Credit scoring"]
    responses = operation["responses"]
    assert set(responses) == {"200"} | {str(status) for status in API_ERRORS}
    for status in API_ERRORS:
        content = responses[str(status)]["content"]["application/json"]
        assert content["schema"] == {"$ref": "#/components/schemas/ErrorBody"}


@pytest.mark.parametrize("reasons", [False, True])
def test_the_documented_answers_are_what_the_model_answers(
    client: TestClient, spec: dict, reasons: bool
) -> None:
    name = "with_reasons" if reasons else "decision"
    examples = spec["paths"][PREDICT]["post"]["responses"]["200"]["content"]["application/json"]
    documented = examples["examples"][name]["value"]
    params = {"reasons": "true"} if reasons else {}
    answer = client.post(PREDICT, json=EXAMPLE, params=params).json()
    assert answer.keys() == documented.keys()
    for key in ("prediction", "model"):
        assert answer[key] == documented[key]
    for key in ("probability", "probability_bad"):
        assert answer[key] == pytest.approx(documented[key], abs=1e-6)
    if reasons:
        assert answer["reasons"], "the documented example has principal reasons"
        assert [r["code"] for r in answer["reasons"]] == [r["code"] for r in documented["reasons"]]
    request = spec["paths"][PREDICT]["post"]["requestBody"]["content"]["application/json"]
    assert request["examples"]["applicant"]["value"] == EXAMPLE


def test_the_documented_422_is_what_the_service_answers(client: TestClient, spec: dict) -> None:
    content = spec["paths"][PREDICT]["post"]["responses"]["422"]["content"]["application/json"]
    response = client.post(PREDICT, json=INVALID_EXAMPLE)
    assert response.status_code == 422
    assert response.json() == content["examples"]["invalid"]["value"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/no-such-path", None, 404),
        ("GET", PREDICT, None, 405),
        ("POST", PREDICT, {**EXAMPLE, "Age": "35", "Sex": "x"}, 422),
        ("POST", BATCH, {"applicants": []}, 422),
    ],
)
def test_every_error_is_json_in_the_one_shape_without_internal_names(
    client: TestClient, method: str, path: str, body: dict | None, status: int
) -> None:
    response = client.request(method, path, json=body)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    ErrorBody.model_validate(response.json())
    for leak in ("IODescriptor", "for Input", "for Options", "errors.pydantic.dev", "https:"):
        assert leak not in response.text, leak


def test_head_works_on_get_routes_and_large_answers_are_compressed(client: TestClient) -> None:
    for path in ("/health", "/docs", "/openapi.json"):
        head = client.head(path)
        assert head.status_code == 200, path
        assert head.content == b""
    gzip = {"Accept-Encoding": "gzip"}
    compressed = client.get("/openapi.json", headers=gzip)
    assert compressed.headers["content-encoding"] == "gzip"
    assert compressed.json() == client.get("/openapi.json").json()  # httpx decompresses
    batch = client.post(BATCH, json={"applicants": [EXAMPLE] * 20}, headers=gzip)
    assert batch.headers["content-encoding"] == "gzip"
    assert len(batch.json()["predictions"]) == 20
    single = client.post(PREDICT, json=EXAMPLE, headers=gzip)
    assert "content-encoding" not in single.headers  # ~150 bytes: not worth the CPU


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_documentation_pages_may_load_from_this_server_only(client: TestClient, page: str) -> None:
    policy = client.get(page).headers["content-security-policy"]
    assert "default-src 'self'" in policy and "https:" not in policy


def test_a_trailing_slash_is_the_same_path_not_a_redirect(client: TestClient) -> None:
    response = client.post(PREDICT + "/", json=EXAMPLE, follow_redirects=False)
    assert response.status_code == 200
    assert response.json()["prediction"] in ("good", "bad")
    assert client.get("/health/", follow_redirects=False).status_code == 200
    assert client.get("/", follow_redirects=False).status_code in (302, 307)  # to /docs
