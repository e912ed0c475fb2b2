"""Every path the service answers, written once: the routes, the openapi document and the
middlewares read them from here."""

from __future__ import annotations

PREDICTION = "/credit_score_prediction"
BATCH = "/credit_score_prediction/batch"
# The scoring routes: JSON bodies, checked and limited by the middlewares.
API_ROUTES = (PREDICTION, BATCH)

DECISIONS = "/decisions/{request_id}"
OUTCOMES = "/outcomes"
# Human oversight: the queue, a person's decision, an applicant's contest, the figures.
REVIEWS = "/reviews"
REVIEW = f"{DECISIONS}/review"
CONTEST = f"{DECISIONS}/contest"
OVERSIGHT = "/oversight"
# Every route that takes a JSON body: one body policy (type, encoding, size, keys) for all.
JSON_BODY_ROUTES = (*API_ROUTES, OUTCOMES, REVIEW, CONTEST)
FAIRNESS = "/fairness"
HEALTH = "/health"
DRIFT = "/drift"

# BentoML's own probes and metrics: never refused for load (an orchestrator must see a busy
# service as alive), open without an API key.
LIVEZ = "/livez"
READYZ = "/readyz"
HEALTHZ = "/healthz"
METRICS = "/metrics"
PROBES = (LIVEZ, READYZ, HEALTHZ, METRICS)

ROOT = "/"
DOCS = "/docs"
REDOC = "/redoc"
OPENAPI = "/openapi.json"
# BentoML serves its own, different document here; the mounted app's route wins.
BENTOML_OPENAPI = "/docs.json"
DOCS_ASSETS = "/docs-assets"
FAVICON = "/favicon.ico"
# The loan officer's form.
UI = "/ui"

# The role a key needs for each route (`serving.keys`); a route not here needs a key only.
ROLE_OF = {
    PREDICTION: "score",
    BATCH: "score",
    OUTCOMES: "outcomes",
    DECISIONS: "audit",
    FAIRNESS: "audit",
    DRIFT: "audit",
    OVERSIGHT: "audit",
    REVIEWS: "review",
    REVIEW: "review",
    # The origination system relays its applicant's contest; a person then decides it.
    CONTEST: "score",
}

# The model runner's APIs (BentoML names each route after its method, service.py).
RUNNER_APIS = ("/predict", "/explain")

# What /metrics labels a request with: a route's template, never the path asked for (any
# client could otherwise add series without end, and request ids or NUL bytes to labels).
UNMATCHED = "unmatched"
_EXACT = frozenset({
    *API_ROUTES, OUTCOMES, FAIRNESS, HEALTH, DRIFT, *PROBES, ROOT, DOCS, REDOC, OPENAPI,
    BENTOML_OPENAPI, FAVICON, UI, *RUNNER_APIS, REVIEWS, OVERSIGHT,
})  # fmt: skip
_PREFIXES = {"/decisions/": DECISIONS, f"{DOCS_ASSETS}/": DOCS_ASSETS}
# The routes below a decision (a request id has no "/": `serving.ids`).
_BELOW_DECISION = {"review": REVIEW, "contest": CONTEST}


def route_label(path: str) -> str:
    """The route template that serves `path`, or `UNMATCHED`."""
    path = path.rstrip("/") or ROOT  # served without the slash (request_context.NoTrailingSlash)
    if path in _EXACT:
        return path
    for prefix, template in _PREFIXES.items():
        if path.startswith(prefix):
            if template == DECISIONS and path.count("/") > 2:
                return _BELOW_DECISION.get(path.rsplit("/", 1)[1], UNMATCHED)
            return template
    return UNMATCHED
