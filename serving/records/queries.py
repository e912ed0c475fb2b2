"""Reading the decision records, adding outcomes, purging and deleting them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from credit_risk.contract import BAD, GOOD
from serving.oversight import APPROVE
from serving.records.database import decisions, outcome_corrections
from serving.records.models import Outcome, OutcomeByRequest, OutcomeConflict

# Rows the purge deletes per transaction: each holds the write lock for well under
# `BUSY_TIMEOUT_S`, so that serving commits wait between them rather than fail.
PURGE_CHUNK = 5000
# The decision an outcome is judged against: the final one (a person's, where one took
# it), as the model's words; the model's own where none is recorded (none yet).
FINAL_AS_PREDICTION = sa.case(
    (decisions.c.final_decision == APPROVE, GOOD),
    (decisions.c.final_decision.is_not(None), BAD),
    else_=decisions.c.decision,
).label("decision")


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

    def record_outcome(self, outcome: Outcome, caller: str | None) -> dict[str, Any]:
        """Set the outcome of the one decision `outcome` names, reported by `caller`.
        Raises LookupError when no decision matches, OutcomeConflict when several do, when
        it was a decline (no credit was extended: nothing to repay), when it already has
        another outcome and `outcome` is not a correction, or when a correction finds no
        outcome to correct. A correction is recorded in `outcome_corrections`."""
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
            if row.what_if:
                raise OutcomeConflict("a what-if score decided nothing: it has no outcome")
            if row.final_decision is None:
                raise OutcomeConflict(
                    "no credit was extended yet: the decision awaits a person (GET /reviews)"
                )
            if row.final_decision != APPROVE:
                raise OutcomeConflict("no credit was extended: a decline has no repayment")
            now = datetime.now(UTC)
            if outcome.correction and row.repaid is None:
                raise OutcomeConflict("that decision has no outcome to correct")
            if row.repaid is not None and row.repaid != outcome.repaid:
                if not outcome.correction:
                    raise OutcomeConflict(
                        'that decision already has the other outcome (send "correction": '
                        "true to correct it)"
                    )
                connection.execute(
                    outcome_corrections.insert().values(
                        decision_id=row.id,
                        old_repaid=row.repaid,
                        repaid=outcome.repaid,
                        corrected_by=caller,
                        corrected_at=now,
                    )
                )
                connection.execute(
                    decisions.update()
                    .where(decisions.c.id == row.id)
                    .values(repaid=outcome.repaid, outcome_by=caller)
                )
            if row.repaid is None:
                connection.execute(
                    decisions.update()
                    .where(decisions.c.id == row.id)
                    .values(repaid=outcome.repaid, outcome_at=now, outcome_by=caller)
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
        """Model, inputs, decision and outcome of every decision, what-if scores aside
        (`serving.fairness`)."""
        query = sa.select(
            decisions.c.model, decisions.c.applicant, decisions.c.decision, decisions.c.repaid
        ).where(decisions.c.what_if.is_(False))
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def recent_applicants(self, limit: int, until: datetime) -> list[dict[str, Any]]:
        """The applicants of the last `limit` decisions decided before `until`, oldest
        first, what-if scores aside (the drift window)."""
        query = (
            sa.select(decisions.c.applicant)
            .where(decisions.c.what_if.is_(False), decisions.c.decided_at < until)
            .order_by(decisions.c.decided_at.desc(), decisions.c.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as connection:
            return [row.applicant for row in connection.execute(query)][::-1]

    def labelled(self) -> list[dict[str, Any]]:
        """Model, P(good), final decision and outcome of every decision with an outcome,
        in the order the outcomes were recorded."""
        query = (
            sa.select(
                decisions.c.model, decisions.c.p_good, FINAL_AS_PREDICTION, decisions.c.repaid
            )
            .where(decisions.c.repaid.is_not(None))
            .order_by(decisions.c.outcome_at, decisions.c.id)
        )
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def paired_counts(self, until: datetime) -> list[dict[str, Any]]:
        """Per answering version and other version (`shadow_model`), over the applicants
        both scored before `until` (what-if scores left out): how many, how many each
        called good, how many they decided apart, and the sum of the other's P(good) less
        the answering one's."""
        c = decisions.c

        def count(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
            return sa.func.sum(sa.case((condition, 1), else_=0))

        query = (
            sa.select(
                c.model,
                c.shadow_model,
                sa.func.count().label("applicants"),
                count(c.decision == GOOD).label("good"),
                count(c.shadow_decision == GOOD).label("shadow_good"),
                count(c.decision != c.shadow_decision).label("flips"),
                sa.func.sum(c.shadow_p_good - c.p_good).label("difference"),
            )
            .where(c.shadow_model.is_not(None), c.what_if.is_(False), c.decided_at < until)
            .group_by(c.model, c.shadow_model)
        )
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def outcome_events(self, until: datetime) -> list[dict[str, Any]]:
        """Every outcome as it was first reported and every later correction before
        `until`, as events in the order they happened: the decision's id, model, P(good),
        decision and the outcome the event set (`serving.records.outcomes.published`)."""
        decided = sa.select(
            decisions.c.id, decisions.c.model, decisions.c.p_good, FINAL_AS_PREDICTION
        )
        first = decided.add_columns(
            # As first reported: the value its first correction replaced, if there is one.
            sa.func.coalesce(
                sa.select(outcome_corrections.c.old_repaid)
                .where(outcome_corrections.c.decision_id == decisions.c.id)
                .order_by(outcome_corrections.c.id)
                .limit(1)
                .scalar_subquery(),
                decisions.c.repaid,
            ).label("repaid"),
            decisions.c.outcome_at.label("at"),
            sa.literal(0).label("order"),
        ).where(decisions.c.repaid.is_not(None), decisions.c.outcome_at < until)
        corrected = (
            decided.add_columns(
                outcome_corrections.c.repaid,
                outcome_corrections.c.corrected_at.label("at"),
                outcome_corrections.c.id.label("order"),
            )
            .select_from(decisions.join(outcome_corrections))
            .where(outcome_corrections.c.corrected_at < until)
        )
        with self.engine.connect() as connection:
            events = [
                dict(row._mapping)
                for query in (first, corrected)
                for row in connection.execute(query)
            ]
        events.sort(key=lambda e: (e["at"], e["order"], e["id"]))
        return events
