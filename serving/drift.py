"""Drift monitoring: each field's population stability index (PSI) over recent applicants.

The window is the last N applicants decided, read from the decision records that every
worker and replica shares (`serving.metrics.RecordFigures`), so any of them publishes the
same figures. Each applicant is binned by the training profile (numeric fields: the training
deciles; categorical fields: the contract's categories). PSI compares a field's shares in the
window (a) with its training shares (e):

    PSI = Σ over bins (a - e) · ln(a / e),  each share floored at SHARE_FLOOR

Rules of thumb: below 0.1 stable, 0.1 to 0.25 a moderate shift, above 0.25 a significant one.

The PSIs are statistics of personal data: with one applicant in the window they give away
that applicant's sex, job, housing, savings, purpose and age band. So no per-field figure
is published until the window holds `min_rows` applicants, and the Prometheus text (open
to any scraper) has only aggregates: the largest PSI and how many fields drifted.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
from pydantic import BaseModel, Field

from credit_risk.contract import ENCODED_COLUMNS, SCORED_CATEGORICAL_FIELDS, SCORED_NUMERIC_FIELDS
from credit_risk.profile import TrainingProfile

MODERATE_PSI = 0.1
SIGNIFICANT_PSI = 0.25
# An empty bin counts as this share, so that ln(a / e) stays finite; it is well below one
# row in any sensible window (1 / 1000), so only empty bins are affected.
SHARE_FLOOR = 1e-4


def psi(actual: np.ndarray, expected: np.ndarray) -> float:
    """PSI of the shares `actual` against `expected` (same bins), both floored."""
    a = np.maximum(np.asarray(actual, dtype=np.float64), SHARE_FLOOR)
    e = np.maximum(np.asarray(expected, dtype=np.float64), SHARE_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


class DriftReport(BaseModel):
    """The drift of the most recent applicants decided (GET /drift)."""

    as_of: datetime = Field(
        description="The window is of the applicants decided before this instant (UTC)"
    )
    window: int = Field(description="Most recent applicants the window keeps")
    rows: int = Field(description="Applicants in the window now (at most `window`)")
    min_rows: int = Field(description="Applicants the window needs before any PSI is published")
    withheld: bool = Field(
        description="True while `rows` < `min_rows`: `psi` and `drifted` are empty, because "
        "figures over so few applicants would tell what each of them sent"
    )
    note: str | None = Field(default=None, description="Why the figures are withheld, if they are")
    threshold: float = Field(description="PSI above which a field has shifted significantly")
    psi: dict[str, float] = Field(
        description="PSI of each input field in the window against the training data; "
        "empty while withheld"
    )
    drifted: list[str] = Field(description="The fields whose PSI exceeds the threshold")

    def prometheus(self) -> str:
        """Aggregates as Prometheus text: the window's rows, and once published the largest
        PSI and the number of drifted fields (which field: GET /drift)."""
        lines = [
            "# HELP credit_risk_drift_window_rows Applicants in the drift window (the most "
            "recent decided).",
            "# TYPE credit_risk_drift_window_rows gauge",
            f"credit_risk_drift_window_rows {float(self.rows)!r}",
        ]
        if not self.withheld:
            lines += [
                "# HELP credit_risk_drift_psi_max Largest population stability index of an "
                "input field over the most recent applicants against the training data.",
                "# TYPE credit_risk_drift_psi_max gauge",
                f"credit_risk_drift_psi_max {max(self.psi.values())!r}",
                "# HELP credit_risk_drift_fields_drifted Input fields whose PSI exceeds "
                f"{self.threshold}.",
                "# TYPE credit_risk_drift_fields_drifted gauge",
                f"credit_risk_drift_fields_drifted {float(len(self.drifted))!r}",
            ]
        return "\n".join(lines) + "\n"


class Drift:
    """The drift of a window of the most recent `window` applicants (rows of
    `credit_risk.contract.encode`) against the training `profile`; reported once the window
    holds `min_rows`."""

    def __init__(self, profile: TrainingProfile, window: int, *, min_rows: int) -> None:
        if not 0 < min_rows <= window:
            raise ValueError(
                f"the drift window ({window}) must hold at least the applicants it needs "
                f"before it reports ({min_rows}), and that must be positive"
            )
        self.window = window
        self.min_rows = min_rows
        self._numeric = [profile.numeric[name] for name in SCORED_NUMERIC_FIELDS]
        self._expected = [np.asarray(p.shares) for p in self._numeric] + [
            np.asarray(profile.categorical[name].shares) for name in SCORED_CATEGORICAL_FIELDS
        ]

    def report(self, encoded: np.ndarray, as_of: datetime) -> DriftReport:
        """The report of the applicants `encoded`, most recent last (only the last
        `window` count), decided before `as_of`."""
        encoded = encoded[-self.window :]
        rows = len(encoded)
        withheld = rows < self.min_rows
        values = {}
        if not withheld:
            numeric = [p.bins(encoded[:, i]) for i, p in enumerate(self._numeric)]
            codes = encoded[:, len(self._numeric) :].astype(np.intp).T
            for name, bins, expected in zip(
                ENCODED_COLUMNS, [*numeric, *codes], self._expected, strict=True
            ):
                counts = np.bincount(bins, minlength=len(expected))
                values[name] = psi(counts / rows, expected)
        return DriftReport(
            as_of=as_of,
            window=self.window,
            rows=rows,
            min_rows=self.min_rows,
            withheld=withheld,
            note=f"per-field figures are withheld until the window holds {self.min_rows} "
            "applicants, so that they tell nothing about any one of them"
            if withheld
            else None,
            threshold=SIGNIFICANT_PSI,
            psi=values,
            drifted=[name for name, value in values.items() if value > SIGNIFICANT_PSI],
        )
