"""Explanations: booster contributions -> score points -> readable reasons; global views.

Contributions are the booster's own (``pred_contrib=True``: exactly TreeSHAP, with the base
value last), looked up in per-tree tables of LightGBM's values where the trees are small
(:mod:`leadmodel.treeshap`); the shap package only draws plots from them
(:mod:`leadmodel.report`).

**How points are computed** (see ``docs/explanations.md``). For one stage the booster's
raw log-odds are ``raw = base + sum_f c_f`` (TreeSHAP additivity). Calibration is the line
``logit = a * raw + b`` and the score is the line ``score = m * (logit - low)`` with
``m = model.points_per_logit``. Both are linear, so

    score = m * (a * base + b - low)  +  sum_f  m * a * c_f
          = base_points               +  sum_f  points_f

holds exactly for every lead (before the score is clipped to 0-100). The accept stage has
no 0-100 scale of its own: its points use the same ``m`` points per log-odds (one point is
the same odds ratio in both stages) and its total is ``m * calibrated accept log-odds``,
i.e. 0 at even odds of acceptance.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd

from leadmodel import schema
from leadmodel.features import SMALL_BATCH_ROWS, timestamps, to_numeric, to_numeric_array
from leadmodel.model import ACCEPT, CLOSE, SCORE_MAX, SCORE_MIN, Features, FunnelModel, sigmoid

#: Reasons shown per lead by default.
DEFAULT_K: Final = 3
#: Contributions smaller than this (in points) are not reasons: they would print as 0.
MIN_REASON_POINTS: Final = 0.1
#: Decimals of points and numbers in reason texts.
TEXT_DECIMALS: Final = 1
#: Hand-over thresholds: every whole score from 0 to 100.
THRESHOLD_STEP: Final = 1
DAYS_PER_WEEK: Final = 7.0
SECONDS_PER_MINUTE: Final = 60.0
REASON_SEPARATOR: Final = "; "


# --- contributions ---------------------------------------------------------------------


@dataclass
class StageContributions:
    """Per-field contributions of one stage for a batch of leads (raw log-odds).

    Attributes
    ----------
    stage
        ``"accept"`` or ``"close"``.
    fields
        Canonical input fields (model features summed per field).
    values
        ``(n, len(fields))`` contributions in raw log-odds.
    base
        The booster's expected value (raw log-odds), the same for every lead.
    raw
        ``(n,)`` raw booster output; ``base + values.sum(1) == raw``.
    """

    stage: str
    fields: list[str]
    values: np.ndarray
    base: float
    raw: np.ndarray

    def calibrated_logit(self, model: FunnelModel) -> np.ndarray:
        """Calibrated log-odds of the stage (``a * raw + b``)."""
        return model.stages[self.stage].calibrated_logit(self.raw)

    def proba(self, model: FunnelModel) -> np.ndarray:
        """Calibrated probability of the stage."""
        return sigmoid(self.calibrated_logit(model))

    def column(self, field: str) -> np.ndarray:
        """Contributions of one field (zeros when the model does not use it)."""
        if field not in self.fields:
            return np.zeros(len(self.raw))
        return self.values[:, self.fields.index(field)]

    def frame(self) -> pd.DataFrame:
        """Contributions as a DataFrame, one column per field."""
        return pd.DataFrame(self.values, columns=self.fields)


def model_fields(model: FunnelModel) -> list[str]:
    """Canonical input fields the model reads, in feature order (each once)."""
    return model.features.input_fields


def _check_stage(model: FunnelModel, stage: str) -> None:
    if stage not in model.stages:
        known = ", ".join(model.stages)
        why = " (the training data had no acceptance decisions)" if stage == ACCEPT else ""
        raise ValueError(f"stage: '{stage}' is not a stage of this model{why}; use one of {known}")


def contributions(
    model: FunnelModel,
    leads: pd.DataFrame | None,
    stage: str = CLOSE,
    X: Features | None = None,
) -> StageContributions:
    """Per-field TreeSHAP contributions of ``stage`` for raw canonical ``leads``.

    ``X`` (the already transformed features of ``leads``: the frame of
    :meth:`FunnelModel.transform` or the matrix of :meth:`FunnelModel.booster_input`)
    skips the transform; ``leads`` may then be None.
    """
    _check_stage(model, stage)
    if X is None:
        if leads is None:
            raise ValueError("contributions need the leads or their features X")
        X = model.booster_input(leads)
    booster_stage = model.stages[stage]
    if len(X) == 0:  # the base value still comes from the booster
        empty_row = model.transform(pd.DataFrame(index=range(1)))
        base = float(booster_stage.contributions(empty_row)[0, -1])
        fields = model_fields(model)
        return StageContributions(stage, fields, np.zeros((0, len(fields))), base, np.zeros(0))
    contrib = booster_stage.contributions(X)
    features = list(X.columns) if isinstance(X, pd.DataFrame) else model.features.feature_names_
    fields = model_fields(model)
    per_feature = contrib[:, :-1]
    if fields == features:
        values = per_feature
    else:  # several features per field: sum them
        mapping = model.features.feature_to_field
        to_field = np.zeros((len(features), len(fields)))
        to_field[np.arange(len(features)), [fields.index(mapping[f]) for f in features]] = 1.0
        values = per_feature @ to_field
    base = float(contrib[0, -1])
    return StageContributions(stage, fields, values, base, contrib.sum(axis=1))


def to_points(model: FunnelModel, contrib: StageContributions) -> tuple[float, np.ndarray]:
    """``(base_points, points)``: contributions on the score's points scale.

    Close stage: ``base_points + points.sum(1)`` is the unclipped 0-100 score (the score
    itself is clipped to 0..100). Accept stage: the same points per log-odds; the total is
    ``points_per_logit * calibrated accept log-odds`` (0 = even odds of acceptance).
    """
    stage = model.stages[contrib.stage]
    per_logit = model.points_per_logit
    scale = per_logit * stage.calib_slope
    offset = model.score_low_logit if contrib.stage == CLOSE else 0.0
    base_points = SCORE_MIN + per_logit * (
        stage.calib_slope * contrib.base + stage.calib_intercept - offset
    )
    return float(base_points), scale * contrib.values


# --- values and texts --------------------------------------------------------------------


@dataclass(frozen=True)
class _CountPhrase:
    """``prefix + number + suffix``; ``singular`` when the number shows as 1."""

    prefix: str
    suffix: str
    singular: str
    missing: str
    scale: float = 1.0


@dataclass(frozen=True)
class _TextPhrase:
    prefix: str
    missing: str


_COUNT_PHRASES: Final[Mapping[str, _CountPhrase]] = {
    "website_visits": _CountPhrase(
        "Visited the website ", " times", "Visited the website once", "Website visits unknown"
    ),
    "pages_viewed": _CountPhrase("Viewed ", " pages", "Viewed 1 page", "Pages viewed unknown"),
    "time_on_site_s": _CountPhrase(
        "Spent ",
        " minutes on the website",
        "Spent 1 minute on the website",
        "Time on the website unknown",
        SECONDS_PER_MINUTE,
    ),
    "email_opens": _CountPhrase("Opened ", " emails", "Opened 1 email", "Email opens unknown"),
    "email_clicks": _CountPhrase(
        "Clicked through ", " emails", "Clicked through 1 email", "Email clicks unknown"
    ),
    "content_downloads": _CountPhrase(
        "Downloaded ", " pieces of content", "Downloaded 1 piece of content", "Downloads unknown"
    ),
    "events_attended": _CountPhrase(
        "Attended ", " events", "Attended 1 event", "Events attended unknown"
    ),
    "company_size": _CountPhrase(
        "Company of ", " employees", "Company of 1 employee", "Company size unknown"
    ),
}
_TEXT_PHRASES: Final[Mapping[str, _TextPhrase]] = {
    schema.SOURCE: _TextPhrase("Came in through ", "Source not recorded"),
    "industry": _TextPhrase("Works in ", "Industry not recorded"),
    "country": _TextPhrase("Based in ", "Country not recorded"),
    "job_level": _TextPhrase("Job level is ", "Job level not recorded"),
}
_AWARENESS_PHRASES: Final[Mapping[str, str]] = {
    "high": "Knew the company well before first contact",
    "low": "Knew the company a little before first contact",
    "none": "Did not know the company before first contact",
}
_AWARENESS_MISSING: Final = "Prior awareness not recorded"
_ARRIVAL_MISSING: Final = "Arrival time not recorded"
_WEEKDAYS: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_GENERIC_MISSING: Final = " unknown"


def _text_values(field: str, values: pd.Series) -> pd.Series:
    """Text values as the model reads them (object dtype, NaN = missing)."""
    if field == schema.SOURCE:
        text = schema.normalise_sources(values)
        return text.mask(text == schema.UNKNOWN)
    text = values.astype("string").str.strip()
    if field == schema.PRIOR_AWARENESS:
        text = text.str.lower()
    text = text.mask(text == "")
    return pd.Series(text.to_numpy(dtype=object, na_value=np.nan), index=text.index, dtype=object)


def _arrival_phrase(value: Any) -> str:
    """``Arrived on a Saturday`` (``... at 14:05`` when the time is known)."""
    if not isinstance(value, pd.Timestamp) or value is pd.NaT:
        return _ARRIVAL_MISSING
    day = f"Arrived on a {_WEEKDAYS[value.weekday()]}"
    return day if value == value.normalize() else f"{day} at {value:%H:%M}"


def _arrival_times(values: Sequence[Any] | pd.Series) -> np.ndarray:
    """``created_at`` values as the time features read them: Timestamps, NaN = missing."""
    stamps = timestamps(pd.Series(list(values), dtype=object))
    out = np.array(stamps.astype(object).tolist(), dtype=object)
    out[stamps.isna().to_numpy()] = np.nan
    return out


def field_values(model: FunnelModel, leads: pd.DataFrame, field: str) -> pd.Series:
    """The values of ``field`` as the model reads them: floats, or text with NaN = missing.

    ``created_at`` (the source of the time features) reads as Timestamps.
    """
    numeric = field in model.features.numeric_
    if field not in leads:
        return pd.Series(np.nan, index=range(len(leads)), dtype=float if numeric else object)
    column = leads[field]
    if _is_arrival(model, field):
        return pd.Series(_arrival_times(column), name=field, dtype=object)
    if numeric:
        return pd.Series(to_numeric_array(column), name=field)
    if field in model.features.categories_:  # the text the features coded, remembered
        return model.features.category_text(field, column)
    return _text_values(field, column.reset_index(drop=True))


def _format_numbers(values: np.ndarray) -> np.ndarray:
    """Compact text of numbers: ``12``, ``3.1`` (rounded to :data:`TEXT_DECIMALS`)."""
    rounded = np.round(np.asarray(values, dtype=float), TEXT_DECIMALS) + 0.0  # no "-0"
    if len(rounded) <= SMALL_BATCH_ROWS:  # str() of each value is what astype(str) does
        return np.array([str(x).removesuffix(".0") for x in rounded.tolist()], dtype=object)
    text = pd.Series(rounded, dtype=float).astype(str).str.removesuffix(".0")
    return text.fillna("nan").to_numpy(dtype=object)  # pandas 3 keeps NaN missing in str


def _format_points(points: np.ndarray) -> np.ndarray:
    """``+14 points``, ``-3.1 points``, ``+1 point``."""
    points = np.asarray(points, dtype=float)
    magnitude = _format_numbers(np.abs(points))
    sign = np.where(points < 0, "-", "+").astype(object)
    unit = np.where(magnitude == "1", " point", " points").astype(object)
    return sign + magnitude + unit


def _is_arrival(model: FunnelModel, field: str) -> bool:
    """Whether ``field`` is ``created_at`` read by the model through its time features."""
    return field == schema.CREATED_AT and field not in model.features.categories_


def _value_phrases(field: str, values: pd.Series, numeric: bool) -> np.ndarray:
    """The sentence part of a reason (before the points), one per value."""
    missing = values.isna().to_numpy()
    out = np.empty(len(values), dtype=object)
    if field == schema.CREATED_AT and not numeric:
        out[:] = [_arrival_phrase(v) for v in values.tolist()]
        return out
    if field == schema.PRIOR_AWARENESS:
        text = values.astype(object)
        phrase = text.map(_AWARENESS_PHRASES)
        other = "Prior awareness '" + text.astype(str) + "'"
        out[:] = phrase.where(phrase.notna(), other).to_numpy(dtype=object)
        out[missing] = _AWARENESS_MISSING
        return out
    if numeric:
        number = values.to_numpy(dtype=float)
        count = _COUNT_PHRASES.get(field)
        if count is None:
            out[:] = f"{field} = " + _format_numbers(number)
            out[missing] = f"{field}{_GENERIC_MISSING}"
            return out
        shown = _format_numbers(number / count.scale)
        out[:] = count.prefix + shown + count.suffix
        out[shown == "1"] = count.singular
        out[missing] = count.missing
        return out
    text = values.astype(object)
    phrase = _TEXT_PHRASES.get(field)
    if phrase is None:
        out[:] = (f"{field} = " + text.astype(str)).to_numpy(dtype=object)
        out[missing] = f"{field}{_GENERIC_MISSING}"
        return out
    readable = text.astype(str).str.replace("_", " ", regex=False)
    out[:] = (phrase.prefix + readable).to_numpy(dtype=object)
    out[missing] = phrase.missing
    return out


def _value_phrase(field: str, value: Any, numeric: bool) -> str:
    """:func:`_value_phrases` of one value, in plain Python (for a few leads)."""
    missing = bool(pd.isna(value))
    if field == schema.CREATED_AT and not numeric:
        return _arrival_phrase(value)
    if field == schema.PRIOR_AWARENESS:
        if missing:
            return _AWARENESS_MISSING
        return _AWARENESS_PHRASES.get(value, f"Prior awareness '{value}'")
    if numeric:
        count = _COUNT_PHRASES.get(field)
        if count is None:
            shown = _format_numbers([value])[0]
            return f"{field}{_GENERIC_MISSING}" if missing else f"{field} = {shown}"
        if missing:
            return count.missing
        shown = _format_numbers([float(value) / count.scale])[0]
        return count.singular if shown == "1" else f"{count.prefix}{shown}{count.suffix}"
    phrase = _TEXT_PHRASES.get(field)
    if phrase is None:
        return f"{field}{_GENERIC_MISSING}" if missing else f"{field} = {value}"
    return phrase.missing if missing else phrase.prefix + str(value).replace("_", " ")


def _reason_texts(
    field: str, values: pd.Series | np.ndarray, points: np.ndarray, numeric: bool
) -> np.ndarray:
    """Vectorised :func:`reason_text` for one field (value by value for a few leads).

    ``values`` as :func:`field_values` reads them (a Series or its array).
    """
    if len(values) <= SMALL_BATCH_ROWS:
        phrases = np.array(
            [_value_phrase(field, v, numeric) for v in values.tolist()], dtype=object
        )
    else:
        if isinstance(values, pd.Series):
            values = values.reset_index(drop=True)
        else:
            values = pd.Series(values, dtype=float if numeric else object)
        phrases = _value_phrases(field, values, numeric)
    return phrases + ": " + _format_points(points)


def reason_text(field: str, value: object, points: float) -> str:
    """A human sentence for one field's contribution.

    >>> reason_text("prior_awareness", "high", 14.0)
    'Knew the company well before first contact: +14 points'
    >>> reason_text("lead_score_v2", 12, 3.1)
    'lead_score_v2 = 12: +3.1 points'
    """
    numeric = field in schema.NUMERIC_COLUMNS or (
        isinstance(value, int | float | np.number) and not isinstance(value, bool)
    )
    given = pd.Series([value], dtype=object)
    if field == schema.CREATED_AT and not numeric:
        series = pd.Series(_arrival_times(given), dtype=object)
    else:
        series = to_numeric(given) if numeric else _text_values(field, given)
    return str(_reason_texts(field, series, np.array([points]), numeric)[0])


# --- ranking reasons ------------------------------------------------------------------------


def _top_k(points: np.ndarray, k: int, sign: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Field positions of the ``k`` strongest contributions per row, strongest first.

    ``sign`` 0 ranks by ``|points|``, +1 only positive ones, -1 only negative ones. Returns
    ``(index, valid)``, both ``(n, k)``; ``valid`` is False where a row has fewer than ``k``
    contributions of at least :data:`MIN_REASON_POINTS`. Ties go to the earlier field.
    """
    n, n_fields = points.shape
    k = min(k, n_fields)
    if k <= 0 or n == 0:
        return np.zeros((n, 0), dtype=int), np.zeros((n, 0), dtype=bool)
    strength = np.abs(points) if sign == 0 else sign * points
    eligible = strength >= MIN_REASON_POINTS
    key = np.where(eligible, strength, -1.0)
    if k < n_fields:
        index = np.argpartition(-key, k - 1, axis=1)[:, :k]
    else:
        index = np.broadcast_to(np.arange(n_fields), (n, n_fields)).copy()
    picked = np.take_along_axis(key, index, axis=1)
    order = np.lexsort((index, -picked), axis=1)
    index = np.take_along_axis(index, order, axis=1)
    return index, np.take_along_axis(eligible, index, axis=1)


