"""Reason codes of the served model: exact, deterministic, and pointing the obvious way."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logit
from scipy.stats import spearmanr

from credit_risk.artifacts import Scorer
from credit_risk.contract import ENCODED_COLUMNS, Reasons, encode
from model_store import load_scorer


@pytest.fixture(scope="module")
def scorer(stored_model) -> Scorer:
    return load_scorer(stored_model)


@pytest.fixture(scope="module")
def reference(scorer: Scorer) -> dict:
    return scorer.profile.reference_record()


def reasons_for(scorer: Scorer, record: dict) -> Reasons:
    row = scorer.explain(encode([record]))[0]
    return Reasons.rank(record, scorer.profile.reference_record(), row[1:].tolist())


def test_explain_gives_the_same_probability_as_predict(scorer: Scorer, records) -> None:
    encoded = encode(records)
    np.testing.assert_allclose(
        scorer.explain(encoded)[:, 0], scorer.predict_proba(encoded), rtol=0, atol=1e-7
    )


def test_each_contribution_is_the_effect_of_substituting_the_reference(
    scorer: Scorer, records: list[dict], reference: dict
) -> None:
    """Recomputed field by field through predict_proba: calibrated log-odds differences."""
    sample = records[::25]
    contributions = scorer.explain(encode(sample))[:, 1:]
    log_odds = logit(scorer.predict_proba(encode(sample)))
    for j, name in enumerate(ENCODED_COLUMNS):
        substituted = [r | {name: reference[name]} for r in sample]
        expected = log_odds - logit(scorer.predict_proba(encode(substituted)))
        np.testing.assert_allclose(contributions[:, j], expected, rtol=0, atol=1e-4)


def test_a_value_equal_to_the_reference_contributes_nothing(
    scorer: Scorer, records: list[dict], reference: dict
) -> None:
    encoded = encode(records)
    contributions = scorer.explain(encoded)[:, 1:]
    assert (contributions[encoded == encode([reference])[0]] == 0).all()
    assert (scorer.explain(encode([reference]))[0, 1:] == 0).all()


@pytest.mark.parametrize("name", ENCODED_COLUMNS)
def test_one_changed_field_explains_the_whole_change(
    scorer: Scorer, records: list[dict], reference: dict, name: str
) -> None:
    """Changed in one field from the reference, that field's contribution is the whole
    change of the log-odds, and every other field's is zero."""
    variants = [reference | {name: r[name]} for r in records[:200]]
    row = scorer.explain(encode(variants))
    total = logit(row[:, 0]) - logit(scorer.predict_proba(encode([reference]))[0])
    j = ENCODED_COLUMNS.index(name)
    np.testing.assert_allclose(row[:, 1 + j], total, rtol=0, atol=1e-4)
    assert (np.delete(row[:, 1:], j, axis=1) == 0).all()


def test_contributions_rank_applicants_like_their_total_change(
    scorer: Scorer, records: list[dict], reference: dict
) -> None:
    """Over the whole dataset, the sum of an applicant's contributions orders applicants
    like their log-odds change against the reference applicant (interactions between
    fields make the two differ in value, not in order)."""
    row = scorer.explain(encode(records))
    total = logit(row[:, 0]) - logit(scorer.predict_proba(encode([reference]))[0])
    assert spearmanr(row[:, 1:].sum(axis=1), total).statistic >= 0.7


def test_contributions_are_deterministic_and_independent_of_the_batch(
    scorer: Scorer, records: list[dict]
) -> None:
    encoded = encode(records)
    whole = scorer.explain(encoded)
    np.testing.assert_array_equal(whole, scorer.explain(encoded))
    pieces = np.concatenate([scorer.explain(encoded[i : i + 7]) for i in range(0, 1000, 7)])
    np.testing.assert_allclose(pieces, whole, rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    ("name", "value"),
    [("Checking account", "little"), ("Duration", 60), ("Credit amount", 15000)],
)
def test_a_known_risk_is_the_top_reason_towards_bad(
    scorer: Scorer, reference: dict, name: str, value: object
) -> None:
    reasons = reasons_for(scorer, reference | {name: value})
    assert [r.text for r in reasons.towards_bad] == [f"{name} = {value}"]
    assert reasons.towards_good == []


def test_a_risky_applicant_gets_only_risk_factors_as_top_reasons(
    scorer: Scorer, reference: dict
) -> None:
    risky = reference | {
        "Checking account": "little",
        "Duration": 60,
        "Credit amount": 15000,
        "Housing": "rent",
    }
    reasons = reasons_for(scorer, risky)
    assert len(reasons.towards_bad) == 3
    assert {r.field for r in reasons.towards_bad} <= {
        "Checking account",
        "Duration",
        "Credit amount",
        "Housing",
    }
