"""Command line: `python -m batch_scoring score IN OUT` and `... spark IN OUT`
(docs/batch-scoring.md)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from batch_scoring.files import CHUNK_ROWS, file_format, score_file
from batch_scoring.scoring import load_model
from model_store.versions import DEFAULT_TAG


def _score(args: argparse.Namespace) -> int:
    model = load_model(args.model, args.threads)
    summary = score_file(args.input, args.output, model, args.chunk_rows, args.progress)
    print(
        f"{args.output}: {summary.rows} rows scored by {model.tag} in {summary.seconds:.2f} s "
        f"({summary.rows / max(summary.seconds, 1e-9):,.0f} rows/s); "
        f"{summary.errors} with errors (see the error column)",
        file=sys.stderr,
    )
    for message in summary.first_errors:
        print(f"  {message}", file=sys.stderr)
    return 0


def _spark(args: argparse.Namespace) -> int:
    from batch_scoring.spark import local_session, score_dataframe

    spark = local_session(args.master)
    try:
        reader = spark.read
        if file_format(args.input) == "csv":
            frame = reader.csv(str(args.input), header=True)  # text cells, "" is missing
        else:
            frame = reader.parquet(str(args.input))
        scored = score_dataframe(frame, args.model)
        writer = scored.write.mode("overwrite")
        if file_format(args.output) == "csv":
            writer.csv(str(args.output), header=True)
        else:
            writer.parquet(str(args.output))
    finally:
        spark.stop()
    print(f"{args.output}: written by Spark ({args.master})", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command; exit status 0 on success, 2 on unusable input."""
    parser = argparse.ArgumentParser(prog="python -m batch_scoring", description=__doc__)
    commands = parser.add_subparsers(required=True)
    score = commands.add_parser("score", help="score a CSV or Parquet file on this machine")
    spark = commands.add_parser("spark", help="score a file with Spark (output: a directory)")
    for command in (score, spark):
        command.add_argument("input", type=Path, help="applicants (.csv, .parquet)")
        command.add_argument("output", type=Path, help="scored rows (.csv, .parquet)")
        command.add_argument("--model", default=DEFAULT_TAG, help="model tag")
    score.add_argument("--chunk-rows", type=int, default=CHUNK_ROWS, help="Parquet rows per chunk")
    score.add_argument(
        "--threads", type=int, default=len(os.sched_getaffinity(0)), help="default: all cores"
    )
    score.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, default=None,
        help="progress bar (default: on a terminal)",
    )  # fmt: skip
    score.set_defaults(run=_score)
    spark.add_argument("--master", default="local[2]", help="Spark master URL")
    spark.set_defaults(run=_spark)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
