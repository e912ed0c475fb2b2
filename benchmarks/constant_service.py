"""The ceiling: a BentoML endpoint with the same schema that answers a constant.

What BentoML itself costs per request on this machine, with no model behind it.
Run: bentoml serve benchmarks.constant_service:ConstantScoring
"""

from __future__ import annotations

import bentoml

from credit_risk.contract import Applicant, CreditScore

ANSWER = CreditScore.from_probability(0.5, 0.5, "constant")


@bentoml.service(name="constant_scoring")
class ConstantScoring:
    @bentoml.api(route="/credit_score_prediction")
    async def credit_score_prediction(self, applicant: Applicant, /) -> CreditScore:
        return ANSWER
