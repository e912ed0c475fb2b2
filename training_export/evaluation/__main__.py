"""Repeated stratified cross-validation of every config and the logistic baseline.

`python -m training_export.evaluation` runs 5 x 5 repeated stratified CV on the 1000 rows.
Every model sees the same folds. Inside each outer training fold an inner stratified
validation split (20 %) is held out: the preprocessor and the model are fitted on the
rest, and the validation rows serve early stopping, Platt calibration and the
cost-minimising threshold, exactly as in the export. The outer test fold is touched only
for the metrics. Writes reports/evaluation.json, reports/evaluation.md and
reports/calibration.png.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from training_export.configs import CONFIGS
from training_export.evaluation.cv import Protocol
from training_export.evaluation.report import fmt
from training_export.evaluation.run import evaluate
from training_export.paths import REPORTS_DIR


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--splits", type=int, default=Protocol.n_splits)
    parser.add_argument("--repeats", type=int, default=Protocol.n_repeats)
    parser.add_argument("--processes", type=int, default=Protocol.processes)
    parser.add_argument(
        "--seed",
        type=int,
        default=Protocol.seed,
        help="of the folds and inner splits: another seed gives an independent set of folds",
    )
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--out", type=Path, default=REPORTS_DIR)
    parser.add_argument(
        "--reuse",
        type=Path,
        help="an earlier evaluation.json: models it evaluated with the same protocol, data "
        "and config are not trained again (their figures are taken from it)",
    )
    args = parser.parse_args()
    previous = json.loads(args.reuse.read_text()) if args.reuse else None
    report = evaluate(
        Protocol(args.splits, args.repeats, args.processes, args.seed),
        args.out,
        {config_id: CONFIGS[config_id] for config_id in args.configs},
        previous=previous,
    )
    for name, m in report["models"].items():
        print(f"{name:22} AUC {fmt(m['auc'])}  Brier {fmt(m['brier'])}  cost {fmt(m['cost'])}")


if __name__ == "__main__":
    main()
