"""The decisions table: one row per applicant decision, its outcome added later.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("decisions"):
        return  # made before the migrations existed, by the same definition
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("threshold", sa.Float, nullable=False),
        sa.Column("applicant", sa.JSON, nullable=False),
        sa.Column("p_good", sa.Float, nullable=False),
        sa.Column("decision", sa.String(8), nullable=False),
        sa.Column("reasons", sa.JSON, nullable=True),
        sa.Column("caller", sa.String(16), nullable=True),
        sa.Column("client_reference", sa.String(128), nullable=True),
        sa.Column("repaid", sa.Boolean, nullable=True),
        sa.Column("outcome_at", sa.DateTime(timezone=True), nullable=True),
    )
    for column in ("request_id", "decided_at", "client_reference"):
        op.create_index(f"ix_decisions_{column}", "decisions", [column])


def downgrade() -> None:
    op.drop_table("decisions")
