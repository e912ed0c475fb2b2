"""BentoML services: a batched CPU model runner behind the documented prediction API.

Serve with `bentoml serve service:CreditScoring`. The runner owns the model and its
decision rule: it loads the version once per process from the BentoML model store,
verified against the hashes recorded at import, and answers adaptive batches of encoded
rows with P(good) and the decision. The public service validates, encodes, monitors
drift and words the answers. The parts live in `credit_risk/` (the model) and `serving/`.
"""

from __future__ import annotations

from typing import Annotated, Any

import bentoml
import numpy as np
from bentoml.models import BentoModel
from pydantic import Field

from credit_risk.contract import Applicant, encode_applicants
from credit_risk.explain import Reasons
from model_store.versions import resolve, training_profile
from serving import bentoml_fixes, middlewares
from serving.api_docs import docs_app, documented_openapi
from serving.coalescer import Coalescer
from serving.drift import DriftReport, DriftWindow
from serving.gc_tuning import freeze_startup_objects
from serving.loan_form import add_loan_form
from serving.malloc_trim import TrimWhenIdle
from serving.schemas import CreditScore, CreditScores, Health, Options
from serving.settings import settings

PREDICTION_ROUTE = "/credit_score_prediction"
BATCH_ROUTE = "/credit_score_prediction/batch"
# `bentoml build` pins this exact version into the Bento.
MODEL = BentoModel(resolve(settings.served_model))
bentoml_fixes.install()  # before BentoML builds the apps
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
        freeze_startup_objects()

    # Both run on the event loop, not in a thread: a batch takes well under a millisecond
    # of CPU, less than the hand-over to a worker thread would cost.
    @bentoml.api(**BATCHED)
    async def predict(self, encoded: np.ndarray) -> np.ndarray:
        """P(good) and the decision of each row (`Scorer.decisions`)."""
        self.memory.touch()
        return self.scorer.decisions(encoded)

    @bentoml.api(**BATCHED)
    async def explain(self, encoded: np.ndarray) -> np.ndarray:
        """The same with each field's contribution: 2**d forward passes for an applicant
        that differs from the reference in d fields (64 on average, at most 512), so only
        for requests that ask for reasons."""
        self.memory.touch()
        return self.scorer.decisions(encoded, with_reasons=True)


def _openapi() -> dict[str, Any]:
    return documented_openapi(
        CreditScoring.openapi_spec.asdict(), [PREDICTION_ROUTE, BATCH_ROUTE], Options
    )


web = docs_app(_openapi)
add_loan_form(web, f"{PREDICTION_ROUTE}?reasons=true")  # the officer sees why


@bentoml.service(
    name="credit_scoring",
    traffic={"timeout": settings.request_timeout_s, "max_concurrency": settings.max_concurrency},
    logging={"access": {"enabled": False}},  # serving.middlewares.AccessLog writes it
    tracing=bentoml_fixes.tracing(settings.trace_requests),
    http={
        "cors": {
            "enabled": True,
            "access_control_allow_origins": settings.cors_origins,
            "access_control_allow_credentials": True,
            "access_control_allow_methods": ["*"],
            "access_control_allow_headers": ["*"],
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
        self.predict = Coalescer(
            lambda rows: self.runner.to_async.predict(rows), max_rows=settings.max_batch_size
        )
        self.explain = Coalescer(
            lambda rows: self.runner.to_async.explain(rows), max_rows=settings.max_batch_size
        )
        profile = training_profile(MODEL.stored)
        self.reference = profile.reference_record()  # shown next to each reason
        self.memory = TrimWhenIdle()  # large batch requests leave freed memory with glibc
        self.drift = DriftWindow(profile, settings.drift_window, min_rows=settings.drift_min_rows)
        freeze_startup_objects()

    async def decisions(
        self, applicants: list[Applicant], ctx: bentoml.Context
    ) -> list[CreditScore]:
        """Score applicants together with concurrent requests; with reasons when the
        request asks for them (`?reasons=true`)."""
        # An invalid parameter raises pydantic's ValidationError: a 422 like a bad body.
        options = Options.model_validate(dict(ctx.request.query_params))
        self.memory.touch()
        encoded = encode_applicants(applicants)
        self.drift.add(encoded)
        if not options.reasons:
            return [
                CreditScore.from_decision(float(p_good), bool(good), self.model_tag)
                for p_good, good in await self.predict(encoded)
            ]
        return [
            CreditScore.from_decision(
                float(row[0]),
                bool(row[1]),
                self.model_tag,
                Reasons.rank(applicant.record(), self.reference, row[2:].tolist()),
            )
            for applicant, row in zip(applicants, await self.explain(encoded), strict=True)
        ]

    def __metrics__(self, content: str) -> str:
        """/metrics, plus which model version this process serves."""
        return (
            f"{content}# HELP credit_risk_model_info The model version served.\n"
            "# TYPE credit_risk_model_info gauge\n"
            f'credit_risk_model_info{{model="{self.model_tag}"}} 1.0\n'
            f"{self.drift.report().prometheus()}"
        )

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
for _middleware, _options in [
    *middlewares.stack(
        api_routes=_API_ROUTES,
        max_body_bytes=settings.max_body_bytes,
        api_keys=[key.get_secret_value() for key in settings.api_keys],
        open_paths=settings.open_paths,
    ),
    (bentoml_fixes.ValidationErrorAs422, {"paths": _API_ROUTES}),
    (bentoml_fixes.RetryLaterOn503, {"paths": _API_ROUTES}),
]:
    CreditScoring.add_asgi_middleware(_middleware, **_options)
