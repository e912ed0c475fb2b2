"""Shapley values of simple games whose answer is known by hand, and their ranking into
reasons."""

from __future__ import annotations

import numpy as np
import pytest

from credit_risk.contract import ENCODED_COLUMNS, EXAMPLE
from credit_risk.explain import MIN_CONTRIBUTION, Reasons, shapley_values

REFERENCE = np.array([0.0, 0.0, 0.0])


def test_an_additive_score_gives_each_field_its_own_effect() -> None:
    weights = np.array([1.0, -2.0, 0.5])
    rows = np.array([[1.0, 1.0, 1.0], [3.0, 0.0, -2.0]])
    phi = shapley_values(rows, REFERENCE, lambda x: x @ weights)
    np.testing.assert_allclose(phi, rows * weights)


def test_an_interaction_is_shared_equally() -> None:
    phi = shapley_values(np.array([[2.0, 3.0, 0.0]]), REFERENCE, lambda x: x[:, 0] * x[:, 1])
    np.testing.assert_allclose(phi, [[3.0, 3.0, 0.0]])


def test_rows_equal_to_the_reference_and_fields_equal_to_it_contribute_nothing() -> None:
    calls = []

    def score(x: np.ndarray) -> np.ndarray:
        calls.append(len(x))
        return np.exp(x).sum(axis=1)

    phi = shapley_values(np.array([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), REFERENCE, score)
    np.testing.assert_allclose(phi, [[0, 0, 0], [0, np.e - 1, 0]])
    assert calls == [1 + 2]  # one call: 2**0 + 2**1 coalitions


@pytest.mark.parametrize("seed", range(3))
def test_values_add_up_to_the_change_from_the_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows = rng.normal(size=(5, 3))
    phi = shapley_values(rows, REFERENCE, lambda x: np.tanh(x).prod(axis=1) + x[:, 0] ** 2)
    total = np.tanh(rows).prod(axis=1) + rows[:, 0] ** 2
    np.testing.assert_allclose(phi.sum(axis=1), total, atol=1e-12)


REFERENCE_APPLICANT = EXAMPLE | {
    "Checking account": "little",
    "Duration": 18,
    "Credit amount": 2308.5,
}


def test_reasons_keep_the_strongest_three_each_way_strongest_first() -> None:
    contributions = dict.fromkeys(ENCODED_COLUMNS, 0.0) | {
        "Age": -0.2, "Duration": -0.9, "Housing": -0.5, "Job": -0.3,
        "Credit amount": 0.4, "Purpose": 0.05,
    }  # fmt: skip
    reasons = Reasons.rank(
        EXAMPLE, REFERENCE_APPLICANT, [contributions[n] for n in ENCODED_COLUMNS]
    )
    assert [r.field for r in reasons.towards_bad] == ["Duration", "Housing", "Job"]
    assert [r.field for r in reasons.towards_good] == ["Credit amount", "Purpose"]
    duration = reasons.towards_bad[0]
    assert (duration.text, duration.value, duration.reference) == ("Duration = 36", 36, 18)
    assert reasons.towards_good[0].text == "Credit amount = 9055"


def test_reasons_leave_out_effects_too_small_to_tell() -> None:
    small = [MIN_CONTRIBUTION / 2, -MIN_CONTRIBUTION / 2] + [0.0] * (len(ENCODED_COLUMNS) - 2)
    assert Reasons.rank(EXAMPLE, REFERENCE_APPLICANT, small) == Reasons(
        towards_bad=[], towards_good=[]
    )


def test_reasons_need_one_contribution_per_field() -> None:
    with pytest.raises(ValueError):
        Reasons.rank(EXAMPLE, REFERENCE_APPLICANT, [0.5])
