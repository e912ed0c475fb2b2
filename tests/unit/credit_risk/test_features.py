"""The fitted preprocessor and its numpy equivalent used for serving."""

from __future__ import annotations

import json

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from credit_risk.artifacts import PREPROCESSOR
from credit_risk.contract import (
    CATEGORIES,
    FIELDS,
    SCORED_CATEGORICAL_FIELDS,
    SCORED_NUMERIC_FIELDS,
    encode,
)
from credit_risk.features import (
    FeatureEncoder,
    PreprocessorMismatch,
    build_preprocessor,
    check_preprocessor,
    feature_names,
)
from training_export.paths import ARTIFACTS_DIR


@pytest.fixture(scope="module")
def preprocessor() -> ColumnTransformer:
    return joblib.load(ARTIFACTS_DIR / PREPROCESSOR)


def test_numpy_features_equal_scikit_learn_on_every_row(
    preprocessor: ColumnTransformer, records: list[dict], dataset: pd.DataFrame
) -> None:
    expected = preprocessor.transform(dataset[list(FIELDS)])
    actual = FeatureEncoder.of(preprocessor).transform(encode(records))
    assert actual.shape == expected.shape == (1000, len(feature_names()))
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-6)


def test_every_category_has_its_own_one_hot_in_both_paths(
    preprocessor: ColumnTransformer, records: list[dict]
) -> None:
    """The original service encoded Job and "NA" as all zeros: never again."""
    features = FeatureEncoder.of(preprocessor)
    base = records[0]
    n_numeric = len(SCORED_NUMERIC_FIELDS)
    for name in SCORED_CATEGORICAL_FIELDS:
        variants = [{**base, name: label} for label in CATEGORIES[name]]
        fast = features.transform(encode(variants))[:, n_numeric:]
        slow = preprocessor.transform(pd.DataFrame(variants))[:, n_numeric:]
        np.testing.assert_array_equal(fast, slow)
        one_hots = {tuple(row) for row in fast}
        assert len(one_hots) == len(variants), f"{name}: two categories share a one-hot"
        assert (fast.sum(axis=1) == len(SCORED_CATEGORICAL_FIELDS)).all(), name


def test_unknown_category_is_an_error_not_zeros(preprocessor: ColumnTransformer, records) -> None:
    with pytest.raises(ValueError):
        preprocessor.transform(pd.DataFrame([{**records[0], "Job": "2"}]))
    bad_code = encode(records[:1])
    bad_code[0, -1] = 99
    with pytest.raises(ValueError):
        FeatureEncoder.of(preprocessor).transform(bad_code)


def test_preprocessor_of_another_schema_is_refused(dataset: pd.DataFrame) -> None:
    other = ColumnTransformer(
        [
            ("numeric", StandardScaler(), list(SCORED_NUMERIC_FIELDS)),
            (
                "categorical",
                OneHotEncoder(handle_unknown="ignore"),
                list(SCORED_CATEGORICAL_FIELDS),
            ),
        ]
    ).fit(dataset[list(FIELDS)].replace({"Job": {"skilled": "2"}}))
    with pytest.raises(PreprocessorMismatch, match="differ from the contract"):
        check_preprocessor(other)
    with pytest.raises(PreprocessorMismatch, match="not a fitted"):
        check_preprocessor(build_preprocessor())
    with pytest.raises(PreprocessorMismatch, match="expected a ColumnTransformer"):
        check_preprocessor(StandardScaler())


def test_the_recorded_parameters_rebuild_the_same_encoder(
    preprocessor: ColumnTransformer, records: list[dict]
) -> None:
    fitted = FeatureEncoder.of(preprocessor)
    rebuilt = FeatureEncoder(**json.loads(json.dumps(fitted.parameters())))
    encoded = encode(records)
    np.testing.assert_array_equal(rebuilt.transform(encoded), fitted.transform(encoded))


@pytest.mark.parametrize(
    ("mean", "scale", "problem"),
    [
        ([0.0], [1.0], "do not fit the numeric fields"),
        ([0.0, float("nan")], [1.0, 1.0], "not finite"),
        ([0.0, 0.0], [1.0, 0.0], "not positive"),
    ],
)
def test_parameters_that_do_not_fit_are_refused(mean, scale, problem: str) -> None:
    with pytest.raises(PreprocessorMismatch, match=problem):
        FeatureEncoder(mean, scale)
