"""What the records routes take."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from serving.records.models import OUTCOME


@pytest.mark.parametrize(
    "body",
    [{"repaid": True}, {"request_id": "r", "client_reference": "c", "repaid": True},
     {"request_id": "r"}, {"request_id": "r", "repaid": "maybe"},
     {"request_id": "r", "position": -1, "repaid": True}, {"request_id": "r", "x": 1, "repaid": 1},
     {"request_id": "r", "position": 2**31, "repaid": True},  # past the database's integers
     {"request_id": "\ud958\udf67", "repaid": True}, {"client_reference": "é", "repaid": True}],
)  # fmt: skip
def test_an_invalid_outcome_is_refused(body: dict) -> None:
    with pytest.raises(ValidationError):
        OUTCOME.validate_python(body)
