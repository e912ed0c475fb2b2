"""Human oversight: what each answer decided, the person who took a referred decision,
contests linked to the decision they contest, what-if scores.

Decisions recorded before this revision were final as answered: their `answered` and
`final_decision` are the model's decision.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ADDED = (
    sa.Column("answered", sa.String(8), nullable=True),
    sa.Column("final_decision", sa.String(8), nullable=True),
    sa.Column("reviewed_by", sa.String(16), nullable=True),
    sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("override_reason", sa.String(32), nullable=True),
    sa.Column("review_note", sa.String(500), nullable=True),
    sa.Column("contest_of_request_id", sa.String(64), nullable=True),
    sa.Column("contest_of_position", sa.Integer, nullable=True),
    sa.Column("contest_statement", sa.String(2000), nullable=True),
    sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("what_if", sa.Boolean, nullable=False, server_default=sa.false()),
)


def upgrade() -> None:
    for column in ADDED:
        op.add_column("decisions", column)
    op.execute(
        "UPDATE decisions SET answered = CASE WHEN decision = 'good' THEN 'approve' "
        "ELSE 'decline' END, final_decision = CASE WHEN decision = 'good' THEN 'approve' "
        "ELSE 'decline' END"
    )
    op.create_index("ix_decisions_awaiting", "decisions", ["final_decision", "id"])
    op.create_index(
        "ix_decisions_contest_of", "decisions", ["contest_of_request_id", "contest_of_position"]
    )


def downgrade() -> None:
    op.drop_index("ix_decisions_contest_of", "decisions")
    op.drop_index("ix_decisions_awaiting", "decisions")
    for column in reversed(ADDED):
        op.drop_column("decisions", column.name)
