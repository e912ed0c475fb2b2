"""Train the configs and export their artifacts with one manifest."""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
from collections.abc import Collection
from importlib import metadata
from pathlib import Path

import joblib
import numpy as np
import torch

from credit_risk.artifacts import (
    MANIFEST,
    PREPROCESSOR,
    PROFILE,
    config_file,
    decision_file,
    model_files,
    sha256_of,
    weights_file,
)
from credit_risk.contract import (
    CATEGORIES,
    ENCODED_COLUMNS,
    FIELDS,
    MONITORED_FIELDS,
    NUMERIC_FIELDS,
    TARGET,
    encode,
)
from credit_risk.decision import Decision
from credit_risk.features import FeatureEncoder
from credit_risk.profile import TrainingProfile
from credit_risk.reasons import fit_baseline
from training_export import dataset
from training_export.configs import CONFIGS
from training_export.evaluation.cv import LOGISTIC, mlp_name
from training_export.evaluation.report import REPORT_JSON
from training_export.paths import ARTIFACTS_DIR, DATASET_CSV, REPORTS_DIR
from training_export.train import (
    SEED,
    Split,
    TrainedModel,
    scores,
    split,
    target,
    train_baseline,
    train_network,
)

LIBRARIES = (
    "torch",
    "scikit-learn",
    "numpy",
    "pandas",
    "joblib",
    "bentoml",
    "pydantic",
)


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    versions.update({name: metadata.version(name) for name in LIBRARIES})
    return versions


def export(
    directory: Path,
    evaluation: Path = REPORTS_DIR / REPORT_JSON,
    config_ids: Collection[str] = tuple(CONFIGS),
    processes: int = 2,
) -> dict:
    """Train every config (of `config_ids`), write its files and one manifest into `directory`.

    All configs use the same split; the preprocessor, fitted on the same training rows for
    each, and the profile of those rows are shared files. Each version's decision file
    holds the Platt calibration, fitted on the validation rows, and the threshold that
    costs least over the version's out-of-fold predictions in `evaluation` (written by
    `python -m training_export.evaluation`). The manifest records the sha256 of every file,
    test metrics and the cross-validated metrics of `evaluation`.
    """
    _reproducible_torch()
    cv = json.loads(evaluation.read_text())
    parts = split(dataset.load())
    y_val, y_test = target(parts.validation), target(parts.test)
    baseline = train_baseline(parts.train)
    baseline_decision = served(Decision.fit(baseline.logits(parts.validation), y_val), cv, LOGISTIC)

    directory.mkdir(parents=True, exist_ok=True)
    profile = TrainingProfile.fit(parts.train)
    profile.to_json(directory / PROFILE)
    train_encoded = encode(parts.train.to_dict("records"))
    trained = _train_all(config_ids, parts, processes)
    models = {}
    for config_id in config_ids:
        config = CONFIGS[config_id]
        model = trained[config_id]
        decision = served(
            Decision.fit(model.validation_logits, y_val, config.calibration == "platt"),
            cv,
            mlp_name(config_id),
        )
        decision = decision.model_copy(
            update={"reason_baseline": reason_baseline(model, decision, train_encoded, profile)}
        )
        torch.save(model.network.state_dict(), directory / weights_file(config_id))
        config.to_yaml(directory / config_file(config_id))
        joblib.dump(model.preprocessor, directory / PREPROCESSOR)  # the same for every config
        decision.to_json(directory / decision_file(config_id))
        p_test = decision.calibrate(model.logits(parts.test))
        models[config_id] = {
            "artifacts": {name: sha256_of(directory / name) for name in model_files(config_id)},
            "metrics": scores(y_test, p_test, decision.threshold),
            "cv": cv["models"][mlp_name(config_id)],
            "training": model.training_record(),
        }
    baseline_p = baseline_decision.calibrate(baseline.logits(parts.test))
    manifest = {
        "models": models,
        "test_split": {
            "seed": SEED,
            "rows": {
                "train": len(parts.train),
                "validation": len(parts.validation),
                "test": len(parts.test),
            },
            LOGISTIC: scores(y_test, baseline_p, baseline_decision.threshold),
        },
        "evaluation": {
            "file": f"{REPORTS_DIR.name}/{evaluation.name}",
            "sha256": sha256_of(evaluation),
            "best_config_id": cv["best_config_id"],
        },
        "data": {"file": DATASET_CSV.name, "sha256": sha256_of(DATASET_CSV)},
        "contract": {
            "fields": list(FIELDS),
            "numeric": list(NUMERIC_FIELDS),
            "scored": list(ENCODED_COLUMNS),
            "monitored_only": list(MONITORED_FIELDS),
            "categories": {k: list(v) for k, v in CATEGORIES.items()},
            "target": TARGET,
        },
        "versions": library_versions(),
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _reproducible_torch() -> None:
    """One thread, deterministic kernels: the same arithmetic on every machine."""
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)


def _train(job: tuple[str, Split]) -> TrainedModel:
    config_id, parts = job
    _reproducible_torch()
    return train_network(CONFIGS[config_id], parts.train, parts.validation)


def _train_all(
    config_ids: Collection[str], parts: Split, processes: int
) -> dict[str, TrainedModel]:
    """Every config trained on `parts`, in `processes` processes (each network's training
    seeds itself, so the weights do not depend on which process trains it)."""
    # The ensembles first: they take longest.
    jobs = sorted(config_ids, key=lambda config_id: -CONFIGS[config_id].members)
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        models = pool.map(_train, [(config_id, parts) for config_id in jobs], chunksize=1)
    return dict(zip(jobs, models, strict=True))


def served(decision: Decision, cv: dict, name: str) -> Decision:
    """`decision` (fitted on the validation rows) with the threshold `name` is served with:
    the cheapest over its pooled out-of-fold predictions (`cv["served_thresholds"]`). A
    threshold fitted on 150 validation rows moved by +-0.07 from fold to fold."""
    return decision.model_copy(update={"threshold": cv["served_thresholds"][name]["threshold"]})


def reason_baseline(
    model: TrainedModel, decision: Decision, train_encoded: np.ndarray, profile: TrainingProfile
) -> dict[str, float | str]:
    """The version's reason baseline (`credit_risk.reasons.fit_baseline`) over the training rows."""
    features = FeatureEncoder.of(model.preprocessor)

    def p_good(rows: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            logits = model.network(torch.from_numpy(features.transform(rows))).numpy()[:, 0]
        return decision.calibrate(logits)

    edges = {name: p.edges for name, p in profile.numeric.items()}
    return fit_baseline(train_encoded, p_good, edges)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ARTIFACTS_DIR)
    args = parser.parse_args()
    manifest = export(args.out)
    for config_id, model in manifest["models"].items():
        print(config_id, json.dumps(model["metrics"]))


if __name__ == "__main__":
    main()
