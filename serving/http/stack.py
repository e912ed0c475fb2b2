"""The public service's middlewares, outermost first: the one place that orders them.

1. `NoTrailingSlash` first, so that every later one and the router see one spelling of
   each path.
2. `RequestId`, then `AccessLog`: every answer, refusals included, carries its id and is
   logged with it.
3. The cheap checks before the body is read: `HeaderLimit`, `ApiKeys` (no body is read
   for a caller without a key), then `ScrapeCache` (a repeated scrape costs no more than
   these), `JsonOnly`.
4. `BodyLimit` reads the body whole, within its size and deadline; `JsonBody` parses what
   it read; `ConcurrencyLimit` counts a request only once its body is in (counting from
   the first byte let slow uploads refuse everyone else).
5. The answer rewriters, innermost: `CompressedOn` outside `ClientErrorsInOneShape` and
   `RetryLaterOn503`, which read the bodies they reword; `PlainErrorsAsJson` innermost,
   next to the router whose plain-text 404 and 405 it rewords.
"""

from __future__ import annotations

from typing import Any

from credit_risk.contract import FIELDS
from serving.http import routes
from serving.http.answers import (
    ClientErrorsInOneShape,
    CompressedOn,
    PlainErrorsAsJson,
    RetryLaterOn503,
)
from serving.http.request_checks import (
    MAX_HEADER_BYTES,
    ApiKeys,
    BodyLimit,
    ConcurrencyLimit,
    HeaderLimit,
    JsonBody,
    JsonOnly,
)
from serving.http.request_context import REQUEST_ID_HEADER, AccessLog, NoTrailingSlash, RequestId
from serving.http.scrape_cache import ScrapeCache
from serving.records.models import Contest, OutcomeByRequest, Review
from serving.settings import Settings

# Keys a body may hold: an applicant's fields, the batch body's "applicants", an outcome's,
# a review's and a contest's.
KNOWN_KEYS = (
    *FIELDS,
    "applicants",
    *OutcomeByRequest.model_fields,
    "client_reference",
    *Review.model_fields,
    *Contest.model_fields,
)
# More unknown keys than this in a body are refused: each costs validation errors.
MAX_UNKNOWN_KEYS = 50
# The answers worth compressing: batches of decisions and the documentation.
COMPRESSED = (routes.BATCH, routes.OPENAPI, routes.BENTOML_OPENAPI, routes.DOCS_ASSETS)


def cors(settings: Settings) -> dict[str, Any]:
    """BentoML's CORS setting: the configured origins, and the request id readable."""
    return {
        "enabled": True,
        "access_control_allow_origins": settings.cors_origins,
        "access_control_allow_credentials": True,
        "access_control_allow_methods": ["*"],
        "access_control_allow_headers": ["*"],
        "access_control_expose_headers": [REQUEST_ID_HEADER.decode()],
    }


def middlewares(settings: Settings) -> list[tuple[type, dict[str, Any]]]:
    """Each middleware class with its options, outermost first."""
    api, bodies = list(routes.API_ROUTES), list(routes.JSON_BODY_ROUTES)
    return [
        (NoTrailingSlash, {}),
        (RequestId, {}),
        (AccessLog, {}),
        (HeaderLimit, {"max_bytes": MAX_HEADER_BYTES}),
        (
            ApiKeys,
            {
                "keys": settings.api_keys,
                "open_paths": settings.open_paths,
            },
        ),
        (ScrapeCache, {"path": routes.METRICS, "max_age_s": settings.metrics_max_age_s}),
        (JsonOnly, {"paths": bodies}),
        (
            BodyLimit,
            {
                "paths": bodies,
                "max_bytes": settings.max_body_bytes,
                "timeout_s": settings.body_timeout_s,
            },
        ),
        (
            JsonBody,
            {
                "paths": bodies,
                "known_keys": KNOWN_KEYS,
                "max_unknown_keys": MAX_UNKNOWN_KEYS,
                "max_objects": settings.max_batch_records + 1,  # and the batch body itself
            },
        ),
        (ConcurrencyLimit, {"max_requests": settings.max_concurrency, "skip_paths": routes.PROBES}),
        (CompressedOn, {"prefixes": COMPRESSED}),
        (ClientErrorsInOneShape, {"paths": api}),
        (RetryLaterOn503, {"paths": api}),
        (PlainErrorsAsJson, {}),
    ]
