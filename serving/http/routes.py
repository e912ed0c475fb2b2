"""Every path the service answers, written once: the routes, the openapi document and the
middlewares read them from here."""

from __future__ import annotations

PREDICTION = "/credit_score_prediction"
BATCH = "/credit_score_prediction/batch"
# The scoring routes: JSON bodies, checked and limited by the middlewares.
API_ROUTES = (PREDICTION, BATCH)

DECISIONS = "/decisions/{request_id}"
OUTCOMES = "/outcomes"
# Every route that takes a JSON body: one body policy (type, encoding, size, keys) for all.
JSON_BODY_ROUTES = (*API_ROUTES, OUTCOMES)
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
