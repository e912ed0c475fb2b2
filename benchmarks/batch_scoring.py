"""Rows per second of offline scoring: the model path, the file command, and Spark.

    python -m benchmarks.batch_scoring [--rows 2000000] [--spark]   (from the repository root)

Uses the model in the BentoML store (`make store`), and rows drawn from the dataset.
Prints one line per measurement; the best of `--repeats` runs counts.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from batch_scoring.files import score_file
from batch_scoring.scoring import load_model, score_batch
from credit_risk.contract import FIELDS, encode
from model_store.versions import DEFAULT_TAG
from training_export import dataset


def best_seconds(run: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Shortest wall-clock time, and the CPU time of this process in that run."""
    runs = []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        run()
        runs.append((time.perf_counter() - start, time.process_time() - start_cpu))
    return min(runs)


def report(what: str, rows: int, seconds: tuple[float, float], in_process: bool = True) -> None:
    """Rows/s, and rows per CPU-second of this process (the rate one idle core gives) when
    the work happens in this process (not so for Spark's workers)."""
    wall, cpu = seconds
    per_cpu = f"{rows / cpu:>12,.0f} rows/CPU-s" if in_process else ""
    print(f"{what:<48} {rows:>10,} rows {wall:7.2f} s {rows / wall:>12,.0f} rows/s {per_cpu}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default=DEFAULT_TAG)
    parser.add_argument("--spark", action="store_true", help="also time Spark (local[2])")
    args = parser.parse_args()

    frame = dataset.load()[list(FIELDS)]
    picks = np.random.default_rng(0).integers(0, len(frame), size=args.rows)
    table = pa.Table.from_pandas(frame, preserve_index=False).take(picks)
    encoded = encode(frame.to_dict("records"))[picks]
    cores = len(os.sched_getaffinity(0))
    print(f"{args.rows:,} rows, {cores} cores, model {args.model}")

    chunks = [encoded[i : i + 65536] for i in range(0, len(encoded), 65536)]
    for threads in sorted({1, cores}):
        model = load_model(args.model, threads)
        seconds = best_seconds(lambda m=model: [m.predict_proba(c) for c in chunks], args.repeats)
        report(f"model path (features + torch), {threads} thread(s)", args.rows, seconds)
    batches = table.to_batches(max_chunksize=65536)
    seconds = best_seconds(lambda: [score_batch(b, model) for b in batches], args.repeats)
    report(f"validation + model path, {cores} thread(s)", args.rows, seconds)

    with tempfile.TemporaryDirectory() as tmp:
        parquet, csv = Path(tmp, "in.parquet"), Path(tmp, "in.csv")
        pq.write_table(table, parquet)
        pacsv.write_csv(table, csv)
        for source, target in ((parquet, "out.parquet"), (csv, "out.csv")):
            seconds = best_seconds(
                lambda s=source, t=target: score_file(s, Path(tmp, t), model, progress=False),
                args.repeats,
            )
            report(f"file command {source.suffix} -> {Path(target).suffix}", args.rows, seconds)
        if args.spark:  # the first run also starts the Python workers: best of the rest counts
            from batch_scoring.spark import local_session, score_dataframe

            spark = local_session("local[2]")
            try:
                frame_in = spark.read.parquet(str(parquet)).repartition(2 * cores).cache()
                frame_in.count()
                seconds = best_seconds(
                    lambda: score_dataframe(frame_in, args.model).write.format("noop")
                    .mode("overwrite").save(),
                    args.repeats + 1,
                )  # fmt: skip
                report("Spark local[2], cached input, no output", args.rows, seconds, False)
            finally:
                spark.stop()


if __name__ == "__main__":
    main()
