"""Feature preparation: canonical lead rows -> the typed frame LightGBM is fitted on.

:class:`LeadFeatures` is an sklearn transformer, so it travels inside the fitted model and
a pickled model loads anywhere the package is installed. It fixes, at fit time, which
columns are numeric and which are categorical, and the category list of every categorical
column. At scoring time, a value never seen in training (or too rare to learn from) maps
to the explicit category ``unknown``; a missing value maps to ``missing``. Neither is ever
an error.

Text is normalised once per distinct value, not per row, and the code of each distinct
value is remembered (up to :data:`CODE_CACHE_SIZE` per column): a million rows stay
vectorised and one lead costs a fraction of a millisecond. One encoding
(:meth:`LeadFeatures._encode`) gives both forms: :meth:`LeadFeatures.transform_matrix`, the
float matrix of category codes the boosters score (:func:`feature_matrix` of the frame),
and :meth:`LeadFeatures.transform`, the typed frame they are fitted on. Leads arrive as a
frame or as plain records (dicts); :func:`as_columns` reads records column by column at
the entrance (:class:`RecordColumns`, each column read as pandas would, without a frame).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from pandas.api.types import infer_dtype
from sklearn.base import BaseEstimator, TransformerMixin

from leadmodel import schema

MISSING_CATEGORY = "missing"
UNKNOWN_CATEGORY = schema.UNKNOWN
#: A category seen fewer times than this in training is folded into ``unknown``.
DEFAULT_MIN_CATEGORY_COUNT = 10
#: A text column with more distinct values per training row than this is an identifier.
DEFAULT_MAX_DISTINCT_SHARE = 0.9
#: Features derived from ``created_at`` (known the moment a lead arrives): name -> part.
TIME_FEATURES: dict[str, str] = {
    f"{schema.CREATED_AT}_weekday": "weekday",  # 0 = Monday ... 6 = Sunday
    f"{schema.CREATED_AT}_hour": "hour",  # only when the training times have a time part
}
#: Distinct raw texts per categorical column whose code is remembered between calls (a
#: service sees the same few values again and again); further ones are coded every time.
CODE_CACHE_SIZE = 4096
#: Python types a plain record may hold for a numeric feature (bool is not a number here:
#: a column of booleans and None is text to pandas).
_PLAIN_NUMBERS = (float, int)
#: Day of week of 1970-01-01, day 0 of numpy's datetime64 (0 = Monday: a Thursday).
_EPOCH_WEEKDAY = 3
_NONE = type(None)
#: Value types of a record column pandas reads as text (object) or as numbers (int/float).
_TEXT_TYPES = frozenset({str, _NONE})
_NUMBER_TYPES = frozenset({int, float, _NONE})
#: Value types of a record column read as typed times, each at its own wall-clock time.
_STAMP_TYPES = frozenset({dt.datetime, dt.date, pd.Timestamp, type(pd.NaT), _NONE})
_EPOCH = dt.datetime(1970, 1, 1)
_EPOCH_DAY = _EPOCH.date()
_MICROSECOND = dt.timedelta(microseconds=1)
_US_PER_DAY = 86_400_000_000
#: numpy's NaT as an int64 (the smallest int64).
_NAT = int(np.datetime64("NaT", "us").view(np.int64))
#: Canonical lead rows: a frame, or plain records (dicts; an absent key is a missing value).
Leads = pd.DataFrame | Sequence[Mapping[str, Any]]


class RecordColumns:
    """Plain records read column by column, each column as pandas reads it.

    What the scoring path asks of a frame (``len``, ``name in``, ``[name]``), without
    building one. A column's values are gathered once, the first time it is read, and
    kept as a numpy array when pandas would type them plainly (:func:`plain_array`:
    text, whole numbers, numbers); the features read those arrays directly
    (:meth:`numbers`, :meth:`stamps`, :meth:`factorized`), so one lead costs no pandas
    object. ``[name]`` gives the ``pd.Series`` pandas would infer (built on demand, once).
    """

    def __init__(self, records: Sequence[Mapping[str, Any]]) -> None:
        self._records = records
        self._names = dict.fromkeys(itertools.chain.from_iterable(records))
        self._values: dict[str, list[Any]] = {}
        self._arrays: dict[str, np.ndarray | None] = {}
        self._columns: dict[str, pd.Series] = {}
        self._factorized: dict[str, tuple[np.ndarray, list[str]]] = {}

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def values(self, name: str) -> list[Any]:
        """The records' values of column ``name`` (None where a record lacks the key)."""
        found = self._values.get(name)
        if found is None:
            if name not in self._names:
                raise KeyError(name)
            found = self._values[name] = [record.get(name) for record in self._records]
        return found

    def array(self, name: str) -> np.ndarray | None:
        """:func:`plain_array` of column ``name``, computed once."""
        if name not in self._arrays:
            self._arrays[name] = plain_array(self.values(name))
        return self._arrays[name]

    def __getitem__(self, name: str) -> pd.Series:
        column = self._columns.get(name)
        if column is None:
            array = self.array(name)
            if array is None:  # let pandas infer the type, as a frame of the records would
                column = pd.Series(self.values(name), name=name)
            else:
                column = pd.Series(array, name=name, dtype=array.dtype, copy=False)
            self._columns[name] = column
        return column

    @property
    def columns(self) -> list[str]:
        """Column names in the order the records first give them (as a frame's)."""
        return list(self._names)

    def numbers(self, name: str) -> np.ndarray:
        """:func:`to_numeric_array` of column ``name``."""
        array = self.array(name)
        if array is None:
            return to_numeric_array(self[name])
        if array.dtype == object:  # text and None
            return _object_numbers(array)
        return array.astype(np.float64)

    def stamps(self, name: str) -> np.ndarray:
        """:func:`timestamps` of column ``name`` as ``datetime64[us]`` (NaT when not one)."""
        return time_array(self.values(name))

    def factorized(self, name: str) -> tuple[np.ndarray, list[str]]:
        """:meth:`LeadFeatures._factorize` of column ``name``, computed once per column.

        Scoring a request reads each categorical column twice (its codes, and the values
        the model has not learned for the warnings); both share this result.
        """
        found = self._factorized.get(name)
        if found is None:
            array = self.array(name)
            if array is not None and array.dtype == object:  # text and None
                found = distinct_codes(self.values(name))
            else:
                found = LeadFeatures._factorize(self[name])
            self._factorized[name] = found
        return found


