"""Drift monitoring on a real server of its own (a small window no other test sends to)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from serving.drift import MODERATE_PSI, SIGNIFICANT_PSI
from tests.e2e.conftest import scrape
from tools.server_process import ServerProcess, bentoml_serve, free_port

WINDOW = 400
MIN_ROWS = 100  # the default


@pytest.fixture(scope="module")
def drift_server(stored_model, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    # One API worker: each worker keeps its own window, and /drift answers from one of them.
    env = {"CREDIT_RISK_DRIFT_WINDOW": str(WINDOW), "CREDIT_RISK_API_WORKERS": "1"}
    log = tmp_path_factory.mktemp("drift") / "serve.log"
    with ServerProcess(bentoml_serve("service:CreditScoring", port), port, log, env=env) as server:
        yield server.url


def score(url: str, applicants: list[dict]) -> None:
    response = requests.post(
        f"{url}/credit_score_prediction/batch", json={"applicants": applicants}, timeout=30
    )
    assert response.status_code == 200, response.text


def drift(url: str) -> dict:
    """GET /drift, checked against the drift aggregates of /metrics."""
    report = requests.get(f"{url}/drift").json()
    text = scrape(url)
    families = {f.name: f for f in text_string_to_metric_families(text)}  # valid text format
    assert [s.value for s in families["credit_risk_drift_window_rows"].samples] == [report["rows"]]
    assert text.count("# TYPE credit_risk_drift_window_rows gauge") == 1
    assert 'field="' not in text, "/metrics is open: no per-field figure"
    if report["withheld"]:
        assert "credit_risk_drift_psi_max" not in families
    else:
        (psi_max,) = families["credit_risk_drift_psi_max"].samples
        assert psi_max.value == pytest.approx(max(report["psi"].values()))
        (drifted,) = families["credit_risk_drift_fields_drifted"].samples
        assert drifted.value == len(report["drifted"])
    return report


def withheld(rows: int) -> dict:
    """The report while the window holds too few applicants to hide each one."""
    return {
        "window": WINDOW,
        "rows": rows,
        "min_rows": MIN_ROWS,
        "withheld": True,
        "note": f"per-field figures are withheld until the window holds {MIN_ROWS} "
        "applicants, so that they tell nothing about any one of them",
        "threshold": SIGNIFICANT_PSI,
        "psi": {},
        "drifted": [],
    }


def test_long_durations_raise_the_psi_of_duration_only(drift_server: str, records) -> None:
    assert drift(drift_server) == withheld(0)
    # One applicant scored: nothing about them is published.
    score(drift_server, records[:1])
    assert drift(drift_server) == withheld(1)

    # Dataset rows, through both endpoints: the window fills with an unshifted population.
    score(drift_server, records[1:350])
    for record in records[350:WINDOW]:
        response = requests.post(f"{drift_server}/credit_score_prediction", json=record)
        assert response.status_code == 200
    report = drift(drift_server)
    assert (report["rows"], report["withheld"], report["note"]) == (WINDOW, False, None)
    assert report["drifted"] == []
    assert max(report["psi"].values()) < MODERATE_PSI

    # The same rows with long durations until they have replaced every earlier row.
    shifted = [{**record, "Duration": 60} for record in records[:WINDOW]]
    score(drift_server, shifted[: WINDOW // 2])
    assert drift(drift_server)["drifted"] == ["Duration"]  # half the window suffices
    score(drift_server, shifted[WINDOW // 2 :])
    report = drift(drift_server)
    assert report["rows"] == WINDOW
    assert report["drifted"] == ["Duration"]
    assert report["psi"]["Duration"] > SIGNIFICANT_PSI
    assert max(v for f, v in report["psi"].items() if f != "Duration") < MODERATE_PSI
