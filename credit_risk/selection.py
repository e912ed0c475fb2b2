"""Which evaluated version is "best": the rule, in one place (no torch here).

The lowest cross-validated mean Brier score: a proper score of the calibrated P(good) the
service answers, and the steadiest of the figures across folds (the expected cost at the
fitted threshold moves by 0.07-0.09 sd from fold to fold). Ties: the lower mean expected
cost per applicant, then the caller's own tie-break (the model store: the newest).
Only versions that pass the fair-lending release gate (`credit_risk.fairness.gate_failure`)
are candidates.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from credit_risk.fairness import gate_failure

# Mean Brier scores equal at this many decimals count as tied.
BRIER_DECIMALS = 4


def selection_key(cv: Mapping[str, Any]) -> tuple[float, float]:
    """Sort key of a version's cross-validated metrics (`{"brier": {"mean": ...}, ...}`):
    the smallest is the best."""
    return (round(cv["brier"]["mean"], BRIER_DECIMALS), cv["cost"]["mean"])


def eligible(cv: Mapping[str, Any]) -> bool:
    """Whether a version with these cross-validated metrics may become `best`."""
    return gate_failure(cv) is None
