"""Scoring a CSV or Parquet file of applicants, streamed in chunks.

Output: the input's columns as read (CSV cells as text, Parquet columns as typed), then
`prediction`, `probability`, `model` and `error`, one output row per input row, in order.
Rows are numbered from 1 (the first row after the CSV header). The output is written to
a temporary name and renamed when complete, so a failed run leaves no partial file.
"""

from __future__ import annotations

import csv
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from tqdm import tqdm

from batch_scoring.scoring import RESULT_SCHEMA, Model, check_no_result_columns, score_batch
from batch_scoring.validation import check_columns

CHUNK_ROWS = 65536
CSV_BLOCK_BYTES = 4 << 20  # ~60 k rows of a typical applicant CSV per chunk
EXAMPLES = 5  # error messages kept for the summary
SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


@dataclass(frozen=True)
class Summary:
    """What one run scored."""

    rows: int
    errors: int
    first_errors: list[str]
    seconds: float


def file_format(path: Path) -> str:
    """The format of a file, "csv" or "parquet", from its suffix."""
    try:
        return SUFFIXES[path.suffix.lower()]
    except KeyError:
        raise ValueError(f"{path}: expected a name ending in {sorted(SUFFIXES)}") from None


def _count_rows(path: Path) -> int:
    """Lines after the header: the progress bar's total (a quoted line break counts too)."""
    with path.open("rb") as file:
        lines = sum(block.count(b"\n") for block in iter(lambda: file.read(1 << 20), b""))
        file.seek(-1, os.SEEK_END)
        return lines - (file.read(1) == b"\n")  # the header's line, or an unended last row


def _open(path: Path, chunk_rows: int) -> tuple[pa.Schema, int, Iterator[pa.RecordBatch]]:
    """The schema, the (estimated) number of rows and the batches of a CSV or Parquet file."""
    if file_format(path) == "parquet":
        parquet = pq.ParquetFile(path)
        return parquet.schema_arrow, parquet.metadata.num_rows, parquet.iter_batches(chunk_rows)
    with path.open(encoding="utf-8-sig", newline="") as file:
        header = next(csv.reader(file), [])
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
        # Every cell as text, only an empty cell is missing: "NA" is a category.
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(header, pa.string()),
            null_values=[""],
            strings_can_be_null=True,
        ),
    )
    return reader.schema, _count_rows(path) if header else 0, iter(reader)


@contextmanager
def _writer(path: Path, schema: pa.Schema) -> Iterator[pacsv.CSVWriter | pq.ParquetWriter]:
    partial = path.with_name(f".{path.name}.partial")
    if file_format(path) == "csv":
        writer: pacsv.CSVWriter | pq.ParquetWriter = pacsv.CSVWriter(str(partial), schema)
    else:
        writer = pq.ParquetWriter(str(partial), schema)
    try:
        yield writer
        writer.close()
        os.replace(partial, path)
    finally:
        writer.close()
        partial.unlink(missing_ok=True)


def score_file(
    source: Path,
    target: Path,
    model: Model,
    chunk_rows: int = CHUNK_ROWS,
    progress: bool | None = None,
) -> Summary:
    """Score every row of `source` (CSV or Parquet) into `target` (CSV or Parquet).

    Raises ValueError before writing anything if a contract column is missing or a result
    column already exists. `progress`: a progress bar on stderr (None: only on a terminal).
    """
    start = time.perf_counter()
    source_schema, total, batches = _open(source, chunk_rows)
    check_columns(source_schema.names)
    check_no_result_columns(source_schema.names)
    schema = pa.schema([*source_schema, *RESULT_SCHEMA])
    rows = errors = 0
    examples: list[str] = []
    bar = tqdm(
        total=total,
        unit="rows",
        unit_scale=True,
        desc=source.name,
        disable=None if progress is None else not progress,
    )
    with bar, _writer(target, schema) as writer:
        for batch in batches:
            results = score_batch(batch, model, first_row=rows + 1)
            writer.write_batch(
                pa.RecordBatch.from_arrays([*batch.columns, *results.columns], schema=schema)
            )
            rows += batch.num_rows
            bad = results.column("error").drop_null()
            errors += len(bad)
            examples += bad[: EXAMPLES - len(examples)].to_pylist()
            bar.update(batch.num_rows)
    return Summary(rows, errors, examples, time.perf_counter() - start)