#: Canonical lead rows: a frame, or plain records (dicts; an absent key is a missing value).
Leads = pd.DataFrame | Sequence[Mapping[str, Any]]


@dataclass(frozen=True)
class _Batch:
    """What explaining needs of a batch of leads, read once.

    ``read(field)`` gives :func:`field_values` as an array (floats, or text with NaN).
    """

    ids: np.ndarray
    X: Features | None
    read: Callable[[str], np.ndarray]


def _batch(model: FunnelModel, leads: Leads, features: bool = True) -> _Batch:
    """The :class:`_Batch` of a frame, or of plain records without building a frame.

    Records take the path without pandas when every id is a string and every feature
    value is plain (see :meth:`LeadFeatures.matrix_of_records`); otherwise they become a
    frame, so both paths give the same result for the same leads.
    """
    if not isinstance(leads, pd.DataFrame):
        records = list(leads)
        fast = _records_batch(model, records) if records else None
        if fast is not None:
            return fast
        leads = pd.DataFrame.from_records(records) if records else pd.DataFrame()
    frame = leads
    read = functools.cache(lambda field: field_values(model, frame, field).to_numpy())
    X = model.booster_input(frame) if features else None
    return _Batch(_lead_ids(frame), X, read)


def plain_records(model: FunnelModel, records: Sequence[Mapping[str, Any]]) -> bool:
    """Whether :func:`explain_leads` reads these records without pandas.

    Then every lead is read on its own: its result does not depend on the other leads of
    the batch, so requests may be explained together and split again.
    """
    return _matrix_readable(model, records) and model.features.plain_records(records)


