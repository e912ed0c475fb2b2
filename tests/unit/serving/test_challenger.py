"""Which version answers an applicant, and which versions may stand side by side."""

from __future__ import annotations

import bentoml
import pytest
from pydantic import ValidationError

from serving.challenger import ChallengerRefused, answers_challenger, check_pair
from serving.settings import Settings


def test_an_applicant_always_meets_the_same_version() -> None:
    keys = [f"loan-{i}" for i in range(10_000)]
    first = [answers_challenger(key, 30) for key in keys]
    assert first == [answers_challenger(key, 30) for key in keys]
    assert abs(sum(first) / len(keys) - 0.30) < 0.02
    assert not any(answers_challenger(key, 0) for key in keys)  # pure shadow
    assert all(answers_challenger(key, 100) for key in keys)


def test_a_larger_share_keeps_the_applicants_the_challenger_had() -> None:
    """Raising the share moves applicants to the challenger, never back."""
    keys = [f"loan-{i}" for i in range(2_000)]
    for key in keys:
        if answers_challenger(key, 10):
            assert answers_challenger(key, 50)


@pytest.mark.parametrize("share", ["-1", "101", "half"])
def test_a_share_outside_0_to_100_is_refused(monkeypatch, share: str) -> None:
    monkeypatch.setenv("CREDIT_RISK_CHALLENGER_SHARE", share)
    with pytest.raises(ValidationError, match="challenger_share"):
        Settings()


def test_the_served_version_cannot_challenge_itself(stored_model) -> None:
    with pytest.raises(ChallengerRefused, match=f"{stored_model.tag} is the served version"):
        check_pair(stored_model, stored_model)


def test_another_version_of_the_same_contract_may_challenge(stored_model, challenger_model) -> None:
    check_pair(stored_model, challenger_model)


@pytest.mark.parametrize(
    ("key", "change", "what"),
    [
        ("contract", {"scored": ["Credit amount"]}, "data contract"),
        ("input_features", 99, "model inputs"),
    ],
)
def test_a_version_scoring_another_body_is_refused(
    stored_model, challenger_model, key: str, change, what: str
) -> None:
    metadata = dict(challenger_model.info.metadata)
    metadata[key] = {**metadata[key], **change} if isinstance(change, dict) else change
    tag = bentoml.Tag("credit_risk_other", key.replace("_", ""))
    with bentoml.models.create(tag, metadata=metadata, module=__name__) as other:
        pass
    with pytest.raises(ChallengerRefused, match=f"{other.tag}: its {what} differ"):
        check_pair(stored_model, bentoml.models.get(tag))
