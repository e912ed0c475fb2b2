"""Human oversight on real servers, on SQLite and PostgreSQL: referred decisions, the review
queue, a person's decision in their key's name, contests linked to their case, what-if
scores, the oversight figures; every route behind its role."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import requests

from credit_risk.contract import FIELDS
from serving.oversight import OVERRIDE_REASONS
from serving.settings import Settings
from tools.server_process import ServerProcess, bentoml_serve, free_port

PREDICT = "/credit_score_prediction"
ORIGINATION = {"name": "origination", "key": "origination-key", "roles": ["score"]}
OFFICER = {"name": "officer-ann", "key": "officer-key", "roles": ["review"]}
AUDITOR = {"name": "auditor", "key": "auditor-key", "roles": ["audit"]}
SERVICING = {"name": "servicing", "key": "servicing-key", "roles": ["outcomes"]}
BAND = Settings.model_fields["review_band"].default
DUE_DAYS = Settings.model_fields["contest_due_days"].default
APPLICANTS = 60


def keyed(key: dict, **headers: str) -> dict[str, str]:
    return {"X-API-Key": key["key"], **headers}


@pytest.fixture
def served(stored_model, records_url: str, tmp_path: Path) -> Iterator[str]:
    """A server with the three roles' keys, recording in `records_url`."""
    port = free_port()
    env = {
        "CREDIT_RISK_API_KEYS": json.dumps([ORIGINATION, OFFICER, AUDITOR, SERVICING]),
        "CREDIT_RISK_RECORDS_URL": records_url,
    }
    command = bentoml_serve("service:CreditScoring", port)
    with ServerProcess(command, port, tmp_path / "serve.log", env=env) as server:
        yield server.url


