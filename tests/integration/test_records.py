"""Decision records written by the service in process, read back as an auditor would, from
SQLite and from PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pandas as pd
import pytest
from starlette.testclient import TestClient

from credit_risk.contract import EXAMPLE
from credit_risk.reasons import REASON_TABLE_VERSION
from serving.records.admin import export
from serving.records.database import COLUMNS, engine_for
from serving.records.queries import Records
from serving.settings import settings
from tests.unit.serving.records.helpers import write
from training_export.paths import REPO_ROOT

PREDICT, BATCH = "/credit_score_prediction", "/credit_score_prediction/batch"


@pytest.fixture(scope="module")
def records() -> Records:
    return Records(engine_for(settings.records_url))


def test_every_answer_is_recorded_with_what_it_was_given(
    client: TestClient, records: Records, declined_applicant: dict
) -> None:
    headers = {"X-Request-ID": "rec-single", "X-Application-ID": "loan-2026-001"}
    answer = client.post(PREDICT, json=declined_applicant, headers=headers).json()
    (row,) = records.of_request("rec-single")
    assert row["applicant"] == declined_applicant
    assert (row["p_good"], row["decision"], row["model"]) == (
        answer["probability"],
        answer["prediction"],
        answer["model"],
    )
    assert row["client_reference"] == "loan-2026-001"
    assert row["caller"] is None  # no key configured here
    assert answer["prediction"] == "bad" and "reasons" not in answer
    # A decline's principal reasons are recorded although the client did not ask for them.
    assert row["reasons"]["table"] == REASON_TABLE_VERSION
    assert (
        row["reasons"]["reasons"]
        == client.post(PREDICT, json=declined_applicant, params={"reasons": "true"}).json()[
            "reasons"
        ]
    )


def test_an_approval_records_no_reasons_unless_asked(
    client: TestClient, records: Records, approved_applicant: dict
) -> None:
    answer = client.post(PREDICT, json=approved_applicant, headers={"X-Request-ID": "rec-ok"})
    assert answer.json()["prediction"] == "good"
    (row,) = records.of_request("rec-ok")
    assert row["reasons"] is None


def test_a_batch_is_recorded_in_order_with_its_reasons(
    client: TestClient, records: Records
) -> None:
    applicants = [EXAMPLE, {**EXAMPLE, "Duration": 60}]
    answer = client.post(
        BATCH,
        json={"applicants": applicants},
        params={"reasons": "true"},
        headers={"X-Request-ID": "rec-batch"},
    ).json()
    found = records.of_request("rec-batch")
    assert [r["applicant"]["Duration"] for r in found] == [36, 60]
    assert [r["reasons"]["reasons"] for r in found] == [p["reasons"] for p in answer["predictions"]]


def test_a_refused_request_leaves_no_record(client: TestClient, records: Records) -> None:
    headers = {"X-Request-ID": "rec-invalid"}
    assert client.post(PREDICT, json={**EXAMPLE, "Age": 0}, headers=headers).status_code == 422
    too_long = {"X-Request-ID": "rec-long-ref", "X-Application-ID": "x" * 129}
    assert client.post(PREDICT, json=EXAMPLE, headers=too_long).status_code == 422
    assert records.of_request("rec-invalid") == records.of_request("rec-long-ref") == []


def test_records_are_not_readable_where_no_api_keys_are_configured(client: TestClient) -> None:
    client.post(PREDICT, json=EXAMPLE, headers={"X-Request-ID": "rec-closed"})
    response = client.get("/decisions/rec-closed")
    assert response.status_code == 403
    assert "API keys" in response.json()["error"]
    outcome = client.post("/outcomes", json={"request_id": "rec-closed", "repaid": True})
    assert outcome.status_code == 403


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_the_export_command_writes_a_period_for_an_auditor(
    client: TestClient, tmp_path, records: Records, suffix: str, referred_applicant: dict
) -> None:
    client.post(PREDICT, json=referred_applicant, headers={"X-Request-ID": "rec-export"})
    out = tmp_path / f"decisions{suffix}"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "serving.records.admin",
            "export",
            str(out),
            "--since",
            "2000-01-01",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    counted, summary = done.stdout.split("\n", 1)
    assert "records to" in counted
    figures = json.loads(summary)
    assert list(figures) == ["realised", "fairness", "oversight", "comparison"]
    assert figures["comparison"] == []  # no challenger: no pair of versions
    (version,) = figures["oversight"]["versions"]
    assert version["awaiting"] >= 1  # the applicant is referred: it awaits a person
    frame = pd.read_parquet(out) if suffix == ".parquet" else pd.read_csv(out)
    exported = frame[frame["request_id"] == "rec-export"].iloc[0]
    assert json.loads(exported["applicant"]) == referred_applicant
    assert exported["answered"] == "refer" and pd.isna(exported["final_decision"])
    assert len(frame) == len(records.between(None, None))


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_the_services_records_export_alike_from_either_database(
    client: TestClient, records: Records, records_url: str, tmp_path, suffix: str
) -> None:
    applicants = [EXAMPLE, {**EXAMPLE, "Duration": 60}]
    request_id = f"rec-copy-{uuid.uuid4().hex[:8]}"
    client.post(
        BATCH,
        json={"applicants": applicants},
        params={"reasons": "true"},
        headers={"X-Request-ID": request_id, "X-Application-ID": "loan-7"},
    )
    written = records.of_request(request_id)
    copy = Records(engine_for(records_url))  # SQLite or PostgreSQL, empty
    write(copy.engine, [{column: row[column] for column in COLUMNS} for row in written])
    out = tmp_path / f"decisions{suffix}"
    assert export(copy, out, None, None) == 2
    frame = pd.read_parquet(out) if suffix == ".parquet" else pd.read_csv(out)
    assert [json.loads(a) for a in frame["applicant"]] == applicants
    assert [json.loads(r) for r in frame["reasons"]] == [r["reasons"] for r in written]
    assert list(frame["p_good"]) == [r["p_good"] for r in written]
    assert list(frame["client_reference"]) == ["loan-7", "loan-7"]
