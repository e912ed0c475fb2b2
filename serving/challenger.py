"""Champion and challenger: which version answers an applicant, and which versions may
stand side by side.

With CREDIT_RISK_CHALLENGER_MODEL set, the runner scores every applicant with both the
served version (the champion) and the challenger in one call; the answer comes from the
champion except for CREDIT_RISK_CHALLENGER_SHARE percent of applicants, chosen by a stable
hash of the client's application reference (or the request id), so that one applicant
always meets the same version; the other version's answer is recorded beside it.
"""

from __future__ import annotations

import hashlib

import bentoml


class ChallengerRefused(ValueError):
    """The challenger cannot stand beside the champion (a start-up error)."""


def answers_challenger(key: str, share: int) -> bool:
    """Whether the challenger answers the applicant of `key` (its client reference, else
    its request id): the same for a key in every process and on every replica."""
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100 < share


def check_pair(champion: bentoml.Model, challenger: bentoml.Model) -> None:
    """Raise ChallengerRefused unless `challenger` is another version that scores the same
    documented body as `champion`: the same data contract and the same model inputs."""
    if challenger.tag == champion.tag:
        raise ChallengerRefused(
            f"CREDIT_RISK_CHALLENGER_MODEL {challenger.tag} is the served version itself"
        )
    for key, what in (("contract", "data contract"), ("input_features", "model inputs")):
        if challenger.info.metadata.get(key) != champion.info.metadata.get(key):
            raise ChallengerRefused(
                f"CREDIT_RISK_CHALLENGER_MODEL {challenger.tag}: its {what} differ from those "
                f"of the served version {champion.tag}; both must score the same body"
            )
