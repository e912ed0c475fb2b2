"""The ceiling: a BentoML endpoint with the same schema that answers a constant.

What BentoML itself costs per request on this machine, with no model behind it. Two
variants, chosen by the environment: stock BentoML ("stock ceiling" in the benchmark), and
with CEILING_TUNED=1 served as our service is ("ceiling"): the same work-arounds of BentoML
defects (the per-request timeout timer, credit_risk/request_timeout.py; startup objects
frozen, credit_risk/gc_tuning.py), no BentoML access log and the same tracing setting, so
that ours / ceiling measures what our own work costs.
Run: [CEILING_TUNED=1] bentoml serve benchmarks.constant_service:ConstantScoring
"""

from __future__ import annotations

import os

import bentoml

from credit_risk.contract import Applicant, CreditScore
from credit_risk.gc_tuning import freeze_startup_objects
from credit_risk.request_timeout import install as install_request_timeout
from credit_risk.settings import settings

ANSWER = CreditScore.from_probability(0.5, 0.5, "constant")
TUNED = os.environ.get("CEILING_TUNED") == "1"
if TUNED:
    install_request_timeout()


@bentoml.service(
    name="constant_scoring",
    **({"logging": {"access": {"enabled": False}}, "tracing": settings.tracing} if TUNED else {}),
)
class ConstantScoring:
    def __init__(self) -> None:
        if TUNED:
            freeze_startup_objects()

    @bentoml.api(route="/credit_score_prediction")
    async def credit_score_prediction(self, applicant: Applicant, /) -> CreditScore:
        return ANSWER