#: Lead rows by column: a frame, or :class:`RecordColumns` of plain records.
LeadColumns = pd.DataFrame | RecordColumns


def plain_array(values: list[Any]) -> np.ndarray | None:
    """Record values as the array pandas would type them, when that is plain; else None.

    Text and None: an object array (pandas would infer ``str``; object holds the same
    values and costs less to build and to code). Whole numbers: int64. Numbers with a
    float or a missing value among them: float64 with NaN. Anything else (booleans,
    times, mixed types, numbers outside int64) is left to pandas' own inference.
    """
    types = set(map(type, values))
    if types <= _TEXT_TYPES:
        array = np.empty(len(values), dtype=object)
        array[:] = values
        return array
    if not types <= _NUMBER_TYPES:
        return None
    if int in types:
        try:  # a whole number outside int64 makes pandas choose another type
            whole = np.array([v for v in values if type(v) is int], dtype=np.int64)
        except OverflowError:
            return None
        if types == {int}:
            return whole
    return np.array(values, dtype=np.float64)  # None -> NaN


def _wall_clock_us(value: Any) -> int:
    """Microseconds since 1970 of a typed time's own wall-clock time (NaT: missing).

    Plain integer arithmetic: numpy's conversion of datetime objects costs several times
    more per value, pandas' tens of microseconds per call.
    """
    if value is None or value is pd.NaT:
        return _NAT
    if type(value) is dt.date:
        return (value - _EPOCH_DAY).days * _US_PER_DAY
    if value.tzinfo is not None:
        value = value.replace(tzinfo=None)
    return (value - _EPOCH) // _MICROSECOND