def _matrix_readable(model: FunnelModel, records: Sequence[Mapping[str, Any]]) -> bool:
    """Every id a string, and boosters that read the features' matrix."""
    ids_are_text = all(isinstance(r.get(schema.LEAD_ID), str) for r in records)
    return ids_are_text and model.reads_feature_matrix()


def _records_batch(model: FunnelModel, records: list[Mapping[str, Any]]) -> _Batch | None:
    if not _matrix_readable(model, records):
        return None
    ids = [r[schema.LEAD_ID] for r in records]
    X = model.features.matrix_of_records(records)
    if X is None:
        return None
    numeric = set(model.features.numeric_)
    features = model.features

    def read(field: str) -> np.ndarray:
        if field in numeric:
            return X[:, features.feature_names_.index(field)]
        if _is_arrival(model, field):
            return _arrival_times([r.get(field) for r in records])
        texts = features.record_texts(field, [r.get(field) for r in records])
        assert texts is not None  # matrix_of_records accepted these values
        return texts

    return _Batch(np.array(ids, dtype=object), X, functools.cache(read))


def _texts_at(
    model: FunnelModel,
    fields: list[str],
    points: np.ndarray,
    ranked: Sequence[tuple[np.ndarray, np.ndarray]],
    read: Callable[[str], np.ndarray],
) -> list[np.ndarray]:
    """Reason texts for the chosen (row, field) pairs of each ``(index, valid)`` ranking.

    ``None`` where not valid. A pair chosen by several rankings is written once.
    """
    out = [np.full(index.shape, None, dtype=object) for index, _ in ranked]
    if len(points) <= SMALL_BATCH_ROWS:  # the same texts, pair by pair, without numpy
        return _texts_one_by_one(model, fields, points, ranked, read, out)
    for pos in np.unique(np.concatenate([index[valid] for index, valid in ranked])):
        field = fields[pos]
        chosen = [valid & (index == pos) for index, valid in ranked]
        at = np.flatnonzero(np.logical_or.reduce([c.any(axis=1) for c in chosen]))
        numeric = field in model.features.numeric_
        texts = np.empty(len(points), dtype=object)
        texts[at] = _reason_texts(field, read(field)[at], points[at, pos], numeric)
        for texts_of_ranking, pick in zip(out, chosen, strict=True):
            texts_of_ranking[pick] = np.broadcast_to(texts[:, None], pick.shape)[pick]
    return out


