"""The training profile: reference applicant and field distributions of the training rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from credit_risk.artifacts import PROFILE
from credit_risk.contract import (
    CATEGORIES,
    SCORED_CATEGORICAL_FIELDS,
    SCORED_NUMERIC_FIELDS,
)
from credit_risk.profile import TrainingProfile
from training_export.paths import ARTIFACTS_DIR
from training_export.train import split


@pytest.fixture(scope="module")
def training_rows(dataset: pd.DataFrame) -> pd.DataFrame:
    return split(dataset).train


def test_committed_profile_is_the_profile_of_the_training_rows(training_rows) -> None:
    assert TrainingProfile.from_json(ARTIFACTS_DIR / PROFILE) == TrainingProfile.fit(training_rows)


def test_shares_are_the_training_distribution(training_rows) -> None:
    profile = TrainingProfile.fit(training_rows)
    for name, p in profile.numeric.items():
        assert sum(p.shares) == pytest.approx(1)
        counts = np.bincount(p.bins(training_rows[name].to_numpy()), minlength=len(p.shares))
        np.testing.assert_allclose(counts / len(training_rows), p.shares)
        assert p.edges == sorted(set(p.edges))  # no empty bins from repeated deciles
    for name, p in profile.categorical.items():
        expected = training_rows[name].value_counts(normalize=True)
        assert p.shares == pytest.approx([expected.get(c, 0.0) for c in CATEGORIES[name]])


def test_bins_put_edge_values_in_the_lower_bin() -> None:
    profile = TrainingProfile.fit(
        pd.DataFrame(
            {n: range(1, 11) for n in SCORED_NUMERIC_FIELDS}
            | {n: [CATEGORIES[n][0]] * 10 for n in SCORED_CATEGORICAL_FIELDS}
        )
    )
    duration = profile.numeric["Duration"]
    values = np.array([0.5, duration.edges[0], duration.edges[0] + 0.01, 99])
    assert duration.bins(values).tolist() == [0, 0, 1, 9]


def test_a_profile_that_does_not_fit_the_contract_is_refused(tmp_path: Path) -> None:
    profile = TrainingProfile.from_json(ARTIFACTS_DIR / PROFILE)
    broken = profile.model_copy(
        update={"categorical": {**profile.categorical, "Housing": profile.categorical["Job"]}}
    )
    broken.to_json(tmp_path / PROFILE)
    with pytest.raises(ValueError, match="Housing"):
        TrainingProfile.from_json(tmp_path / PROFILE)
