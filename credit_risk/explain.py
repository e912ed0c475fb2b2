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

from collections.abc import Callable
from functools import cache
from math import factorial

import numpy as np


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
