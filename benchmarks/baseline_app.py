"""The baseline: the original service's way of serving, on the same artifacts.

FastAPI + uvicorn, one worker; per request a one-row pandas DataFrame goes through the
fitted ColumnTransformer and the torch network. Run: uvicorn benchmarks.baseline_app:app
"""

from __future__ import annotations

import pandas as pd
import torch
from fastapi import FastAPI

from credit_risk.artifacts import load_exported
from credit_risk.contract import Applicant
from credit_risk.decision import decision_rows
from serving.oversight import DecisionPolicy
from serving.schemas import CreditScore
from serving.settings import settings
from training_export.paths import ARTIFACTS_DIR

scorer = load_exported(ARTIFACTS_DIR)
preprocessor, network, decision = scorer.preprocessor, scorer.network, scorer.decision
POLICY = DecisionPolicy.of(settings)  # the answer's `decision`, as the service takes it

app = FastAPI(title="baseline")


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/credit_score_prediction")
def credit_score_prediction(applicant: Applicant) -> CreditScore:
    frame = pd.DataFrame([applicant.by_name()])
    features = torch.tensor(preprocessor.transform(frame), dtype=torch.float32)
    with torch.no_grad():
        logit = network(features)[:, 0].numpy()
    p_good = float(decision.calibrate(logit)[0])
    row = decision_rows(p_good, decision.calls_good(p_good))[0]
    return CreditScore.from_row(row, "baseline", POLICY.of_row(row, decision.threshold))
