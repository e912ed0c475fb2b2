"""Scoring CSV and Parquet files with the stored model (batch_scoring.files and its CLI)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from batch_scoring.__main__ import main
from batch_scoring.files import score_file
from batch_scoring.scoring import Model, load_model
from credit_risk.contract import FIELDS
from credit_risk.decision import Decision

# Row number (1-based) → (field, bad value, start of the expected message).
BAD_ROWS = {
    3: ("Age", "", "Age: missing"),
    10: ("Purpose", "boat", "Purpose: not one of"),
    11: ("Credit amount", "lots", "Credit amount: not a number: 'lots'"),
    500: ("Duration", "-12", "Duration: must be greater than 0: '-12'"),
    1000: ("Age", "NaN", "Age: not a number: 'NaN'"),
}


@pytest.fixture(scope="module")
def model(stored_model) -> Model:
    return load_model(str(stored_model.tag))


@pytest.fixture(scope="module")
def text_rows(dataset: pd.DataFrame) -> pd.DataFrame:
    """The dataset's fields as CSV text, with an id column first and some bad cells."""
    frame = dataset[list(FIELDS)].astype(str)
    frame.insert(0, "id", [f"A{i:04d}" for i in range(len(frame))])
    for row, (field, value, _) in BAD_ROWS.items():
        frame.loc[row - 1, field] = value
    return frame


def read_output(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":
        names = pacsv.read_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 16)).schema
        types = {n: pa.float64() if n == "probability" else pa.string() for n in names.names}
        options = pacsv.ConvertOptions(
            column_types=types, null_values=[""], strings_can_be_null=True
        )
        return pacsv.read_csv(path, convert_options=options).to_pandas()
    return pq.read_table(path).to_pandas()


def assert_scored(
    out: pd.DataFrame, source: pd.DataFrame, reference: pd.Series, decision: Decision
) -> None:
    """Same rows, same order, input columns kept; bad rows explained, good rows scored."""
    assert out["id"].tolist() == source["id"].tolist()
    bad = np.array([i + 1 in BAD_ROWS for i in range(len(source))])
    for row, (_, _, message) in BAD_ROWS.items():
        assert out["error"][row - 1].startswith(f"row {row}: {message}")
    assert out.loc[bad, ["prediction", "probability", "model"]].isna().all().all()
    good = out[~bad]
    assert good["error"].isna().all()
    assert (good["model"] == good["model"].iloc[0]).all()
    np.testing.assert_allclose(good["probability"], reference[~bad], rtol=0, atol=1e-6)
    assert good["prediction"].tolist() == decision.decide(reference[~bad].to_numpy()).tolist()


@pytest.mark.parametrize("output", ["scored.csv", "scored.parquet"])
def test_csv_with_bad_rows(
    tmp_path: Path, model: Model, text_rows: pd.DataFrame, reference_proba: pd.Series, output: str
) -> None:
    source = tmp_path / "applicants.csv"
    text_rows.to_csv(source, index=False)
    summary = score_file(source, tmp_path / output, model, progress=False)
    assert (summary.rows, summary.errors) == (1000, len(BAD_ROWS))
    out = read_output(tmp_path / output)
    assert out.columns.tolist() == [
        *text_rows.columns,
        "prediction",
        "probability",
        "model",
        "error",
    ]
    # Input cells come back verbatim: "NA" stays a category, the empty cell stays empty.
    pd.testing.assert_frame_equal(
        out[text_rows.columns].fillna(""), text_rows.reset_index(drop=True), check_dtype=False
    )
    assert_scored(out, text_rows, reference_proba, model.scorer.decision)
    assert set(out["model"].dropna()) == {model.tag}


def test_typed_parquet_in_small_chunks(
    tmp_path: Path, model: Model, text_rows: pd.DataFrame, reference_proba: pd.Series
) -> None:
    typed = pa.Table.from_pandas(text_rows, preserve_index=False)  # Credit amount: text
    for name in ("Age", "Duration"):  # numbers in float columns, nulls where they don't parse
        values = pd.to_numeric(text_rows[name], errors="coerce").to_numpy()
        missing = np.isnan(values) & (np.arange(len(values)) != 999)  # row 1000: a real NaN
        typed = typed.set_column(
            typed.schema.get_field_index(name), name, pa.array(values, mask=missing)
        )
    source = tmp_path / "applicants.parquet"
    pq.write_table(typed, source)
    score_file(source, tmp_path / "scored.parquet", model, chunk_rows=77, progress=False)
    out = read_output(tmp_path / "scored.parquet")
    assert out["Age"].dtype == np.float64  # types of the input are kept
    expected = dict(BAD_ROWS)
    expected[500] = ("Duration", -12, "Duration: must be greater than 0: -12")
    expected[1000] = ("Age", "NaN", "Age: not a finite number: nan")
    for row, (_, _, message) in expected.items():
        assert out["error"][row - 1].startswith(f"row {row}: {message}")
    assert out["error"].notna().sum() == len(expected)


def test_unusable_input_writes_nothing(tmp_path: Path, model: Model, dataset) -> None:
    source = tmp_path / "applicants.csv"
    dataset.drop(columns=["Duration"]).to_csv(source, index=False)
    with pytest.raises(ValueError, match=r"no column \['Duration'\]"):
        score_file(source, tmp_path / "scored.csv", model)
    dataset.assign(probability=1).to_csv(source, index=False)
    with pytest.raises(ValueError, match="already has the result column"):
        score_file(source, tmp_path / "scored.csv", model)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["applicants.csv"]


def test_command_line(
    tmp_path: Path, stored_model, text_rows: pd.DataFrame, capsys: pytest.CaptureFixture
) -> None:
    source, target = tmp_path / "in.csv", tmp_path / "out.parquet"
    text_rows.to_csv(source, index=False)
    args = ["score", str(source), str(target), "--model", str(stored_model.tag), "--progress"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "1000 rows scored" in err and f"{len(BAD_ROWS)} with errors" in err
    assert "row 3: Age: missing" in err and "100%" in err  # summary and progress bar
    assert pq.read_metadata(target).num_rows == 1000
    assert main(["score", str(source), str(tmp_path / "out.json")]) == 2
    assert "expected a name ending in" in capsys.readouterr().err


def test_a_million_shuffled_rows(
    tmp_path: Path, model: Model, dataset: pd.DataFrame, reference_proba: pd.Series
) -> None:
    """A large file streams through in chunks; every row keeps its place and its score."""
    picks = np.random.default_rng(7).integers(0, len(dataset), size=1_000_000)
    table = pa.Table.from_pandas(dataset[list(FIELDS)], preserve_index=False).take(picks)
    source = tmp_path / "big.parquet"
    pq.write_table(table.append_column("pick", pa.array(picks)), source)
    summary = score_file(source, tmp_path / "scored.parquet", model, progress=False)
    assert (summary.rows, summary.errors) == (1_000_000, 0)
    out = pq.read_table(tmp_path / "scored.parquet", columns=["pick", "probability"])
    np.testing.assert_array_equal(out.column("pick").to_numpy(), picks)
    np.testing.assert_allclose(
        out.column("probability").to_numpy(), reference_proba.to_numpy()[picks], rtol=0, atol=1e-6
    )