def _texts_one_by_one(
    model: FunnelModel,
    fields: list[str],
    points: np.ndarray,
    ranked: Sequence[tuple[np.ndarray, np.ndarray]],
    read: Callable[[str], np.ndarray],
    out: list[np.ndarray],
) -> list[np.ndarray]:
    """:func:`_texts_at` for a few leads: one phrase per chosen (lead, field) pair."""
    pairs: dict[tuple[int, int], int] = {}
    for index, valid in ranked:
        for i, j in zip(*np.nonzero(valid), strict=True):
            pairs.setdefault((int(i), int(index[i, j])), len(pairs))
    if not pairs:
        return out
    shown = _format_points(np.array([points[i, pos] for i, pos in pairs]))
    numeric = model.features.numeric_
    texts = [
        _value_phrase(fields[pos], read(fields[pos])[i : i + 1].tolist()[0], fields[pos] in numeric)
        + ": "
        + shown[n]
        for (i, pos), n in pairs.items()
    ]
    for (index, valid), texts_of_ranking in zip(ranked, out, strict=True):
        for i, j in zip(*np.nonzero(valid), strict=True):
            texts_of_ranking[i, j] = texts[pairs[(int(i), int(index[i, j]))]]
    return out


def _lead_ids(leads: pd.DataFrame) -> np.ndarray:
    if schema.LEAD_ID in leads:
        return leads[schema.LEAD_ID].astype(str).to_numpy(dtype=object)
    return np.arange(len(leads)).astype(str).astype(object)


