"""Soft targets for distillation: what two other model families believe of each training row.

The teacher is the mean P(good) of a spline logistic regression and gradient boosting, each
predicting every row from a model that did not train on it (5 stratified folds over the rows
given), so the soft target of a row carries no more of its own label than the hard one does.
"""

from __future__ import annotations

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import SplineTransformer
from threadpoolctl import threadpool_limits

from credit_risk.contract import SCORED_NUMERIC_FIELDS

TEACHER_FOLDS = 5


def teacher_models(seed: int) -> list[Pipeline | HistGradientBoostingClassifier]:
    """Cubic splines (5 knots) of the numeric features with the one-hot ones, logistic; and
    gradient-boosted trees of depth 3 (300 rounds at learning rate 0.03)."""
    numeric = list(range(len(SCORED_NUMERIC_FIELDS) + 1))  # the first columns: scaled ones
    splines = ColumnTransformer(
        [("splines", SplineTransformer(n_knots=5, degree=3), numeric)], remainder="passthrough"
    )
    return [
        make_pipeline(splines, LogisticRegression(max_iter=2000)),
        HistGradientBoostingClassifier(
            learning_rate=0.03, max_depth=3, max_iter=300, random_state=seed
        ),
    ]


def teacher_proba(features: np.ndarray, y_good: np.ndarray, seed: int) -> np.ndarray:
    """Out-of-fold mean P(good) of the teacher models for each row of `features`."""
    out = np.zeros(len(y_good))
    folds = StratifiedKFold(TEACHER_FOLDS, shuffle=True, random_state=seed)
    with threadpool_limits(1):  # one core, as the network's training
        for fit_rows, predict_rows in folds.split(features, y_good):
            for model in teacher_models(seed):
                model.fit(features[fit_rows], y_good[fit_rows])
                out[predict_rows] += model.predict_proba(features[predict_rows])[:, 1]
    return out / len(teacher_models(seed))
