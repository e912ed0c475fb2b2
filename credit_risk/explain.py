"""Per-field contributions to a score: exact Shapley values against a reference applicant.

A field's contribution is its Shapley value in the game "score of the applicant with the
fields of coalition S taken from the applicant, the others from the reference applicant".
It averages the field's effect over every order in which the applicant's values could
replace the reference's, so interactions (Duration with Credit amount, say) are shared
fairly, and the contributions of an applicant add up exactly to its score minus the
reference's. Only fields whose value differs from the reference take part: the others
contribute exactly 0, and an applicant differing in d fields costs 2**d evaluations
(at most 2**9 = 512), all in one call of `score`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import cache
from math import factorial
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from credit_risk.contract import ENCODED_COLUMNS


@cache
def _game(d: int) -> tuple[np.ndarray, np.ndarray]:
    """The coalitions of d players and the matrix that turns their values into Shapley values.

    Returns `members` (2**d, d), True where player j is in coalition k, and `weights`
    (d, 2**d) such that `weights @ values` are the players' Shapley values, with
    phi_j = sum over S not holding j of |S|! (d - |S| - 1)! / d! * (v(S + j) - v(S)).
    """
    coalitions = np.arange(2**d)
    members = (coalitions[:, None] >> np.arange(d)) & 1 == 1
    sizes = members.sum(axis=1)
    share = np.array([factorial(s) * factorial(d - s - 1) / factorial(d) for s in range(d)])
    weights = np.zeros((d, 2**d))
    for j in range(d):
        without = ~members[:, j]
        w = share[sizes[without]]
        weights[j, coalitions[without] | (1 << j)] += w  # v(S + j)
        weights[j, coalitions[without]] -= w  # v(S)
    return members, weights


def shapley_values(
    encoded: np.ndarray, reference: np.ndarray, score: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """Each row's Shapley value per column (shape of `encoded`) for `score` of rows.

    `score` maps encoded rows to one number each (e.g. calibrated log-odds); it is called
    once, on every coalition of every row.
    """
    differing = encoded != reference
    variants, games = [], []
    for row, differs in zip(encoded, differing, strict=True):
        (players,) = np.nonzero(differs)
        members, weights = _game(len(players))
        coalition_rows = np.tile(reference, (len(members), 1))
        coalition_rows[:, players] = np.where(members, row[players], reference[players])
        variants.append(coalition_rows)
        games.append((players, weights))
    values = score(np.concatenate(variants))
    contributions = np.zeros(encoded.shape)
    start = 0
    for i, (players, weights) in enumerate(games):
        stop = start + weights.shape[1]
        contributions[i, players] = weights @ values[start:stop]
        start = stop
    return contributions


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
