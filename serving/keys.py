"""API keys: who a caller is (its key's name) and what it may do (its key's roles).

The routes each role opens are in `serving.http.routes.ROLE_OF`; the check is
`serving.http.request_checks.ApiKeys`.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, SecretStr

# score: the origination system; review: loan officers; audit: read-only access to the
# records and the reports drawn from them; outcomes: the loan servicing system.
Role = Literal["score", "review", "audit", "outcomes"]
ROLES: tuple[Role, ...] = get_args(Role)
# A name fits the decision records' caller column (16 characters) and a log line as it is.
KEY_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,15}$"


class ApiKey(BaseModel):
    """One item of CREDIT_RISK_API_KEYS."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        pattern=KEY_NAME_PATTERN,
        description="Who calls with this key: recorded with each decision instead of the key",
    )
    key: SecretStr = Field(min_length=1, description="The X-API-Key value")
    roles: frozenset[Role] = Field(min_length=1, description=f"Any of {', '.join(ROLES)}")


def with_names(keys: object) -> object:
    """The setting's items with a bare key (its older form) made a key named by its place
    in the list, `key-1`, `key-2`..., with every role; anything else as given."""
    if not isinstance(keys, list):
        return keys
    return [
        {"name": f"key-{i}", "key": key, "roles": ROLES} if isinstance(key, str) else key
        for i, key in enumerate(keys, start=1)
    ]


def distinct(keys: list[ApiKey]) -> list[ApiKey]:
    """`keys` when no two share a name or a key (a record could not tell the callers
    apart)."""
    for what, values in (
        ("name", [item.name for item in keys]),
        ("key", [item.key.get_secret_value() for item in keys]),
    ):
        if len(set(values)) != len(values):
            raise ValueError(f"two API keys have the same {what}")
    return keys