def distinct_codes(values: Sequence[Any] | np.ndarray) -> tuple[np.ndarray, list[Any]]:
    """``pd.factorize`` by dict look-ups: codes into the distinct values (-1 for a missing
    one: None, ``pd.NA``, NaN, NaT) and the distinct values in order of appearance.

    The same codes and distinct values; a few microseconds for one lead, where
    ``pd.factorize`` costs tens, and as fast for a million text values. A NaN is found
    again by identity (each is its own key), so it costs no more than a text.
    """
    items = values.tolist() if isinstance(values, np.ndarray) else values
    table = dict.fromkeys(items)
    uniques = [v for v in table if not (v is None or v is pd.NA or v != v)]
    lookup: dict[Any, int] = dict.fromkeys(table, -1)
    lookup.update(zip(uniques, range(len(uniques)), strict=True))
    codes = np.fromiter(map(lookup.__getitem__, items), dtype=np.intp, count=len(items))
    return codes, uniques


def as_columns(leads: Leads | RecordColumns) -> LeadColumns:
    """Lead rows by column: a frame as it is, plain records as :class:`RecordColumns`."""
    if isinstance(leads, pd.DataFrame | RecordColumns):
        return leads
    return RecordColumns(list(leads))


def factorized(X: LeadColumns, col: str) -> tuple[np.ndarray, list[str]]:
    """Codes and distinct texts of column ``col`` (:meth:`LeadFeatures._factorize`)."""
    if isinstance(X, RecordColumns):
        return X.factorized(col)
    return LeadFeatures._factorize(X[col])


def column_numbers(X: LeadColumns, col: str) -> np.ndarray:
    """:func:`to_numeric_array` of column ``col``."""
    if isinstance(X, RecordColumns):
        return X.numbers(col)
    return to_numeric_array(X[col])


def column_stamps(X: LeadColumns, col: str) -> np.ndarray:
    """:func:`timestamps` of column ``col`` as ``datetime64[us]``."""
    if isinstance(X, RecordColumns):
        return X.stamps(col)
    return timestamps(X[col]).to_numpy(dtype="datetime64[us]")


def _as_text(values: pd.Series) -> pd.Series:
    """Text view of a column with missing values as NaN (object dtype, stripped)."""
    text = values.astype("string").str.strip()
    return text.mask(text == "").astype(object)


def timestamps(values: pd.Series) -> pd.Series:
    """Wall-clock timestamps of a column of dates or date-times (NaT when not one).

    Typed values are taken as they are; text (from a caller that did not read its leads
    through :mod:`leadmodel.ingest` or the service's ``Lead``) is read by the schema's
    parser (:func:`leadmodel.schema.parse_date`). Zoned times keep their own wall-clock
    time: a lead that arrived on Saturday at 23:00 in its own zone arrived on a Saturday,
    whatever UTC says.
    """
    values = pd.Series(values).reset_index(drop=True)
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_localize(None)
    if pd.api.types.is_datetime64_dtype(values.dtype):
        return values
    return pd.Series(time_array(values.to_numpy(dtype=object)), dtype="datetime64[us]")


def time_array(items: Sequence[Any]) -> np.ndarray:
    """:func:`timestamps` of plain values (objects) as ``datetime64[us]``, value by value.

    Typed times (``datetime``, ``date``, ``pd.Timestamp``; None and NaT missing) are read
    by integer arithmetic, each at its own wall-clock time, zoned or not, mixed or not;
    anything else by :func:`_wall_clock`.
    """
    if set(map(type, items)) <= _STAMP_TYPES:
        us = np.fromiter(map(_wall_clock_us, items), dtype=np.int64, count=len(items))
        return us.view("datetime64[us]")
    return pd.Series([_wall_clock(v) for v in items], dtype="datetime64[us]").to_numpy()


def _wall_clock(value: Any) -> pd.Timestamp:
    """One value as a naive wall-clock timestamp (NaT for missing, numbers and non-dates)."""
    if isinstance(value, str):
        try:
            return schema.parse_date(value)
        except schema.AmbiguousDates:  # one value cannot tell day-first from month-first
            return pd.NaT
    if not isinstance(value, dt.date):  # numbers are not times
        return pd.NaT
    stamp = pd.Timestamp(value)
    return stamp.tz_localize(None) if stamp.tzinfo is not None else stamp


