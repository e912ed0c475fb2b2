"""The metrics of the evaluation: calibration error and the fast AUC."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from training_export.evaluation.metrics import calibration_table, fast_auc


def test_calibration_error_of_perfect_and_of_shifted_probabilities() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(size=100_000)
    y = (rng.uniform(size=p.size) < p).astype(float)
    assert calibration_table(y, p)["ece"] < 0.01
    assert calibration_table(y, np.clip(p + 0.1, 0, 1))["ece"] == pytest.approx(0.1, abs=0.02)


def test_fast_auc_equals_scikit_learn_with_ties() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 500).astype(float)
    p = np.round(rng.uniform(size=500) * 0.5 + 0.3 * y, 2)  # rounded: many ties
    assert fast_auc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
