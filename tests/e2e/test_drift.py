"""Drift monitoring on a real server of its own (a small window no other test sends to), of
two API workers: the figures come from the decision records, the same from either."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime

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
    env = {
        "CREDIT_RISK_DRIFT_WINDOW": str(WINDOW),
        "CREDIT_RISK_API_WORKERS": "2",
        "CREDIT_RISK_FIGURES_REFRESH_S": "0",  # as of each computation
    }
    log = tmp_path_factory.mktemp("drift") / "serve.log"
    with ServerProcess(bentoml_serve("service:CreditScoring", port), port, log, env=env) as server:
        yield server.url


def score(url: str, applicants: list[dict]) -> None:
    response = requests.post(
        f"{url}/credit_score_prediction/batch", json={"applicants": applicants}, timeout=30
    )
    assert response.status_code == 200, response.text


def as_of(families: dict) -> float:
    """The instant of the figures of the records in a scrape (-inf: none yet)."""
    family = families.get("credit_risk_figures_as_of_seconds")
    return -math.inf if family is None else family.samples[0].value


def figures_after(url: str, instant: float) -> tuple[str, dict]:
    """/metrics once its figures of the records are as of `instant` or later (a scrape
    answers the last ones and starts their recomputation)."""
    for _ in range(20):
        text = scrape(url)
        families = {f.name: f for f in text_string_to_metric_families(text)}  # valid text
        if as_of(families) >= instant:
            return text, families
    raise AssertionError(f"/metrics' figures stay older than {instant}")


def drift(url: str) -> dict:
    """GET /drift, checked against the drift aggregates of /metrics."""
    report = requests.get(f"{url}/drift").json()
    as_of = datetime.fromisoformat(report["as_of"]).timestamp()
    text, families = figures_after(url, as_of)
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
    """The report while the window holds too few applicants to hide each one (but its
    instant)."""
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


def without_instant(report: dict) -> dict:
    return {k: v for k, v in report.items() if k != "as_of"}


def test_long_durations_raise_the_psi_of_duration_only(drift_server: str, records) -> None:
    assert without_instant(drift(drift_server)) == withheld(0)
    # One applicant scored: nothing about them is published.
    score(drift_server, records[:1])
    assert without_instant(drift(drift_server)) == withheld(1)

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


def test_every_worker_publishes_the_same_figures(drift_server: str, records) -> None:
    """Scrapes on fresh connections reach both workers: every answer has the whole window
    (a worker's own window would hold only the applicants it decided)."""
    score(drift_server, records[:WINDOW])
    report = drift(drift_server)
    instant = datetime.fromisoformat(report["as_of"]).timestamp()
    answers, current = set(), 0
    for _ in range(200):
        text = requests.get(f"{drift_server}/metrics", headers={"Connection": "close"}).text
        families = {f.name: f for f in text_string_to_metric_families(text)}
        if as_of(families) < instant:
            continue  # that worker's last figures are older than the scoring: it refreshes
        answers.add(tuple(line for line in text.splitlines() if line.startswith("credit_risk_d")))
        current += 1
        if current == 40:
            break
    assert current == 40
    assert answers == {
        (
            f"credit_risk_drift_window_rows {float(WINDOW)!r}",
            f"credit_risk_drift_psi_max {max(report['psi'].values())!r}",
            f"credit_risk_drift_fields_drifted {float(len(report['drifted']))!r}",
        )
    }
