"""One scoring request without BentoML: the served model's own decisions, real records."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import numpy as np
import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from credit_risk.contract import EXAMPLE, Applicant, encode
from serving.challenger import answers_challenger
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


def paired(stored_model, challenger_model, served_scorer, engine, share: int) -> Scoring:
    """The served version with `challenger_model` beside it, as the runner scores them."""
    from model_store.store import load_scorer

    other = load_scorer(challenger_model)

    async def predict(rows: np.ndarray) -> np.ndarray:
        return np.stack([served_scorer.decisions(rows), other.decisions(rows)], axis=1)

    async def explain(rows: np.ndarray) -> np.ndarray:
        both = [s.decisions(rows, with_reasons=True) for s in (served_scorer, other)]
        return np.stack(both, axis=1)

    return Scoring.of_version(
        stored_model,
        predict=predict,
        explain=explain,
        records=engine,
        settings=Settings(challenger_share=share),
        challenger=challenger_model,
    )


def decide_each(scoring: Scoring, applicants: list[dict]) -> list:
    """One request per applicant, each with its own application reference."""
    return [
        decide(scoring, [a], request_id=f"r{i}", client_reference=f"loan-{i}")[0]
        for i, a in enumerate(applicants)
    ]


def test_a_shadow_challenger_scores_everyone_and_answers_no_one(
    stored_model, challenger_model, served_scorer, engine: sa.Engine, dataset
) -> None:
    from model_store.store import load_scorer

    applicants = dataset.drop(columns="Risk").head(60).to_dict("records")
    answers = decide_each(
        paired(stored_model, challenger_model, served_scorer, engine, 0), applicants
    )
    assert {a.model for a in answers} == {str(stored_model.tag)}
    shadow = load_scorer(challenger_model).decisions(encode(applicants))
    recorded = Records(engine).between(None, None)
    assert [r["shadow_model"] for r in recorded] == [str(challenger_model.tag)] * 60
    np.testing.assert_allclose([r["shadow_p_good"] for r in recorded], shadow["p_good"])
    assert [r["shadow_decision"] == "good" for r in recorded] == shadow["good"].tolist()
    declined = [r for r in recorded if r["shadow_decision"] == "bad"]
    assert declined and all(r["shadow_reasons"]["reasons"] for r in declined)
    assert all(r["shadow_answered"] in ("approve", "refer") for r in recorded)


def test_the_challenger_answers_its_share_and_the_champion_is_recorded_beside_it(
    stored_model, challenger_model, served_scorer, engine: sa.Engine, dataset
) -> None:
    applicants = dataset.drop(columns="Risk").head(60).to_dict("records")
    answers = decide_each(
        paired(stored_model, challenger_model, served_scorer, engine, 50), applicants
    )
    routed = [answers_challenger(f"loan-{i}", 50) for i in range(60)]
    assert 0 < sum(routed) < 60
    tags = (str(stored_model.tag), str(challenger_model.tag))
    assert [a.model for a in answers] == [tags[r] for r in routed]
    recorded = Records(engine).between(None, None)
    assert [r["model"] for r in recorded] == [a.model for a in answers]
    assert [r["shadow_model"] for r in recorded] == [tags[not r] for r in routed]
    # Each version's threshold is recorded with the decisions it answered.
    thresholds = {r["model"]: r["threshold"] for r in recorded}
    assert thresholds[tags[0]] != thresholds[tags[1]]


def test_the_comparison_of_two_versions_is_that_of_their_scores(
    stored_model, challenger_model, served_scorer, engine: sa.Engine, dataset
) -> None:
    from model_store.store import load_scorer
    from serving.records.comparison import compare, comparison_metrics

    applicants = dataset.drop(columns="Risk").head(250).to_dict("records")
    decide_each(paired(stored_model, challenger_model, served_scorer, engine, 50), applicants)
    what_if = decide(
        paired(stored_model, challenger_model, served_scorer, engine, 50),
        applicants[:1],
        request_id="what-if",
        what_if=True,
    )
    assert what_if
    (pair,) = compare(Records(engine).between(None, None))
    by_tag = {
        str(stored_model.tag): served_scorer,
        str(challenger_model.tag): load_scorer(challenger_model),
    }
    first, second = pair.versions
    assert sorted(by_tag) == [first, second] and pair.applicants == 250
    rows = {tag: scorer.decisions(encode(applicants)) for tag, scorer in by_tag.items()}
    for tag in by_tag:
        assert pair.approval_rate[tag] == pytest.approx(rows[tag]["good"].mean())
    assert pair.flip_rate == pytest.approx((rows[first]["good"] != rows[second]["good"]).mean())
    difference = rows[second]["p_good"] - rows[first]["p_good"]
    assert pair.p_good_difference.mean == pytest.approx(difference.mean())
    assert sum(pair.answered.values()) == 250
    assert {v.model for v in pair.fairness.versions} == {first, second}
    assert pair.realised == {}  # no outcome yet
    # /metrics: the same figures from the database's counts, per pair and version.
    gauges = comparison_metrics(Records(engine).paired_counts(datetime.now(UTC)))
    labels = f'model="{first}",other="{second}"'
    assert f"credit_risk_challenger_applicants{{{labels}}} 250.0" in gauges
    flip = float(gauges.split(f"credit_risk_challenger_flip_rate{{{labels}}} ")[1].split()[0])
    assert flip == pytest.approx(pair.flip_rate)
    for version, other in ((first, second), (second, first)):
        line = f'credit_risk_challenger_approval_rate{{model="{version}",other="{other}"}} '
        assert float(gauges.split(line)[1].split()[0]) == pytest.approx(pair.approval_rate[version])
    assert comparison_metrics([]) == ""
