"""A client generated from the served /openapi.json with openapi-python-client, as a
client author would generate it, calling the real servers and parsing every answer into
its typed model."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType

import pytest
import requests

from credit_risk.contract import EXAMPLE
from tests.e2e.conftest import KEY

BIN = Path(sys.executable).parent
PACKAGE = "credit_score_client"


@pytest.fixture(scope="module")
def generated(server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The generated package, imported."""
    where = tmp_path_factory.mktemp("client")
    (where / "openapi.json").write_text(requests.get(server + "/openapi.json", timeout=10).text)
    done = subprocess.run(
        [
            *(str(BIN / "openapi-python-client"), "generate", "--path", "openapi.json"),
            *("--meta", "none", "--output-path", PACKAGE),
        ],
        cwd=where,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Warning" not in done.stdout + done.stderr, done.stdout + done.stderr
    sys.path.insert(0, str(where))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(where))


def api(generated: ModuleType, name: str) -> ModuleType:
    return importlib.import_module(f"{PACKAGE}.api.credit_scoring.{name}")


def models(generated: ModuleType) -> ModuleType:
    return importlib.import_module(f"{PACKAGE}.models")


@pytest.mark.parametrize("reasons", [False, True])
def test_both_endpoints_answer_typed_decisions(
    generated: ModuleType, server: str, reasons: bool
) -> None:
    m = models(generated)
    client = generated.Client(base_url=server)
    applicant = m.Applicant.from_dict(EXAMPLE)
    one = api(generated, "credit_score_prediction").sync(
        client=client, body=applicant, reasons=reasons
    )
    assert isinstance(one, m.CreditScore)
    assert one.prediction in ("good", "bad") and 0 <= one.probability <= 1
    if reasons:
        assert one.reasons and all(isinstance(r, m.Reason) for r in one.reasons)
    else:
        assert not isinstance(one.reasons, list)
    batch = api(generated, "batch_credit_score_prediction").sync(
        client=client, body=m.ApplicantBatch(applicants=[applicant] * 3), reasons=reasons
    )
    assert isinstance(batch, m.CreditScores)
    # Up to float32 rounding of the batch each was computed in.
    assert [p.probability for p in batch.predictions] == pytest.approx([one.probability] * 3)


def test_invalid_input_is_a_typed_error(generated: ModuleType, server: str) -> None:
    m = models(generated)
    client = generated.Client(base_url=server)
    response = api(generated, "credit_score_prediction").sync_detailed(
        client=client, body=m.Applicant.from_dict({**EXAMPLE, "Age": 0})
    )
    assert response.status_code == 422
    assert isinstance(response.parsed, m.ErrorBody)
    assert [d.loc for d in response.parsed.detail] == [["Age"]]


def test_a_missing_key_is_a_typed_error(generated: ModuleType, restricted: str) -> None:
    m = models(generated)
    call = api(generated, "credit_score_prediction")
    body = m.Applicant.from_dict(EXAMPLE)
    refused = call.sync_detailed(client=generated.Client(base_url=restricted), body=body)
    assert refused.status_code == 401
    assert isinstance(refused.parsed, m.ErrorBody)
    keyed = generated.Client(base_url=restricted, headers={"X-API-Key": KEY})
    assert isinstance(call.sync(client=keyed, body=body), m.CreditScore)


def test_an_unknown_decision_is_a_typed_error(generated: ModuleType, restricted: str) -> None:
    m = models(generated)
    keyed = generated.Client(base_url=restricted, headers={"X-API-Key": KEY})
    records = importlib.import_module(f"{PACKAGE}.api.decision_records.decision_records")
    unknown = records.sync_detailed("no-such-request", client=keyed)
    assert unknown.status_code == 404 and isinstance(unknown.parsed, m.ErrorBody)


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [(b"{}", "text/plain", 415), (b"[" + b"0," * 600_000 + b"0]", "application/json", 413)],
)
def test_refused_bodies_parse_into_typed_errors(
    generated: ModuleType, server: str, content: bytes, content_type: str, status: int
) -> None:
    """Bodies the generated client never sends, sent raw; its own parser reads the answers."""
    m = models(generated)
    client = generated.Client(base_url=server)
    raw = client.get_httpx_client().post(
        "/credit_score_prediction", content=content, headers={"Content-Type": content_type}
    )
    call = api(generated, "credit_score_prediction")
    parsed = call._build_response(client=client, response=raw)
    assert parsed.status_code == status
    assert isinstance(parsed.parsed, m.ErrorBody) and parsed.parsed.error


def test_too_many_requests_parse_into_a_typed_error(generated: ModuleType, restricted: str) -> None:
    """More heavy requests at once than the keyed server's limit (4): some get 429. Batches
    of 256 with reasons, 16 at once: each takes long enough for the others to find the
    limit reached (with 64 and 12, all were sometimes answered before the next arrived)."""
    m = models(generated)
    client = generated.Client(base_url=restricted, headers={"X-API-Key": KEY}, timeout=60)
    call = api(generated, "batch_credit_score_prediction")
    body = m.ApplicantBatch(applicants=[m.Applicant.from_dict(EXAMPLE)] * 256)
    with ThreadPoolExecutor(16) as pool:
        answers = list(
            pool.map(
                lambda _: call.sync_detailed(client=client, body=body, reasons=True), range(16)
            )
        )
    refused = [a for a in answers if a.status_code == 429]
    assert refused, [a.status_code for a in answers]
    assert all(isinstance(a.parsed, m.ErrorBody) for a in refused)


def test_the_oversight_routes_answer_typed_models(
    generated: ModuleType, restricted: str, referred_applicant: dict
) -> None:
    """An applicant within the review band of the threshold is referred; a person approves
    it through the generated client, once."""
    m = models(generated)

    def route(name: str) -> ModuleType:
        return importlib.import_module(f"{PACKAGE}.api.human_oversight.{name}")

    keyed = generated.Client(base_url=restricted, headers={"X-API-Key": KEY})
    scorer = generated.Client(
        base_url=restricted, headers={"X-API-Key": KEY, "X-Request-ID": "generated-review"}
    )
    answer = api(generated, "credit_score_prediction").sync(
        client=scorer, body=m.Applicant.from_dict(referred_applicant)
    )
    assert answer.decision == "refer"
    page = route("reviews").sync(client=keyed, limit=100)
    assert isinstance(page, m.ReviewQueue)
    assert all(isinstance(r, m.Queued) for r in page.reviews)
    review = m.Review.from_dict({"decision": "approve"})
    taken = route("review_decision").sync("generated-review", client=keyed, body=review)
    assert isinstance(taken, m.DecisionRecord)
    assert taken.final_decision == "approve" and taken.reviewed_by == "key-1"
    again = route("review_decision").sync_detailed("generated-review", client=keyed, body=review)
    assert again.status_code == 409 and isinstance(again.parsed, m.ErrorBody)
    assert isinstance(route("oversight").sync(client=keyed), m.OversightReport)
