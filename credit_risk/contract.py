"""The data contract: the one place that names the applicant fields and their values.

Training (the dataset, the fitted preprocessor) and serving (the request schema, the
encoding of a request) both read these definitions; nothing else lists a field or a
category. "NA" is a real category of both account fields, and Job uses the four
documented text labels, so a request reaches the model exactly as training data did.
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
# Column order of an encoded row (see `encode`): numeric fields, then categorical codes.
ENCODED_COLUMNS: tuple[str, ...] = NUMERIC_FIELDS + CATEGORICAL_FIELDS

TARGET = "Risk"
GOOD, BAD = "good", "bad"
TARGET_LABELS: tuple[str, str] = (BAD, GOOD)  # index = model target (1 = good)


def decide(p_good: float | np.ndarray, threshold: float) -> np.ndarray:
    """The decision rule, for one P(good) or an array: "good" above the model version's
    threshold (stored with it, see credit_risk.decision), else "bad"."""
    return np.where(np.asarray(p_good) > threshold, GOOD, BAD)


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


_NUMBER = BeforeValidator(_json_number)


def _choice(name: str) -> Any:
    return Literal[CATEGORIES[name]]  # type: ignore[valid-type]


# The API documentation's example request: the schema's example, and the tests' fixture.
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

    model_config = ConfigDict(
        populate_by_name=True,  # BentoML passes models between services by field name
        extra="forbid",
        frozen=True,
        json_schema_extra={"example": EXAMPLE},
    )

    age: Annotated[int, Field(alias="Age", gt=0, le=MAX_AGE, description="Years"), _NUMBER]
    sex: Annotated[_choice("Sex"), Field(alias="Sex")]
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
        _NUMBER,
    ]
    duration: Annotated[
        int, Field(alias="Duration", gt=0, le=MAX_DURATION, description="Months"), _NUMBER
    ]
    purpose: Annotated[_choice("Purpose"), Field(alias="Purpose")]

    def record(self) -> dict[str, Any]:
        """The applicant keyed by the documented field names."""
        return self.model_dump(by_alias=True)


MAX_REASONS = 3  # per direction
# Smaller effects (under 1 % of the odds) are no reason to tell an applicant.
MIN_CONTRIBUTION = 0.01


def _shown(value: float | str) -> str:
    """A field value as a loan officer reads it: 36, 2308.5, "little"."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class Reason(BaseModel):
    """How much one field's value moved the decision, against a reference applicant."""

    field: str = Field(description="A documented input field")
    value: int | float | str = Field(description="The applicant's value")
    reference: int | float | str = Field(
        description="The reference applicant's value: the training median or most frequent value"
    )
    contribution: float = Field(
        description="The field's share (Shapley value) of the applicant's log-odds of good "
        "minus the reference applicant's: negative pushes towards bad"
    )
    text: str = Field(description='The reason in words, e.g. "Checking account = little"')


class Reasons(BaseModel):
    """The fields that pushed the decision most, at most three each way, strongest first."""

    towards_bad: list[Reason]
    towards_good: list[Reason]

    @classmethod
    def rank(
        cls,
        record: Mapping[str, Any],
        reference: Mapping[str, Any],
        contributions: Iterable[float],
    ) -> Reasons:
        """The strongest reasons of `contributions`, one per field of `ENCODED_COLUMNS`."""
        reasons = [
            Reason(
                field=name,
                value=record[name],
                reference=reference[name],
                contribution=c,
                text=f"{name} = {_shown(record[name])}",
            )
            for name, c in zip(ENCODED_COLUMNS, contributions, strict=True)
            if abs(c) >= MIN_CONTRIBUTION
        ]
        reasons.sort(key=lambda r: r.contribution)
        return cls(
            towards_bad=[r for r in reasons[:MAX_REASONS] if r.contribution < 0],
            towards_good=[r for r in reasons[::-1][:MAX_REASONS] if r.contribution > 0],
        )


class Options(BaseModel):
    """The query parameters of the prediction endpoints."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    reasons: bool = Field(
        default=False,
        description="Also answer the fields that pushed each decision most (reason codes); "
        "they cost 64 forward passes of the network per applicant on average",
    )


class CreditScore(BaseModel):
    """The decision for one applicant."""

    prediction: Literal["good", "bad"] = Field(
        description='"good" when P(good) > the model\'s cost-minimising threshold'
    )
    probability: float = Field(
        ge=0, le=1, description="Calibrated P(good), whatever the prediction"
    )
    probability_bad: float = Field(ge=0, le=1, description="P(bad) = 1 - P(good)")
    model: str = Field(description="Tag of the model version that scored the request")
    reasons: Reasons | None = Field(
        default=None,
        exclude_if=lambda reasons: reasons is None,  # absent unless asked for
        description="The fields that pushed the decision most; only with ?reasons=true",
    )

    @classmethod
    def from_probability(
        cls, p_good: float, threshold: float, model: str, reasons: Reasons | None = None
    ) -> CreditScore:
        """The answer for P(good) under the model version's decision threshold."""
        if not 0.0 <= p_good <= 1.0:  # NaN too: a server fault, never a client's (422)
            raise ArithmeticError(f"model returned P(good) = {p_good}")
        return cls(
            prediction=str(decide(p_good, threshold)),
            probability=p_good,
            probability_bad=1.0 - p_good,
            model=model,
            reasons=reasons,
        )


class CreditScores(BaseModel):
    """The decisions for a batch of applicants, in request order."""

    predictions: list[CreditScore]


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

    Columns follow `ENCODED_COLUMNS`: numeric values as they are, then each categorical
    field as the index of its label in `CATEGORIES`. Raises KeyError for a missing field
    or an unknown label, so nothing is silently encoded as "no category".
    """
    rows = [
        [float(r[name]) for name in NUMERIC_FIELDS]
        + [_CODES[name][r[name]] for name in CATEGORICAL_FIELDS]
        for r in records
    ]
    return np.array(rows, dtype=np.float64).reshape(len(rows), len(ENCODED_COLUMNS))


def encode_applicants(applicants: Iterable[Applicant]) -> np.ndarray:
    """Encode validated applicants (see `encode`)."""
    return encode(a.record() for a in applicants)
