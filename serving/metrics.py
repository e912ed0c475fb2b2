"""The service's own lines of /metrics, after BentoML's, and the figures of the records.

Every figure computed from the decision records (drift, the realised metrics, the
challenger's comparison) is computed as of the last multiple of `figures_refresh_s` since
the epoch, from the records decided (and outcomes reported) before it: the records are
shared, so every worker and replica computes the same figures for the same instant, and a
Prometheus scraping any of them sees one series, not one per worker. /metrics needs no key
and is scraped every few seconds, so a scrape never waits for them: they are recomputed in a
thread of their own once per period, and a scrape answers the last ones.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.exc import SQLAlchemyError

from credit_risk.contract import encode
from serving.drift import Drift, DriftReport
from serving.records.comparison import comparison_metrics
from serving.records.outcomes import realised_metrics
from serving.records.queries import Records


@dataclass(frozen=True)
class Figures:
    """The figures of the records as of one instant."""

    as_of: float  # seconds since the epoch
    drift: DriftReport
    text: str  # Prometheus text: drift aggregates, realised metrics, comparison


class RecordFigures:
    """The figures of the `records`, as of the start of the current period of `refresh_s`
    seconds (0: as of each call)."""

    def __init__(self, records: Records, drift: Drift, refresh_s: float) -> None:
        self._records = records
        self._drift = drift
        self._refresh_s = refresh_s
        self._figures: Figures | None = None
        self._attempted = -math.inf  # the instant of the last computation begun
        self._readable = True  # the last computation could read the records
        self._lock = threading.Lock()  # one computation at a time

    def _instant(self) -> float:
        now = time.time()
        return math.floor(now / self._refresh_s) * self._refresh_s if self._refresh_s else now

    def _fresh(self) -> bool:
        return self._figures is not None and self._figures.as_of >= self._instant()

    def _due(self) -> bool:
        """Not yet tried for this period (a failure is not retried within it)."""
        return self._attempted < self._instant()

    def text(self) -> str:
        """Whether the records could be read, the last figures' Prometheus text (none
        before the first or while the records are lost), and their computation started in
        the background when a period has passed."""
        if self._due() and not self._lock.locked():
            threading.Thread(target=self._refresh, name="figures", daemon=True).start()
        return (
            "# HELP credit_risk_records_readable 1 if the last computation of the figures "
            "could read the decision records, else 0 (the database is lost).\n"
            "# TYPE credit_risk_records_readable gauge\n"
            f"credit_risk_records_readable {float(self._readable)!r}\n"
            + ("" if self._figures is None else self._figures.text)
        )

    def drift(self) -> DriftReport:
        """The drift as of the current period, computed now if it is not yet (GET /drift
        has a key and is not scraped: it may wait). Raises SQLAlchemyError when the
        records cannot be read."""
        with self._lock:
            if not self._fresh():
                self._figures = self._compute()
            assert self._figures is not None
            return self._figures.drift

    def _refresh(self) -> None:
        if not self._lock.acquire(blocking=False):
            return
        try:
            self._figures, self._readable = self._compute(), True
        except SQLAlchemyError:  # the other metrics still: the records' outage is in the log
            self._figures, self._readable = None, False
        finally:
            self._lock.release()

    def _compute(self) -> Figures:
        as_of = self._attempted = self._instant()
        until = datetime.fromtimestamp(as_of, UTC)
        applicants = self._records.recent_applicants(self._drift.window, until)
        drift = self._drift.report(encode(applicants), until)
        text = (
            "# HELP credit_risk_figures_as_of_seconds The instant (Unix time) the figures "
            "of the decision records are as of.\n"
            "# TYPE credit_risk_figures_as_of_seconds gauge\n"
            f"credit_risk_figures_as_of_seconds {as_of!r}\n"
            + drift.prometheus()
            + realised_metrics(self._records.outcome_events(until))
            + comparison_metrics(self._records.paired_counts(until))
        )
        return Figures(as_of, drift, text)


class ServiceMetrics:
    """After BentoML's `content`: which model version this process serves and the figures
    of the records (`figures` None: records off, no such figures)."""

    def __init__(self, model_tag: str, figures: RecordFigures | None) -> None:
        self._model_tag = model_tag
        self._figures = figures

    def text(self, content: str) -> str:
        figures = self._figures.text() if self._figures is not None else ""
        return (
            f"{content}# HELP credit_risk_model_info The model version served.\n"
            "# TYPE credit_risk_model_info gauge\n"
            f'credit_risk_model_info{{model="{self._model_tag}"}} 1.0\n'
            f"{figures}"
        )
