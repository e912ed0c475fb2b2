"""Fairness groups and the release gate."""

from __future__ import annotations

import pytest

from credit_risk.fairness import MIN_APPROVAL_RATIO, age_band, age_bands, gate_failure
from credit_risk.selection import eligible


@pytest.mark.parametrize(
    ("age", "band"), [(18, "< 25"), (24, "< 25"), (25, "25-39"), (61, "40-61"), (62, "62+")]
)
def test_age_bands_split_at_regulation_b_elderly_age(age: int, band: str) -> None:
    assert age_band(age) == band
    assert list(age_bands([age, age])) == [band, band]


def test_a_version_below_the_gate_cannot_become_best() -> None:
    below = {"approval_ratio_female_male": {"mean": MIN_APPROVAL_RATIO - 0.01, "sd": 0.1}}
    above = {"approval_ratio_female_male": {"mean": MIN_APPROVAL_RATIO, "sd": 0.1}}
    assert "below the release gate 0.85" in gate_failure(below)
    assert gate_failure(above) is None
    assert not eligible(below) and eligible(above)
    assert "no cross-validated approval ratio" in gate_failure({})
