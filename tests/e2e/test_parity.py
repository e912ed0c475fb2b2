"""Every dataset row, scored over HTTP, equals the offline training pipeline (with Platt)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
import requests

from credit_risk.contract import encode
from credit_risk.reasons import principal_reasons

CLIENTS = 16


def test_all_rows_score_as_offline(
    server: str, records: list[dict], reference_proba: pd.Series, served_decision
) -> None:
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=CLIENTS)
    session.mount("http://", adapter)

    def score(record: dict) -> dict:
        response = session.post(f"{server}/credit_score_prediction", json=record, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    with ThreadPoolExecutor(CLIENTS) as pool:
        answers = list(pool.map(score, records))
    served = np.array([a["probability"] for a in answers])
    np.testing.assert_allclose(served, reference_proba.to_numpy(), rtol=0, atol=1e-6)
    labels = ["good" if p > served_decision.threshold else "bad" for p in reference_proba]
    assert [a["prediction"] for a in answers] == labels


def test_all_rows_in_one_batch_request_score_as_offline(
    server: str, records: list[dict], reference_proba: pd.Series
) -> None:
    response = requests.post(
        f"{server}/credit_score_prediction/batch", json={"applicants": records}, timeout=60
    )
    assert response.status_code == 200, response.text
    served = np.array([p["probability"] for p in response.json()["predictions"]])
    np.testing.assert_allclose(served, reference_proba.to_numpy(), rtol=0, atol=1e-6)


def test_reasons_of_all_rows_over_http_are_the_offline_ones(
    server: str, records: list[dict], served_scorer
) -> None:
    response = requests.post(
        f"{server}/credit_score_prediction/batch?reasons=true",
        json={"applicants": records},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    offline = served_scorer.decisions(encode(records), with_reasons=True)["gains"]
    baseline = served_scorer.decision.reason_baseline
    for record, answer, row in zip(records, response.json()["predictions"], offline, strict=True):
        expected = principal_reasons(record, baseline, row.tolist())
        assert [r["code"] for r in answer["reasons"]] == [r.code for r in expected]
        assert [r["gain"] for r in answer["reasons"]] == pytest.approx(
            [r.gain for r in expected], abs=1e-5
        )
