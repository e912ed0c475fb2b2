"""Live fairness over the decision records: approval rates by Sex and age band per version.

Per model version and group (`credit_risk.fairness`): applicants, approval rate and its
ratio to the most approved published group of the same field, and, over the decisions
with an outcome, the share of good payers approved. A group of fewer than
`MIN_GROUP_SIZE` applicants (or, for the good-payer share, good payers) gets no figure:
it is listed as withheld, so no figure describes a handful of people.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, Field

from credit_risk.contract import GOOD
from credit_risk.fairness import AGE_BANDS, MIN_GROUP_SIZE, SEXES, age_band


class GroupFigures(BaseModel):
    field: str = Field(description='"Sex" or "Age" (the band)')
    group: str
    applicants: int
    approval_rate: float
    approval_ratio: float | None = Field(
        description="Approval rate over that of the most approved published group of the "
        "field; None while no group of the field has an approval"
    )
    good_payers_approved: float | None = Field(
        description="Share of the good payers (outcome: repaid) approved; None below the "
        "minimum group size of good payers with an outcome"
    )


class VersionFairness(BaseModel):
    model: str
    decisions: int
    groups: list[GroupFigures]
    withheld: list[str] = Field(description="Groups with too few applicants for a figure")


class FairnessReport(BaseModel):
    min_group_size: int = MIN_GROUP_SIZE
    versions: list[VersionFairness]


GROUPS = (("Sex", SEXES), ("Age", tuple(label for label, _, _ in AGE_BANDS)))


def group_of(field: str, applicant: Mapping[str, Any]) -> str:
    return str(applicant["Sex"]) if field == "Sex" else age_band(float(applicant["Age"]))


def live_fairness(rows: Iterable[Mapping[str, Any]]) -> FairnessReport:
    """`rows`: model, applicant (the recorded inputs), decision and repaid of each record."""
    by_model: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        by_model.setdefault(row["model"], []).append(row)
    versions = []
    for model, records in sorted(by_model.items()):
        groups, withheld = [], []
        for field, labels in GROUPS:
            counts = {label: [0, 0, 0, 0] for label in labels}  # n, approved, good, good approved
            for r in records:
                c = counts[group_of(field, r["applicant"])]
                approved = r["decision"] == GOOD
                c[0] += 1
                c[1] += approved
                if r["repaid"]:
                    c[2] += 1
                    c[3] += approved
            shown = {label: c for label, c in counts.items() if c[0] >= MIN_GROUP_SIZE}
            withheld += [f"{field} {label}" for label in labels if label not in shown]
            top = max((c[1] / c[0] for c in shown.values()), default=0.0)
            for label, (n, approved, good, good_approved) in shown.items():
                rate = approved / n
                groups.append(
                    GroupFigures(
                        field=field,
                        group=label,
                        applicants=n,
                        approval_rate=rate,
                        approval_ratio=rate / top if top else None,
                        good_payers_approved=good_approved / good
                        if good >= MIN_GROUP_SIZE
                        else None,
                    )
                )
        versions.append(
            VersionFairness(model=model, decisions=len(records), groups=groups, withheld=withheld)
        )
    return FairnessReport(versions=versions)