def _json_value(value: object) -> object:
    """A JSON-friendly scalar: None for missing, int for whole floats, ISO text for times."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, pd.Timestamp):
        return None if value is pd.NaT else value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def reasons_frame(
    model: FunnelModel,
    leads: Leads,
    k: int = DEFAULT_K,
    stage: str = CLOSE,
    contrib: StageContributions | None = None,
) -> pd.DataFrame:
    """Top-``k`` reasons per lead by ``|points|``, one row per lead in the same order.

    Columns: ``lead_id``, ``reason_1_field``, ``reason_1_points``, ..., ``reason_k_field``,
    ``reason_k_points``, ``reasons`` (readable text, ``"; "``-separated). Fewer than ``k``
    reasons (contributions under :data:`MIN_REASON_POINTS`) leave None / NaN. ``contrib``
    (already computed for these leads and ``stage``) skips the booster.
    """
    batch = _batch(model, leads, features=contrib is None)
    if contrib is None:
        contrib = contributions(model, None, stage, X=batch.X)
    _, points = to_points(model, contrib)
    index, valid = _top_k(points, k)
    (texts,) = _texts_at(model, contrib.fields, points, [(index, valid)], batch.read)
    names = np.asarray(contrib.fields, dtype=object)
    out: dict[str, Any] = {schema.LEAD_ID: batch.ids}
    text = np.full(len(batch.ids), "", dtype=object)
    for j in range(index.shape[1]):
        ok = valid[:, j]  # valid reasons come first in every row
        out[f"reason_{j + 1}_field"] = np.where(ok, names[index[:, j]], None)
        out[f"reason_{j + 1}_points"] = np.where(
            ok, np.take_along_axis(points, index[:, j : j + 1], axis=1)[:, 0], np.nan
        )
        text[ok] = text[ok] + ("" if j == 0 else REASON_SEPARATOR) + texts[ok, j]
    out["reasons"] = text
    return pd.DataFrame(out)


_RANKINGS: Final = (("reasons", 0), ("positive", 1), ("negative", -1))


def explain_leads(
    model: FunnelModel, leads: Leads, k: int = DEFAULT_K, stage: str = CLOSE, signed: bool = True
) -> list[dict[str, Any]]:
    """Scores and reasons per lead, for people and for the service.

    ``leads``: a frame of canonical lead rows, or the same as plain records (dicts), which
    a few leads at a time skip pandas altogether (same result).

    Each dict: ``lead_id``, ``score``, ``tier``, ``p_close`` (and ``p_accept``),
    ``base_points``, ``reasons`` (top ``k`` by ``|points|``) and, when ``signed``,
    ``positive`` and ``negative`` (top ``k`` each); a reason is ``{"field", "value",
    "direction", "points", "text"}``. Points are those of ``stage`` (see :func:`to_points`).
    """
    batch = _batch(model, leads)
    contrib = contributions(model, None, stage, X=batch.X)
    close_raw = contrib.raw if stage == CLOSE else None  # base + contributions = raw output
    predictions = model.predict_columns(batch.X, close_raw=close_raw)
    base_points, points = to_points(model, contrib)
    fields = contrib.fields
    ranked = {name: _top_k(points, k, sign) for name, sign in _RANKINGS[: 3 if signed else 1]}
    texts = dict(
        zip(
            ranked,
            _texts_at(model, fields, points, list(ranked.values()), batch.read),
            strict=True,
        )
    )
    # Python lists from here: indexing numpy arrays one value at a time costs more.
    values = functools.cache(lambda field: batch.read(field).astype(object).tolist())
    ids = batch.ids.tolist()
    columns = {c: predictions[c].tolist() for c in model.output_columns if c in predictions}
    rows = points.tolist()
    picks = {
        name: (index.tolist(), valid.tolist(), texts[name].tolist())
        for name, (index, valid) in ranked.items()
    }
    out: list[dict[str, Any]] = []
    for i in range(len(ids)):
        record = {c: column[i] for c, column in columns.items()}
        lead: dict[str, Any] = {schema.LEAD_ID: ids[i], **record, "base_points": base_points}
        row = rows[i]
        for name, (index, valid, text) in picks.items():
            lead[name] = [
                {
                    "field": fields[pos],
                    "value": _json_value(values(fields[pos])[i]),
                    "direction": "+" if row[pos] > 0 else "-",
                    "points": row[pos],
                    "text": text[i][j],
                }
                for j, pos in enumerate(index[i])
                if valid[i][j]
            ]
        out.append(lead)
    return out


def full_contributions(model: FunnelModel, leads: pd.DataFrame) -> list[dict[str, Any]]:
    """Every field's points per lead and stage (for ``POST /explain``).

    Each dict: ``lead_id`` and per stage ``{"base_points", "points": {field: points},
    "total_points"}``; for ``close`` the total is the unclipped score.
    """
    X = model.booster_input(leads)
    ids = _lead_ids(leads)
    per_stage: dict[str, tuple[float, list[str], np.ndarray]] = {}
    for stage in model.stages:
        contrib = contributions(model, leads, stage, X=X)
        base_points, points = to_points(model, contrib)
        per_stage[stage] = (base_points, contrib.fields, points)
    out = []
    for i in range(len(leads)):
        lead: dict[str, Any] = {schema.LEAD_ID: ids[i]}
        for stage, (base_points, fields, points) in per_stage.items():
            row = points[i]
            lead[stage] = {
                "base_points": base_points,
                "points": dict(zip(fields, row.tolist(), strict=True)),
                "total_points": base_points + float(row.sum()),
            }
        out.append(lead)
    return out


# --- what if ------------------------------------------------------------------------------


def _coerce(field: str, value: object, numeric: bool) -> object:
    """One value typed by the schema's parser; ValueError naming the field when it cannot be."""
    return schema.parse_value(field, value, numeric=numeric)


