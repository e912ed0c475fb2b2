"""python -m model_store [ARTIFACTS_DIR]: import every model version into the BentoML store."""

import argparse
import sys
from pathlib import Path

from credit_risk.artifacts import ArtifactError
from model_store.store import import_artifacts
from training_export.paths import ARTIFACTS_DIR

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("directory", nargs="?", type=Path, default=ARTIFACTS_DIR)
args = parser.parse_args()
try:
    for config_id, tag in import_artifacts(args.directory).items():
        print(config_id, tag)
except ArtifactError as exc:
    sys.exit(f"refused: {exc}")
