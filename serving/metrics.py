"""The service's own lines of /metrics, after BentoML's."""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError

from serving.drift import DriftWindow
from serving.records.outcomes import realised_metrics
from serving.records.queries import Records


def metrics_text(content: str, model_tag: str, drift: DriftWindow, records: Records | None) -> str:
    """BentoML's `content`, then which model version this process serves, its drift, and
    how the recorded decisions with an outcome turned out (left out while the records
    database is lost: the outage is in the log)."""
    try:
        realised = realised_metrics(records.labelled()) if records is not None else ""
    except SQLAlchemyError:
        realised = ""
    return (
        f"{content}# HELP credit_risk_model_info The model version served.\n"
        "# TYPE credit_risk_model_info gauge\n"
        f'credit_risk_model_info{{model="{model_tag}"}} 1.0\n'
        f"{drift.report().prometheus()}{realised}"
    )
