"""Live fairness figures from decision records: by group and version, small groups withheld."""

from __future__ import annotations

import pytest

from credit_risk.contract import EXAMPLE
from credit_risk.fairness import MIN_GROUP_SIZE
from serving.fairness import live_fairness


def record(sex: str, age: int, decision: str, repaid: bool | None = None, model: str = "m:1"):
    applicant = {**EXAMPLE, "Sex": sex, "Age": age}
    return {"model": model, "applicant": applicant, "decision": decision, "repaid": repaid}


def test_approval_rates_and_ratios_by_sex_and_age_band() -> None:
    rows = (
        [record("male", 30, "good", repaid=True)] * 150
        + [record("male", 30, "bad")] * 50
        + [record("female", 45, "good", repaid=True)] * 100
        + [record("female", 45, "bad")] * 100
    )
    (version,) = live_fairness(rows).versions
    figures = {(g.field, g.group): g for g in version.groups}
    assert version.decisions == 400
    assert figures["Sex", "male"].approval_rate == 0.75
    assert figures["Sex", "female"].approval_rate == 0.5
    assert figures["Sex", "female"].approval_ratio == pytest.approx(0.5 / 0.75)
    assert figures["Sex", "male"].approval_ratio == 1.0
    assert figures["Age", "25-39"].good_payers_approved == 1.0
    assert figures["Age", "40-61"].applicants == 200


def test_groups_under_the_minimum_get_no_figure_and_are_named() -> None:
    rows = [record("male", 30, "good")] * MIN_GROUP_SIZE + [record("female", 70, "bad")] * 99
    (version,) = live_fairness(rows).versions
    assert {(g.field, g.group) for g in version.groups} == {("Sex", "male"), ("Age", "25-39")}
    assert "Sex female" in version.withheld and "Age 62+" in version.withheld
    assert all(g.good_payers_approved is None for g in version.groups)  # no outcomes


def test_each_version_on_its_own() -> None:
    rows = [record("male", 30, "good", model="m:1")] * 100
    rows += [record("male", 30, "bad", model="m:2")] * 100
    versions = {v.model: v for v in live_fairness(rows).versions}
    assert versions["m:1"].groups[0].approval_rate == 1.0
    assert versions["m:2"].groups[0].approval_rate == 0.0
    assert versions["m:2"].groups[0].approval_ratio is None  # no approval to compare with
    assert live_fairness([]).versions == []
