"""One scoring request without BentoML: the served model's own decisions, real records."""

from __future__ import annotations

import asyncio
import logging

import numpy as np
import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from credit_risk.contract import EXAMPLE, Applicant
from serving.records.database import decisions, engine_for
from serving.records.queries import Records
from serving.scoring import DecisionsNotRecorded, RequestIdTaken, Scoring
from serving.settings import Settings


@pytest.fixture
def engine(records_url: str) -> sa.Engine:
    return engine_for(records_url)


def scoring(stored_model, served_scorer, engine: sa.Engine | None) -> Scoring:
    async def predict(rows: np.ndarray) -> np.ndarray:
        return served_scorer.decisions(rows)

    async def explain(rows: np.ndarray) -> np.ndarray:
        return served_scorer.decisions(rows, with_reasons=True)

    return Scoring.of_version(
        stored_model, predict=predict, explain=explain, records=engine, settings=Settings()
    )


def decide(scoring: Scoring, applicants: list[dict], **options) -> list:
    request = {"reasons": False, "request_id": "r1", "caller": "key-1", "client_reference": None}
    validated = [Applicant.model_validate(a) for a in applicants]
    return asyncio.run(scoring.decide(validated, **request | options))


def test_every_decline_is_recorded_with_its_reasons_and_answered_without_unless_asked(
    stored_model, served_scorer, engine: sa.Engine, dataset
) -> None:
    applicants = dataset.drop(columns="Risk").head(20).to_dict("records")
    answers = decide(scoring(stored_model, served_scorer, engine), applicants)
    assert all(answer.reasons is None for answer in answers)
    recorded = Records(engine).of_request("r1")
    assert [r["decision"] for r in recorded] == [a.prediction for a in answers]
    assert [r["p_good"] for r in recorded] == [a.probability for a in answers]
    declined = [r for r in recorded if r["decision"] == "bad"]
    assert declined and all(r["reasons"]["reasons"] for r in declined)
    assert all(r["reasons"] is None for r in recorded if r["decision"] == "good")
    asked = decide(
        scoring(stored_model, served_scorer, engine), applicants, reasons=True, request_id="r2"
    )
    assert all(answer.reasons is not None for answer in asked)


def test_a_retry_gets_the_first_answers_and_another_request_with_its_id_a_conflict(
    stored_model, served_scorer, engine: sa.Engine, dataset
) -> None:
    service = scoring(stored_model, served_scorer, engine)
    applicants = dataset.drop(columns="Risk").head(20).to_dict("records")
    first = decide(service, applicants)
    assert {answer.prediction for answer in first} == {"good", "bad"}
    assert decide(service, applicants) == first  # a client's retry
    assert len(Records(engine).of_request("r1")) == len(applicants)  # recorded once
    for other in (
        {"caller": "key-2"},
        {"client_reference": "app-9"},
        {"applicants": applicants[:19]},
        {"applicants": [*applicants[:19], {**applicants[19], "Age": applicants[19]["Age"] + 1}]},
        {"reasons": True},  # its approvals were answered without reasons
    ):
        request = {"applicants": applicants} | other
        with pytest.raises(RequestIdTaken, match="'r1'"):
            decide(service, request.pop("applicants"), **request)
    explained = decide(service, applicants, reasons=True, request_id="r2")
    assert decide(service, applicants, request_id="r2") == [
        answer.without_reasons() for answer in explained
    ]
    assert len(Records(engine).of_request("r1")) == len(applicants)


def test_requests_sharing_an_id_in_one_commit_are_recorded_once(
    stored_model, served_scorer, engine: sa.Engine
) -> None:
    service = scoring(stored_model, served_scorer, engine)
    other = {**EXAMPLE, "Age": 50}

    async def together(*bodies: dict) -> list:
        validated = [[Applicant.model_validate(body)] for body in bodies]
        options = {"reasons": False, "caller": "key-1", "client_reference": None}
        return await asyncio.gather(
            *(service.decide(v, request_id="r1", **options) for v in validated),
            service.decide(validated[0], request_id="r2", **options),
            return_exceptions=True,
        )

    retry, first, elsewhere = asyncio.run(together(EXAMPLE, EXAMPLE))
    assert retry == first and not isinstance(elsewhere, Exception)
    taken = asyncio.run(together(other, other))
    assert all(isinstance(answer, RequestIdTaken) for answer in taken[:2])
    assert len(Records(engine).of_request("r1")) == 1
    assert len(Records(engine).of_request("r2")) == 1


def test_no_decision_is_answered_while_the_records_are_lost_and_the_loss_is_logged_once(
    stored_model, served_scorer, engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    service = scoring(stored_model, served_scorer, engine)
    with engine.begin() as connection:
        connection.execute(sa.text(f"ALTER TABLE {decisions.name} RENAME TO lost"))
    with caplog.at_level(logging.WARNING, logger="serving.scoring"):
        for _ in range(2):
            with pytest.raises(DecisionsNotRecorded):
                decide(service, [EXAMPLE])
        with engine.begin() as connection:
            connection.execute(sa.text(f"ALTER TABLE lost RENAME TO {decisions.name}"))
        assert len(decide(service, [EXAMPLE])) == 1
    assert [r.getMessage().split(",")[0] for r in caplog.records] == [
        "decision records database lost",
        "decision records database back",
    ]


def test_a_client_reference_that_is_no_printable_text_is_invalid_input(
    stored_model, served_scorer
) -> None:
    with pytest.raises(ValidationError):
        decide(scoring(stored_model, served_scorer, None), [EXAMPLE], client_reference="é")
