"""/metrics' figures of the records: as of the period's start, the same from every worker,
recomputed in the background (a scrape never waits)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from credit_risk.artifacts import PROFILE
from credit_risk.profile import TrainingProfile
from serving.drift import Drift
from serving.metrics import RecordFigures
from serving.records.database import decisions, engine_for
from serving.records.models import OUTCOME
from serving.records.queries import Records
from tests.unit.serving.records.helpers import rows, write
from training_export.paths import ARTIFACTS_DIR


@pytest.fixture
def records(tmp_path: Path) -> Records:
    return Records(engine_for(f"sqlite:///{tmp_path / 'decisions.db'}"))


def figures(records: Records, refresh_s: float) -> RecordFigures:
    profile = TrainingProfile.from_json(ARTIFACTS_DIR / PROFILE)
    return RecordFigures(records, Drift(profile, 100, min_rows=2), refresh_s)


def wait_for(gauges: RecordFigures, seconds: float = 10) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if "credit_risk_figures_as_of_seconds" in (text := gauges.text()):
            return text
        time.sleep(0.01)
    raise AssertionError("no figures")


def as_of(text: str) -> float:
    families = {f.name: f for f in text_string_to_metric_families(text)}
    return families["credit_risk_figures_as_of_seconds"].samples[0].value


def test_a_scrape_answers_the_last_figures_and_refreshes_them_once_a_period(records) -> None:
    write(records.engine, rows("r1"))
    records.record_outcome(OUTCOME.validate_python({"request_id": "r1", "repaid": True}), None)
    time.sleep(0.01)  # decided before the instant the figures are of
    slow = figures(records, refresh_s=3600)
    started = time.perf_counter()
    # The first computation runs in its own thread: no figures yet, the records readable.
    assert slow.text().endswith("credit_risk_records_readable 1.0\n")
    assert time.perf_counter() - started < 0.05
    first = wait_for(slow)
    # As of the last whole hour: r1, decided just now, is not in them.
    assert as_of(first) == time.time() // 3600 * 3600
    assert "credit_risk_drift_window_rows 0.0" in first
    write(records.engine, rows("r2"))
    assert slow.text() == first  # not recomputed within the period


def decided_hours_ago(records: Records, hours: float) -> None:
    with records.engine.begin() as connection:
        connection.execute(
            decisions.update().values(decided_at=datetime.now(UTC) - timedelta(hours=hours))
        )


def test_figures_as_of_one_instant_are_the_same_from_every_worker(records) -> None:
    """Two workers (two RecordFigures on one database) computing at different moments of
    a period publish the same figures, though decisions came in between."""
    write(records.engine, rows("r1", 3))
    decided_hours_ago(records, 2)  # before the last whole hour
    one = wait_for(figures(records, refresh_s=3600))
    write(records.engine, rows("r2", 5))  # now: after the instant the figures are of
    other = figures(records, refresh_s=3600)
    assert wait_for(other) == one
    assert "credit_risk_drift_window_rows 3.0" in one
    assert other.drift().rows == 3


def test_drift_waits_for_the_current_periods_figures(records) -> None:
    write(records.engine, rows("r1", 4))
    time.sleep(0.01)
    report = figures(records, refresh_s=0).drift()  # 0: as of now
    assert (report.rows, report.withheld) == (4, False)


def test_lost_records_are_a_gauge_and_no_figures(records) -> None:
    with records.engine.begin() as connection:  # the records cannot be read any more
        connection.execute(sa.text("DROP TABLE decisions"))
    gauges = figures(records, refresh_s=0)
    deadline = time.monotonic() + 10
    while "credit_risk_records_readable 0.0" not in (text := gauges.text()):
        assert time.monotonic() < deadline, text
        time.sleep(0.01)
    assert "credit_risk_drift" not in text and "credit_risk_realised" not in text
