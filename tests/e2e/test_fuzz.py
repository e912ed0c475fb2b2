"""schemathesis against the served OpenAPI document, every operation: what the document
promises is what the server does, for valid and invalid requests."""

from __future__ import annotations

import re

from reliability import checks
from tests.e2e.conftest import KEY


def test_every_operation_keeps_its_documented_promises(restricted: str) -> None:
    """On the server with API keys, with a key: the decision records' operations too.

    Whether a schema-valid review is accepted depends on the decision it reviews (the
    model's recommendation takes no override reason, any other decision needs one), which
    no document can say: that one check is left to the scoring routes
    (tests/e2e/test_server.py) and the oversight tests (tests/e2e/test_oversight.py)."""
    result = checks.fuzz(
        restricted,
        examples=400,
        path=None,
        headers={"X-API-Key": KEY},
        excluded=("positive_data_acceptance",),
    )
    assert result.passed, result.summary
    generated = re.search(r"(\d+) generated", result.summary)
    assert generated and int(generated.group(1)) >= 1000, result.summary
