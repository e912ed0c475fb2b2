"""In-process throughput of the model path, per batch size: ours vs scikit-learn's.

ours: numpy features from the fitted preprocessor's parameters + torch forward (what the
runner does per batch). scikit-learn: DataFrame -> ColumnTransformer -> torch forward.
with reasons: ours plus every field's gain (`Scorer.decisions`, ?reasons=true).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch

from credit_risk.artifacts import load_exported
from credit_risk.contract import FIELDS, encode
from training_export import dataset
from training_export.paths import ARTIFACTS_DIR
from training_export.train import reference_proba

BATCH_SIZES = (1, 64, 512, 4096)


def rows_per_second(score: Callable[[], object], rows: int, budget_s: float = 1.0) -> float:
    """Median rows/s over repeated calls within a time budget."""
    timings = []
    deadline = time.perf_counter() + budget_s
    while time.perf_counter() < deadline or len(timings) < 5:
        started = time.perf_counter()
        score()
        timings.append(time.perf_counter() - started)
    return rows / statistics.median(timings)


def main() -> None:
    torch.set_num_threads(1)  # as in the runner
    scorer = load_exported(ARTIFACTS_DIR)
    frame = dataset.load()[list(FIELDS)]
    print("| batch | ours rows/s | scikit-learn rows/s | ours / scikit-learn | with reasons rows/s "
          "| reasons cost (ours / with reasons) |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|")
    for size in BATCH_SIZES:
        sample = pd.concat([frame] * (size // len(frame) + 1)).iloc[:size]
        encoded = encode(sample.to_dict("records"))
        ours = rows_per_second(lambda e=encoded: scorer.predict_proba(e), size)
        explained = rows_per_second(lambda e=encoded: scorer.decisions(e, with_reasons=True), size)
        slow = rows_per_second(
            lambda s=sample: reference_proba(
                scorer.preprocessor, scorer.network, scorer.decision, s
            ),
            size,
        )
        np.testing.assert_allclose(
            scorer.predict_proba(encoded),
            reference_proba(scorer.preprocessor, scorer.network, scorer.decision, sample),
            atol=1e-6,
        )
        print(f"| {size} | {ours:,.0f} | {slow:,.0f} | {ours / slow:.1f} | {explained:,.0f} "
              f"| {ours / explained:.1f} |")  # fmt: skip


if __name__ == "__main__":
    main()
