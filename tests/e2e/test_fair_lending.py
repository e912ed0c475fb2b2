"""Fair lending over HTTP on all 1000 rows: Sex and Age never reach the score or the reasons,
minors are refused."""

from __future__ import annotations

import pytest
import requests

from credit_risk.contract import MIN_AGE

BATCH = "/credit_score_prediction/batch?reasons=true"
FLIPPED = {"male": "female", "female": "male"}
# Ages below 62 and the elderly ages of Regulation B (62 and older).
YOUNGER = (MIN_AGE, 25, 40, 61)
ELDERLY = (62, 75, 100)


def scored(server: str, applicants: list[dict]) -> list[dict]:
    response = requests.post(f"{server}{BATCH}", json={"applicants": applicants}, timeout=60)
    assert response.status_code == 200, response.text[:300]
    return response.json()["predictions"]


def test_flipping_sex_changes_nothing_bit_for_bit(server: str, records: list[dict]) -> None:
    before = scored(server, records)
    after = scored(server, [{**r, "Sex": FLIPPED[r["Sex"]]} for r in records])
    assert after == before  # P(good), decision and reasons, exactly


def test_no_reason_ever_names_sex_or_age(server: str, records: list[dict]) -> None:
    fields = {reason["field"] for answer in scored(server, records) for reason in answer["reasons"]}
    assert fields and not fields & {"Sex", "Age"}


def test_an_elderly_applicant_scores_at_least_as_at_the_most_favoured_younger_age(
    server: str, records: list[dict]
) -> None:
    """12 CFR 1002.6(b)(2): P(good) at any age of 62 or more is at least the highest P(good)
    the same applicant gets at any age below 62."""
    by_age = {
        age: [a["probability"] for a in scored(server, [{**r, "Age": age} for r in records])]
        for age in YOUNGER + ELDERLY
    }
    for i in range(len(records)):
        best_younger = max(by_age[age][i] for age in YOUNGER)
        assert min(by_age[age][i] for age in ELDERLY) >= best_younger, records[i]


@pytest.mark.parametrize("age", [0, 17])
def test_a_minor_is_a_422_naming_age(server: str, records: list[dict], age: int) -> None:
    response = requests.post(
        f"{server}/credit_score_prediction", json={**records[0], "Age": age}, timeout=30
    )
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["Age"]]
