"""Importing artifacts into a real (temporary) BentoML model store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import bentoml
import pytest
import yaml
from bentoml.exceptions import NotFound

from credit_risk.artifacts import (
    MANIFEST,
    PREPROCESSOR,
    ArtifactError,
    decision_file,
    model_files,
    sha256_of,
    weights_file,
)
from credit_risk.contract import CATEGORIES, FIELDS
from credit_risk.decision import Decision
from credit_risk.features import FeatureEncoder
from model_store.store import import_artifacts, load_scorer
from model_store.versions import MODEL_NAME, resolve
from serving.settings import Settings
from training_export.configs import CONFIGS
from training_export.paths import ARTIFACTS_DIR, REPO_ROOT


def versions(name: str) -> list[str]:
    return [str(m.tag) for m in bentoml.models.list() if m.tag.name == name]


def test_every_config_is_a_version_with_its_metrics(stored_model) -> None:
    stored = {m.info.labels["config_id"]: m for m in bentoml.models.list(MODEL_NAME)}
    assert set(stored) == set(CONFIGS)
    for config_id, model in stored.items():
        meta = model.info.metadata
        assert set(meta["artifacts_sha256"]) == set(model_files(config_id))
        assert meta["config"] == CONFIGS[config_id].model_dump()
        assert {"auc", "brier", "log_loss", "cost"} <= set(meta["metrics"])
        assert {"auc", "brier", "cost"} <= set(meta["cv"])
        decision = Decision.from_json(ARTIFACTS_DIR / decision_file(config_id))
        assert meta["decision"] == decision.model_dump()
        assert meta["decision"]["threshold"] == decision.threshold
        assert meta["contract"]["fields"] == list(FIELDS)
        assert meta["contract"]["categories"] == {k: list(v) for k, v in CATEGORIES.items()}
        assert len(meta["data"]["sha256"]) == 64
        assert {"torch", "scikit-learn", "bentoml"} <= set(meta["versions"])


def test_best_is_the_version_with_the_lowest_cv_brier_and_the_default(stored_model) -> None:
    stored = bentoml.models.list(MODEL_NAME)
    lowest = min(round(m.info.metadata["cv"]["brier"]["mean"], 4) for m in stored)
    tied = [m for m in stored if round(m.info.metadata["cv"]["brier"]["mean"], 4) == lowest]
    best = min(tied, key=lambda m: m.info.metadata["cv"]["cost"]["mean"])
    assert resolve(f"{MODEL_NAME}:best") == best.tag == stored_model.tag
    assert Settings().served_model == f"{MODEL_NAME}:best"
    committed = json.loads((ARTIFACTS_DIR / MANIFEST).read_text())
    assert best.info.labels["config_id"] == committed["evaluation"]["best_config_id"]


def test_a_named_version_is_served_as_named(stored_model) -> None:
    other = next(m for m in bentoml.models.list(MODEL_NAME) if m.tag != stored_model.tag)
    assert resolve(str(other.tag)) == other.tag
    with pytest.raises(NotFound):
        resolve("no_such_model:best")


def test_identical_content_is_imported_once(artifact_copy: Path) -> None:
    first = import_artifacts(artifact_copy, name="once")
    again = import_artifacts(ARTIFACTS_DIR, name="once")
    assert first == again
    assert sorted(versions("once")) == sorted(str(tag) for tag in first.values())


def test_refused_artifacts_never_enter_the_store(artifact_copy: Path) -> None:
    (artifact_copy / weights_file("001")).write_bytes(b"garbage")
    with pytest.raises(ArtifactError, match=r"model_weights_001\.pth: sha256"):
        import_artifacts(artifact_copy, name="refused")
    (artifact_copy / MANIFEST).unlink()
    with pytest.raises(ArtifactError, match=r"manifest\.json: file is missing"):
        import_artifacts(artifact_copy, name="refused")
    assert versions("refused") == []


def test_file_altered_inside_the_store_is_refused_at_load(artifact_copy: Path) -> None:
    model = bentoml.models.get(import_artifacts(artifact_copy, name="tampered")["001"])
    Path(model.path_of(PREPROCESSOR)).write_bytes(b"malicious pickle")
    with pytest.raises(ArtifactError, match=r"preprocessor\.joblib: sha256"):
        load_scorer(model)


def test_decision_altered_inside_the_store_is_refused(artifact_copy: Path) -> None:
    model = bentoml.models.get(import_artifacts(artifact_copy, name="tampered_decision")["001"])
    Path(model.path_of(decision_file("001"))).write_text('{"threshold": 0}')
    with pytest.raises(ArtifactError, match=r"decision_001\.json: sha256"):
        load_scorer(model)


def test_store_location_is_the_temporary_bentoml_home(stored_model) -> None:
    import os

    assert Path(stored_model.path).is_relative_to(os.environ["BENTOML_HOME"])


def test_a_stored_version_loads_without_scikit_learn(stored_model) -> None:
    """The runner builds its encoder from the parameters recorded at import: importing
    scikit-learn would add ~0.9 s to every start."""
    load = (
        "import sys, bentoml; from model_store.store import load_scorer; "
        f"scorer = load_scorer(bentoml.models.get({str(stored_model.tag)!r})); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'joblib')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", load], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
    scorer = load_scorer(stored_model)
    assert scorer.features.parameters() == FeatureEncoder.of(scorer.preprocessor).parameters()


def test_recorded_features_that_do_not_fit_are_refused(artifact_copy: Path) -> None:
    tag = import_artifacts(artifact_copy, name="bad_features")["001"]
    model_yaml = Path(bentoml.models.get(tag).path) / "model.yaml"
    info = yaml.safe_load(model_yaml.read_text())
    info["metadata"]["features"]["scale"] = [1.0]
    model_yaml.write_text(yaml.safe_dump(info))
    with pytest.raises(ArtifactError, match=r"model\.yaml: recorded features: .*scaled features"):
        load_scorer(bentoml.models.get(tag))


def test_a_version_below_the_fairness_gate_is_never_best(artifact_copy: Path) -> None:
    manifest = json.loads((artifact_copy / MANIFEST).read_text())
    best = manifest["evaluation"]["best_config_id"]
    manifest["models"][best]["cv"]["approval_ratio_female_male"]["mean"] = 0.5
    (artifact_copy / MANIFEST).write_text(json.dumps(manifest))
    tags = import_artifacts(artifact_copy, name="gated")
    chosen = resolve("gated:best")
    assert chosen != tags[best]
    assert (
        bentoml.models.get(chosen).info.metadata["cv"]["approval_ratio_female_male"]["mean"] >= 0.85
    )


def test_a_decision_file_without_a_reason_baseline_is_refused(artifact_copy: Path) -> None:
    path = artifact_copy / decision_file("001")
    decision = json.loads(path.read_text())
    del decision["reason_baseline"]
    path.write_text(json.dumps(decision))
    manifest = json.loads((artifact_copy / MANIFEST).read_text())
    manifest["models"]["001"]["artifacts"][path.name] = sha256_of(path)
    (artifact_copy / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match=r"decision_001\.json: no reason baseline"):
        import_artifacts(artifact_copy, name="no_baseline")
    assert versions("no_baseline") == []
