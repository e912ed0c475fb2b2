"""Drift: PSI arithmetic, the window of the most recent applicants, its Prometheus text."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from credit_risk.artifacts import PROFILE
from credit_risk.contract import ENCODED_COLUMNS, FIELDS, encode
from credit_risk.profile import TrainingProfile
from serving.drift import (
    MODERATE_PSI,
    SHARE_FLOOR,
    SIGNIFICANT_PSI,
    Drift,
    psi,
)
from training_export.paths import ARTIFACTS_DIR
from training_export.train import split

AS_OF = datetime(2026, 12, 7, tzinfo=UTC)


@pytest.fixture(scope="module")
def profile() -> TrainingProfile:
    return TrainingProfile.from_json(ARTIFACTS_DIR / PROFILE)


@pytest.fixture(scope="module")
def rows(dataset: pd.DataFrame) -> np.ndarray:
    """The 1000 dataset rows, encoded as the service encodes requests."""
    return encode(dataset[list(FIELDS)].to_dict("records"))


def long_durations(rows: np.ndarray) -> np.ndarray:
    shifted = rows.copy()
    shifted[:, ENCODED_COLUMNS.index("Duration")] = 60
    return shifted


def test_psi_of_identical_shares_is_zero() -> None:
    assert psi([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]) == 0


def test_psi_of_a_hand_computed_example() -> None:
    # (0.5 - 0.25) ln(0.5 / 0.25) + (0.5 - 0.75) ln(0.5 / 0.75) = 0.25 ln 2 + 0.25 ln 1.5
    assert psi([0.5, 0.5], [0.25, 0.75]) == pytest.approx(0.25 * math.log(3), abs=1e-12)
    assert psi([0.25, 0.75], [0.5, 0.5]) == pytest.approx(0.25 * math.log(3), abs=1e-12)


def test_an_empty_bin_counts_as_the_floor_share() -> None:
    expected = (SHARE_FLOOR - 0.5) * math.log(SHARE_FLOOR / 0.5) + 0.5 * math.log(2)
    assert psi([0.0, 1.0], [0.5, 0.5]) == pytest.approx(expected)


def test_the_training_rows_themselves_do_not_drift(dataset: pd.DataFrame, profile) -> None:
    training = split(dataset).train
    drift = Drift(profile, len(training), min_rows=100)
    report = drift.report(encode(training[list(FIELDS)].to_dict("records")), AS_OF)
    assert (report.rows, report.as_of) == (len(training), AS_OF)
    assert list(report.psi) == list(ENCODED_COLUMNS)
    assert max(report.psi.values()) == pytest.approx(0, abs=1e-12)


def test_long_durations_drift_duration_only_until_they_leave_the_window(profile, rows) -> None:
    drift = Drift(profile, 500, min_rows=100)
    assert max(drift.report(rows[:500], AS_OF).psi.values()) < MODERATE_PSI
    assert drift.report(rows[:500], AS_OF).drifted == []

    recent = np.concatenate([rows[:500], long_durations(rows[:500])])
    report = drift.report(recent, AS_OF)
    assert report.drifted == ["Duration"]
    assert report.psi["Duration"] > SIGNIFICANT_PSI
    assert max(v for f, v in report.psi.items() if f != "Duration") < MODERATE_PSI

    # Newer applicants push every shifted row out of the window.
    assert drift.report(np.concatenate([recent, rows[500:]]), AS_OF).drifted == []


@pytest.mark.parametrize("size", [1, 7, 300])
def test_the_window_holds_exactly_the_last_rows(profile, rows, size: int) -> None:
    drift = Drift(profile, size, min_rows=1)
    for n in [1, size - 1, size, size + 3, 600]:
        report = drift.report(rows[:n], AS_OF)
        assert report.rows == min(n, size)
        expected = drift.report(rows[max(0, n - size) : n], AS_OF)
        assert report.psi == expected.psi


def test_an_empty_window_reports_no_psi(profile) -> None:
    report = Drift(profile, 10, min_rows=1).report(np.empty((0, len(ENCODED_COLUMNS))), AS_OF)
    assert (report.window, report.rows, report.psi, report.drifted) == (10, 0, {}, [])
    assert report.threshold == SIGNIFICANT_PSI


def test_no_figure_about_fewer_applicants_than_the_minimum(profile, rows) -> None:
    """One applicant's PSIs would give away their sex, job, housing, savings, purpose
    and age band: nothing per field until the window holds `min_rows`."""
    drift = Drift(profile, 200, min_rows=100)
    for n in (0, 1, 99):
        report = drift.report(rows[:n], AS_OF)
        assert (report.window, report.rows, report.min_rows) == (200, n, 100)
        assert (report.psi, report.drifted, report.withheld) == ({}, [], True)
        assert "withheld" in report.note and "100" in report.note
        assert report.threshold == SIGNIFICANT_PSI
        families = {f.name: f for f in text_string_to_metric_families(report.prometheus())}
        assert set(families) == {"credit_risk_drift_window_rows"}
        assert [s.value for s in families["credit_risk_drift_window_rows"].samples] == [n]
    report = drift.report(rows[:100], AS_OF)
    assert (report.rows, report.withheld, report.note) == (100, False, None)
    assert list(report.psi) == list(ENCODED_COLUMNS)


@pytest.mark.parametrize("size, min_rows", [(100, 0), (100, 101), (0, 1)])
def test_a_window_smaller_than_its_minimum_is_refused(profile, size, min_rows) -> None:
    with pytest.raises(ValueError, match="at least"):
        Drift(profile, size, min_rows=min_rows)


def test_prometheus_text_has_only_aggregates_no_field(profile, rows) -> None:
    report = Drift(profile, 100, min_rows=100).report(long_durations(rows[:100]), AS_OF)
    text = report.prometheus()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert set(families) == {
        "credit_risk_drift_window_rows",
        "credit_risk_drift_psi_max",
        "credit_risk_drift_fields_drifted",
    }
    assert all(f.type == "gauge" for f in families.values())
    samples = [s for f in families.values() for s in f.samples]
    assert all(s.labels == {} for s in samples), "a per-field series is not an aggregate"
    value = {s.name: s.value for s in samples}
    assert value["credit_risk_drift_window_rows"] == 100
    assert value["credit_risk_drift_psi_max"] == max(report.psi.values()) == report.psi["Duration"]
    assert value["credit_risk_drift_fields_drifted"] == len(report.drifted) == 1
    assert text.count("# HELP") == text.count("# TYPE") == 3
