"""How the decisions with an outcome turned out: the Prometheus gauges."""

from __future__ import annotations

from serving.records.outcomes import realised_metrics


def test_realised_metrics_per_model_version() -> None:
    # Pairs (good, bad): (0.5, 0.5) ties, counted half; (0.5, 0.2), (0.9, 0.5), (0.9, 0.2)
    # ranked right: AUC 3.5 / 4.
    labelled = [
        {"model": "m:1", "p_good": p, "decision": "good" if p > 0.5 else "bad", "repaid": y}
        for p, y in [(0.5, True), (0.5, False), (0.2, False), (0.9, True)]
    ]
    text = realised_metrics([*labelled, {**labelled[0], "model": "m:2"}])
    assert f'credit_risk_realised_decisions{{model="m:1"}} {4.0!r}' in text
    assert f'credit_risk_realised_auc{{model="m:1"}} {0.875!r}' in text
    brier = (0.25 + 0.25 + 0.04 + 0.01) / 4
    assert any(
        line.startswith('credit_risk_realised_brier{model="m:1"}')
        and abs(float(line.split()[-1]) - brier) < 1e-12
        for line in text.splitlines()
    )
    assert 'credit_risk_realised_auc{model="m:2"}' not in text  # one outcome: no AUC
    assert 'credit_risk_realised_brier{model="m:2"}' in text
