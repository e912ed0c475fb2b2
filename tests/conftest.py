"""Shared fixtures: a temporary BentoML store holding the committed artifacts."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest


def pytest_configure(config: pytest.Config) -> None:
    # Before anything imports bentoml: every test uses a fresh, temporary model store.
    os.environ["BENTOML_HOME"] = tempfile.mkdtemp(prefix="bentoml-home-")
    os.environ["BENTOML_DO_NOT_TRACK"] = "true"


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(os.environ["BENTOML_HOME"], ignore_errors=True)  # built Bentos are large


@pytest.fixture(scope="session")
def postgres() -> Iterator:
    """A PostgreSQL server of the tests' own (tools/postgres.py), for the whole session."""
    from tools.postgres import INSTALL_HINT, PostgresCluster, postgres_bin

    if postgres_bin() is None:
        pytest.fail(f"the decision records' tests need {INSTALL_HINT}", pytrace=False)
    with PostgresCluster() as cluster:
        yield cluster


@pytest.fixture(params=["sqlite", "postgresql"])
def records_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty records database of each kind: SQLite in a new directory, and a new
    database on the session's PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'records' / 'decisions.db'}"
    return request.getfixturevalue("postgres").create_database()


@pytest.fixture(scope="session")
def dataset() -> pd.DataFrame:
    from training_export import dataset

    return dataset.load()


@pytest.fixture(scope="session")
def records(dataset: pd.DataFrame) -> list[dict]:
    """The 1000 dataset rows as request bodies."""
    from credit_risk.contract import FIELDS

    return dataset[list(FIELDS)].to_dict("records")


@pytest.fixture(scope="session")
def stored_model():
    """The committed artifacts imported into the temporary store (what `make store` does);
    the version the service serves by default."""
    import bentoml

    from model_store.store import import_artifacts
    from model_store.versions import resolve
    from serving.settings import settings
    from training_export.paths import ARTIFACTS_DIR

    import_artifacts(ARTIFACTS_DIR)
    return bentoml.models.get(resolve(settings.served_model))


@pytest.fixture(scope="session")
def challenger_model(stored_model):
    """Another version of the committed artifacts in the store (config 002): a challenger."""
    import bentoml

    (model,) = (
        m for m in bentoml.models.list(stored_model.tag.name) if m.info.labels["config_id"] == "002"
    )
    return model


@pytest.fixture(scope="session")
def served_scorer(stored_model):
    """The served version, loaded from the committed artifacts (not from the store)."""
    from credit_risk.artifacts import load_exported
    from training_export.paths import ARTIFACTS_DIR

    return load_exported(ARTIFACTS_DIR, stored_model.info.labels["config_id"])


@pytest.fixture(scope="session")
def served_decision(served_scorer):
    """Calibration and threshold of the served version."""
    return served_scorer.decision


@pytest.fixture(scope="session")
def example_answer(stored_model, served_decision) -> tuple[dict, dict]:
    """The API doc's example body and the answer the stored model gives it, in process."""
    from credit_risk.contract import EXAMPLE, Applicant, encode_applicants
    from credit_risk.decision import decision_rows
    from model_store.store import load_scorer
    from serving.oversight import DecisionPolicy
    from serving.schemas import CreditScore
    from serving.settings import Settings

    example = EXAMPLE
    p_good = load_scorer(stored_model).predict_proba(encode_applicants([Applicant(**example)]))
    row = decision_rows(p_good[0], served_decision.calls_good(p_good[0]))[0]
    decision = DecisionPolicy.of(Settings()).of_row(row, served_decision.threshold)
    answer = CreditScore.from_row(row, str(stored_model.tag), decision).model_dump()
    for key in ("probability", "probability_bad"):
        answer[key] = pytest.approx(answer[key], abs=1e-6)
    return example, answer


@pytest.fixture(scope="session")
def reference_proba(dataset: pd.DataFrame, served_scorer) -> pd.Series:
    """Calibrated P(good) of every dataset row from the offline pipeline (scikit-learn +
    the network as trained + Platt) for the served version."""
    from training_export.train import reference_proba

    scorer = served_scorer
    p_good = reference_proba(scorer.preprocessor, scorer.network, scorer.decision, dataset)
    return pd.Series(p_good, index=dataset.index)


@pytest.fixture
def artifact_copy(tmp_path: Path) -> Path:
    """A writable copy of the committed artifacts."""
    import shutil

    from training_export.paths import ARTIFACTS_DIR

    return Path(shutil.copytree(ARTIFACTS_DIR, tmp_path / "artifacts"))


def _first_decided(
    dataset: pd.DataFrame, served_scorer, decision: str, good: bool | None = None, **policy
) -> dict:
    """The first dataset applicant whom the served version answers with `decision` (and,
    unless `good` is None, that prediction), under the default review settings changed by
    `policy`."""
    from credit_risk.contract import FIELDS, encode
    from serving.oversight import DecisionPolicy
    from serving.settings import Settings

    applicants = dataset[list(FIELDS)].to_dict("records")
    settings = Settings(**policy)
    rows = served_scorer.decisions(encode(applicants))
    answered = (
        DecisionPolicy.of(settings).of_row(r, served_scorer.decision.threshold) for r in rows
    )
    return next(
        a
        for a, r, d in zip(applicants, rows, answered, strict=True)
        if d == decision and good in (None, r["good"])
    )


@pytest.fixture(scope="session")
def approved_applicant(dataset: pd.DataFrame, served_scorer) -> dict:
    """The first dataset applicant that the served version approves (outside the band a
    person reviews)."""
    return _first_decided(dataset, served_scorer, "approve")


@pytest.fixture(scope="session")
def referred_applicant(dataset: pd.DataFrame, served_scorer) -> dict:
    """The first dataset applicant the served version would approve, referred to a person
    because its P(good) lies within the review band of the threshold."""
    return _first_decided(dataset, served_scorer, "refer", good=True, decline_needs_review=False)


@pytest.fixture(scope="session")
def declined_applicant(dataset: pd.DataFrame, served_scorer) -> dict:
    """The first dataset applicant the served version declines below the review band (a
    person takes the decline: declines need review by default)."""
    return _first_decided(dataset, served_scorer, "decline", decline_needs_review=False)
