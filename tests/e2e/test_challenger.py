"""A real server with a challenger beside the served version: both score every applicant,
the challenger answers its share, the records keep both and compare them; a challenger
that cannot stand beside the champion stops the start-up, naming it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from serving.challenger import answers_challenger
from tests.e2e.conftest import KEY, scrape
from tools.server_process import REPO_ROOT, ServerProcess, bentoml_serve, free_port

PREDICT = "/credit_score_prediction"
SHARE = 50


@pytest.fixture(scope="module")
def paired(challenger_model, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    port = free_port()
    where = tmp_path_factory.mktemp("challenger")
    env = {
        "CREDIT_RISK_CHALLENGER_MODEL": str(challenger_model.tag),
        "CREDIT_RISK_CHALLENGER_SHARE": str(SHARE),
        "CREDIT_RISK_API_KEYS": json.dumps([KEY]),
        "CREDIT_RISK_RECORDS_URL": f"sqlite:///{where / 'decisions.db'}",
        "CREDIT_RISK_FIGURES_REFRESH_S": "0",  # every scrape refreshes the figures
    }
    log = where / "serve.log"
    with ServerProcess(bentoml_serve("service:CreditScoring", port), port, log, env=env) as server:
        yield {"url": server.url, "env": {**server.env}}


def test_both_versions_score_and_each_applicant_meets_one(
    paired: dict, stored_model, challenger_model, dataset
) -> None:
    applicants = dataset.drop(columns="Risk").head(120).to_dict("records")

    def score(i: int) -> dict:
        headers = {"X-API-Key": KEY, "X-Application-ID": f"loan-{i}", "X-Request-ID": f"c-{i}"}
        response = requests.post(paired["url"] + PREDICT, json=applicants[i], headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    with ThreadPoolExecutor(8) as pool:  # concurrent: the rows share adaptive batches
        answers = list(pool.map(score, range(len(applicants))))
    tags = (str(stored_model.tag), str(challenger_model.tag))
    routed = [answers_challenger(f"loan-{i}", SHARE) for i in range(len(applicants))]
    assert [a["model"] for a in answers] == [tags[r] for r in routed]
    again = score(7)  # the same applicant meets the same version
    assert again["model"] == answers[7]["model"]
    (record,) = requests.get(
        f"{paired['url']}/decisions/c-3", headers={"X-API-Key": KEY}, timeout=10
    ).json()
    assert record["model"] == answers[3]["model"]
    assert record["shadow_model"] == tags[not routed[3]]
    assert 0 <= record["shadow_p_good"] <= 1 and record["shadow_decision"] in ("good", "bad")

    compared = subprocess.run(
        [sys.executable, "-m", "serving.records.admin", "compare"],
        cwd=REPO_ROOT,
        env=paired["env"],
        capture_output=True,
        text=True,
        check=True,
    )
    (pair,) = json.loads(compared.stdout)
    first, second = sorted(tags)
    flip = f'credit_risk_challenger_flip_rate{{model="{first}",other="{second}"}}'
    deadline = time.monotonic() + 30
    while flip not in (text := scrape(paired["url"])) and time.monotonic() < deadline:
        pass  # the figures are refreshed in the background, after a scrape
    assert flip in text
    assert sorted(pair["versions"]) == sorted(tags)
    assert pair["applicants"] == len(applicants)  # the retry of c-7 is no second record
    assert pair["answered"] == {tags[1]: sum(routed), tags[0]: len(routed) - sum(routed)}
    assert 0 <= pair["flip_rate"] < 0.5


def start_up_error(env: dict[str, str]) -> str:
    """What importing the service (as `bentoml serve` does first) prints when it fails."""
    done = subprocess.run(
        [sys.executable, "-c", "import service"],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0, "the service started"
    return done.stderr


def test_a_challenger_that_is_not_stored_stops_the_start_up() -> None:
    error = start_up_error({"CREDIT_RISK_CHALLENGER_MODEL": "credit_risk:notstored"})
    assert "credit_risk:notstored" in error and "not found" in error


def test_the_served_version_as_its_own_challenger_stops_the_start_up(stored_model) -> None:
    error = start_up_error({"CREDIT_RISK_CHALLENGER_MODEL": str(stored_model.tag)})
    assert f"{stored_model.tag} is the served version itself" in error


def test_a_share_outside_0_to_100_stops_the_start_up(challenger_model) -> None:
    env = {"CREDIT_RISK_CHALLENGER_MODEL": str(challenger_model.tag)}
    error = start_up_error({**env, "CREDIT_RISK_CHALLENGER_SHARE": "150"})
    assert "challenger_share" in error