def test_a_person_decides_what_the_model_refers_and_an_applicant_contests(
    served: str, dataset: pd.DataFrame, served_scorer
) -> None:
    applicants = dataset[list(FIELDS)].head(APPLICANTS).to_dict("records")
    batch = requests.post(
        f"{served}{PREDICT}/batch",
        json={"applicants": applicants},
        headers=keyed(ORIGINATION, **{"X-Request-ID": "case"}),
    )
    assert batch.status_code == 200, batch.text
    answers = batch.json()["predictions"]
    threshold = served_scorer.decision.threshold
    for answer in answers:  # no automatic decline; the band around the threshold referred
        near = abs(answer["probability"] - threshold) <= BAND
        good = answer["prediction"] == "good"
        assert answer["decision"] == ("approve" if good and not near else "refer"), answer
    referred = [i for i, a in enumerate(answers) if a["decision"] == "refer"]
    assert 5 < len(referred) < APPLICANTS

    # The queue: the review role only, oldest first, paged.
    assert requests.get(f"{served}/reviews").status_code == 401
    refused = requests.get(f"{served}/reviews", headers=keyed(ORIGINATION))
    assert refused.status_code == 403 and "review" in refused.json()["error"]
    queued, after = [], None
    while True:
        page = requests.get(
            f"{served}/reviews",
            params={"limit": 4} | ({"after": after} if after is not None else {}),
            headers=keyed(OFFICER),
        ).json()
        assert len(page["reviews"]) <= 4
        queued += page["reviews"]
        if (after := page["next"]) is None:
            break
    assert [(r["request_id"], r["position"]) for r in queued] == [("case", i) for i in referred]
    for row in queued:
        assert row["recommendation"] == ("approve" if row["decision"] == "good" else "decline")
        assert row["final_decision"] is None and row["answered"] == "refer"
    assert requests.get(f"{served}/reviews?limit=0", headers=keyed(OFFICER)).status_code == 422

    def review(position: int, body: dict, key: dict = OFFICER) -> requests.Response:
        return requests.post(
            f"{served}/decisions/case/review", json={"position": position, **body},
            headers=keyed(key),
        )  # fmt: skip

    first, second, *_ = queued
    follows = {"decision": first["recommendation"]}
    other = "decline" if first["recommendation"] == "approve" else "approve"
    assert review(first["position"], follows, ORIGINATION).status_code == 403
    assert review(first["position"], {"decision": other}).status_code == 422  # no reason
    unknown_code = review(first["position"], {"decision": other, "override_reason": "hunch"})
    assert unknown_code.status_code == 422
    with_reason = {**follows, "override_reason": "policy"}
    assert review(first["position"], with_reason).status_code == 422  # follows: no reason
    taken = review(first["position"], {**follows, "note": "checked the payslips"})
    assert taken.status_code == 200, taken.text
    record = taken.json()
    assert record["final_decision"] == first["recommendation"]
    assert record["reviewed_by"] == "officer-ann"  # the key's name, never the body's
    assert record["review_note"] == "checked the payslips" and record["override_reason"] is None
    again = review(first["position"], follows)
    assert again.status_code == 409 and "final already" in again.json()["error"]
    missing = requests.post(
        f"{served}/decisions/nobody/review", json=follows, headers=keyed(OFFICER)
    )
    assert missing.status_code == 404
    # An override: to decline what the model would approve, or the other way, with a code.
    flip = "decline" if second["recommendation"] == "approve" else "approve"
    code = next(iter(OVERRIDE_REASONS))
    overridden = review(second["position"], {"decision": flip, "override_reason": code})
    assert overridden.status_code == 200 and overridden.json()["override_reason"] == code
    remaining = requests.get(f"{served}/reviews?limit=100", headers=keyed(OFFICER)).json()
    assert len(remaining["reviews"]) == len(referred) - 2

    # An outcome follows the person's decision: none while one awaits them, none for a
    # decline, whatever the model recommended.
    def outcome(position: int) -> requests.Response:
        body = {"request_id": "case", "position": position, "repaid": True}
        return requests.post(f"{served}/outcomes", json=body, headers=keyed(SERVICING))

    waiting = outcome(queued[2]["position"])
    assert waiting.status_code == 409 and "awaits a person" in waiting.json()["error"]
    for decided in (record, overridden.json()):
        reported = outcome(decided["position"])
        assert reported.status_code == (200 if decided["final_decision"] == "approve" else 409)

    # A contest: by the origination system for its applicant, of a final decision only.
    contest = {
        "position": first["position"],
        "statement": "My savings are larger than the form shows.",
        "corrections": {"Saving accounts": "rich"},
    }
    url = f"{served}/decisions/case/contest"
    assert requests.post(url, json=contest, headers=keyed(OFFICER)).status_code == 403
    bad = requests.post(
        url, json={**contest, "corrections": {"Age": 12}}, headers=keyed(ORIGINATION)
    )
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"][:3] == ["body", "corrections", "Age"]
    open_one = {**contest, "position": queued[2]["position"]}
    assert requests.post(url, json=open_one, headers=keyed(ORIGINATION)).status_code == 409
    contested = requests.post(
        url, json=contest, headers=keyed(ORIGINATION, **{"X-Request-ID": "case-contest"})
    )
    assert contested.status_code == 200, contested.text
    rescore = contested.json()
    assert (rescore["contest_of_request_id"], rescore["contest_of_position"]) == (
        "case",
        first["position"],
    )
    assert rescore["applicant"] == {**applicants[first["position"]], "Saving accounts": "rich"}
    assert rescore["answered"] == "refer" and rescore["final_decision"] is None
    assert rescore["contest_statement"] == contest["statement"]
    due = datetime.fromisoformat(rescore["due_at"])
    assert abs(due - (datetime.now(UTC) + timedelta(days=DUE_DAYS))) < timedelta(minutes=5)
    original = requests.get(f"{served}/decisions/case", headers=keyed(AUDITOR)).json()
    assert original[first["position"]]["applicant"] == applicants[first["position"]]
    assert original[first["position"]]["contest_of_request_id"] is None
    queue = requests.get(f"{served}/reviews?limit=100", headers=keyed(OFFICER)).json()
    assert queue["reviews"][-1]["request_id"] == "case-contest"
    # Once decided, a contest of the re-score belongs to the same case, not a new chain.
    decided = requests.post(
        f"{served}/decisions/case-contest/review",
        json={"decision": queue["reviews"][-1]["recommendation"]},
        headers=keyed(OFFICER),
    )
    assert decided.status_code == 200, decided.text
    again = requests.post(
        f"{served}/decisions/case-contest/contest",
        json={"statement": "Still wrong."},
        headers=keyed(ORIGINATION, **{"X-Request-ID": "case-contest-2"}),
    )
    assert again.status_code == 200, again.text
    assert (again.json()["contest_of_request_id"], again.json()["contest_of_position"]) == (
        "case",
        first["position"],
    )

    # The figures: the audit role only, groups under 100 reviewed decisions withheld.
    assert requests.get(f"{served}/oversight", headers=keyed(OFFICER)).status_code == 403
    figures = requests.get(f"{served}/oversight", headers=keyed(AUDITOR)).json()
    (version,) = figures["versions"]
    assert version["decisions"] == APPLICANTS + 2
    assert version["referred"] == len(referred) + 2
    assert version["reviewed"] == 3 and version["overrides"] == 1
    assert version["override_rate"] == pytest.approx(1 / 3)
    assert version["contests_open"] == 1 and version["contests_overdue"] == 0
    assert version["override_rate_by_group"] == []
    assert "Sex female" in version["withheld"]
    assert version["queue_seconds_p50"] >= 0


def test_a_what_if_score_decides_nothing(served: str, dataset: pd.DataFrame) -> None:
    applicant = dataset[list(FIELDS)].iloc[0].to_dict()
    headers = keyed(ORIGINATION, **{"X-Request-ID": "what-if"})
    answer = requests.post(f"{served}{PREDICT}?what_if=true", json=applicant, headers=headers)
    assert answer.status_code == 200
    (record,) = requests.get(f"{served}/decisions/what-if", headers=keyed(AUDITOR)).json()
    assert record["what_if"] is True and record["final_decision"] is None
    assert requests.get(f"{served}/reviews", headers=keyed(OFFICER)).json()["reviews"] == []
    refused = requests.post(
        f"{served}/decisions/what-if/review", json={"decision": "approve"}, headers=keyed(OFFICER)
    )
    assert refused.status_code == 409 and "what-if" in refused.json()["error"]
    outcome = {"request_id": "what-if", "repaid": True}
    assert requests.post(f"{served}/outcomes", json=outcome).status_code == 401
    figures = requests.get(f"{served}/oversight", headers=keyed(AUDITOR)).json()
    assert figures["versions"] == []  # what-if scores aside
