"""Human oversight over the records: the review queue, a person's final decision, the
decision a contest scores again, and the oversight figures (`serving.oversight`)."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from serving.fairness import GROUPS, MIN_GROUP_SIZE, group_of
from serving.oversight import REFER, recommendation
from serving.records.database import decisions
from serving.records.models import OversightReport, Review


class ReviewConflict(ValueError):
    """The decision is not one a person can take now (a 409)."""


class ReviewRefused(ValueError):
    """The review breaks the override rule (a 422)."""


# Decisions a person has yet to take: what-if scores decide nothing.
AWAITING = decisions.c.final_decision.is_(None) & decisions.c.what_if.is_(False)


def _one(request_id: str, position: int) -> sa.ColumnElement[bool]:
    return (decisions.c.request_id == request_id) & (decisions.c.position == position)


@dataclass(frozen=True)
class Reviews:
    """The oversight of the decision records of one database."""

    engine: sa.Engine

    def queue(self, limit: int, after: int | None) -> dict[str, Any]:
        """The oldest `limit` decisions awaiting a person after the cursor `after`, and the
        cursor of the next page (None on the last)."""
        query = sa.select(decisions).where(AWAITING).order_by(decisions.c.id).limit(limit + 1)
        if after is not None:
            query = query.where(decisions.c.id > after)
        with self.engine.connect() as connection:
            rows = [dict(row._mapping) for row in connection.execute(query)]
        page = rows[:limit]
        return {
            "reviews": [
                {**row, "recommendation": recommendation(row["decision"]), "next_key": row["id"]}
                for row in page
            ],
            "next": page[-1]["id"] if len(rows) > limit else None,
        }

    def review(self, request_id: str, review: Review, reviewer: str | None) -> dict[str, Any]:
        """Record `reviewer`'s final decision. Raises LookupError for no such decision,
        ReviewConflict when it is final already (or a what-if score), ReviewRefused when an
        override has no reason or a decision that follows the model has one."""
        match = _one(request_id, review.position)
        with self.engine.begin() as connection:
            row = connection.execute(sa.select(decisions).where(match)).one_or_none()
            if row is None:
                raise LookupError("no decision with that request id and position")
            if row.what_if:
                raise ReviewConflict("a what-if score decided nothing: there is nothing to review")
            if row.final_decision is not None:
                by = f" by {row.reviewed_by}" if row.reviewed_by else ""
                raise ReviewConflict(f"the decision is final already: {row.final_decision}{by}")
            recommended = recommendation(row.decision)
            if review.decision != recommended and review.override_reason is None:
                raise ReviewRefused(
                    f"the model recommends {recommended}: to {review.decision}, give an "
                    "override_reason"
                )
            if review.decision == recommended and review.override_reason is not None:
                raise ReviewRefused(
                    f"{review.decision} is the model's recommendation: no override_reason"
                )
            taken = connection.execute(
                decisions.update()
                .where(match & decisions.c.final_decision.is_(None))
                .values(
                    final_decision=review.decision,
                    reviewed_by=reviewer,
                    reviewed_at=datetime.now(UTC),
                    override_reason=review.override_reason,
                    review_note=review.note,
                )
            ).rowcount
            if taken != 1:
                raise ReviewConflict("the decision was taken by another reviewer meanwhile")
            return dict(connection.execute(sa.select(decisions).where(match)).one()._mapping)

    def contestable(self, request_id: str, position: int, caller: str | None) -> dict[str, Any]:
        """The final decision `caller` asked for at `request_id` and `position`, to be
        contested. Raises LookupError when there is none (or another caller's: a caller
        learns nothing of others' applicants), ReviewConflict when it is not final."""
        with self.engine.connect() as connection:
            row = connection.execute(
                sa.select(decisions).where(_one(request_id, position))
            ).one_or_none()
        if row is None or row.caller != caller:
            raise LookupError("no decision of this API key with that request id and position")
        if row.what_if:
            raise ReviewConflict("a what-if score decided nothing: there is nothing to contest")
        if row.final_decision is None:
            raise ReviewConflict("the decision awaits a person already (GET /reviews)")
        return dict(row._mapping)

    def figures(self, now: datetime | None = None) -> OversightReport:
        """Per model version: decisions, referred, awaiting, reviewed, overrides and their
        rate, time in queue (p50 / p95 seconds), contests open and overdue; override rates by
        Sex and age band for groups of `MIN_GROUP_SIZE` reviewed decisions or more (the
        others are named as withheld)."""
        now = now or datetime.now(UTC)
        query = sa.select(
            decisions.c.model,
            decisions.c.applicant,
            decisions.c.decision,
            decisions.c.answered,
            decisions.c.final_decision,
            decisions.c.decided_at,
            decisions.c.reviewed_at,
            decisions.c.contest_of_request_id,
            decisions.c.due_at,
        ).where(decisions.c.what_if.is_(False))
        per_model: dict[str, list[Any]] = defaultdict(list)
        with self.engine.connect() as connection:
            for row in connection.execute(query):
                per_model[row.model].append(row)
        return OversightReport.model_validate({
            "min_group_size": MIN_GROUP_SIZE,
            "versions": [_figures(m, rows, now) for m, rows in sorted(per_model.items())],
        })  # fmt: skip


def _figures(model: str, rows: list[Any], now: datetime) -> dict[str, Any]:
    reviewed = [r for r in rows if r.reviewed_at is not None]
    overridden = [r for r in reviewed if r.final_decision != recommendation(r.decision)]
    waits = sorted((r.reviewed_at - r.decided_at).total_seconds() for r in reviewed)
    contests = [r for r in rows if r.contest_of_request_id is not None]
    groups: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for r in reviewed:
        for field, _ in GROUPS:
            overrode = r.final_decision != recommendation(r.decision)
            groups[field, group_of(field, r.applicant)].append(overrode)
    shown = {key: flags for key, flags in groups.items() if len(flags) >= MIN_GROUP_SIZE}
    return {
        "model": model,
        "decisions": len(rows),
        "referred": sum(r.answered == REFER for r in rows),
        "awaiting": sum(r.final_decision is None for r in rows),
        "reviewed": len(reviewed),
        "overrides": len(overridden),
        "override_rate": len(overridden) / len(reviewed) if reviewed else None,
        "queue_seconds_p50": _quantile(waits, 0.5),
        "queue_seconds_p95": _quantile(waits, 0.95),
        "contests_open": sum(r.final_decision is None for r in contests),
        "contests_overdue": sum(r.final_decision is None and r.due_at < now for r in contests),
        "override_rate_by_group": [
            {
                "field": field,
                "group": group,
                "reviewed": len(flags),
                "override_rate": sum(flags) / len(flags),
            }
            for (field, group), flags in sorted(shown.items())
        ],
        "withheld": [
            f"{field} {label}"
            for field, labels in GROUPS
            for label in labels
            if (field, label) not in shown
        ],
    }


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]