def to_numeric(values: pd.Series) -> pd.Series:
    """Floats of a column of numbers; text is read by :func:`leadmodel.schema.parse_numbers`.

    Leads read through ingest or the service arrive typed; text here comes from a caller
    that scores a frame of its own, and a value the parser refuses is unknown (NaN).
    """
    return pd.Series(to_numeric_array(values), index=values.index)


def to_numeric_array(values: pd.Series) -> np.ndarray:
    """:func:`to_numeric` as a float array."""
    dtype = values.dtype  # the dtype answers as the column would, only faster
    if isinstance(dtype, np.dtype) and dtype.kind in "biuf":  # numpy numbers: NaN only
        return values.to_numpy(dtype=float)
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        return values.to_numpy(dtype=float, na_value=np.nan)
    return _object_numbers(values.to_numpy(dtype=object))


def _object_numbers(items: np.ndarray) -> np.ndarray:
    """:func:`to_numeric_array` of an object array (numbers as they are, text parsed)."""
    out = np.full(len(items), np.nan)
    number = np.array([type(v) in _PLAIN_NUMBERS or isinstance(v, np.number) for v in items])
    if number.any():
        out[number] = items[number].astype(float)
    text = np.array([isinstance(v, str) for v in items], dtype=bool)
    if text.any():
        trimmed = pa.array([v.strip() or None for v in items[text]], type=pa.string())
        parsed, bad = schema.parse_numbers(trimmed)
        out[text] = np.where(bad, np.nan, parsed)
    return out


def feature_matrix(
    X: pd.DataFrame, categories: Sequence[Sequence[Any]] | None = None
) -> np.ndarray:
    """The float64 matrix LightGBM reads for a features frame.

    Numeric columns as they are; categorical columns as their category codes, missing
    (code -1) as NaN, exactly as LightGBM's own pandas path computes them. ``categories``
    are the category lists the booster was trained with (``booster.pandas_categorical``),
    one per categorical column in column order; a column whose categories differ is
    recoded to them first, as LightGBM does.
    """
    categorical = [c for c, t in X.dtypes.items() if isinstance(t, pd.CategoricalDtype)]
    if categories is not None and len(categories) != len(categorical):
        raise ValueError("train and valid dataset categorical_feature do not match.")
    fixed = dict(zip(categorical, categories or (), strict=False))
    matrix = np.empty(X.shape, dtype=np.float64)
    for j, (col, values) in enumerate(X.items()):
        if col not in categorical:
            matrix[:, j] = values.to_numpy(dtype=np.float64, na_value=np.nan)
            continue
        cat = values.array
        if col in fixed and list(cat.categories) != list(fixed[col]):  # LightGBM's test
            cat = cat.set_categories(fixed[col])
        codes = cat.codes
        matrix[:, j] = codes
        matrix[codes < 0, j] = np.nan
    return matrix


@dataclass
class _Coder:
    """How the raw values of one categorical column become category codes.

    ``cache`` maps a raw text to its code and its normalised text (None when missing).
    """

    known: pd.Index
    dtype: pd.CategoricalDtype
    unknown: int
    missing: int
    cache: dict[str, tuple[int, str | None]] = field(default_factory=dict)


def is_numeric_column(values: pd.Series) -> bool:
    """True when the column holds numbers: a numeric dtype, or every present value a number.

    Typed tables (ingest's) answer by their dtype; text is read by the schema's parser.
    """
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return True
    present = values.notna() & (values.astype("string").str.strip() != "")
    if not present.any():
        return False
    return bool(~np.isnan(to_numeric_array(values[present])).any())


