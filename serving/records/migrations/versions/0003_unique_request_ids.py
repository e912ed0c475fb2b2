"""A request id names one request: (request_id, position) is unique.

A database holding a request id used twice (before this revision a client's retry, or
another key, stored a second row) is refused, naming how many and the first ones: which
row is the decision answered is the operator's call, never a migration's.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from alembic.util import CommandError

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    used_twice = op.get_bind().execute(
        sa.text(
            "SELECT request_id FROM decisions GROUP BY request_id, position"
            " HAVING count(*) > 1 ORDER BY request_id"
        )
    )
    found = [row.request_id for row in used_twice]
    if found:
        raise CommandError(
            f"request ids that name several decisions: {len(found)} (first: "
            f"{', '.join(found[:5])}); a request id must name one request: keep one row of "
            "each (docs/records.md, 'Request ids'), then start again"
        )
    op.drop_index("ix_decisions_request_id", "decisions")
    op.create_index(
        "uq_decisions_request_id_position", "decisions", ["request_id", "position"], unique=True
    )


def downgrade() -> None:
    op.drop_index("uq_decisions_request_id_position", "decisions")
    op.create_index("ix_decisions_request_id", "decisions", ["request_id"])
