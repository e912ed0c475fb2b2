"""BentoML services: a batched CPU model runner behind the documented prediction API.

Serve with `bentoml serve service:CreditScoring`. This file only declares the two services
and wires their parts: the runner answers adaptive batches of encoded rows with
`DECISION_ROW`s (`credit_risk`); the public service hands each request to `serving.scoring`
and serves the records routes and the documentation (`serving.http`, `serving.records`).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from functools import cache
from http import HTTPStatus
from typing import Annotated, Any

import bentoml
import numpy as np
from bentoml.exceptions import BentoMLException, ServiceUnavailable
from bentoml.models import BentoModel
from fastapi import HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from credit_risk.contract import ENCODED_COLUMNS, Applicant
from credit_risk.decision import DECISION_ROW
from model_store.versions import (
    example_decision,
    reason_baseline,
    recorded_threshold,
    resolve,
    training_profile,
)
from serving import bentoml_fixes
from serving.challenger import check_pair
from serving.drift import Drift, DriftReport
from serving.fairness import FairnessReport
from serving.gc_tuning import tune_gc_after_startup
from serving.http import routes, stack
from serving.http.docs import docs_app
from serving.http.errors import mark_records_unavailable, records_reachable, records_unavailable
from serving.http.loan_form import add_loan_form
from serving.http.openapi import build_openapi, example_answers
from serving.http.records_routes import RecordsRoutes
from serving.http.request_checks import HEADER_TIMEOUT_S, MAX_HEADER_BYTES, caller
from serving.malloc_trim import TrimWhenIdle
from serving.metrics import RecordFigures, ServiceMetrics
from serving.oversight import DecisionPolicy
from serving.records.database import engine_for
from serving.records.models import (
    CLIENT_REFERENCE_HEADER,
    Contest,
    ContestOf,
    DecisionRecord,
    Outcome,
    OversightReport,
    Review,
    ReviewPage,
    ReviewQueue,
)
from serving.runner_transport import APIS, RunnerClient, RunnerServer
from serving.schemas import ApplicantBatch, CreditScore, CreditScores, Health, Options
from serving.scoring import DecisionsNotRecorded, RequestIdTaken, Runner, Scoring
from serving.settings import settings

# `bentoml build` pins these exact versions into the Bento.
MODEL = BentoModel(resolve(settings.served_model))
CHALLENGER = BentoModel(resolve(settings.challenger_model)) if settings.challenger_model else None
if CHALLENGER is not None:
    check_pair(MODEL.stored, CHALLENGER.stored)
# Before BentoML builds the apps and starts uvicorn.
bentoml_fixes.install(max_header_bytes=MAX_HEADER_BYTES, header_timeout_s=HEADER_TIMEOUT_S)
# The runner's APIs: adaptive batches of encoded rows along the first axis.
BATCHED: dict[str, Any] = {
    "batchable": True,
    "batch_dim": 0,
    "max_batch_size": settings.max_batch_size,
    "max_latency_ms": settings.max_latency_ms,
}
RUNNER = "credit_risk_model"
# Rows one runner call may carry: the coalescer's calls, or one batch request's applicants.
MAX_CALL_ROWS = max(settings.max_batch_size, settings.max_batch_records)


@bentoml.service(
    name=RUNNER,
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
    challenger = CHALLENGER

    def __init__(self) -> None:
        # Imported here: only the runner process needs torch (~250 MB resident).
        import torch

        from model_store.store import load_scorer

        torch.set_num_threads(1)  # one core per worker; batches are small
        # bentoml.Models on the instance: the champion, then any challenger.
        self.scorers = [load_scorer(m) for m in (self.model, self.challenger) if m is not None]
        self.memory = TrimWhenIdle()  # large batches leave freed memory with glibc
        self.transport: RunnerServer | None = None
        tune_gc_after_startup()

    @bentoml.on_startup
    async def serve_runner_transport(self) -> None:
        """The public service's calls, through BentoML's batcher (`serving.runner_transport`)."""
        path = bentoml_fixes.worker_socket(RUNNER)
        if path is not None:
            apis = [bentoml_fixes.batched(RUNNER, api) for api in APIS]
            self.transport = RunnerServer(
                path, apis, row_width=len(ENCODED_COLUMNS), max_rows=MAX_CALL_ROWS
            )
            await self.transport.start()

    @bentoml.on_shutdown
    async def close_runner_transport(self) -> None:
        if self.transport is not None:
            await self.transport.close(timeout_s=settings.request_timeout_s)

    # Both run on the event loop, not in a thread: a batch takes well under a millisecond
    # of CPU, less than the hand-over to a worker thread would cost.
    @bentoml.api(**BATCHED)
    async def predict(self, encoded: np.ndarray) -> np.ndarray:
        """`DECISION_ROW`s with the fields' gains of each decline (`Scorer.decisions`); with
        a challenger, shape (n, 2): the champion's, then the challenger's."""
        return self._decisions(encoded, with_reasons=False)

    @bentoml.api(**BATCHED)
    async def explain(self, encoded: np.ndarray) -> np.ndarray:
        """The same with the gains of every row, approvals too (`?reasons=true`)."""
        return self._decisions(encoded, with_reasons=True)

    def _decisions(self, encoded: np.ndarray, with_reasons: bool) -> np.ndarray:
        self.memory.touch()
        rows = [scorer.decisions(encoded, with_reasons) for scorer in self.scorers]
        return rows[0] if len(rows) == 1 else np.stack(rows, axis=1)


@cache
def _openapi() -> dict[str, Any]:
    row, tag = example_decision(MODEL.stored), str(MODEL.stored.tag)
    policy, threshold = DecisionPolicy.of(settings), recorded_threshold(MODEL.stored)
    return build_openapi(
        example_answers(
            row, tag, reason_baseline(MODEL.stored), lambda r: policy.of_row(r, threshold)
        )
    )


web = docs_app(_openapi)
# The officer sees why; the form's scores are what-ifs, no decisions.
add_loan_form(web, f"{routes.PREDICTION}?reasons=true&what_if=true")


@bentoml.service(
    name="credit_scoring",
    workers=settings.api_workers,
    # No "max_concurrency": it would count slow uploads (request_checks.ConcurrencyLimit).
    traffic={"timeout": settings.request_timeout_s},
    logging={"access": {"enabled": False}},  # request_context.AccessLog writes it
    tracing=bentoml_fixes.tracing(settings.trace_requests),
    http={"cors": stack.cors(settings)},
)
@bentoml.asgi_app(web, path="/")
class CreditScoring:
    """Credit Score Prediction API: predicts the credit risk of a customer."""

    runner = bentoml.depends(CreditRiskModel)

    def __init__(self) -> None:
        self.model_tag = str(MODEL.stored.tag)
        self.memory = TrimWhenIdle()  # large batch requests leave freed memory with glibc
        predict, explain = self._runner_calls()
        self.scoring = Scoring.of_version(
            MODEL.stored,
            predict=predict,
            explain=explain,
            records=engine_for(settings.records_url) if settings.records else None,
            settings=settings,
            challenger=None if CHALLENGER is None else CHALLENGER.stored,
        )
        self.records = self.scoring.records
        self.records_routes = RecordsRoutes(self.records, settings)
        self.figures = (
            None
            if self.records is None
            else RecordFigures(
                self.records,
                Drift(
                    training_profile(MODEL.stored),
                    settings.drift_window,
                    min_rows=settings.drift_min_rows,
                ),
                settings.figures_refresh_s,
            )
        )
        self.metrics = ServiceMetrics(self.model_tag, self.figures)
        tune_gc_after_startup()

    def _runner_calls(self) -> tuple[Runner, Runner]:
        """The runner's `predict` and `explain` over `serving.runner_transport`, or through
        BentoML where the runner is no process of its own (an in-process test)."""
        paths = bentoml_fixes.runner_sockets(RUNNER)
        if paths is None:
            # The runner client's methods exist only once the server has started: look up late.
            return (
                lambda rows: self.runner.to_async.predict(rows),
                lambda rows: self.runner.to_async.explain(rows),
            )
        client = RunnerClient(
            paths,
            answer_dtype=DECISION_ROW,
            max_rows=MAX_CALL_ROWS,
            timeout_s=settings.request_timeout_s,
        )
        return client.api("predict"), client.api("explain")

    async def decisions(
        self, applicants: list[Applicant], ctx: bentoml.Context
    ) -> list[CreditScore]:
        # An invalid parameter raises pydantic's ValidationError: a 422 like a bad body.
        options = Options.model_validate(dict(ctx.request.query_params))
        self.memory.touch()
        try:
            return await self.scoring.decide(
                applicants,
                reasons=options.reasons,
                request_id=ctx.request.state.request_id,
                caller=caller(ctx.request.scope),
                client_reference=ctx.request.headers.get(CLIENT_REFERENCE_HEADER),
                what_if=options.what_if,
            )
        except DecisionsNotRecorded as exc:
            mark_records_unavailable(ctx.request.scope["state"])
            raise ServiceUnavailable(str(exc)) from exc
        except RequestIdTaken as exc:
            raise BentoMLException(str(exc), error_code=HTTPStatus.CONFLICT) from exc

    def __metrics__(self, content: str) -> str:
        return self.metrics.text(content)

    @web.get(routes.DECISIONS, response_model=list[DecisionRecord])
    def decision_records(self, request_id: str) -> list[dict[str, Any]]:
        """The recorded decisions of one request, in request order."""
        return self.records_routes.of_request(request_id)

    @web.post(routes.OUTCOMES, response_model=DecisionRecord)
    def outcome(self, outcome: Outcome, request: Request) -> dict[str, Any]:
        """Whether a decided applicant repaid; the same outcome again changes nothing, and
        another one only as a recorded correction."""
        return self.records_routes.record_outcome(outcome, caller(request.scope))

    @web.get(routes.REVIEWS, response_model=ReviewQueue)
    def reviews(self, page: Annotated[ReviewPage, Query()]) -> dict[str, Any]:
        """The decisions awaiting a person, oldest first, a page at a time."""
        return self.records_routes.queue(page.limit, page.after)

    @web.post(routes.REVIEW, response_model=DecisionRecord)
    def review(self, request_id: str, review: Review, request: Request) -> dict[str, Any]:
        """A person's final decision on a referred one, in the name of their API key."""
        return self.records_routes.review(request_id, review, caller(request.scope))

    @web.post(routes.CONTEST, response_model=DecisionRecord)
    async def contest(self, request_id: str, contest: Contest, request: Request) -> dict[str, Any]:
        """An applicant contests a final decision: scored again with their corrections,
        recorded under this request's id, linked to the case and referred to a person."""
        who = caller(request.scope)
        contested = await asyncio.to_thread(
            self.records_routes.contestable, request_id, contest.position, who
        )
        try:
            applicant = Applicant.model_validate({**contested["applicant"], **contest.corrections})
        except ValidationError as exc:
            raise RequestValidationError(
                [{**e, "loc": ("body", "corrections", *e["loc"])} for e in exc.errors()]
            ) from None
        case = ContestOf(
            request_id=contested["contest_of_request_id"] or request_id,
            position=contested["contest_of_position"]
            if contested["contest_of_request_id"]
            else contest.position,
            statement=contest.statement,
            due_at=datetime.now(UTC) + timedelta(days=settings.contest_due_days),
        )
        rescored = request.state.request_id
        try:
            await self.scoring.decide(
                [applicant],
                reasons=True,
                request_id=rescored,
                caller=who,
                client_reference=contested["client_reference"],
                contest=case,
            )
        except DecisionsNotRecorded as exc:
            raise records_unavailable() from exc
        except RequestIdTaken as exc:
            raise HTTPException(409, str(exc)) from exc
        (record,) = await asyncio.to_thread(self.records_routes.of_request, rescored)
        return record

    @web.get(routes.OVERSIGHT, response_model=OversightReport)
    def oversight(self) -> OversightReport:
        """Per model version: referrals, reviews, overrides (by Sex and age band, groups of
        100 or more), time in queue, contests open."""
        return self.records_routes.oversight()

    @web.get(routes.FAIRNESS, response_model=FairnessReport)
    def fairness(self) -> FairnessReport:
        """Approval rates by Sex and age band per model version, groups of 100 or more."""
        return self.records_routes.fairness()

    @web.get(routes.HEALTH, response_model=Health)
    def health(self) -> Health:
        """The served model version (readiness of the runner: /readyz)."""
        return Health(status="ok", model=self.model_tag)

    @web.get(routes.DRIFT, response_model=DriftReport)
    def drift_report(self) -> DriftReport:
        """Each field's PSI over the most recent applicants against the training data."""
        if self.figures is None:
            raise HTTPException(
                404,
                "drift is measured over the decision records, which are off (CREDIT_RISK_RECORDS)",
            )
        with records_reachable():
            return self.figures.drift()

    @bentoml.api(route=routes.PREDICTION)
    async def credit_score_prediction(
        self, applicant: Applicant, /, ctx: bentoml.Context
    ) -> CreditScore:
        """Predict whether the applicant's credit risk is good or bad (and why, with
        `?reasons=true`)."""
        (decision,) = await self.decisions([applicant], ctx)
        return decision

    @bentoml.api(route=routes.BATCH)
    async def batch_credit_score_prediction(
        self, batch: ApplicantBatch, /, ctx: bentoml.Context
    ) -> CreditScores:
        """Many applicants in one request: one decision each, in order; 422 names bad records."""
        return CreditScores(predictions=await self.decisions(batch.applicants, ctx))


for _middleware, _options in stack.middlewares(settings):
    CreditScoring.add_asgi_middleware(_middleware, **_options)
