"""The service's own lines of /metrics, after BentoML's.

/metrics needs no key and is scraped every few seconds, so a scrape must cost the same
whatever the size of the history: the realised figures (`serving.records.outcomes`) and
the challenger's comparison (`serving.records.comparison`) are recomputed in a thread of
their own, at most once every `realised_refresh_s`, and a scrape answers the last ones.
"""

from __future__ import annotations

import threading
import time

from sqlalchemy.exc import SQLAlchemyError

from serving.drift import DriftWindow
from serving.records.comparison import comparison_metrics
from serving.records.outcomes import realised_metrics
from serving.records.queries import Records
from serving.settings import Settings


class RecordGauges:
    """The figures of the `records` as Prometheus text, refreshed in the background: the
    realised ones (`serving.records.outcomes`) and the comparison of versions scored side
    by side (`serving.records.comparison`)."""

    def __init__(self, records: Records, refresh_s: float) -> None:
        self._records = records
        self._refresh_s = refresh_s
        self._text = ""
        self._refreshed = -float("inf")
        self._lock = threading.Lock()  # one refresh at a time

    def text(self) -> str:
        """The last figures, and a refresh started when they are older than `refresh_s`."""
        if time.monotonic() - self._refreshed >= self._refresh_s and not self._lock.locked():
            threading.Thread(target=self._refresh, name="realised", daemon=True).start()
        return self._text

    def _refresh(self) -> None:
        if not self._lock.acquire(blocking=False):
            return
        try:
            self._text = realised_metrics(self._records.outcome_events()) + comparison_metrics(
                self._records.paired_counts()
            )
        except SQLAlchemyError:  # the other metrics still: the records' outage is in the log
            self._text = ""
        finally:
            self._refreshed = time.monotonic()
            self._lock.release()


class ServiceMetrics:
    """After BentoML's `content`: which model version this process serves, its drift,
    and how the recorded decisions with an outcome turned out (`records` None: records off)."""

    def __init__(
        self, model_tag: str, drift: DriftWindow, records: Records | None, settings: Settings
    ) -> None:
        self._model_tag = model_tag
        self._drift = drift
        self._realised = (
            None if records is None else RecordGauges(records, settings.realised_refresh_s)
        )

    def text(self, content: str) -> str:
        realised = self._realised.text() if self._realised is not None else ""
        return (
            f"{content}# HELP credit_risk_model_info The model version served.\n"
            "# TYPE credit_risk_model_info gauge\n"
            f'credit_risk_model_info{{model="{self._model_tag}"}} 1.0\n'
            f"{self._drift.report().prometheus()}{realised}"
        )
