"""The ceiling: a BentoML endpoint with the same schema that answers a constant.

What BentoML itself costs per request on this machine, with no model behind it. Two
variants, chosen by the environment: stock BentoML ("stock ceiling" in the benchmark), and
with CEILING_TUNED=1 served as our service is ("ceiling"): the same work-arounds of BentoML
defects (the per-request timeout timer, serving/bentoml_fixes.py; startup objects
frozen, serving/gc_tuning.py), one worker per CPU, no BentoML access log and the same
tracing setting, so that ours / ceiling measures what our own work costs.
Run: [CEILING_TUNED=1] bentoml serve benchmarks.constant_service:ConstantScoring
"""

from __future__ import annotations

import os

import bentoml

from credit_risk.contract import Applicant
from credit_risk.decision import decision_rows
from serving import bentoml_fixes
from serving.gc_tuning import tune_gc_after_startup
from serving.http.request_checks import HEADER_TIMEOUT_S, MAX_HEADER_BYTES
from serving.oversight import REFER
from serving.schemas import CreditScore
from serving.settings import settings

ANSWER = CreditScore.from_row(decision_rows(0.5, False)[0], "constant", REFER)
TUNED = os.environ.get("CEILING_TUNED") == "1"
if TUNED:
    bentoml_fixes.install(max_header_bytes=MAX_HEADER_BYTES, header_timeout_s=HEADER_TIMEOUT_S)


@bentoml.service(
    name="constant_scoring",
    **(
        {
            "workers": settings.api_workers,
            "logging": {"access": {"enabled": False}},
            "tracing": bentoml_fixes.tracing(False),
        }
        if TUNED
        else {}
    ),
)
class ConstantScoring:
    def __init__(self) -> None:
        if TUNED:
            tune_gc_after_startup()

    @bentoml.api(route="/credit_score_prediction")
    async def credit_score_prediction(self, applicant: Applicant, /) -> CreditScore:
        return ANSWER
