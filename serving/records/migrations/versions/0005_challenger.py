"""Champion and challenger: the other version's answer beside the one answered.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ADDED = (
    sa.Column("shadow_model", sa.String(128), nullable=True),
    sa.Column("shadow_p_good", sa.Float, nullable=True),
    sa.Column("shadow_decision", sa.String(8), nullable=True),
    sa.Column("shadow_answered", sa.String(8), nullable=True),
    sa.Column("shadow_reasons", sa.JSON, nullable=True),
)


def upgrade() -> None:
    for column in ADDED:
        op.add_column("decisions", column)


def downgrade() -> None:
    for column in reversed(ADDED):
        op.drop_column("decisions", column.name)
