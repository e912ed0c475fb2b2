"""The one OpenAPI 3.1 document of the service, built from the project's own schemas.

Not BentoML's generated document: that one describes each body as an inline descriptor
class (three copies of the applicant for a client generator), shows placeholder examples
and declares none of the statuses the middlewares send. Every schema here is a pydantic
model of `credit_risk.contract`, `serving.schemas`, `serving.records.models` or
`serving.http.errors`, referenced once; every path is one of `serving.http.routes`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from credit_risk.contract import EXAMPLE, Applicant
from serving.drift import DriftReport
from serving.fairness import FairnessReport
from serving.http import routes
from serving.http.errors import ErrorBody, validation_error_body
from serving.oversight import DecisionState
from serving.records.models import (
    Contest,
    DecisionRecord,
    OutcomeByReference,
    OutcomeByRequest,
    OversightReport,
    Review,
    ReviewPage,
    ReviewQueue,
)
from serving.schemas import ApplicantBatch, CreditScore, CreditScores, Health, Options

TITLE = "Credit Score Prediction API"
VERSION = "1.0.0"
DESCRIPTION = "API to predict the credit risk of a customer using a deep learning model"
SCORING_TAG = "Credit scoring"
RECORDS_TAG = "Decision records"
OVERSIGHT_TAG = "Human oversight"
OPERATIONS_TAG = "Operations"

# Every error status an API route can answer, and when.
API_ERRORS: dict[int, str] = {
    401: "No valid X-API-Key header (only when API keys are configured)",
    403: "The API key lacks the role 'score'",
    408: "The body did not arrive in time; the connection is closed",
    409: "The X-Request-ID names another request (another body, API key or X-Application-ID): "
    "send a new one. The same request again gets its first answer",
    413: "The request body is larger than the limit",
    415: "The body is not application/json",
    422: "Invalid input: the body or a query parameter does not follow the schema",
    429: "Too many requests in progress; retry later",
    431: "Request headers larger than the limit; the connection is closed",
    500: "A fault of the server",
    503: "Overloaded, or the decision records are unavailable (no decision is given "
    "without its record); retry after the Retry-After header's seconds",
    504: "Not answered within the request timeout",
}
RECORDS_ERRORS: dict[int, str] = {
    401: "No valid X-API-Key header",
    403: "The API key lacks the route's role (audit; outcomes for POST /outcomes), or no "
    "API keys are configured: records are readable only with a key",
    404: "No such decision",
    503: "The decision records are unavailable; retry after the Retry-After header's seconds",
}
# An invalid body, for the 422 example: what the service answers it.
INVALID_EXAMPLE = {**EXAMPLE, "Age": 0, "Sex": "other"}
OVERSIGHT_ERRORS: dict[int, str] = {
    **RECORDS_ERRORS,
    403: "The API key lacks the route's role (review; audit for GET /oversight), or no API "
    "keys are configured: oversight needs a key, and a reviewer is named by theirs",
}
REQUEST_ID_PARAMETER = {
    "name": "request_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(schema: dict[str, Any], examples: dict[str, Any] | None = None) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": schema}
    if examples:
        media["examples"] = {name: {"value": value} for name, value in examples.items()}
    return {"content": {"application/json": media}}


def _invalid_example() -> dict[str, Any]:
    try:
        Applicant.model_validate(INVALID_EXAMPLE)
    except ValidationError as exc:
        return validation_error_body(exc.errors(), exc.error_count())
    raise AssertionError("INVALID_EXAMPLE is valid")


def _errors(statuses: dict[int, str] = API_ERRORS) -> dict[str, Any]:
    return {
        str(status): {
            "description": description,
            **_json(
                _ref(ErrorBody),
                {"invalid": _invalid_example()} if status == 422 else None,
            ),
        }
        for status, description in statuses.items()
    }


def _parameters(query: type[BaseModel]) -> list[dict[str, Any]]:
    """The query parameters of the fields of `query`."""
    properties = query.model_json_schema()["properties"]
    return [
        {
            "name": name,
            "in": "query",
            "required": False,
            "description": schema.get("description", ""),
            "schema": {k: v for k, v in schema.items() if k not in ("title", "description")},
        }
        for name, schema in properties.items()
    ]


def _scoring(
    operation_id: str,
    summary: str,
    request: type[BaseModel],
    request_example: Any,
    response: type[BaseModel],
    answers: dict[str, Any],
) -> dict[str, Any]:
    return {
        "post": {
            "operationId": operation_id,
            "summary": summary,
            "tags": [SCORING_TAG],
            "parameters": _parameters(Options),
            "requestBody": {
                "required": True,
                **_json(_ref(request), {"applicant": request_example}),
            },
            "responses": {
                "200": {"description": "The decision", **_json(_ref(response), answers)},
                **_errors(),
            },
        }
    }


def _probe(operation_id: str, summary: str, content_type: str = "text/plain") -> dict[str, Any]:
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "tags": [OPERATIONS_TAG],
            "responses": {"200": {"description": summary, "content": {content_type: {}}}},
        }
    }


def build_openapi(example_answers: dict[str, CreditScore]) -> dict[str, Any]:
    """The document; `example_answers` are real answers of the served model to EXAMPLE
    (by example name, e.g. "decision" and "with_reasons"), shown as the 200 examples."""
    requests = (Applicant, ApplicantBatch, OutcomeByRequest, OutcomeByReference, Review, Contest)
    answers = (
        CreditScore,
        CreditScores,
        ErrorBody,
        Health,
        DriftReport,
        DecisionRecord,
        FairnessReport,
        ReviewQueue,
        OversightReport,
    )
    _, defs = models_json_schema(
        [(model, "validation") for model in requests]
        + [(model, "serialization") for model in answers],
        ref_template="#/components/schemas/{model}",
    )
    schemas = defs["$defs"]
    single = {name: a.model_dump(exclude_none=True) for name, a in example_answers.items()}
    many = {name: {"predictions": [answer]} for name, answer in single.items()}
    return {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": VERSION, "description": DESCRIPTION},
        "tags": [
            {"name": SCORING_TAG, "description": "Decisions on credit applicants"},
            {"name": RECORDS_TAG, "description": "Every decision kept; outcomes joined to them"},
            {"name": OVERSIGHT_TAG, "description": "A person reviews; an applicant contests"},
            {"name": OPERATIONS_TAG, "description": "Probes, metrics and monitoring"},
        ],
        "paths": {
            routes.PREDICTION: _scoring(
                "credit_score_prediction",
                "Score one applicant",
                Applicant,
                EXAMPLE,
                CreditScore,
                single,
            ),
            routes.BATCH: _scoring(
                "batch_credit_score_prediction",
                "Score many applicants, one decision each in request order",
                ApplicantBatch,
                {"applicants": [EXAMPLE]},
                CreditScores,
                many,
            ),
            routes.DECISIONS: {
                "get": {
                    "operationId": "decision_records",
                    "summary": "The recorded decisions of one request, in request order",
                    "tags": [RECORDS_TAG],
                    "parameters": [REQUEST_ID_PARAMETER],
                    "responses": {
                        "200": {
                            "description": "The records",
                            **_json({"type": "array", "items": _ref(DecisionRecord)}),
                        },
                        **_errors(RECORDS_ERRORS),
                    },
                }
            },
            routes.OUTCOMES: {
                "post": {
                    "operationId": "record_outcome",
                    "summary": "Whether a decided applicant repaid (idempotent)",
                    "tags": [RECORDS_TAG],
                    "requestBody": {
                        "required": True,
                        **_json({"oneOf": [_ref(OutcomeByRequest), _ref(OutcomeByReference)]}),
                    },
                    "responses": {
                        "200": {"description": "The updated record", **_json(_ref(DecisionRecord))},
                        **_errors(
                            RECORDS_ERRORS
                            | {
                                409: "The decision has the other outcome, several match, "
                                "or it was a decline (no credit was extended)",
                                422: "Invalid body",
                            }
                        ),
                    },
                }
            },
            routes.FAIRNESS: {
                "get": {
                    "operationId": "fairness",
                    "summary": "Approval rates by Sex and age band over the recorded decisions, "
                    "per model version (groups of 100 applicants or more)",
                    "tags": [RECORDS_TAG],
                    "responses": {
                        "200": {
                            "description": "The figures",
                            **_json(_ref(FairnessReport)),
                        },
                        **_errors(RECORDS_ERRORS),
                    },
                }
            },
            routes.REVIEWS: {
                "get": {
                    "operationId": "reviews",
                    "summary": "The decisions awaiting a person, oldest first, a page at a time",
                    "tags": [OVERSIGHT_TAG],
                    "parameters": _parameters(ReviewPage),
                    "responses": {
                        "200": {"description": "One page", **_json(_ref(ReviewQueue))},
                        **_errors(OVERSIGHT_ERRORS | {422: "Invalid limit or after"}),
                    },
                }
            },
            routes.REVIEW: {
                "post": {
                    "operationId": "review_decision",
                    "summary": "A person's final decision on a referred one, in their key's name",
                    "tags": [OVERSIGHT_TAG],
                    "parameters": [REQUEST_ID_PARAMETER],
                    "requestBody": {"required": True, **_json(_ref(Review))},
                    "responses": {
                        "200": {"description": "The decided record", **_json(_ref(DecisionRecord))},
                        **_errors(
                            OVERSIGHT_ERRORS
                            | {
                                409: "The decision is final already (or a what-if score)",
                                422: "Invalid body, an override without its override_reason "
                                "or the model's own decision with one",
                            }
                        ),
                    },
                }
            },
            routes.CONTEST: {
                "post": {
                    "operationId": "contest_decision",
                    "summary": "An applicant contests a final decision: scored again with "
                    "their corrections, linked to the case, referred to a person",
                    "tags": [OVERSIGHT_TAG],
                    "parameters": [REQUEST_ID_PARAMETER],
                    "requestBody": {"required": True, **_json(_ref(Contest))},
                    "responses": {
                        "200": {
                            "description": "The re-score's record",
                            **_json(_ref(DecisionRecord)),
                        },
                        **_errors(
                            OVERSIGHT_ERRORS
                            | {
                                403: "The API key lacks the role 'score'",
                                404: "No decision of this API key with that request id",
                                409: "The decision awaits a person already, or the X-Request-ID "
                                "names another request",
                                422: "Invalid body or corrections",
                            }
                        ),
                    },
                }
            },
            routes.OVERSIGHT: {
                "get": {
                    "operationId": "oversight",
                    "summary": "Per model version: referrals, reviews, overrides (by Sex and "
                    "age band, groups of 100 or more), time in queue, contests open",
                    "tags": [OVERSIGHT_TAG],
                    "responses": {
                        "200": {"description": "The figures", **_json(_ref(OversightReport))},
                        **_errors(OVERSIGHT_ERRORS),
                    },
                }
            },
            routes.HEALTH: {
                "get": {
                    "operationId": "health",
                    "summary": "The served model version",
                    "tags": [OPERATIONS_TAG],
                    "responses": {"200": {"description": "Serving", **_json(_ref(Health))}},
                }
            },
            routes.DRIFT: {
                "get": {
                    "operationId": "drift",
                    "summary": "Input drift (PSI per field) of the most recent applicants decided",
                    "tags": [OPERATIONS_TAG],
                    "responses": {
                        "200": {"description": "The drift report", **_json(_ref(DriftReport))}
                    },
                }
            },
            routes.LIVEZ: _probe("livez", "Alive"),
            routes.READYZ: _probe("readyz", "Ready: the model runner answers"),
            routes.METRICS: _probe("metrics", "Prometheus metrics"),
        },
        "components": {"schemas": schemas},
    }


def example_answers(
    row: np.void | None,
    model_tag: str,
    baseline: dict,
    decision: Callable[[np.void], DecisionState],
) -> dict[str, CreditScore]:
    """The served version's own answers to the documented example (its `DECISION_ROW` with
    reasons, as recorded at import, and the `decision` the review policy takes of it), by
    example name; none without a recorded row."""
    if row is None:
        return {}
    answer = CreditScore.from_row(row, model_tag, decision(row), EXAMPLE, baseline)
    return {"decision": answer.without_reasons(), "with_reasons": answer}
