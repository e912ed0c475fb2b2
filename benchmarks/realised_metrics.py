"""/metrics' figures of the records at a large history: `python -m benchmarks.realised_metrics`.

Fills a SQLite records database with labelled decisions (1 M by default), then times one
background refresh of the figures (drift, realised, comparison) and a scrape while it runs
and after it: the scrape must not grow with the history. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from credit_risk.artifacts import PROFILE
from credit_risk.contract import EXAMPLE
from credit_risk.profile import TrainingProfile
from serving.drift import Drift
from serving.metrics import RecordFigures
from serving.records.database import decisions, engine_for
from serving.records.queries import Records
from training_export.paths import ARTIFACTS_DIR


def fill(records: Records, n: int, chunk: int = 50_000) -> None:
    rng = np.random.default_rng(0)
    now = datetime.now(UTC)
    with records.engine.begin() as connection:
        for start in range(0, n, chunk):
            p = rng.uniform(size=min(chunk, n - start))
            repaid = rng.uniform(size=len(p)) < p
            connection.execute(
                decisions.insert(),
                [
                    {"request_id": f"r{start + i}", "position": 0, "decided_at": now,
                     "model": "credit_risk:bench", "threshold": 0.8, "applicant": EXAMPLE,
                     "p_good": float(pi), "decision": "good" if pi > 0.8 else "bad",
                     "reasons": None, "caller": None, "client_reference": None,
                     "repaid": bool(yi), "outcome_at": now}
                    for i, (pi, yi) in enumerate(zip(p, repaid, strict=True))
                ],
            )  # fmt: skip


def scrape_us(gauges: RecordFigures, times: int = 1000) -> float:
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        gauges.text()
        samples.append((time.perf_counter() - started) * 1e6)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[60_000, 1_000_000])
    args = parser.parse_args()
    print("| labelled decisions | one refresh (background) | scrape while refreshing | scrape |")
    print("|---:|---:|---:|---:|")
    for n in args.rows:
        with tempfile.TemporaryDirectory() as folder:
            records = Records(engine_for(f"sqlite:///{Path(folder) / 'decisions.db'}"))
            fill(records, n)
            drift = Drift(TrainingProfile.from_json(ARTIFACTS_DIR / PROFILE), 1000, min_rows=100)
            gauges = RecordFigures(records, drift, refresh_s=3600)
            started = time.perf_counter()
            during = scrape_us(gauges, 200)  # the first starts the refresh
            while "credit_risk_figures_as_of_seconds" not in gauges.text():
                time.sleep(0.01)
            refresh_s = time.perf_counter() - started
            print(f"| {n:,} | {refresh_s:.2f} s | {during:.1f} µs | {scrape_us(gauges):.1f} µs |")
            records.engine.dispose()


if __name__ == "__main__":
    main()
