"""Drift monitoring: each field's population stability index (PSI) over recent applicants.

The window holds the last N applicants a worker was asked to score, as their bins of the
training profile (numeric fields: the training deciles; categorical fields: the contract's
categories), with running counts per bin, so adding an applicant costs the same whatever N.
PSI compares a field's shares in the window (a) with its training shares (e):

    PSI = Σ over bins (a - e) · ln(a / e),  each share floored at SHARE_FLOOR

Rules of thumb: below 0.1 stable, 0.1 to 0.25 a moderate shift, above 0.25 a significant one.

The PSIs are statistics of personal data: with one applicant in the window they give away
that applicant's sex, job, housing, savings, purpose and age band. So no per-field figure
is published until the window holds `min_rows` applicants, and the Prometheus text (open
to any scraper) has only aggregates: the largest PSI and how many fields drifted.
"""

from __future__ import annotations

import threading

import numpy as np
from pydantic import BaseModel, Field

from credit_risk.contract import ENCODED_COLUMNS, SCORED_CATEGORICAL_FIELDS, SCORED_NUMERIC_FIELDS
from credit_risk.profile import TrainingProfile

MODERATE_PSI = 0.1
SIGNIFICANT_PSI = 0.25
# An empty bin counts as this share, so that ln(a / e) stays finite; it is well below one
# row in any sensible window (1 / 1000), so only empty bins are affected.
SHARE_FLOOR = 1e-4
# Rows wait to be binned until this many have come: binning 64 rows costs about what one
# costs (numpy's per-call overhead), and per request it took ~8 % of the API's CPU.
BIN_EVERY_ROWS = 64


def psi(actual: np.ndarray, expected: np.ndarray) -> float:
    """PSI of the shares `actual` against `expected` (same bins), both floored."""
    a = np.maximum(np.asarray(actual, dtype=np.float64), SHARE_FLOOR)
    e = np.maximum(np.asarray(expected, dtype=np.float64), SHARE_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


class DriftReport(BaseModel):
    """The drift of one worker's window of recent applicants (GET /drift)."""

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
            "# HELP credit_risk_drift_window_rows Applicants in this worker's drift window.",
            "# TYPE credit_risk_drift_window_rows gauge",
            f"credit_risk_drift_window_rows {float(self.rows)!r}",
        ]
        if not self.withheld:
            lines += [
                "# HELP credit_risk_drift_psi_max Largest population stability index of an "
                "input field over this worker's recent applicants against the training data.",
                "# TYPE credit_risk_drift_psi_max gauge",
                f"credit_risk_drift_psi_max {max(self.psi.values())!r}",
                "# HELP credit_risk_drift_fields_drifted Input fields whose PSI exceeds "
                f"{self.threshold}.",
                "# TYPE credit_risk_drift_fields_drifted gauge",
                f"credit_risk_drift_fields_drifted {float(len(self.drifted))!r}",
            ]
        return "\n".join(lines) + "\n"


class DriftWindow:
    """The last `size` encoded applicants (rows in `ENCODED_COLUMNS` order), as bin counts;
    reported once it holds `min_rows`.

    A ring buffer keeps each row's bin per field; adding rows moves the counts of the rows
    they replace. New rows are binned `BIN_EVERY_ROWS` at a time, and before every report,
    so a report always covers exactly the last `size` rows added. Thread-safe: requests and
    /metrics may run in different threads.
    """

    def __init__(self, profile: TrainingProfile, size: int, *, min_rows: int) -> None:
        if not 0 < min_rows <= size:
            raise ValueError(
                f"the drift window ({size}) must hold at least the applicants it needs before "
                f"it reports ({min_rows}), and that must be positive"
            )
        self.size = size
        self.min_rows = min_rows
        self._numeric = [profile.numeric[name] for name in SCORED_NUMERIC_FIELDS]
        expected = [np.asarray(p.shares) for p in self._numeric] + [
            np.asarray(profile.categorical[name].shares) for name in SCORED_CATEGORICAL_FIELDS
        ]
        # Every field's bins in one flat count array: field i's bins start at offsets[i].
        widths = [len(shares) for shares in expected]
        self._offsets = np.cumsum([0, *widths[:-1]])
        self._expected = expected
        self._counts = np.zeros(sum(widths), dtype=np.int64)
        self._ring = np.zeros((size, len(ENCODED_COLUMNS)), dtype=np.intp)
        self._next = 0  # the ring slot the next row goes to
        self._rows = 0
        self._pending: list[np.ndarray] = []  # added, not binned yet
        self._pending_rows = 0
        self._lock = threading.Lock()

    def _flat_bins(self, encoded: np.ndarray) -> np.ndarray:
        """Each value's index in the flat count array, one row per applicant."""
        numeric = [p.bins(encoded[:, i]) for i, p in enumerate(self._numeric)]
        codes = encoded[:, len(self._numeric) :].astype(np.intp)
        return np.column_stack([*numeric, codes]) + self._offsets

    def add(self, encoded: np.ndarray) -> None:
        """Add applicants (rows of `credit_risk.contract.encode`), evicting the oldest."""
        with self._lock:
            self._pending.append(encoded)
            self._pending_rows += len(encoded)
            if self._pending_rows >= BIN_EVERY_ROWS:
                self._bin_pending()

    def _bin_pending(self) -> None:
        """Move the pending rows into the ring and the counts (the lock held)."""
        if not self._pending:
            return
        rows = self._flat_bins(np.concatenate(self._pending))[-self.size :]
        self._pending, self._pending_rows = [], 0
        slots = (self._next + np.arange(len(rows))) % self.size
        # Slots below the row count are occupied: the ring fills from slot 0.
        np.subtract.at(self._counts, self._ring[slots[slots < self._rows]].ravel(), 1)
        np.add.at(self._counts, rows.ravel(), 1)
        self._ring[slots] = rows
        self._next = (self._next + len(rows)) % self.size
        self._rows = min(self.size, self._rows + len(rows))

    def report(self) -> DriftReport:
        with self._lock:
            self._bin_pending()
            counts, rows = self._counts.copy(), self._rows
        values = {}
        withheld = rows < self.min_rows
        if not withheld:
            for name, start, expected in zip(
                ENCODED_COLUMNS, self._offsets, self._expected, strict=True
            ):
                values[name] = psi(counts[start : start + len(expected)] / rows, expected)
        return DriftReport(
            window=self.size,
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
