"""Reading the decision records, adding outcomes, purging and deleting them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from credit_risk.contract import GOOD
from serving.records.database import decisions
from serving.records.models import Outcome, OutcomeByRequest, OutcomeConflict

# Rows the purge deletes per transaction: each holds the write lock for well under
# `BUSY_TIMEOUT_S`, so that serving commits wait between them rather than fail.
PURGE_CHUNK = 5000


@dataclass(frozen=True)
class Records:
    """The decision records of one database."""

    engine: sa.Engine

    def of_request(self, request_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as connection:
            found = connection.execute(
                sa.select(decisions)
                .where(decisions.c.request_id == request_id)
                .order_by(decisions.c.position, decisions.c.id)
            )
            return [dict(row._mapping) for row in found]

    def record_outcome(self, outcome: Outcome) -> dict[str, Any]:
        """Set the outcome of the one decision `outcome` names. Raises LookupError when no
        decision matches, OutcomeConflict when several do, when it was a decline (no credit
        was extended: nothing to repay) or it already has another outcome."""
        if isinstance(outcome, OutcomeByRequest):
            match = (decisions.c.request_id == outcome.request_id) & (
                decisions.c.position == outcome.position
            )
        else:
            match = decisions.c.client_reference == outcome.client_reference
        with self.engine.begin() as connection:
            found = connection.execute(sa.select(decisions).where(match)).all()
            if not found:
                raise LookupError("no decision with that request id or client reference")
            if len(found) > 1:
                raise OutcomeConflict(f"{len(found)} decisions match: name one by request id")
            (row,) = found
            if row.decision != GOOD:
                raise OutcomeConflict("no credit was extended: a decline has no repayment")
            if row.repaid is not None and row.repaid != outcome.repaid:
                raise OutcomeConflict("that decision already has the other outcome")
            if row.repaid is None:
                connection.execute(
                    decisions.update()
                    .where(decisions.c.id == row.id)
                    .values(repaid=outcome.repaid, outcome_at=datetime.now(UTC))
                )
            return dict(
                connection.execute(sa.select(decisions).where(decisions.c.id == row.id))
                .one()
                ._mapping
            )

    def between(self, since: datetime | None, until: datetime | None) -> list[dict[str, Any]]:
        """Every record decided in [since, until), oldest first."""
        query = sa.select(decisions).order_by(decisions.c.decided_at, decisions.c.id)
        if since is not None:
            query = query.where(decisions.c.decided_at >= since)
        if until is not None:
            query = query.where(decisions.c.decided_at < until)
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def purge(
        self, older_than_days: int, now: datetime | None = None, chunk: int = PURGE_CHUNK
    ) -> int:
        """Delete the records decided more than `older_than_days` ago, `chunk` rows to a
        transaction; how many."""
        cutoff = (now or datetime.now(UTC)) - timedelta(days=older_than_days)
        oldest = (
            sa.select(decisions.c.id).where(decisions.c.decided_at < cutoff).limit(chunk)
        ).scalar_subquery()
        deleted = 0
        while True:
            with self.engine.begin() as connection:
                count = connection.execute(
                    decisions.delete().where(decisions.c.id.in_(oldest))
                ).rowcount
            deleted += count
            if count < chunk:
                return deleted

    def delete_applicant(self, request_id: str | None, client_reference: str | None) -> int:
        """Delete one applicant's records (by request id or client reference); how many."""
        if (request_id is None) == (client_reference is None):
            raise ValueError("name the records by request id or by client reference")
        match = (
            decisions.c.request_id == request_id
            if request_id is not None
            else decisions.c.client_reference == client_reference
        )
        with self.engine.begin() as connection:
            return connection.execute(decisions.delete().where(match)).rowcount

    def for_fairness(self) -> list[dict[str, Any]]:
        """Model, inputs, decision and outcome of every decision (`serving.fairness`)."""
        query = sa.select(
            decisions.c.model, decisions.c.applicant, decisions.c.decision, decisions.c.repaid
        )
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def labelled(self) -> list[dict[str, Any]]:
        """Model, P(good), decision and outcome of every decision with an outcome, in the
        order the outcomes were recorded."""
        query = (
            sa.select(
                decisions.c.model, decisions.c.p_good, decisions.c.decision, decisions.c.repaid
            )
            .where(decisions.c.repaid.is_not(None))
            .order_by(decisions.c.outcome_at, decisions.c.id)
        )
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]
