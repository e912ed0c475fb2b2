"""Alembic's environment for the decision records.

`serving.records.database.migrate` passes in its connection, which holds the migration lock. From
the `alembic` command line in the repository's root (configured in pyproject.toml:
`alembic current`, `alembic upgrade head`, `alembic revision -m ...`), the database of
CREDIT_RISK_RECORDS_URL, under the same lock.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from serving.records.database import lock_for_migration, metadata, open_engine


def run(connection: sa.Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()


if "connection" in context.config.attributes:
    run(context.config.attributes["connection"])
else:
    from serving.settings import settings

    with open_engine(settings.records_url).begin() as connection:
        lock_for_migration(connection)
        run(connection)
