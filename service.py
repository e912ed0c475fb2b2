"""BentoML services: a batched CPU model runner behind the documented prediction API.

Serve with `bentoml serve service:CreditScoring`. The runner owns the model and its
decision rule: it loads the version once per process from the BentoML model store,
verified against the hashes recorded at import, and answers adaptive batches of encoded
rows with P(good), the decision and, for declines, the fields' gains that its principal
reasons are ranked by (`credit_risk.reasons`). The public service validates, encodes, monitors
drift and words the answers. The parts live in `credit_risk/` (the model) and `serving/`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from itertools import chain
from typing import Annotated, Any

import bentoml
import numpy as np
from bentoml.exceptions import ServiceUnavailable
from bentoml.models import BentoModel
from fastapi import HTTPException
from pydantic import Field, TypeAdapter
from sqlalchemy.exc import SQLAlchemyError

from credit_risk.contract import EXAMPLE, FIELDS, Applicant, encode
from model_store.versions import (
    example_decision,
    reason_baseline,
    recorded_threshold,
    resolve,
    training_profile,
)
from serving import bentoml_fixes, middlewares
from serving.api_docs import ASSETS_URL, BENTOML_OPENAPI_URL, OPENAPI_URL, docs_app
from serving.coalescer import Coalescer
from serving.compression import CompressedOn
from serving.drift import DriftReport, DriftWindow
from serving.errors import PlainErrorsAsJson
from serving.fairness import FairnessReport, live_fairness
from serving.gc_tuning import tune_gc_after_startup
from serving.loan_form import add_loan_form
from serving.malloc_trim import TrimWhenIdle
from serving.openapi import build_openapi
from serving.records import (
    ClientReference,
    DecisionRecord,
    Outcome,
    OutcomeConflict,
    Records,
    RecordWriter,
    caller_of,
    engine_for,
    realised_metrics,
    rows_for,
)
from serving.schemas import CreditScore, CreditScores, Health, Options
from serving.settings import settings

logger = logging.getLogger(__name__)
PREDICTION_ROUTE = "/credit_score_prediction"
# The client's own reference of an application, recorded with its decisions.
CLIENT_REFERENCE_HEADER = "x-application-id"
CLIENT_REFERENCE = TypeAdapter(ClientReference | None)
BATCH_ROUTE = "/credit_score_prediction/batch"
# `bentoml build` pins this exact version into the Bento.
MODEL = BentoModel(resolve(settings.served_model))
# Before BentoML builds the apps and starts uvicorn.
bentoml_fixes.install(
    max_header_bytes=middlewares.MAX_HEADER_BYTES, header_timeout_s=middlewares.HEADER_TIMEOUT_S
)
# The runner's APIs: adaptive batches of encoded rows along the first axis.
BATCHED: dict[str, Any] = {
    "batchable": True,
    "batch_dim": 0,
    "max_batch_size": settings.max_batch_size,
    "max_latency_ms": settings.max_latency_ms,
}


@bentoml.service(
    name="credit_risk_model",
    workers=1,
    resources={"cpu": "1"},
    traffic={"timeout": settings.request_timeout_s},
    runner_connection=bentoml_fixes.RUNNER_CONNECTION,
    logging={"access": {"enabled": False}},
    tracing=bentoml_fixes.tracing(settings.trace_requests),
)
class CreditRiskModel:
    """Scores and decides batches of encoded applicants on the CPU."""

    model = MODEL

    def __init__(self) -> None:
        # Imported here: only the runner process needs torch (~250 MB resident).
        import torch

        from model_store.store import load_scorer

        torch.set_num_threads(1)  # one core per worker; batches are small
        self.scorer = load_scorer(self.model)  # a bentoml.Model on the instance
        self.memory = TrimWhenIdle()  # large batches leave freed memory with glibc
        tune_gc_after_startup()

    # Both run on the event loop, not in a thread: a batch takes well under a millisecond
    # of CPU, less than the hand-over to a worker thread would cost.
    @bentoml.api(**BATCHED)
    async def predict(self, encoded: np.ndarray) -> np.ndarray:
        """P(good), the decision and, for each decline, the fields' gains
        (`Scorer.decisions`): a forward pass per field that differs from the baseline."""
        self.memory.touch()
        return self.scorer.decisions(encoded)

    @bentoml.api(**BATCHED)
    async def explain(self, encoded: np.ndarray) -> np.ndarray:
        """The same with the gains of every row, approvals too (`?reasons=true`)."""
        self.memory.touch()
        return self.scorer.decisions(encoded, with_reasons=True)


@cache
def _openapi() -> dict[str, Any]:
    return build_openapi(
        prediction_route=PREDICTION_ROUTE,
        batch_route=BATCH_ROUTE,
        max_batch_records=settings.max_batch_records,
        example_answers=_example_answers(),
    )


@contextmanager
def _records_reachable() -> Iterator[None]:
    """The records database lost while serving: a 503 with Retry-After, not a 500."""
    try:
        yield
    except SQLAlchemyError as exc:
        retry_after = {"Retry-After": str(bentoml_fixes.RECORDS_RETRY_AFTER_S)}
        raise HTTPException(503, "decision records are unavailable", retry_after) from exc


def _why(exc: SQLAlchemyError) -> str:
    """The database driver's own words: SQLAlchemy's add the statement and its parameters,
    personal data."""
    return str(getattr(exc, "orig", None) or exc.__class__.__name__).strip()


def _joined(parts: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return list(chain.from_iterable(parts))


def _example_answers() -> dict[str, CreditScore]:
    """The served version's own answers to the documented example, for the API's examples."""
    row = example_decision(MODEL.stored)
    if row is None:
        return {}
    tag, baseline = str(MODEL.stored.tag), reason_baseline(MODEL.stored)
    answer = CreditScore.from_row(row, tag, EXAMPLE, baseline)
    return {"decision": answer.without_reasons(), "with_reasons": answer}


web = docs_app(_openapi)
add_loan_form(web, f"{PREDICTION_ROUTE}?reasons=true")  # the officer sees why


@bentoml.service(
    name="credit_scoring",
    workers=settings.api_workers,
    # No "max_concurrency": it would count slow uploads (middlewares.ConcurrencyLimit).
    traffic={"timeout": settings.request_timeout_s},
    logging={"access": {"enabled": False}},  # serving.middlewares.AccessLog writes it
    tracing=bentoml_fixes.tracing(settings.trace_requests),
    http={
        "cors": {
            "enabled": True,
            "access_control_allow_origins": settings.cors_origins,
            "access_control_allow_credentials": True,
            "access_control_allow_methods": ["*"],
            "access_control_allow_headers": ["*"],
            "access_control_expose_headers": [middlewares.REQUEST_ID_HEADER.decode()],
        }
    },
)
@bentoml.asgi_app(web, path="/")
class CreditScoring:
    """Credit Score Prediction API: predicts the credit risk of a customer."""

    runner = bentoml.depends(CreditRiskModel)

    def __init__(self) -> None:
        self.model_tag = str(MODEL.stored.tag)
        # The runner client's methods exist only once the server has started: look up late.
        # A call costs the runner little besides the call itself: one in flight, so that
        # the rows arriving meanwhile make fewer, larger calls.
        self.predict = Coalescer(
            lambda rows: self.runner.to_async.predict(rows),
            max_rows=settings.max_batch_size,
            max_in_flight=1,
        )
        self.explain = Coalescer(
            lambda rows: self.runner.to_async.explain(rows),
            max_rows=settings.max_batch_size,
            max_in_flight=1,
        )
        profile = training_profile(MODEL.stored)
        self.baseline = reason_baseline(MODEL.stored)  # what each reason is measured against
        self.memory = TrimWhenIdle()  # large batch requests leave freed memory with glibc
        self.drift = DriftWindow(profile, settings.drift_window, min_rows=settings.drift_min_rows)
        self.records = Records(engine_for(settings.records_url)) if settings.records else None
        self.records_lost = False  # logged once when lost, once when back
        if self.records is not None:
            # Committed together with the records of concurrent requests, one at a time.
            self.record = Coalescer(
                RecordWriter(self.records.engine).commit,
                max_rows=10_000,
                max_in_flight=1,
                join=_joined,
                linger=True,
            )
        self.threshold = recorded_threshold(MODEL.stored)  # recorded with each decision
        tune_gc_after_startup()

    async def decisions(
        self, applicants: list[Applicant], ctx: bentoml.Context
    ) -> list[CreditScore]:
        """Score applicants together with concurrent requests; every decline's principal
        reasons are recorded, and answered when the request asks (`?reasons=true`), with
        those of approvals too."""
        # An invalid parameter raises pydantic's ValidationError: a 422 like a bad body.
        options = Options.model_validate(dict(ctx.request.query_params))
        self.memory.touch()
        records = [applicant.record() for applicant in applicants]
        encoded = encode(records)
        self.drift.add(encoded)
        rows = await (self.explain if options.reasons else self.predict)(encoded)
        scored = [
            CreditScore.from_row(row, self.model_tag, record, self.baseline)
            for record, row in zip(records, rows, strict=True)
        ]
        if self.records is not None:  # answered only once recorded
            await self._record(records, scored, ctx)
        return scored if options.reasons else [answer.without_reasons() for answer in scored]

    async def _record(
        self, applicants: list[dict[str, Any]], answers: list[CreditScore], ctx: bentoml.Context
    ) -> None:
        headers = ctx.request.headers
        rows = rows_for(
            request_id=ctx.request.state.request_id,
            model=self.model_tag,
            threshold=self.threshold,
            applicants=applicants,
            answers=answers,
            caller=caller_of(headers.get(middlewares.API_KEY_HEADER.decode())),
            client_reference=CLIENT_REFERENCE.validate_python(headers.get(CLIENT_REFERENCE_HEADER)),
        )
        try:
            await self.record(rows)
        except SQLAlchemyError as exc:  # no decision without its record
            if not self.records_lost:
                self.records_lost = True
                logger.error("decision records database lost, scoring answers 503: %s", _why(exc))
            # bentoml_fixes.RetryLaterOn503 words the 503 and logs each one.
            setattr(ctx.request.state, bentoml_fixes.RECORDS_UNAVAILABLE_STATE, True)
            raise ServiceUnavailable("decision records are unavailable") from exc
        if self.records_lost:
            self.records_lost = False
            logger.warning("decision records database back, scoring again")

    def __metrics__(self, content: str) -> str:
        """/metrics, plus which model version this process serves, and how the recorded
        decisions with an outcome turned out."""
        try:
            realised = realised_metrics(self.records.labelled()) if self.records else ""
        except SQLAlchemyError:  # the other metrics still: the records' outage is in the log
            realised = ""
        return (
            f"{content}# HELP credit_risk_model_info The model version served.\n"
            "# TYPE credit_risk_model_info gauge\n"
            f'credit_risk_model_info{{model="{self.model_tag}"}} 1.0\n'
            f"{self.drift.report().prometheus()}{realised}"
        )

    def _records_or_refuse(self) -> Records:
        """Records hold personal data: readable only where API keys are configured."""
        if self.records is None:
            raise HTTPException(404, "decision records are off (CREDIT_RISK_RECORDS)")
        if not settings.api_keys:
            raise HTTPException(403, "decision records need API keys (CREDIT_RISK_API_KEYS)")
        return self.records

    @web.get("/decisions/{request_id}", response_model=list[DecisionRecord])
    def decision_records(self, request_id: str) -> list[dict[str, Any]]:
        """The recorded decisions of one request, in request order."""
        records = self._records_or_refuse()
        with _records_reachable():
            found = records.of_request(request_id)
        if not found:
            raise HTTPException(404, "no decision with that request id")
        return found

    @web.post("/outcomes", response_model=DecisionRecord)
    def outcome(self, outcome: Outcome) -> dict[str, Any]:
        """Whether a decided applicant repaid; the same outcome again changes nothing."""
        records = self._records_or_refuse()
        try:
            with _records_reachable():
                return records.record_outcome(outcome)
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from exc
        except OutcomeConflict as exc:
            raise HTTPException(409, str(exc)) from exc

    @web.get("/fairness", response_model=FairnessReport)
    def fairness(self) -> FairnessReport:
        """Approval rates and their ratios by Sex and age band over the recorded decisions,
        per model version (and the share of good payers approved, where outcomes exist);
        no figure for a group of fewer than 100 applicants."""
        records = self._records_or_refuse()
        with _records_reachable():
            return live_fairness(records.for_fairness())

    @web.get("/health", response_model=Health)
    def health(self) -> Health:
        """The served model version (readiness of the runner: /readyz)."""
        return Health(status="ok", model=self.model_tag)

    @web.get("/drift", response_model=DriftReport)
    def drift_report(self) -> DriftReport:
        """Each field's PSI over this worker's recent applicants against the training data,
        once there are enough of them to hide each one."""
        return self.drift.report()

    @bentoml.api(route=PREDICTION_ROUTE)
    async def credit_score_prediction(
        self, applicant: Applicant, /, ctx: bentoml.Context
    ) -> CreditScore:
        """Predict whether the applicant's credit risk is good or bad (and why, with
        `?reasons=true`)."""
        (decision,) = await self.decisions([applicant], ctx)
        return decision

    @bentoml.api(route=BATCH_ROUTE)
    async def batch_credit_score_prediction(
        self,
        applicants: Annotated[
            list[Applicant], Field(min_length=1, max_length=settings.max_batch_records)
        ],
        ctx: bentoml.Context,
    ) -> CreditScores:
        """Many applicants in one request: one decision each, in order; 422 names bad records."""
        return CreditScores(predictions=await self.decisions(applicants, ctx))


_API_ROUTES = [PREDICTION_ROUTE, BATCH_ROUTE]
# The public service's own ASGI middlewares with their options, outermost first.
MIDDLEWARES: list[tuple[type, dict[str, Any]]] = [
    *middlewares.stack(
        api_routes=_API_ROUTES,
        known_keys=[*FIELDS, "applicants"],  # the batch body: {"applicants": [...]}
        max_objects=settings.max_batch_records + 1,
        max_body_bytes=settings.max_body_bytes,
        body_timeout_s=settings.body_timeout_s,
        max_concurrency=settings.max_concurrency,
        api_keys=[key.get_secret_value() for key in settings.api_keys],
        open_paths=settings.open_paths,
    ),
    # Outside the two below, which read the bodies they rewrite.
    (CompressedOn, {"prefixes": [BATCH_ROUTE, OPENAPI_URL, BENTOML_OPENAPI_URL, ASSETS_URL]}),
    (bentoml_fixes.ValidationErrorAs422, {"paths": _API_ROUTES}),
    (bentoml_fixes.RetryLaterOn503, {"paths": _API_ROUTES}),
    (PlainErrorsAsJson, {}),
]
for _middleware, _options in MIDDLEWARES:
    CreditScoring.add_asgi_middleware(_middleware, **_options)
