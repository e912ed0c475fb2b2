from __future__ import annotations

import pytest

from serving.records.database import engine_for
from serving.records.queries import Records


@pytest.fixture
def records(records_url: str) -> Records:
    return Records(engine_for(records_url))
