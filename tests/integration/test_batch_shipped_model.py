"""The model version the Spark job ships to its executors (no Spark session needed)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from batch_scoring.scoring import load_model
from batch_scoring.spark import ShippedModel
from credit_risk.artifacts import ArtifactError
from credit_risk.contract import encode


def test_shipped_model_scores_as_the_stored_one(stored_model, records: list[dict]) -> None:
    shipped = ShippedModel.from_store("credit_risk:latest")
    assert shipped.tag == str(stored_model.tag)  # resolved once, on the driver
    loaded = shipped.load()
    assert shipped.load() is loaded  # once per process
    encoded = encode(records)
    np.testing.assert_array_equal(
        loaded.predict_proba(encoded), load_model(shipped.tag).predict_proba(encoded)
    )


def test_altered_files_are_refused(stored_model) -> None:
    shipped = ShippedModel.from_store(str(stored_model.tag))
    name = next(n for n in shipped.files if n.endswith(".pth"))
    altered = dataclasses.replace(
        shipped, tag="credit_risk:altered", files={**shipped.files, name: b"not the weights"}
    )
    with pytest.raises(ArtifactError, match="does not match the expected"):
        altered.load()
