"""Train the served model and export its artifacts with a manifest."""

from __future__ import annotations

import argparse
import json
import platform
from importlib import metadata
from pathlib import Path

import joblib
import torch

from credit_risk.artifacts import (
    MANIFEST,
    PREPROCESSOR,
    config_file,
    sha256_of,
    weights_file,
)
from credit_risk.contract import CATEGORIES, FIELDS, NUMERIC_FIELDS, TARGET
from credit_risk.paths import ARTIFACTS_DIR, DATASET_CSV
from training_export import dataset
from training_export.configs import CONFIGS, SERVED_CONFIG_ID
from training_export.train import (
    SEED,
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


def export(config_id: str, directory: Path) -> dict:
    """Train config `config_id` and write its artifacts and manifest into `directory`."""
    torch.set_num_threads(1)  # the same arithmetic on every machine: reproducible weights
    torch.use_deterministic_algorithms(True)
    config = CONFIGS[config_id]
    parts = split(dataset.load())
    model = train_network(config, parts.train, parts.validation)
    baseline_pre, baseline = train_baseline(parts.train)
    y_test = target(parts.test)
    baseline_p = baseline.predict_proba(baseline_pre.transform(parts.test[list(FIELDS)]))[:, 1]

    directory.mkdir(parents=True, exist_ok=True)
    torch.save(model.network.state_dict(), directory / weights_file(config_id))
    config.to_yaml(directory / config_file(config_id))
    joblib.dump(model.preprocessor, directory / PREPROCESSOR)

    manifest = {
        "config_id": config_id,
        "artifacts": {
            name: sha256_of(directory / name)
            for name in (weights_file(config_id), config_file(config_id), PREPROCESSOR)
        },
        "metrics": {
            "split": "test",
            "rows": {
                "train": len(parts.train),
                "validation": len(parts.validation),
                "test": len(parts.test),
            },
            "mlp": scores(y_test, model.predict_proba(parts.test)),
            "logistic_regression": scores(y_test, baseline_p),
        },
        "training": {
            "seed": SEED,
            "epochs_run": model.epochs_run,
            "best_epoch": model.best_epoch,
        },
        "data": {"file": DATASET_CSV.name, "sha256": sha256_of(DATASET_CSV)},
        "contract": {
            "fields": list(FIELDS),
            "numeric": list(NUMERIC_FIELDS),
            "categories": {k: list(v) for k, v in CATEGORIES.items()},
            "target": TARGET,
        },
        "versions": library_versions(),
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config-id", default=SERVED_CONFIG_ID, choices=sorted(CONFIGS))
    parser.add_argument("--out", type=Path, default=ARTIFACTS_DIR)
    args = parser.parse_args()
    manifest = export(args.config_id, args.out)
    print(json.dumps(manifest["metrics"], indent=2))


if __name__ == "__main__":
    main()
