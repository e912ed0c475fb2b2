"""Adverse-action reasons of the served model over the 1000 applicants: faithful (moving the
first reason's field to its baseline raises P(good)), never a protected basis, exact and
deterministic."""

from __future__ import annotations

import numpy as np
import pytest

from credit_risk.artifacts import Scorer
from credit_risk.contract import ENCODED_COLUMNS, MONITORED_FIELDS, encode
from credit_risk.reasons import (
    JOB_BASELINE,
    KNOWN_BALANCE_FIELDS,
    MAX_REASONS,
    Reason,
    principal_reasons,
)
from model_store.store import load_scorer


@pytest.fixture(scope="module")
def scorer(stored_model) -> Scorer:
    return load_scorer(stored_model)


@pytest.fixture(scope="module")
def declines(scorer: Scorer, records: list[dict]) -> list[tuple[dict, float, list[Reason]]]:
    """Each declined applicant with its P(good) and principal reasons, as served."""
    rows = scorer.decisions(encode(records))
    baseline = scorer.decision.reason_baseline
    return [
        (record, float(row["p_good"]), principal_reasons(record, baseline, row["gains"].tolist()))
        for record, row in zip(records, rows, strict=True)
        if not row["good"]
    ]


def test_the_data_has_declines_to_explain(declines: list) -> None:
    assert len(declines) >= 200, len(declines)  # enough to measure faithfulness


def test_moving_the_first_reason_to_its_baseline_raises_p_good(
    scorer: Scorer, declines: list
) -> None:
    """Faithfulness: for at least 95 % of the declines."""
    baseline = scorer.decision.reason_baseline
    raised = 0
    for record, p_good, reasons in declines:
        if reasons:
            first = reasons[0].field
            moved = scorer.predict_proba(encode([record | {first: baseline[first]}]))[0]
            raised += moved > p_good
    assert raised / len(declines) >= 0.95, f"{raised} of {len(declines)}"


def test_every_decline_has_at_most_four_reasons_most_important_first(declines: list) -> None:
    with_reasons = [reasons for *_, reasons in declines if reasons]
    assert len(with_reasons) / len(declines) >= 0.95
    for reasons in with_reasons:
        assert len(reasons) <= MAX_REASONS
        gains = [r.gain for r in reasons]
        assert gains == sorted(gains, reverse=True) and gains[-1] > 0


def test_no_reason_names_a_protected_basis(declines: list) -> None:
    fields = {r.field for *_, reasons in declines for r in reasons}
    assert fields and not fields & set(MONITORED_FIELDS)
    assert not {r.text for *_, reasons in declines for r in reasons} & {"Sex", "Age"}


def test_no_one_is_told_that_having_an_account_hurt_them(scorer: Scorer) -> None:
    for name in KNOWN_BALANCE_FIELDS:
        assert scorer.decision.reason_baseline[name] != "NA"


def test_no_one_is_told_that_more_skill_hurt_them(scorer: Scorer, declines: list) -> None:
    assert scorer.decision.reason_baseline["Job"] == JOB_BASELINE
    told = {r.value for *_, reasons in declines for r in reasons if r.field == "Job"}
    assert JOB_BASELINE not in told


def test_gains_are_the_change_of_log_odds_with_one_field_at_its_baseline(
    scorer: Scorer, records: list[dict]
) -> None:
    baseline = scorer.decision.reason_baseline
    sample = records[:25]
    gains = scorer.gains(encode(sample))
    log_odds = np.log(scorer.predict_proba(encode(sample)))
    log_odds -= np.log1p(-scorer.predict_proba(encode(sample)))
    for i, record in enumerate(sample):
        for j, name in enumerate(ENCODED_COLUMNS):
            p = scorer.predict_proba(encode([record | {name: baseline[name]}]))[0]
            expected = np.log(p) - np.log1p(-p) - log_odds[i]
            assert gains[i, j] == pytest.approx(expected, abs=1e-4), (i, name)
            if record[name] == baseline[name]:
                assert gains[i, j] == 0.0


def test_gains_are_computed_for_declines_only_unless_asked(
    scorer: Scorer, records: list[dict]
) -> None:
    rows = scorer.decisions(encode(records))
    declined = ~rows["good"]
    assert not np.isnan(rows["gains"][declined]).any()
    assert np.isnan(rows["gains"][~declined]).all()
    assert not np.isnan(scorer.decisions(encode(records), with_reasons=True)["gains"]).any()


def test_reasons_are_deterministic_and_independent_of_the_batch(
    scorer: Scorer, records: list[dict]
) -> None:
    encoded = encode(records)
    whole = scorer.decisions(encoded, with_reasons=True)
    np.testing.assert_array_equal(whole, scorer.decisions(encoded, with_reasons=True))
    pieces = np.concatenate(
        [scorer.decisions(encoded[i : i + 97], with_reasons=True) for i in range(0, 1000, 97)]
    )
    np.testing.assert_array_equal(pieces["good"], whole["good"])
    for name in ("p_good", "gains"):
        np.testing.assert_allclose(pieces[name], whole[name], rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    ("name", "value", "code"),
    [("Checking account", "little", "CHK-LOW"), ("Duration", 72, "DUR-LONG")],
)
def test_a_known_risk_is_a_reason(scorer: Scorer, name: str, value: object, code: str) -> None:
    baseline = scorer.decision.reason_baseline
    record = {**baseline, "Sex": "female", "Age": 30, name: value}
    row = scorer.decisions(encode([record]), with_reasons=True)[0]
    reasons = principal_reasons(record, baseline, row["gains"].tolist())
    assert [r.code for r in reasons] == [code]
