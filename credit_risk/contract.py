"""The data contract: the one place that names the applicant fields and their values.

Training (the dataset, the fitted preprocessor) and serving (the request schema, the
encoding of a request) both read these definitions; nothing else lists a field or a
category. "NA" is a real category of both account fields, and Job uses the four
documented text labels, so a request reaches the model exactly as training data did.

The request carries nine fields; the score reads only the `SCORED_FIELDS`. Sex and Age
are prohibited bases for a credit decision (Regulation B 12 CFR 1002.6(b), the EU
Consumer Credit Directive 2023/2225 Art. 6): they are asked for, validated and recorded
for fairness monitoring, and `encode` leaves them out, so no model can read them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

NUMERIC_FIELDS: tuple[str, ...] = ("Age", "Credit amount", "Duration")

CATEGORIES: dict[str, tuple[str, ...]] = {
    "Sex": ("male", "female"),
    "Job": (
        "unskilled and non-resident",
        "unskilled and resident",
        "skilled",
        "highly skilled",
    ),
    "Housing": ("own", "rent", "free"),
    "Saving accounts": ("NA", "little", "moderate", "quite rich", "rich"),
    "Checking account": ("NA", "little", "moderate", "rich"),
    "Purpose": (
        "car",
        "furniture/equipment",
        "radio/TV",
        "domestic appliances",
        "repairs",
        "education",
        "business",
        "vacation/others",
    ),
}
CATEGORICAL_FIELDS: tuple[str, ...] = tuple(CATEGORIES)

# The documented order of the request fields.
FIELDS: tuple[str, ...] = (
    "Age",
    "Sex",
    "Job",
    "Housing",
    "Saving accounts",
    "Checking account",
    "Credit amount",
    "Duration",
    "Purpose",
)
# Collected for fairness monitoring only: never an input of the score.
MONITORED_FIELDS: tuple[str, ...] = ("Sex", "Age")
SCORED_NUMERIC_FIELDS: tuple[str, ...] = tuple(
    name for name in NUMERIC_FIELDS if name not in MONITORED_FIELDS
)
SCORED_CATEGORICAL_FIELDS: tuple[str, ...] = tuple(
    name for name in CATEGORICAL_FIELDS if name not in MONITORED_FIELDS
)
# Column order of an encoded row (see `encode`): scored numeric fields, then categorical codes.
ENCODED_COLUMNS: tuple[str, ...] = SCORED_NUMERIC_FIELDS + SCORED_CATEGORICAL_FIELDS
SCORED_FIELDS: tuple[str, ...] = tuple(name for name in FIELDS if name in ENCODED_COLUMNS)

TARGET = "Risk"
GOOD, BAD = "good", "bad"
TARGET_LABELS: tuple[str, str] = (BAD, GOOD)  # index = model target (1 = good)


# Applicants are adults: a credit contract with a minor is not made on this score.
MIN_AGE = 18
# Upper limits, far beyond the training data (age 19-75, amount 250-18,424 DM, 4-72
# months), that keep the arithmetic finite: the documented API gives none.
MAX_AGE = 120
MAX_CREDIT_AMOUNT = 10_000_000
MAX_DURATION = 600


def _json_number(value: Any) -> Any:
    """Numbers must be JSON numbers: "35" and true are client bugs, not 35 and 1."""
    if isinstance(value, str | bool):
        raise ValueError("must be a number, not a string or a boolean")
    return value


JSON_NUMBER = BeforeValidator(_json_number)


def _choice(name: str) -> Any:
    return Literal[CATEGORIES[name]]  # type: ignore[valid-type]


# The API documentation's example request: the OpenAPI document's, the web form's and the
# tests' example.
EXAMPLE: dict[str, Any] = {
    "Age": 35,
    "Sex": "male",
    "Job": "unskilled and resident",
    "Housing": "free",
    "Saving accounts": "NA",
    "Checking account": "NA",
    "Credit amount": 9055,
    "Duration": 36,
    "Purpose": "education",
}


class Applicant(BaseModel):
    """One credit applicant, exactly as the documented API receives it."""

    # Only the documented names: "age" or "credit_amount" is an unknown field (422).
    model_config = ConfigDict(validate_by_name=False, extra="forbid", frozen=True)

    age: Annotated[
        int,
        Field(
            alias="Age",
            ge=MIN_AGE,
            le=MAX_AGE,
            description="Years; recorded for fairness monitoring, not scored",
        ),
        JSON_NUMBER,
    ]
    sex: Annotated[
        _choice("Sex"),
        Field(alias="Sex", description="Recorded for fairness monitoring, not scored"),
    ]
    job: Annotated[_choice("Job"), Field(alias="Job")]
    housing: Annotated[_choice("Housing"), Field(alias="Housing")]
    saving_accounts: Annotated[
        _choice("Saving accounts"),
        Field(alias="Saving accounts", description='"NA": no savings account known'),
    ]
    checking_account: Annotated[
        _choice("Checking account"),
        Field(alias="Checking account", description='"NA": no checking account known'),
    ]
    credit_amount: Annotated[
        float,
        Field(
            alias="Credit amount",
            gt=0,
            le=MAX_CREDIT_AMOUNT,
            allow_inf_nan=False,
            description="Deutsche Mark",
        ),
        JSON_NUMBER,
    ]
    duration: Annotated[
        int, Field(alias="Duration", gt=0, le=MAX_DURATION, description="Months"), JSON_NUMBER
    ]
    purpose: Annotated[_choice("Purpose"), Field(alias="Purpose")]

    def by_name(self) -> dict[str, Any]:
        """The applicant keyed by the documented field names."""
        return self.model_dump(by_alias=True)


def _check_contract() -> None:
    aliases = tuple(f.alias for f in Applicant.model_fields.values())
    if aliases != FIELDS or set(FIELDS) != set(NUMERIC_FIELDS) | set(CATEGORICAL_FIELDS):
        raise AssertionError(f"Applicant fields {aliases} disagree with the contract {FIELDS}")


_check_contract()

_CODES: dict[str, dict[str, int]] = {
    name: {label: code for code, label in enumerate(labels)} for name, labels in CATEGORIES.items()
}


def encode(records: Iterable[Mapping[str, Any]]) -> np.ndarray:
    """Encode records keyed by documented field names as a float64 array.

    Columns follow `ENCODED_COLUMNS` (the scored fields only): numeric values as they are,
    then each categorical field as the index of its label in `CATEGORIES`. Raises KeyError
    for a missing scored field or an unknown label, so nothing is silently encoded as "no
    category".
    """
    rows = [
        [float(r[name]) for name in SCORED_NUMERIC_FIELDS]
        + [_CODES[name][r[name]] for name in SCORED_CATEGORICAL_FIELDS]
        for r in records
    ]
    return np.array(rows, dtype=np.float64).reshape(len(rows), len(ENCODED_COLUMNS))


def encode_applicants(applicants: Iterable[Applicant]) -> np.ndarray:
    """Encode validated applicants (see `encode`)."""
    return encode(a.by_name() for a in applicants)
