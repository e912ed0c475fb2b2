"""Who reported each outcome, and every correction of one (who, when, the old value).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("decisions", sa.Column("outcome_by", sa.String(16), nullable=True))
    op.create_table(
        "outcome_corrections",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "decision_id",
            sa.Integer,
            sa.ForeignKey("decisions.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("old_repaid", sa.Boolean, nullable=False),
        sa.Column("repaid", sa.Boolean, nullable=False),
        sa.Column("corrected_by", sa.String(16), nullable=True),
        sa.Column("corrected_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("outcome_corrections")
    op.drop_column("decisions", "outcome_by")