def _as_lead_row(model: FunnelModel, lead: Mapping[str, Any] | pd.Series) -> dict[str, Any]:
    """The lead's model fields typed (and checked) like ingest; other keys kept as given."""
    row = dict(lead.items())
    name = row.get(schema.LEAD_ID)
    for field in model_fields(model):
        if field in row:
            try:
                row[field] = _coerce(field, row[field], field in model.features.numeric_)
            except ValueError as exc:
                who = f"lead {name!r}" if name is not None else "lead"
                raise ValueError(f"{who}: {exc}") from None
    return row


def what_if(
    model: FunnelModel, lead: Mapping[str, Any] | pd.Series, changes: Mapping[str, object]
) -> dict[str, Any]:
    """Score one lead as it is and with ``changes``; report the score and points change.

    Values are typed like ingest ("1,200" is a number, ``prior_awareness`` must be one of
    the levels, empty = unknown). Returns ``{"lead_id", "old", "new", "changes",
    "points_change"}``; ``old``/``new`` hold ``p_accept`` (when the model has the stage),
    ``p_close``, ``score`` and ``tier``; ``points_change`` is per field, in score points,
    for every field whose contribution moved (other fields can move through interactions).

    Raises
    ------
    ValueError
        A field in ``changes`` the model does not use, or a value that is not valid.
    """
    fields = model_fields(model)
    for field in changes:
        if field not in fields:
            raise ValueError(f"{field}: not a field this model uses (it uses: {', '.join(fields)})")
    old = _as_lead_row(model, lead)
    new = dict(old)
    for field, value in changes.items():
        new[field] = _coerce(field, value, field in model.features.numeric_)
    both = pd.DataFrame([old, new], dtype=object)
    X = model.booster_input(both)
    predictions = model.predict_columns(X)
    contrib = contributions(model, both, CLOSE, X=X)
    _, points = to_points(model, contrib)
    delta = points[1] - points[0]
    state = [_outputs(model, {c: v[i] for c, v in predictions.items()}) for i in (0, 1)]
    return {
        schema.LEAD_ID: _json_value(old.get(schema.LEAD_ID)),
        "old": state[0],
        "new": state[1],
        "changes": {
            f: {"from": _json_value(old.get(f)), "to": _json_value(new[f])} for f in changes
        },
        "points_change": {
            f: float(d) for f, d in zip(contrib.fields, delta, strict=True) if d != 0.0
        },
    }


def _outputs(model: FunnelModel, prediction: Mapping[str, Any]) -> dict[str, Any]:
    """``p_accept``, ``p_close``, ``score`` (floats) and ``tier`` of one scored lead."""
    return {
        c: str(prediction[c]) if c == "tier" else float(prediction[c]) for c in model.output_columns
    }


# --- global and segment views ----------------------------------------------------------------


def all_contributions(
    model: FunnelModel, leads: pd.DataFrame, X: Features | None = None
) -> dict[str, StageContributions]:
    """Contributions of every stage of the model (the transform done once)."""
    X = model.booster_input(leads) if X is None else X
    return {stage: contributions(model, leads, stage, X=X) for stage in model.stages}


def global_importance(
    model: FunnelModel,
    leads: pd.DataFrame,
    contribs: Mapping[str, StageContributions] | None = None,
) -> pd.DataFrame:
    """Mean ``|contribution|`` per stage and field, in log-odds and in points.

    Columns: ``stage``, ``field``, ``mean_abs_logodds``, ``mean_abs_points``, ``mean_points``,
    ``share`` (of the stage's total mean |points|); strongest first within each stage.
    """
    contribs = contribs or all_contributions(model, leads)
    frames = []
    for stage, contrib in contribs.items():
        _, points = to_points(model, contrib)
        mean_abs = np.abs(points).mean(axis=0) if len(points) else np.zeros(len(contrib.fields))
        total = mean_abs.sum()
        frame = pd.DataFrame(
            {
                "stage": stage,
                "field": contrib.fields,
                "mean_abs_logodds": (
                    np.abs(contrib.values).mean(axis=0) if len(points) else mean_abs
                ),
                "mean_abs_points": mean_abs,
                "mean_points": points.mean(axis=0) if len(points) else mean_abs,
                "share": mean_abs / total if total > 0 else np.nan,
            }
        )
        frames.append(frame.sort_values("mean_abs_points", ascending=False, kind="stable"))
    return pd.concat(frames, ignore_index=True)


