"""Baselines every training run is measured against, fitted in the same run.

- ``rule_points``: the hand-written points score marketing teams use today (points for
  an inbound source, prior awareness and engagement thresholds). It has no fitted
  parameters; its points come from the config.
- ``logistic``: a logistic regression on the same canonical fields (one-hot categories,
  median-imputed and log-scaled numbers with missing-value indicators).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from leadmodel import schema
from leadmodel.config import RulePointsConfig
from leadmodel.features import LeadFeatures, to_numeric

#: Regularisation of the logistic baseline (sklearn's C).
LOGISTIC_C = 1.0
LOGISTIC_MAX_ITER = 2000


def rule_points(leads: pd.DataFrame, config: RulePointsConfig) -> np.ndarray:
    """The classic hand-written points score: higher is better, no fitting."""
    n = len(leads)
    points = np.zeros(n, dtype=float)
    if schema.SOURCE in leads:
        sources = schema.normalise_sources(leads[schema.SOURCE])
        points += config.inbound_source * sources.isin(schema.INBOUND_SOURCES).to_numpy()
    if schema.PRIOR_AWARENESS in leads:
        awareness = leads[schema.PRIOR_AWARENESS].astype("string").str.strip().str.lower()
        points += awareness.map(config.awareness).fillna(0).to_numpy(dtype=float)
    for col, thresholds in config.thresholds.items():
        if col not in leads:
            continue
        values = to_numeric(leads[col]).fillna(0).to_numpy()
        for t in thresholds:
            points += config.points_per_threshold * (values >= t)
    return points


def _log1p_nonneg(x: np.ndarray) -> np.ndarray:
    return np.log1p(np.clip(x, 0, None))


def fit_logistic(features: LeadFeatures, X: pd.DataFrame, y: np.ndarray, seed: int) -> Pipeline:
    """Logistic regression on the model's features (categories one-hot encoded)."""
    numeric = list(features.numeric_)
    categorical = list(features.categories_)
    prep = ColumnTransformer(
        [
            (
                "num",
                make_pipeline(
                    SimpleImputer(strategy="median", add_indicator=True),
                    FunctionTransformer(_log1p_nonneg),
                    StandardScaler(),
                ),
                numeric,
            ),
            ("cat", OneHotEncoder(handle_unknown="ignore", min_frequency=5), categorical),
        ]
    )
    pipe = Pipeline(
        [
            ("prep", prep),
            (
                "lr",
                LogisticRegression(C=LOGISTIC_C, max_iter=LOGISTIC_MAX_ITER, random_state=seed),
            ),
        ]
    )
    frame = X.copy()
    for col in categorical:
        frame[col] = frame[col].astype(str)
    pipe.fit(frame, y)
    return pipe


def predict_logistic(pipe: Pipeline, features: LeadFeatures, X: pd.DataFrame) -> np.ndarray:
    """P(positive) from the logistic baseline."""
    frame = X.copy()
    for col in features.categories_:
        frame[col] = frame[col].astype(str)
    return pipe.predict_proba(frame)[:, 1]
