"""The reliability diagram: uncalibrated and Platt-calibrated P(good), with a count histogram."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from credit_risk.decision import BAYES_THRESHOLD
from training_export.evaluation.metrics import ECE_BINS, calibration_table


def reliability_plot(pooled: tuple[np.ndarray, ...], name: str, path: Path) -> None:
    """Reliability diagram of `pooled` = (y, uncalibrated P(good), Platt P(good)) at `path`."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    y, p_raw, p_cal = pooled
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(6, 7), height_ratios=[3, 1], sharex=True, layout="constrained"
    )
    top.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfect calibration")
    for label, p, marker in (("uncalibrated", p_raw, "s"), ("Platt", p_cal, "o")):
        table = calibration_table(y, p)
        top.plot(
            [b["mean_predicted"] for b in table["bins"]],
            [b["observed_good"] for b in table["bins"]],
            marker=marker,
            label=f"{label} (ECE {table['ece']:.3f})",
        )
        bottom.hist(p, bins=ECE_BINS, range=(0, 1), alpha=0.5, label=label)
    top.axvline(BAYES_THRESHOLD, color="red", linewidth=0.8, label="Bayes threshold 5/6")
    top.set_ylabel("observed share good")
    top.set_title(f"Reliability of P(good), {name}, out-of-fold (all repeats)")
    top.legend(loc="upper left")
    bottom.set_xlabel("predicted P(good)")
    bottom.set_ylabel("rows")
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
