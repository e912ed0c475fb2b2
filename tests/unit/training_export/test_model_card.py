"""The committed reports and model card are what the code makes of the committed outputs."""

from __future__ import annotations

import json

from credit_risk.artifacts import MANIFEST, sha256_of
from credit_risk.fairness import MIN_SERVED_APPROVAL_RATIO
from training_export.evaluation.ablation import ABLATION_JSON, ABLATION_MD
from training_export.evaluation.ablation import markdown as ablation_markdown
from training_export.evaluation.report import REPORT_JSON, REPORT_MD, markdown
from training_export.fairness import FAIRNESS_JSON, FAIRNESS_MD, build
from training_export.fairness import markdown as fairness_markdown
from training_export.model_card import MODEL_CARD, inputs, render
from training_export.paths import ARTIFACTS_DIR, REPORTS_DIR


def test_committed_model_card_is_generated_from_the_committed_outputs() -> None:
    assert (REPORTS_DIR / MODEL_CARD).read_text() == render(**inputs())


def test_committed_evaluation_markdown_matches_its_json() -> None:
    report = json.loads((REPORTS_DIR / REPORT_JSON).read_text())
    assert (REPORTS_DIR / REPORT_MD).read_text() == markdown(report)
    assert report["protocol"]["n_splits"] == 5 and report["protocol"]["n_repeats"] == 5


def test_committed_ablation_markdown_matches_its_json() -> None:
    report = json.loads((REPORTS_DIR / ABLATION_JSON).read_text())
    assert (REPORTS_DIR / ABLATION_MD).read_text() == ablation_markdown(report)
    # Of the configs the committed evaluation is of.
    assert report["configs"] == json.loads((REPORTS_DIR / REPORT_JSON).read_text())["configs"]


def test_artifacts_were_exported_from_the_committed_evaluation() -> None:
    manifest = json.loads((ARTIFACTS_DIR / MANIFEST).read_text())
    assert manifest["evaluation"]["sha256"] == sha256_of(REPORTS_DIR / REPORT_JSON)


def rounded(value: object, digits: int = 6) -> object:
    """`value` with every float rounded: float32 scores differ in their last bits between
    CPUs (the kernels torch picks), so the same model's means may differ by ~1e-9."""
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {key: rounded(item, digits) for key, item in value.items()}
    if isinstance(value, list):
        return [rounded(item, digits) for item in value]
    return value


def test_committed_fairness_report_is_generated_from_the_committed_outputs() -> None:
    report = json.loads((REPORTS_DIR / FAIRNESS_JSON).read_text())
    assert rounded(report) == rounded(json.loads(json.dumps(build())))
    assert (REPORTS_DIR / FAIRNESS_MD).read_text() == fairness_markdown(report)


def test_the_served_version_passes_the_fairness_gate_and_its_ratio_holds_on_the_rows() -> None:
    report = json.loads((REPORTS_DIR / FAIRNESS_JSON).read_text())
    assert report["gate"]["versions"][report["best"]]["passes"]
    assert report["served"]["approval_ratio_female_male"] >= MIN_SERVED_APPROVAL_RATIO
    assert set(report["cv"]) == {"Sex", "Age"}
    assert [g["group"] for g in report["cv"]["Age"]] == ["< 25", "25-39", "40-61", "62+"]
