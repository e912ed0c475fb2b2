"""Reason codes of the served model: exact, deterministic, and pointing the obvious way."""

from __future__ import annotations

from itertools import combinations
from math import factorial

import numpy as np
import pytest
from scipy.special import logit

from credit_risk.artifacts import Scorer
from credit_risk.contract import ENCODED_COLUMNS, encode
from credit_risk.explain import Reasons
from model_store.store import load_scorer


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


def test_contributions_are_the_shapley_values_of_the_fields(
    scorer: Scorer, records: list[dict], reference: dict
) -> None:
    """Recomputed from the definition, coalition by coalition through predict_proba:
    phi_j = sum over S without j of |S|! (d - |S| - 1)! / d! (v(S + j) - v(S))."""
    for record in records[:3]:
        players = [name for name in ENCODED_COLUMNS if record[name] != reference[name]]
        d = len(players)

        def v(coalition: tuple[str, ...], players=players, record=record) -> float:
            mixed = reference | {name: record[name] for name in coalition}
            return float(logit(scorer.predict_proba(encode([mixed]))[0]))

        row = scorer.explain(encode([record]))[0, 1:]
        for name in players:
            others = [p for p in players if p != name]
            expected = sum(
                factorial(size) * factorial(d - size - 1) / factorial(d)
                * (v((*coalition, name)) - v(coalition))
                for size in range(d)
                for coalition in combinations(others, size)
            )  # fmt: skip
            assert row[ENCODED_COLUMNS.index(name)] == pytest.approx(expected, abs=1e-4)


def test_contributions_add_up_to_the_change_from_the_reference(
    scorer: Scorer, records: list[dict], reference: dict
) -> None:
    row = scorer.explain(encode(records))
    total = logit(row[:, 0]) - logit(scorer.predict_proba(encode([reference]))[0])
    np.testing.assert_allclose(row[:, 1:].sum(axis=1), total, rtol=0, atol=1e-4)


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


def test_contributions_are_deterministic_and_independent_of_the_batch(
    scorer: Scorer, records: list[dict]
) -> None:
    encoded = encode(records)
    whole = scorer.explain(encoded)
    np.testing.assert_array_equal(whole, scorer.explain(encoded))
    pieces = np.concatenate([scorer.explain(encoded[i : i + 97]) for i in range(0, 1000, 97)])
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
