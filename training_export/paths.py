"""Where the repository keeps its data and exported artifacts."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "data"
DATASET_CSV = DATA_DIR / "german_credit.csv"
DATASET_PROVENANCE = DATA_DIR / "german_credit.provenance.json"
ARTIFACTS_DIR = REPO_ROOT / "artifacts"
REPORTS_DIR = REPO_ROOT / "reports"