class LeadFeatures(BaseEstimator, TransformerMixin):
    """Turn canonical lead rows into LightGBM-ready features with categories fixed at fit.

    Parameters
    ----------
    exclude
        Columns never used as features (besides id, time and labels).
    min_category_count
        Categories rarer than this in training become ``unknown``.
    max_distinct_share
        Text columns with more distinct values per row are dropped as identifiers.
    time_features
        Derive day of week (and hour, when training times have one) from ``created_at``.
    awareness_monotone
        Read ``prior_awareness`` as the ordered levels none < low < high (a number, with
        unknown and missing as missing) so that the boosters can be constrained never to
        score a lead lower for knowing the company better; otherwise it is a category.
    """

    def __init__(
        self,
        exclude: tuple[str, ...] = (),
        min_category_count: int = DEFAULT_MIN_CATEGORY_COUNT,
        max_distinct_share: float = DEFAULT_MAX_DISTINCT_SHARE,
        time_features: bool = True,
        awareness_monotone: bool = True,
    ) -> None:
        self.exclude = exclude
        self.min_category_count = min_category_count
        self.max_distinct_share = max_distinct_share
        self.time_features = time_features
        self.awareness_monotone = awareness_monotone

    def fit(self, X: pd.DataFrame, y: Any = None) -> LeadFeatures:
        """Learn the feature list, numeric vs categorical, and each category list."""
        candidates = schema.feature_columns(list(X.columns), set(self.exclude))
        numeric: list[str] = []
        categories: dict[str, list[str]] = {}
        dropped: dict[str, str] = {}
        for col in candidates:
            values = X[col]
            if values.isna().all():
                dropped[col] = f"no value in any of the {len(X):,} training leads"
                continue
            if col in schema.NUMERIC_COLUMNS or (
                col not in schema.TEXT_COLUMNS and is_numeric_column(values)
            ):
                numeric.append(col)
                continue
            text = self._normalise_text(col, values)
            counts = text.value_counts()
            if len(counts) > self.max_distinct_share * max(len(X), 1):
                dropped[col] = (
                    f"{len(counts)} distinct values in {len(X)} rows: an identifier, not a feature"
                )
                continue
            if col == schema.PRIOR_AWARENESS and self.awareness_monotone:
                categories[col] = [*schema.AWARENESS_LEVELS, UNKNOWN_CATEGORY, MISSING_CATEGORY]
                continue  # every level keeps its place in the order, however rare
            kept = sorted(counts[counts >= self.min_category_count].index.astype(str))
            kept = [c for c in kept if c not in (MISSING_CATEGORY, UNKNOWN_CATEGORY)]
            categories[col] = [*kept, UNKNOWN_CATEGORY, MISSING_CATEGORY]
        self.numeric_ = numeric
        self.categories_ = categories
        self.ordinal_ = [c for c in categories if c == schema.PRIOR_AWARENESS] * bool(
            self.awareness_monotone
        )
        self.dropped_ = dropped
        self.time_features_ = self._fit_time_features(X)
        self.feature_names_ = [c for c in candidates if c in numeric or c in categories]
        self.feature_names_ += list(self.time_features_)
        self._coders: dict[str, _Coder] | None = None
        return self

    def _fit_time_features(self, X: pd.DataFrame) -> dict[str, str]:
        """Which :data:`TIME_FEATURES` the training rows support (name -> part)."""
        if not self.time_features or schema.CREATED_AT in self.exclude:
            return {}
        if schema.CREATED_AT not in X:
            return {}
        stamps = timestamps(X[schema.CREATED_AT])
        if stamps.isna().all():
            return {}
        has_time = bool((stamps.dropna() != stamps.dropna().dt.normalize()).any())
        return {name: part for name, part in TIME_FEATURES.items() if part != "hour" or has_time}

    @staticmethod
    def _normalise_text(col: str, values: pd.Series) -> pd.Series:
        if col == schema.SOURCE:
            text = schema.normalise_sources(values)
            return text.mask(text == UNKNOWN_CATEGORY)
        if col == schema.PRIOR_AWARENESS:
            return _as_text(values).str.lower()
        return _as_text(values)

    def category_of(self, col: str, values: Sequence[Any] | pd.Series) -> np.ndarray:
        """The category the model scores each raw value of ``col`` as (text per value).

        A category kept at fit time, :data:`UNKNOWN_CATEGORY` for a value it never saw
        (or saw too rarely), :data:`MISSING_CATEGORY` for an empty one.
        """
        cats = self.categories_[col]
        text = self._normalise_text(col, pd.Series(list(values), dtype=object))
        known = pd.Index(cats[:-2], dtype=object)
        out = np.where(known.get_indexer(text) >= 0, text.to_numpy(dtype=object), UNKNOWN_CATEGORY)
        return np.where(text.isna().to_numpy(), MISSING_CATEGORY, out).astype(object)

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Features in fit order; absent columns count as missing, never an error."""
        coders = self._coder_table()
        out: dict[str, Any] = {}
        ordinal = self._ordinal()
        for col, values in self._encode(X).items():
            out[col] = (
                pd.Categorical.from_codes(values, dtype=coders[col].dtype)
                if col in coders and col not in ordinal
                else values
            )
        return pd.DataFrame(out, index=range(len(X)))

    def _ordinal(self) -> list[str]:
        return getattr(self, "ordinal_", None) or []  # models pickled before it: none

    @property
    def booster_categories(self) -> list[list[str]]:
        """The category lists the boosters are trained with (ordered fields are numbers)."""
        ordinal = self._ordinal()
        return [cats for col, cats in self.categories_.items() if col not in ordinal]

    def monotone_constraints(self) -> list[int]:
        """LightGBM's ``monotone_constraints``: +1 for the ordered awareness, else 0."""
        ordinal = self._ordinal()
        return [1 if f in ordinal else 0 for f in self.feature_names_]

    def transform_matrix(self, X: LeadColumns) -> np.ndarray:
        """:func:`feature_matrix` of :meth:`transform`, computed without the frame."""
        matrix = np.empty((len(X), len(self.feature_names_)), dtype=np.float64)
        for j, values in enumerate(self._encode(X).values()):
            matrix[:, j] = values
        return matrix

    def _encode(self, X: LeadColumns) -> dict[str, np.ndarray]:
        """Per feature in fit order: floats (numeric) or category codes (categorical)."""
        n = len(X)
        coders = self._coder_table()
        out: dict[str, np.ndarray] = {}
        time_parts = self._time_parts(X, n)
        for col in self.feature_names_:
            coder = coders.get(col)
            if col in time_parts:
                out[col] = time_parts[col]
            elif col not in X:
                absent = coder is None or col in self._ordinal()
                out[col] = np.full(n, np.nan if absent else coder.missing)
            elif coder is None:
                out[col] = column_numbers(X, col)
            else:
                out[col] = self._codes(col, coder, *factorized(X, col))
        return out

    def _codes(self, col: str, coder: _Coder, codes: np.ndarray, uniques: list[str]) -> np.ndarray:
        """Category codes of factorized raw values (code -1 = missing).

        An ordered field's codes are its levels' ranks as floats, NaN for unknown and
        missing (so the boosters' monotone constraint sees only real levels).
        """
        table = self._code_uniques(col, coder, uniques)[0]
        out = np.append(table, coder.missing)[codes]
        if col in self._ordinal():
            out = np.where(out >= coder.unknown, np.nan, out.astype(float))
        return out

    def _time_parts(self, X: LeadColumns, n: int) -> dict[str, np.ndarray]:
        """Each fitted time feature as floats (NaN where ``created_at`` is missing or bad)."""
        wanted = getattr(self, "time_features_", None) or {}  # models pickled before them
        if not wanted:
            return {}
        if schema.CREATED_AT not in X:
            return {name: np.full(n, np.nan) for name in wanted}
        stamps = column_stamps(X, schema.CREATED_AT)
        days = stamps.astype("datetime64[D]")
        missing = np.isnat(stamps)
        if missing.any():  # NaN below, not NaT arithmetic (numpy warns on it)
            stamps = np.where(missing, np.datetime64(0, "us"), stamps)
            days = stamps.astype("datetime64[D]")
        parts = {  # numpy arithmetic: the Series .dt accessors cost more than one lead
            "weekday": (days.view(np.int64) + _EPOCH_WEEKDAY) % 7,
            "hour": (stamps - days) // np.timedelta64(1, "h"),
        }
        return {
            name: np.where(missing, np.nan, parts[part].astype(float))
            for name, part in wanted.items()
        }

    @staticmethod
    def _factorize(values: pd.Series) -> tuple[np.ndarray, list[str]]:
        """Codes (-1 = missing) and the distinct raw texts they point to.

        Values are grouped as they are when all are text; otherwise as their text (1 and
        1.0 are one value to pandas but two texts to the model).
        """
        # A numpy-backed column is factorized as its array: the same codes, without the
        # Series' fixed cost (an arrow-backed one stays a Series: faster for many rows);
        # text and None in an object array by dict look-ups (:func:`distinct_codes`).
        array = values.to_numpy() if isinstance(values.dtype, np.dtype) else values
        if array.dtype == object and set(map(type, array)) <= _TEXT_TYPES:
            return distinct_codes(array)
        codes, uniques = pd.factorize(array)
        if not (uniques.dtype == "str" or infer_dtype(uniques, skipna=True) == "string"):
            codes, uniques = pd.factorize(values.astype("string"))
        return codes, list(uniques)

    def _code_uniques(
        self, col: str, coder: _Coder, uniques: list[str]
    ) -> tuple[np.ndarray, list[str | None]]:
        """Codes and normalised texts of distinct raw texts, remembered in ``coder.cache``."""
        cache = coder.cache
        new = [u for u in dict.fromkeys(uniques) if u not in cache]
        if new:
            text = self._normalise_text(col, pd.Series(new, dtype=object))
            at = coder.known.get_indexer(text)
            missing = text.isna().to_numpy()
            codes = np.where(missing, coder.missing, np.where(at >= 0, at, coder.unknown))
            texts = text.to_numpy(dtype=object)
            found = {
                u: (int(c), None if m else str(t))
                for u, c, m, t in zip(new, codes, missing, texts, strict=True)
            }
            if len(cache) + len(found) <= CODE_CACHE_SIZE:
                cache.update(found)
        else:
            found = {}
        pairs = [cache.get(u) or found[u] for u in uniques]
        return np.array([c for c, _ in pairs], dtype=np.int64), [t for _, t in pairs]

    def _coder_table(self) -> dict[str, _Coder]:
        """The :class:`_Coder` of every categorical feature (built once, never pickled)."""
        coders = getattr(self, "_coders", None)
        if coders is None:
            coders = {
                col: _Coder(
                    known=pd.Index(cats[:-2], dtype=object),
                    dtype=pd.CategoricalDtype(cats),
                    unknown=len(cats) - 2,
                    missing=len(cats) - 1,
                )
                for col, cats in self.categories_.items()
            }
            self._coders = coders
        return coders

    def category_texts(self, col: str, X: LeadColumns) -> np.ndarray:
        """The text of categorical feature ``col`` of the leads ``X`` as :meth:`transform`
        reads it: normalised (sources in lower_snake_case), before values the model has not
        learned become ``unknown``; an object array with NaN for missing values."""
        codes, uniques = factorized(X, col)
        texts = self._code_uniques(col, self._coder_table()[col], uniques)[1]
        table = np.array([np.nan if t is None else t for t in texts] + [np.nan], dtype=object)
        return table[codes]

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        state.pop("_coders", None)  # a cache, rebuilt on first use
        return state

    def unknown_values(self, X: Leads | RecordColumns) -> dict[str, list[str]]:
        """Per categorical field, the given values the model has not learned (scored as unknown).

        ``X`` is a frame or plain records (dicts; an absent key is a missing value).
        """
        found: dict[str, list[str]] = {}
        X = as_columns(X)
        for col, coder in self._coder_table().items():
            if col not in X:
                continue
            _, uniques = factorized(X, col)
            codes, texts = self._code_uniques(col, coder, uniques)
            unseen = sorted({t for c, t in zip(codes, texts, strict=True) if c == coder.unknown})
            if unseen:
                found[col] = unseen
        return found

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Feature names in the order :meth:`transform` returns them."""
        return np.asarray(self.feature_names_, dtype=object)

    @property
    def feature_to_field(self) -> dict[str, str]:
        """Which canonical input field each model feature comes from.

        The time features come from ``created_at``; every other feature is its own field.
        """
        time_features = getattr(self, "time_features_", None) or {}
        return {f: schema.CREATED_AT if f in time_features else f for f in self.feature_names_}

    @property
    def input_fields(self) -> list[str]:
        """The canonical input fields the model reads, in feature order (each once)."""
        return list(dict.fromkeys(self.feature_to_field.values()))
