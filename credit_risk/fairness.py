"""The groups that fair-lending monitoring compares, and the rules that its figures must meet.

Groups: Sex, and the age bands below (62 is where Regulation B's "elderly applicant"
begins, 12 CFR 1002.2(o)). The approval ratio of a group is its approval rate divided by
that of the most approved group of the same field (the adverse impact ratio; below 0.8 is
the usual screening flag, the "four-fifths rule").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

# (label, first age, first age of the next band)
AGE_BANDS: tuple[tuple[str, int, int], ...] = (
    ("< 25", 0, 25),
    ("25-39", 25, 40),
    ("40-61", 40, 62),
    ("62+", 62, 1000),
)
SEXES = ("female", "male")
# Release gate: a version whose cross-validated approval ratio women / men is below this
# cannot become `best` (`credit_risk.selection`).
MIN_APPROVAL_RATIO = 0.85
# The served version's approval ratio women / men on the committed rows must reach this.
MIN_SERVED_APPROVAL_RATIO = 0.80
# No figure is published for a group of fewer applicants (it would reveal individuals).
MIN_GROUP_SIZE = 100


def age_band(age: float) -> str:
    """The band label of one age."""
    for label, first, stop in AGE_BANDS:
        if first <= age < stop:
            return label
    raise ValueError(f"no age band holds {age}")


def age_bands(ages: Any) -> np.ndarray:
    """The band label of each age."""
    return np.array([age_band(float(a)) for a in np.asarray(ages)], dtype=object)


def gate_failure(cv: Mapping[str, Any]) -> str | None:
    """Why a version with these cross-validated metrics may not become `best`, or None."""
    ratio = cv.get("approval_ratio_female_male")
    if ratio is None:
        return "no cross-validated approval ratio women / men was measured"
    if ratio["mean"] < MIN_APPROVAL_RATIO:
        return (
            f"its cross-validated approval ratio women / men {ratio['mean']:.3f} is below "
            f"the release gate {MIN_APPROVAL_RATIO}"
        )
    return None
