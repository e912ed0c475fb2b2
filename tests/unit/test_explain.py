"""Shapley values of simple games whose answer is known by hand."""

from __future__ import annotations

import numpy as np
import pytest

from credit_risk.explain import shapley_values

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
