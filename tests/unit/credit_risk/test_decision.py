"""Platt calibration, the UCI cost matrix and the cost-minimising threshold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from credit_risk.decision import (
    BAYES_THRESHOLD,
    Decision,
    cost_minimising_threshold,
    expected_cost,
)


def test_cost_matrix_is_the_uci_one() -> None:
    y = np.array([1, 1, 0, 0])
    assert expected_cost(y, np.array([1, 1, 0, 0])) == 0
    assert expected_cost(y, np.array([1, 1, 1, 0])) == 5 / 4  # one bad called good
    assert expected_cost(y, np.array([0, 1, 0, 0])) == 1 / 4  # one good called bad
    y70 = np.array([1] * 7 + [0] * 3)
    assert expected_cost(y70, np.zeros(10)) == pytest.approx(0.7)  # everyone bad
    assert expected_cost(y70, np.ones(10)) == pytest.approx(1.5)  # everyone good
    assert pytest.approx(5 / 6) == BAYES_THRESHOLD


def test_threshold_is_the_cheapest_on_the_rows() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(size=400)
    y = (rng.uniform(size=400) < p).astype(float)
    t = cost_minimising_threshold(y, p)
    grid = np.linspace(0, 1, 1001)
    assert expected_cost(y, p > t) <= min(expected_cost(y, p > g) for g in grid) + 1e-12


def test_threshold_on_calibrated_probabilities_is_near_the_bayes_rule() -> None:
    rng = np.random.default_rng(1)
    p = rng.beta(4, 2, size=200_000)
    y = (rng.uniform(size=p.size) < p).astype(float)
    assert cost_minimising_threshold(y, p) == pytest.approx(BAYES_THRESHOLD, abs=0.02)


def test_threshold_of_a_tie_is_the_middle_of_the_cheapest_range() -> None:
    # Everything at or below 0.3 is bad, everything from 0.9 is good: any t in [0.3, 0.9) is free.
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.3, 0.9, 0.95])
    assert cost_minimising_threshold(y, p) == pytest.approx(0.6)


def test_platt_recovers_a_known_calibration() -> None:
    rng = np.random.default_rng(2)
    logits = rng.normal(size=50_000) * 2
    y = (rng.uniform(size=logits.size) < 1 / (1 + np.exp(-(0.5 * logits + 1.0)))).astype(float)
    decision = Decision.fit(logits, y)
    assert decision.platt_slope == pytest.approx(0.5, abs=0.03)
    assert decision.platt_intercept == pytest.approx(1.0, abs=0.05)
    p = decision.calibrate(logits)
    assert decision.threshold == cost_minimising_threshold(y, p)


def test_without_platt_the_probability_is_the_sigmoid_and_only_the_threshold_is_fitted() -> None:
    rng = np.random.default_rng(3)
    logits = rng.normal(size=5_000) * 2
    y = (rng.uniform(size=logits.size) < 1 / (1 + np.exp(-(0.5 * logits + 1.0)))).astype(float)
    decision = Decision.fit(logits, y, platt=False)
    assert (decision.platt_slope, decision.platt_intercept) == (1.0, 0.0)
    p = decision.calibrate(logits)
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-logits)))
    assert decision.threshold == cost_minimising_threshold(y, p)
    # A monotone calibration with its threshold fitted on the same rows decides the same.
    platt = Decision.fit(logits, y)
    assert (platt.decide(platt.calibrate(logits)) == decision.decide(p)).all()


def test_decision_round_trips_and_refuses_nonsense(tmp_path: Path) -> None:
    decision = Decision(platt_slope=0.8, platt_intercept=0.1, threshold=0.7)
    decision.to_json(tmp_path / "d.json")
    assert Decision.from_json(tmp_path / "d.json") == decision
    with pytest.raises(ValidationError):
        Decision(platt_slope=0.0, platt_intercept=0.1, threshold=0.7)  # would flatten the ranking
    with pytest.raises(ValidationError):
        Decision(platt_slope=1.0, platt_intercept=0.1, threshold=1.5)


def test_decide_is_one_rule_for_one_probability_and_for_arrays() -> None:
    p_good = np.array([0.9, 0.51, 0.5, 0.1])
    decision = Decision(platt_slope=1.0, platt_intercept=0.0, threshold=0.5)
    assert decision.decide(p_good).tolist() == ["good", "good", "bad", "bad"]
    answers = [str(decision.decide(p)) for p in p_good]
    assert answers == decision.decide(p_good).tolist()
    assert decision.calls_good(p_good).tolist() == [True, True, False, False]
