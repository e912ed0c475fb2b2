"""Behaviour of the served model (committed artifacts): the expectations of the model card.

The expectations live in training_export/behaviour.py, which the model card also reports.
"""

from __future__ import annotations

import numpy as np
import pytest

from credit_risk.artifacts import Scorer
from credit_risk.contract import encode
from model_store.store import load_scorer
from training_export import behaviour


@pytest.fixture(scope="module")
def scorer(stored_model) -> Scorer:
    return load_scorer(stored_model)


@pytest.fixture(scope="module")
def checks(scorer: Scorer, records: list[dict]) -> dict[str, behaviour.Check]:
    return {check.name: check for check in behaviour.checks(scorer, records)}


EXPECTATIONS = (
    "checking_account_order",
    "saving_accounts_order",
    "longer_duration",
    "larger_amount",
    "elderly_not_scored_below_younger",
)


def test_every_expectation_of_the_card_is_tested_here(checks: dict[str, behaviour.Check]) -> None:
    assert set(checks) == set(EXPECTATIONS)


@pytest.mark.parametrize("name", EXPECTATIONS)
def test_directional_expectation_holds(checks: dict[str, behaviour.Check], name: str) -> None:
    check = checks[name]
    assert check.holds, f"{check.expectation} Observed: {check.observed}"


def test_scoring_is_deterministic(scorer: Scorer, records: list[dict]) -> None:
    encoded = encode(records)
    np.testing.assert_array_equal(scorer.predict_proba(encoded), scorer.predict_proba(encoded))


def test_scoring_does_not_depend_on_row_order(scorer: Scorer, records: list[dict]) -> None:
    encoded = encode(records)
    order = np.random.default_rng(0).permutation(len(encoded))
    np.testing.assert_array_equal(
        scorer.predict_proba(encoded[order]), scorer.predict_proba(encoded)[order]
    )


def test_scoring_does_not_depend_on_batch_composition(scorer: Scorer, records: list[dict]) -> None:
    encoded = encode(records)
    whole = scorer.predict_proba(encoded)
    rng = np.random.default_rng(1)
    order = rng.permutation(len(encoded))
    sizes = [1, 2, 3, 7, 31, 64, 100, 256]
    start, parts = 0, []
    while start < len(order):
        size = sizes[len(parts) % len(sizes)]
        rows = order[start : start + size]
        parts.append((rows, scorer.predict_proba(encoded[rows])))
        start += size
    # Matrix products of other shapes round float32 differently (seen: 1.5e-8), so equal
    # within 1e-7, well inside the 1e-6 of the service's parity with the offline pipeline.
    for rows, p_good in parts:
        np.testing.assert_allclose(p_good, whole[rows], rtol=0, atol=1e-7)


def test_flipping_sex_changes_no_probability(scorer: Scorer, records: list[dict]) -> None:
    assert behaviour.sex_flip(scorer, records) == {
        "mean_abs_change": 0.0,
        "male_to_female_mean_change": 0.0,
        "female_to_male_mean_change": 0.0,
    }
