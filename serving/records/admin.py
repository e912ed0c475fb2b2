"""The auditor's and the operator's commands on the decision records.

    python -m serving.records.admin export OUT.csv|OUT.parquet [--since DATE] [--until DATE]
    python -m serving.records.admin compare [--since DATE] [--until DATE]
    python -m serving.records.admin purge   (older than CREDIT_RISK_RECORDS_RETENTION_DAYS)
    python -m serving.records.admin delete --request-id ID | --client-reference REF

They use the service's settings (CREDIT_RISK_RECORDS_URL). `export` also prints, per model
version, how the decisions with an outcome turned out, the period's live fairness figures
(`serving.fairness`: approval rates by Sex and age band, groups of 100 or more) and the
oversight figures of all records (`serving.records.reviews`: referrals, overrides by
group, time in queue, contests open). `compare` prints, per pair of versions scored side by
side (a challenger), the period's comparison (`serving.records.comparison`); so does
`export`, in its summary.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from datetime import UTC, date, datetime
from pathlib import Path

from serving.fairness import live_fairness
from serving.records.comparison import compare
from serving.records.database import decisions, engine_for
from serving.records.outcomes import realised
from serving.records.queries import Records
from serving.records.reviews import Reviews
from serving.settings import settings

# A spreadsheet reads a cell starting with one of these as a formula (OWASP, "CSV Injection").
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """A text cell a spreadsheet shows as text: a leading formula character is escaped with
    a single quote, as OWASP's CSV-injection guidance says."""
    return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_LEADS) else value


def export(records: Records, out: Path, since: date | None, until: date | None) -> int:
    """Write the records decided in [since, until) to CSV or Parquet (by `out`'s suffix),
    nested fields as JSON text, into a new file only its owner can read (never through a
    symbolic link); how many. Raises SystemExit with one line for a bad request."""
    if out.suffix not in (".csv", ".parquet"):
        raise SystemExit(f"{out}: write .csv or .parquet")
    if since is not None and until is not None and since >= until:
        raise SystemExit(f"the period is empty: --since {since} is not before --until {until}")
    if not out.parent.is_dir():
        raise SystemExit(f"{out}: the folder {out.parent} does not exist")
    if out.is_symlink():
        raise SystemExit(f"{out} is a symbolic link: name the file itself")
    nested = ("applicant", "reasons")
    rows = [
        {k: json.dumps(v) if k in nested and v is not None else v for k, v in row.items()}
        for row in records.between(_midnight(since), _midnight(until))
    ]
    columns = [column.name for column in decisions.columns]
    if out.suffix == ".parquet":
        try:  # not in the Bento: the container exports CSV
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise SystemExit(f"{out}: Parquet needs pyarrow; write .csv instead") from None
    # O_NOFOLLOW: a link made after the check above is refused too.
    descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    os.fchmod(descriptor, 0o600)  # an existing file keeps its mode otherwise
    if out.suffix == ".parquet":
        with os.fdopen(descriptor, "wb") as file:
            pq.write_table(pa.table({c: [row[c] for row in rows] for c in columns}), file)
    else:
        with os.fdopen(descriptor, "w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=columns)
            writer.writeheader()
            writer.writerows({k: csv_cell(v) for k, v in row.items()} for row in rows)
    return len(rows)


def _midnight(day: date | None) -> datetime | None:
    return None if day is None else datetime(day.year, day.month, day.day, tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    out = commands.add_parser("export", help="records of a period to CSV or Parquet")
    out.add_argument("out", type=Path)
    pair = commands.add_parser("compare", help="champion and challenger over a period")
    for command in (out, pair):
        command.add_argument("--since", type=date.fromisoformat, help="first day (UTC), inclusive")
        command.add_argument("--until", type=date.fromisoformat, help="last day (UTC), exclusive")
    commands.add_parser("purge", help="delete the records past the retention period")
    delete = commands.add_parser("delete", help="delete one applicant's records")
    which = delete.add_mutually_exclusive_group(required=True)
    which.add_argument("--request-id")
    which.add_argument("--client-reference")
    args = parser.parse_args()
    records = Records(engine_for(settings.records_url))
    if args.command == "export":
        count = export(records, args.out, args.since, args.until)
        print(f"{count} records to {args.out}")
        period = records.between(_midnight(args.since), _midnight(args.until))
        summary = {
            "realised": realised(records.labelled()),
            "fairness": live_fairness(period).model_dump(),
            "oversight": Reviews(records.engine).figures().model_dump(),
            "comparison": [c.model_dump() for c in compare(period)],
        }
        print(json.dumps(summary, indent=2))
    elif args.command == "compare":
        period = records.between(_midnight(args.since), _midnight(args.until))
        print(json.dumps([c.model_dump() for c in compare(period)], indent=2))
    elif args.command == "purge":
        days = settings.records_retention_days
        print(f"{records.purge(days)} records older than {days} days deleted")
    else:
        deleted = records.delete_applicant(args.request_id, args.client_reference)
        print(f"{deleted} records deleted")


if __name__ == "__main__":
    main()
