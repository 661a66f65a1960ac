"""Feature preparation: canonical lead rows -> the typed frame LightGBM is fitted on.

:class:`LeadFeatures` is an sklearn transformer, so it travels inside the fitted model and
a pickled model loads anywhere the package is installed. It fixes, at fit time, which
columns are numeric and which are categorical, and the category list of every categorical
column. At scoring time, a value never seen in training (or too rare to learn from) maps
to the explicit category ``unknown``; a missing value maps to ``missing``. Neither is ever
an error.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from leadmodel import schema

MISSING_CATEGORY = "missing"
UNKNOWN_CATEGORY = schema.UNKNOWN
#: A category seen fewer times than this in training is folded into ``unknown``.
DEFAULT_MIN_CATEGORY_COUNT = 10
#: A text column with more distinct values than this is an identifier, not a feature.
DEFAULT_MAX_CATEGORIES = 200


def _as_text(values: pd.Series) -> pd.Series:
    """Text view of a column with missing values as NaN (object dtype, stripped)."""
    text = values.astype("string").str.strip()
    return text.mask(text == "").astype(object)


def to_numeric(values: pd.Series) -> pd.Series:
    """Numbers from a column that may hold numbers as text ("1,200", " 7 ")."""
    if pd.api.types.is_bool_dtype(values):
        return values.astype(float)
    if pd.api.types.is_numeric_dtype(values):
        return values.astype(float)
    text = values.astype("string").str.strip().str.replace(",", "", regex=False)
    return pd.to_numeric(text, errors="coerce").astype(float)


def is_numeric_column(values: pd.Series) -> bool:
    """True when every non-missing value of the column reads as a number."""
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return True
    present = values.notna() & (values.astype("string").str.strip() != "")
    if not present.any():
        return False
    return bool(to_numeric(values[present]).notna().all())


class LeadFeatures(BaseEstimator, TransformerMixin):
    """Turn canonical lead rows into LightGBM-ready features with categories fixed at fit.

    Parameters
    ----------
    exclude
        Columns never used as features (besides id, time and labels).
    min_category_count
        Categories rarer than this in training become ``unknown``.
    max_categories
        Text columns with more distinct values are dropped as identifiers.
    """

    def __init__(
        self,
        exclude: tuple[str, ...] = (),
        min_category_count: int = DEFAULT_MIN_CATEGORY_COUNT,
        max_categories: int = DEFAULT_MAX_CATEGORIES,
    ) -> None:
        self.exclude = exclude
        self.min_category_count = min_category_count
        self.max_categories = max_categories

    def fit(self, X: pd.DataFrame, y: Any = None) -> LeadFeatures:
        """Learn the feature list, numeric vs categorical, and each category list."""
        candidates = schema.feature_columns(list(X.columns), set(self.exclude))
        numeric: list[str] = []
        categories: dict[str, list[str]] = {}
        dropped: dict[str, str] = {}
        for col in candidates:
            values = X[col]
            if col in schema.NUMERIC_COLUMNS or (
                col not in schema.TEXT_COLUMNS and is_numeric_column(values)
            ):
                numeric.append(col)
                continue
            text = self._normalise_text(col, values)
            counts = text.value_counts()
            if len(counts) > self.max_categories:
                dropped[col] = f"{len(counts)} distinct values: an identifier, not a feature"
                continue
            kept = sorted(counts[counts >= self.min_category_count].index.astype(str))
            kept = [c for c in kept if c not in (MISSING_CATEGORY, UNKNOWN_CATEGORY)]
            categories[col] = [*kept, UNKNOWN_CATEGORY, MISSING_CATEGORY]
        self.numeric_ = numeric
        self.categories_ = categories
        self.dropped_ = dropped
        self.feature_names_ = [c for c in candidates if c in numeric or c in categories]
        return self

    @staticmethod
    def _normalise_text(col: str, values: pd.Series) -> pd.Series:
        if col == schema.SOURCE:
            text = schema.normalise_sources(values)
            return text.mask(text == UNKNOWN_CATEGORY)
        if col == schema.PRIOR_AWARENESS:
            return _as_text(values).str.lower()
        return _as_text(values)

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Features in fit order; absent columns count as missing, never an error."""
        out: dict[str, pd.Series] = {}
        n = len(X)
        for col in self.feature_names_:
            if col in self.numeric_:
                out[col] = (
                    to_numeric(X[col]).reset_index(drop=True)
                    if col in X
                    else pd.Series(np.nan, index=range(n), dtype=float)
                )
                continue
            cats = self.categories_[col]
            if col in X:
                text = self._normalise_text(col, X[col]).reset_index(drop=True)
                known = text.isin(cats[:-2])
                text = text.where(known, UNKNOWN_CATEGORY).mask(text.isna(), MISSING_CATEGORY)
            else:
                text = pd.Series(MISSING_CATEGORY, index=range(n), dtype=object)
            out[col] = pd.Series(pd.Categorical(text, categories=cats))
        return pd.DataFrame(out, index=range(n))

    def unknown_values(self, X: pd.DataFrame) -> dict[str, list[str]]:
        """Per categorical field, the given values the model has not learned (scored as unknown)."""
        found: dict[str, list[str]] = {}
        for col, cats in self.categories_.items():
            if col not in X:
                continue
            text = self._normalise_text(col, X[col]).dropna()
            unseen = sorted(set(text[~text.isin(cats[:-2])].astype(str)))
            if unseen:
                found[col] = unseen
        return found

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Feature names in the order :meth:`transform` returns them."""
        return np.asarray(self.feature_names_, dtype=object)

    @property
    def feature_to_field(self) -> dict[str, str]:
        """Which canonical input field each model feature comes from (identity today)."""
        return {f: f for f in self.feature_names_}
