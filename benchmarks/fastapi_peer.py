"""The strongest hand-written peer: FastAPI with the whole model path in process.

What a careful engineer writes without BentoML: per request the numpy features, the fused
network and the decision of `credit_risk` (the same `Scorer` our runner uses), and with
every decline's principal reasons (answered with `?reasons=true`, for approvals too), all
in the request's process; no batching across
requests, no hop. A batch request's applicants are scored together, as ours are.
Run: uvicorn benchmarks.fastapi_peer:app --workers <CPUs> --loop uvloop --http httptools
--no-access-log
"""

from __future__ import annotations

import torch
from fastapi import FastAPI

from credit_risk.artifacts import load_exported
from credit_risk.contract import Applicant, encode_applicants
from serving.oversight import DecisionPolicy
from serving.schemas import ApplicantBatch, CreditScore, CreditScores
from serving.settings import settings
from training_export.paths import ARTIFACTS_DIR

torch.set_num_threads(1)  # one core per worker process
scorer = load_exported(ARTIFACTS_DIR)
baseline = scorer.decision.reason_baseline
MODEL = "fastapi-peer"
POLICY = DecisionPolicy.of(settings)  # the answer's `decision`, as the service takes it

app = FastAPI(title="fastapi peer")


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


def scores(applicants: list[Applicant], reasons: bool) -> list[CreditScore]:
    """The model path in process, the applicants of one request together."""
    rows = scorer.decisions(encode_applicants(applicants), with_reasons=reasons)
    answers = [
        CreditScore.from_row(
            row,
            MODEL,
            POLICY.of_row(row, scorer.decision.threshold),
            applicant.by_name(),
            baseline,
        )
        for row, applicant in zip(rows, applicants, strict=True)
    ]
    return answers if reasons else [answer.without_reasons() for answer in answers]


# `async def`: the model path takes well under a millisecond, less than a thread hand-over.
@app.post("/credit_score_prediction")
async def credit_score_prediction(applicant: Applicant, reasons: bool = False) -> CreditScore:
    (score,) = scores([applicant], reasons)
    return score


@app.post("/credit_score_prediction/batch")
async def batch_credit_score_prediction(
    batch: ApplicantBatch, reasons: bool = False
) -> CreditScores:
    return CreditScores(predictions=scores(batch.applicants, reasons))
