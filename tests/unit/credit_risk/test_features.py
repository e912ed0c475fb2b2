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
    first = next(i for i, n in enumerate(feature_names()) if n.startswith("categorical__"))
    for name in SCORED_CATEGORICAL_FIELDS:
        variants = [{**base, name: label} for label in CATEGORIES[name]]
        fast = features.transform(encode(variants))[:, first:]
        slow = preprocessor.transform(pd.DataFrame(variants))[:, first:]
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


def _log_amount(amount_and_duration: np.ndarray) -> np.ndarray:
    return np.log(np.asarray(amount_and_duration, dtype=np.float64)[:, [0]])


def test_a_preprocessor_deriving_another_feature_is_refused(dataset: pd.DataFrame) -> None:
    preprocessor = build_preprocessor()
    derived = preprocessor.transformers[1][1]
    derived.steps[0][1].func = _log_amount  # same name and shape, another number
    preprocessor.fit(dataset[list(FIELDS)])
    with pytest.raises(PreprocessorMismatch, match="not log_monthly_amount"):
        check_preprocessor(preprocessor)


def test_the_monthly_amount_follows_its_fields(
    preprocessor: ColumnTransformer, records: list[dict]
) -> None:
    """Doubling the amount and the duration leaves the monthly amount; doubling the amount
    alone raises it by log 2 (in the scaler's units)."""
    features = FeatureEncoder.of(preprocessor)
    column = len(SCORED_NUMERIC_FIELDS)  # the derived feature follows the numeric fields
    scale = preprocessor.named_transformers_["derived"][-1].scale_[0]
    base = encode(records[:50])
    amount, duration = (SCORED_NUMERIC_FIELDS.index(n) for n in ("Credit amount", "Duration"))
    both, amount_only = base.copy(), base.copy()
    both[:, [amount, duration]] *= 2
    amount_only[:, amount] *= 2
    reference = features.transform(base)[:, column]
    np.testing.assert_allclose(features.transform(both)[:, column], reference, atol=1e-6)
    np.testing.assert_allclose(
        features.transform(amount_only)[:, column] - reference, np.log(2) / scale, atol=1e-5
    )


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
        ([0.0, 0.0], [1.0, 1.0], "do not fit the 3 scaled features"),
        ([0.0, float("nan"), 0.0], [1.0, 1.0, 1.0], "not finite"),
        ([0.0, 0.0, 0.0], [1.0, 0.0, 1.0], "not positive"),
    ],
)
def test_parameters_that_do_not_fit_are_refused(mean, scale, problem: str) -> None:
    with pytest.raises(PreprocessorMismatch, match=problem):
        FeatureEncoder(mean, scale)


def test_the_smallest_allowed_amount_gives_a_finite_feature(
    preprocessor: ColumnTransformer, records: list[dict]
) -> None:
    """5e-324 / 36 underflows to 0: its log must not be -inf (a NaN score, a 500)."""
    tiny = encode([{**records[0], "Credit amount": 5e-324, "Duration": 36}])
    assert np.isfinite(FeatureEncoder.of(preprocessor).transform(tiny)).all()
