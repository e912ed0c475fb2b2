"""/metrics' realised figures: recomputed in the background, a scrape never waits."""

from __future__ import annotations

import time
from pathlib import Path

from serving.metrics import RecordGauges
from serving.records.database import engine_for
from serving.records.models import OUTCOME
from serving.records.queries import Records
from tests.unit.serving.records.helpers import rows, write


def wait_for(gauges: RecordGauges, seconds: float = 10) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if text := gauges.text():
            return text
        time.sleep(0.01)
    raise AssertionError("no figures")


def test_a_scrape_answers_the_last_figures_and_refreshes_them_at_most_as_often_as_set(
    tmp_path: Path,
) -> None:
    records = Records(engine_for(f"sqlite:///{tmp_path / 'decisions.db'}"))
    write(records.engine, rows("r1"))

    records.record_outcome(OUTCOME.validate_python({"request_id": "r1", "repaid": True}), None)
    slow = RecordGauges(records, refresh_s=3600)
    started = time.perf_counter()
    assert slow.text() == ""  # the first refresh runs in its own thread
    assert time.perf_counter() - started < 0.05
    first = wait_for(slow)
    assert 'credit_risk_realised_decisions{model="m:1"} 0.0' in first
    write(records.engine, rows("r2"))
    assert slow.text() == first  # not recomputed within refresh_s
