"""Vectorised validation of applicant columns against the data contract.

A batch of rows (a pyarrow RecordBatch, with any column types) is checked field by field
with Arrow compute kernels, the way `credit_risk.contract.Applicant` checks one request:
every field present, categories among `CATEGORIES`, numbers finite, integers where the
schema says int, above the schema's lower bound. Valid rows come out encoded as
`credit_risk.contract.encode` would encode them; each invalid row gets one message naming
its fields and values.
"""

from __future__ import annotations

from dataclasses import dataclass

import annotated_types
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from credit_risk.contract import (
    CATEGORICAL_FIELDS,
    CATEGORIES,
    ENCODED_COLUMNS,
    FIELDS,
    NUMERIC_FIELDS,
    Applicant,
)

# A decimal number as text: no NaN or Infinity spellings, which the contract rejects.
_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"


@dataclass(frozen=True)
class _NumericRule:
    integer: bool
    bounds: tuple[tuple[str, float, np.ufunc], ...]  # (message, limit, passes) per bound


_BOUNDS = {  # annotated_types constraint → attribute, message, comparison that passes
    annotated_types.Gt: ("gt", "must be greater than", np.greater),
    annotated_types.Ge: ("ge", "must be at least", np.greater_equal),
    annotated_types.Lt: ("lt", "must be less than", np.less),
    annotated_types.Le: ("le", "must be at most", np.less_equal),
}


def _numeric_rules() -> dict[str, _NumericRule]:
    """Integer-ness and bounds of each numeric field, read from the Applicant schema."""
    rules = {}
    for info in Applicant.model_fields.values():
        if info.alias in NUMERIC_FIELDS:
            bounds = tuple(
                (message, float(getattr(m, attribute)), passes)
                for m in info.metadata
                for kind, (attribute, message, passes) in _BOUNDS.items()
                if isinstance(m, kind)
            )
            rules[info.alias] = _NumericRule(info.annotation is int, bounds)
    return rules


_RULES = _numeric_rules()


class MissingColumns(ValueError):
    """The input lacks columns of the contract: nothing can be scored."""

    def __init__(self, missing: list[str]) -> None:
        super().__init__(f"input has no column {missing}; expected the fields {list(FIELDS)}")


@dataclass(frozen=True)
class Checked:
    """A validated batch: encoded rows (valid where `valid`) and a message per invalid row."""

    encoded: np.ndarray
    valid: np.ndarray
    errors: list[str | None]


def check_columns(names: list[str]) -> None:
    """Raise MissingColumns unless every contract field is among `names`."""
    missing = [name for name in FIELDS if name not in names]
    if missing:
        raise MissingColumns(missing)


def _as_text(column: pa.Array) -> pa.Array:
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        column = pc.cast(column, pa.string())
    return column


def _nulls(column: pa.Array) -> np.ndarray:
    if column.null_count == 0:
        return np.zeros(len(column), dtype=bool)
    return column.is_null().to_numpy(zero_copy_only=False)


def _numbers(column: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Values as float64 (NaN where absent or not a number) and the not-a-number mask."""
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        values = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
        return values, np.zeros(len(column), dtype=bool)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        text = pc.utf8_trim_whitespace(column)
        is_number = pc.match_substring_regex(text, _NUMBER)
        parsed = pc.cast(pc.if_else(is_number, text, None), pa.float64())
        not_number = pc.invert(is_number).fill_null(False)
        return parsed.to_numpy(zero_copy_only=False), not_number.to_numpy(zero_copy_only=False)
    # Booleans, dates, ...: never a number of the contract (the API rejects them too).
    return np.full(len(column), np.nan), np.ones(len(column), dtype=bool)


def check(batch: pa.RecordBatch, first_row: int | None = None) -> Checked:
    """Validate and encode the contract fields of `batch`.

    Messages read "Duration: must be greater than 0: -3; Purpose: missing", prefixed with
    "row N: " (N = `first_row` + position in the batch) when `first_row` is given.
    """
    check_columns(batch.schema.names)
    n = batch.num_rows
    encoded = np.empty((n, len(ENCODED_COLUMNS)), dtype=np.float64)
    problems: list[tuple[str, np.ndarray, str, pa.Array]] = []  # field, mask, reason, values
    for name in NUMERIC_FIELDS:
        column = batch.column(name)
        rule = _RULES[name]
        missing = _nulls(column)
        values, not_number = _numbers(column)
        present = ~missing & ~not_number
        with np.errstate(invalid="ignore"):
            not_finite = present & ~np.isfinite(values)
            number = present & ~not_finite
            problems += [
                (name, missing, "missing", column),
                (name, not_number, "not a number", column),
                (name, not_finite, "not a finite number", column),
            ]
            if rule.integer:
                problems.append(
                    (name, number & (np.floor(values) != values), "not an integer", column)
                )
            for message, limit, passes in rule.bounds:
                problems.append(
                    (name, number & ~passes(values, limit), f"{message} {limit:.15g}", column)
                )
        if name in ENCODED_COLUMNS:
            encoded[:, ENCODED_COLUMNS.index(name)] = values
    for name in CATEGORICAL_FIELDS:
        column = batch.column(name)
        missing = _nulls(column)
        codes = pc.index_in(_as_text(column), value_set=pa.array(CATEGORIES[name]))
        codes = codes.fill_null(-1).to_numpy(zero_copy_only=False)
        problems += [
            (name, missing, "missing", column),
            (name, (codes < 0) & ~missing, f"not one of {list(CATEGORIES[name])}", column),
        ]
        if name in ENCODED_COLUMNS:
            encoded[:, ENCODED_COLUMNS.index(name)] = codes
    valid = np.ones(n, dtype=bool)
    for _, mask, _, _ in problems:
        valid &= ~mask
    return Checked(encoded, valid, _messages(n, valid, problems, first_row))


def _messages(
    n: int,
    valid: np.ndarray,
    problems: list[tuple[str, np.ndarray, str, pa.Array]],
    first_row: int | None,
) -> list[str | None]:
    """One message per invalid row, its problems in field order (a loop over bad cells only)."""
    parts: dict[int, list[tuple[int, str]]] = {}
    for name, mask, reason, column in problems:
        for i in np.flatnonzero(mask).tolist():
            text = f"{name}: {reason}"
            if reason != "missing":
                text += f": {column[i].as_py()!r}"
            parts.setdefault(i, []).append((FIELDS.index(name), text))
    errors: list[str | None] = [None] * n
    for i in np.flatnonzero(~valid).tolist():
        text = "; ".join(t for _, t in sorted(parts[i], key=lambda p: p[0]))
        errors[i] = text if first_row is None else f"row {first_row + i}: {text}"
    return errors
