"""schemathesis against the served OpenAPI document, every operation: what the document
promises is what the server does, for valid and invalid requests."""

from __future__ import annotations

import re

from reliability import checks


def test_every_operation_keeps_its_documented_promises(server: str) -> None:
    result = checks.fuzz(server, examples=400, path=None)
    assert result.passed, result.summary
    generated = re.search(r"(\d+) generated", result.summary)
    assert generated and int(generated.group(1)) >= 1000, result.summary