def segment_keys(leads: pd.DataFrame, by: str) -> pd.Series:
    """The segment of every lead by ``by`` (sources normalised; missing -> ``unknown``)."""
    if by not in leads:
        raise ValueError(f"{by}: no such column in the leads (columns: {', '.join(leads.columns)})")
    text = _text_values(by, leads[by].reset_index(drop=True))
    return text.where(text.notna(), schema.UNKNOWN).astype(str)


def segment_view(
    model: FunnelModel,
    leads: pd.DataFrame,
    by: str,
    contribs: Mapping[str, StageContributions] | None = None,
    predictions: pd.DataFrame | None = None,
    rows: np.ndarray | None = None,
) -> pd.DataFrame:
    """Quality per segment of ``by`` (e.g. ``source``, ``prior_awareness``).

    Columns: ``by``, ``n``, ``accept_decided``, ``accept_rate``, ``close_decided``,
    ``close_rate`` (rates over decided leads; NaN without labels), ``mean_p_accept``,
    ``mean_p_close``, ``mean_score``, ``mean_points`` (the mean close-score points of the
    field ``by`` itself) and ``mean_accept_points``. ``prior_awareness`` comes in level
    order, other fields by volume.

    ``contribs`` and ``predictions`` may be passed when already computed; ``rows`` says
    which positions of ``leads`` the contributions cover (a sample; default: all), and
    the mean points are then over those leads only.
    """
    keys = segment_keys(leads, by)
    if contribs is None:
        sample = leads if rows is None else leads.iloc[rows]
        contribs = all_contributions(model, sample)
    if predictions is None:
        predictions = model.predict(leads)
    frame = pd.DataFrame({by: keys.to_numpy()})
    for label in (schema.ACCEPTED, schema.CLOSED):
        y = (
            to_numeric(leads[label].reset_index(drop=True))
            if label in leads
            else pd.Series(np.nan, index=frame.index)
        )
        frame[f"{label}_y"] = y.to_numpy()
        frame[f"{label}_decided"] = y.notna().to_numpy()
    for column in ("p_accept", "p_close", "score"):
        frame[column] = predictions[column].to_numpy() if column in predictions else np.nan
    at = np.arange(len(frame)) if rows is None else np.asarray(rows)
    for stage, column in ((CLOSE, "points"), (ACCEPT, "accept_points")):
        frame[column] = np.nan
        if stage in contribs and by in contribs[stage].fields:
            _, points = to_points(model, contribs[stage])
            frame.loc[at, column] = points[:, contribs[stage].fields.index(by)]
    grouped = frame.groupby(by, sort=False)
    table = grouped.agg(
        n=(by, "size"),
        accept_decided=(f"{schema.ACCEPTED}_decided", "sum"),
        accept_rate=(f"{schema.ACCEPTED}_y", "mean"),
        close_decided=(f"{schema.CLOSED}_decided", "sum"),
        close_rate=(f"{schema.CLOSED}_y", "mean"),
        mean_p_accept=("p_accept", "mean"),
        mean_p_close=("p_close", "mean"),
        mean_score=("score", "mean"),
        mean_points=("points", "mean"),
        mean_accept_points=("accept_points", "mean"),
    ).reset_index()
    if by == schema.PRIOR_AWARENESS:
        order = {level: i for i, level in enumerate(schema.AWARENESS_LEVELS)}
        rank = table[by].map(order).fillna(len(order))
        return table.iloc[np.argsort(rank.to_numpy(), kind="stable")].reset_index(drop=True)
    return table.sort_values("n", ascending=False, kind="stable").reset_index(drop=True)


# --- hand-over to sales ---------------------------------------------------------------------


def handover_curve(
    scores: Any, p_accept: Any, p_close: Any = None, y_close: Any = None
) -> pd.DataFrame:
    """What passing every lead with ``score >= threshold`` to sales means, per threshold.

    Thresholds are every whole score 0..100. Columns: ``threshold``, ``leads_passed``,
    ``share_passed``, ``expected_accept_rate`` (mean ``p_accept`` of the passed leads; NaN
    without ``p_accept``), ``share_of_expected_wins`` (share of the sum of ``p_close``;
    with ``p_close``), ``share_of_actual_wins`` (share of ``y_close == 1`` among decided
    leads; with ``y_close``) and ``share_of_wins`` (actual when given, else expected).
    """
    scores = np.asarray(scores, dtype=float)
    n = len(scores)
    order = np.argsort(-scores, kind="stable")
    ranked = scores[order]
    thresholds = np.arange(SCORE_MIN, SCORE_MAX + THRESHOLD_STEP, THRESHOLD_STEP)
    # leads passed at each threshold: the count of scores >= threshold (ranked descending)
    passed = n - np.searchsorted(ranked[::-1], thresholds, side="left")
    curve = pd.DataFrame(
        {
            "threshold": thresholds.astype(int),
            "leads_passed": passed,
            "share_passed": passed / n if n else np.nan,
        }
    )

    def cumulative(values: np.ndarray) -> np.ndarray:
        """Sum over the passed leads at each threshold."""
        sums = np.concatenate(([0.0], np.cumsum(values[order])))
        return sums[passed]

    if p_accept is not None:
        accepted = cumulative(np.asarray(p_accept, dtype=float))
        with np.errstate(invalid="ignore", divide="ignore"):
            curve["expected_accept_rate"] = np.where(passed > 0, accepted / passed, np.nan)
    else:
        curve["expected_accept_rate"] = np.nan
    if p_close is not None:
        p_close = np.asarray(p_close, dtype=float)
        total = p_close.sum()
        curve["share_of_expected_wins"] = cumulative(p_close) / total if total > 0 else np.nan
        curve["share_of_wins"] = curve["share_of_expected_wins"]
    if y_close is not None:
        y = np.asarray(pd.Series(y_close, dtype=float), dtype=float)
        wins = np.where(np.isnan(y), 0.0, y)
        total = wins.sum()
        curve["share_of_actual_wins"] = cumulative(wins) / total if total > 0 else np.nan
        curve["share_of_wins"] = curve["share_of_actual_wins"]
    return curve


def weeks_spanned(dates: Any) -> float:
    """Weeks covered by ``dates`` (first to last day, inclusive); NaN without dates."""
    stamps = pd.to_datetime(pd.Series(dates), errors="coerce").dropna()
    if stamps.empty:
        return math.nan
    days = (stamps.max().normalize() - stamps.min().normalize()).days + 1
    return days / DAYS_PER_WEEK


def recommend_threshold(
    curve: pd.DataFrame,
    leads_per_week: float | None = None,
    weeks: float | None = None,
    target_accept_rate: float | None = None,
) -> dict[str, Any]:
    """The lowest score threshold that fits a sales capacity and/or a target accept rate.

    Parameters
    ----------
    curve
        A :func:`handover_curve` of the leads the capacity refers to.
    leads_per_week
        Sales capacity: the recommended threshold never passes more leads per week than
        this; the weekly volume is ``leads_passed / weeks``.
    weeks
        Weeks the curve's leads cover (see :func:`weeks_spanned`); needed with capacity.
    target_accept_rate
        Pass only as many leads as keep the expected accept rate at or above this.

    Returns
    -------
    dict
        ``threshold`` (None when no threshold fits), ``leads_passed``, ``share_passed``,
        ``leads_per_week_passed``, ``expected_accept_rate``, ``share_of_wins``, ``rule``
        and ``reasoning`` (a sentence for people).
    """
    if leads_per_week is None and target_accept_rate is None:
        raise ValueError("give leads_per_week (sales capacity) or target_accept_rate")
    if leads_per_week is not None:
        if not leads_per_week > 0:
            raise ValueError(f"leads_per_week: must be > 0, got {leads_per_week!r}")
        if weeks is None or not weeks > 0:
            raise ValueError(
                f"weeks: the weeks the leads cover must be > 0 with a capacity, got {weeks!r}"
            )
    if target_accept_rate is not None and not 0 < target_accept_rate <= 1:
        raise ValueError(f"target_accept_rate: must be in (0, 1], got {target_accept_rate!r}")
    ok = np.ones(len(curve), dtype=bool)
    rules: list[str] = []
    weekly = curve["leads_passed"].to_numpy() / weeks if weeks else np.full(len(curve), np.nan)
    if leads_per_week is not None:
        ok &= weekly <= leads_per_week
        rules.append(f"at most {leads_per_week:,.0f} leads per week")
    if target_accept_rate is not None:
        rate = curve["expected_accept_rate"].to_numpy()
        ok &= rate >= target_accept_rate
        rules.append(f"an expected accept rate of at least {target_accept_rate:.0%}")
    rule = " and ".join(rules)
    wins_col = "share_of_wins" if "share_of_wins" in curve else None
    if not ok.any():
        top = curve.iloc[-1]
        return {
            "threshold": None,
            "leads_passed": 0,
            "share_passed": 0.0,
            "leads_per_week_passed": 0.0,
            "expected_accept_rate": math.nan,
            "share_of_wins": 0.0 if wins_col else math.nan,
            "rule": rule,
            "reasoning": (
                f"No score threshold meets {rule}: even a threshold of {int(top['threshold'])} "
                f"passes {int(top['leads_passed']):,} leads"
                + (f" ({weekly[-1]:,.1f} per week)" if weeks else "")
                + "; pass only the highest-scored leads by hand, or revisit the target."
            ),
        }
    best = curve.iloc[int(np.flatnonzero(ok)[0])]
    passed = int(best["leads_passed"])
    per_week = passed / weeks if weeks else math.nan
    share_of_wins = float(best[wins_col]) if wins_col else math.nan
    accept_rate = float(best["expected_accept_rate"])
    text = (
        f"Pass leads scoring {int(best['threshold'])} or more to sales: the lowest threshold "
        f"that keeps {rule}. That is {passed:,} of {int(curve['leads_passed'].iloc[0]):,} "
        f"leads ({float(best['share_passed']):.0%})"
    )
    if weeks:
        text += f", {per_week:,.1f} per week over {weeks:,.1f} weeks"
    if not math.isnan(accept_rate):
        text += f"; sales should accept about {accept_rate:.0%} of them"
    if not math.isnan(share_of_wins):
        text += f"; they hold {share_of_wins:.0%} of the wins"
    return {
        "threshold": int(best["threshold"]),
        "leads_passed": passed,
        "share_passed": float(best["share_passed"]),
        "leads_per_week_passed": per_week,
        "expected_accept_rate": accept_rate,
        "share_of_wins": share_of_wins,
        "rule": rule,
        "reasoning": text + ".",
    }
