"""Reasons: each lead's strongest contributions as readable sentences with their points.

One path for any number of leads: the leads (a frame, or plain records turned into one
by :func:`leadmodel.features.as_columns`) -> the booster's matrix -> contributions in points
-> the top ``k`` per lead -> one phrase per chosen (lead, field) value, written column by
column (:func:`_value_phrases`).
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
from leadmodel.explain.contributions import (
    DEFAULTS,
    StageContributions,
    contributions,
    lead_ids,
    settings_of,
    to_points,
)
from leadmodel.features import (
    LeadColumns,
    Leads,
    as_columns,
    timestamps,
    to_numeric,
    to_numeric_array,
)
from leadmodel.model import CLOSE, FunnelModel

SECONDS_PER_MINUTE: Final = 60.0
REASON_SEPARATOR: Final = "; "


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


# --- values as the model reads them -----------------------------------------------------------


def text_values(field: str, values: pd.Series) -> pd.Series:
    """Text values as the model reads them (object dtype, NaN = missing)."""
    if field == schema.SOURCE:
        text = schema.normalise_sources(values)
        return text.mask(text == schema.UNKNOWN)
    text = values.astype("string").str.strip()
    if field == schema.PRIOR_AWARENESS:
        text = text.str.lower()
    text = text.mask(text == "")
    return pd.Series(text.to_numpy(dtype=object, na_value=np.nan), index=text.index, dtype=object)


def _arrival_times(values: Sequence[Any] | pd.Series) -> np.ndarray:
    """``created_at`` values as the time features read them: Timestamps, NaN = missing."""
    stamps = timestamps(pd.Series(list(values), dtype=object)).to_numpy(dtype="datetime64[us]")
    out = np.array([pd.Timestamp(t) for t in stamps.tolist()], dtype=object)
    out[np.isnat(stamps)] = np.nan
    return out


def _is_arrival(model: FunnelModel, field: str) -> bool:
    """Whether ``field`` is ``created_at`` read by the model through its time features."""
    return field == schema.CREATED_AT and field not in model.features.categories_


def _field_array(model: FunnelModel, leads: LeadColumns, field: str) -> np.ndarray:
    """:func:`field_values` as an array (floats, or objects: text, Timestamps, NaN missing)."""
    numeric = field in model.features.numeric_
    if field not in leads:
        return np.full(len(leads), np.nan, dtype=float if numeric else object)
    column = leads[field]
    if _is_arrival(model, field):
        return _arrival_times(column)
    if numeric:
        return to_numeric_array(column)
    if field in model.features.categories_:  # the text the features coded, remembered
        return model.features.category_texts(field, column)
    return text_values(field, column.reset_index(drop=True)).to_numpy()


def field_values(model: FunnelModel, leads: pd.DataFrame, field: str) -> pd.Series:
    """The values of ``field`` as the model reads them: floats, or text with NaN = missing.

    ``created_at`` (the source of the time features) reads as Timestamps.
    """
    values = _field_array(model, leads, field)
    return pd.Series(values, name=field if field in leads else None, dtype=values.dtype)


# --- texts ------------------------------------------------------------------------------------


def _format_numbers(values: np.ndarray, decimals: int) -> list[str]:
    """Compact text of numbers: ``12``, ``3.1`` (rounded to ``decimals``)."""
    rounded = np.round(np.asarray(values, dtype=float), decimals) + 0.0  # no "-0"
    return [str(x).removesuffix(".0") for x in rounded.tolist()]


def _format_points(points: np.ndarray, decimals: int) -> np.ndarray:
    """``+14 points``, ``-3.1 points``, ``+1 point``; each distinct magnitude written once."""
    points = np.asarray(points, dtype=float)
    codes, magnitudes = pd.factorize(np.round(np.abs(points), decimals) + 0.0)
    shown = _format_numbers(magnitudes, decimals)
    units = np.array([m + (" point" if m == "1" else " points") for m in shown], dtype=object)
    return np.where(points < 0, "-", "+").astype(object) + units[codes]


def _arrival_phrase(value: Any) -> str:
    """``Arrived on a Saturday`` (``... at 14:05`` when the time is known)."""
    if not isinstance(value, pd.Timestamp) or value is pd.NaT:
        return _ARRIVAL_MISSING
    day = f"Arrived on a {_WEEKDAYS[value.weekday()]}"
    return day if value == value.normalize() else f"{day} at {value:%H:%M}"


def _value_phrase(field: str, value: Any, numeric: bool, decimals: int) -> str:
    """The sentence part of a reason (before the points) for one value of ``field``."""
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
            shown = _format_numbers([value], decimals)[0]
            return f"{field}{_GENERIC_MISSING}" if missing else f"{field} = {shown}"
        if missing:
            return count.missing
        shown = _format_numbers([float(value) / count.scale], decimals)[0]
        return count.singular if shown == "1" else f"{count.prefix}{shown}{count.suffix}"
    phrase = _TEXT_PHRASES.get(field)
    if phrase is None:
        return f"{field}{_GENERIC_MISSING}" if missing else f"{field} = {value}"
    return phrase.missing if missing else phrase.prefix + str(value).replace("_", " ")


def _reason_texts(
    field: str, values: np.ndarray, points: np.ndarray, numeric: bool, decimals: int
) -> np.ndarray:
    """``phrase: points`` for one field, each distinct value phrased once.

    ``values`` as :func:`field_values` reads them (floats, text or Timestamps; NaN missing).
    """
    codes, uniques = pd.factorize(np.asarray(values, dtype=float if numeric else object))
    phrases = [_value_phrase(field, v, numeric, decimals) for v in uniques]
    phrases.append(_value_phrase(field, np.nan, numeric, decimals))  # code -1: missing
    texts = np.array(phrases, dtype=object)[codes]
    return texts + ": " + _format_points(points, decimals)


def reason_text(
    field: str, value: object, points: float, decimals: int = DEFAULTS.text_decimals
) -> str:
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
        read = _arrival_times(given)
    else:
        read = (to_numeric(given) if numeric else text_values(field, given)).to_numpy()
    return str(_reason_texts(field, read, np.array([points]), numeric, decimals)[0])


# --- ranking ------------------------------------------------------------------------------------


def _top_k(
    points: np.ndarray, k: int, min_points: float, sign: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Field positions of the ``k`` strongest contributions per row, strongest first.

    ``sign`` 0 ranks by ``|points|``, +1 only positive ones, -1 only negative ones. Returns
    ``(index, valid)``, both ``(n, k)``; ``valid`` is False where a row has fewer than ``k``
    contributions of at least ``min_points``. Ties go to the earlier field.
    """
    n, n_fields = points.shape
    k = min(k, n_fields)
    if k <= 0 or n == 0:
        return np.zeros((n, 0), dtype=int), np.zeros((n, 0), dtype=bool)
    strength = np.abs(points) if sign == 0 else sign * points
    eligible = strength >= min_points
    key = np.where(eligible, strength, -1.0)
    if k < n_fields:
        index = np.argpartition(-key, k - 1, axis=1)[:, :k]
    else:
        index = np.broadcast_to(np.arange(n_fields), (n, n_fields)).copy()
    picked = np.take_along_axis(key, index, axis=1)
    order = np.lexsort((index, -picked), axis=1)
    index = np.take_along_axis(index, order, axis=1)
    return index, np.take_along_axis(eligible, index, axis=1)


def _texts_at(
    model: FunnelModel,
    fields: list[str],
    points: np.ndarray,
    ranked: Sequence[tuple[np.ndarray, np.ndarray]],
    read: Callable[[str], np.ndarray],
) -> list[np.ndarray]:
    """Reason texts for the chosen (row, field) pairs of each ``(index, valid)`` ranking.

    ``None`` where not valid. A pair chosen by several rankings is written once; each
    field's texts are written in one go for the leads that chose it.
    """
    decimals = settings_of(model).text_decimals
    out = [np.full(index.shape, None, dtype=object) for index, _ in ranked]
    for pos in np.unique(np.concatenate([index[valid] for index, valid in ranked])):
        field = fields[pos]
        chosen = [valid & (index == pos) for index, valid in ranked]
        at = np.flatnonzero(np.logical_or.reduce([c.any(axis=1) for c in chosen]))
        numeric = field in model.features.numeric_
        texts = np.empty(len(points), dtype=object)
        texts[at] = _reason_texts(field, read(field)[at], points[at, pos], numeric, decimals)
        for texts_of_ranking, pick in zip(out, chosen, strict=True):
            texts_of_ranking[pick] = np.broadcast_to(texts[:, None], pick.shape)[pick]
    return out


def json_value(value: object) -> object:
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


def _reader(model: FunnelModel, leads: LeadColumns) -> Callable[[str], np.ndarray]:
    """:func:`field_values` of each field as an array, read once per field."""
    return functools.cache(lambda field: _field_array(model, leads, field))


# --- the two views: a table and per-lead records ------------------------------------------------


def reasons_frame(
    model: FunnelModel,
    leads: Leads,
    k: int | None = None,
    stage: str = CLOSE,
    contrib: StageContributions | None = None,
) -> pd.DataFrame:
    """Top-``k`` reasons per lead by ``|points|``, one row per lead in the same order.

    Columns: ``lead_id``, ``reason_1_field``, ``reason_1_points``, ..., ``reason_k_field``,
    ``reason_k_points``, ``reasons`` (readable text, ``"; "``-separated). Fewer than ``k``
    reasons (contributions under the settings' ``min_reason_points``) leave None / NaN.
    ``k`` defaults to the settings' ``reasons``. ``contrib`` (already computed for these
    leads and ``stage``) skips the booster.
    """
    settings = settings_of(model)
    k = settings.reasons if k is None else k
    leads = as_columns(leads)
    if contrib is None:
        contrib = contributions(model, leads, stage)
    _, points = to_points(model, contrib)
    index, valid = _top_k(points, k, settings.min_reason_points)
    (texts,) = _texts_at(model, contrib.fields, points, [(index, valid)], _reader(model, leads))
    names = np.asarray(contrib.fields, dtype=object)
    ids = lead_ids(leads)
    out: dict[str, Any] = {schema.LEAD_ID: ids}
    text = np.full(len(ids), "", dtype=object)
    for j in range(index.shape[1]):
        ok = valid[:, j]  # valid reasons come first in every row
        out[f"reason_{j + 1}_field"] = np.where(ok, names[index[:, j]], None)
        out[f"reason_{j + 1}_points"] = np.where(
            ok, np.take_along_axis(points, index[:, j : j + 1], axis=1)[:, 0], np.nan
        )
        text[ok] = text[ok] + ("" if j == 0 else REASON_SEPARATOR) + texts[ok, j]
    out["reasons"] = text
    return pd.DataFrame(out)


def reason_points(
    model: FunnelModel, contrib: StageContributions, k: int | None = None
) -> pd.DataFrame:
    """The ``reason_j_field``/``reason_j_points`` columns of :func:`reasons_frame`, no text.

    The same top-``k`` ranking, for callers that keep fields and points only (the
    prediction log); ``contrib`` is the stage's contributions for the leads.
    """
    settings = settings_of(model)
    k = settings.reasons if k is None else k
    _, points = to_points(model, contrib)
    index, valid = _top_k(points, k, settings.min_reason_points)
    names = np.asarray(contrib.fields, dtype=object)
    out: dict[str, Any] = {}
    for j in range(index.shape[1]):
        ok = valid[:, j]
        out[f"reason_{j + 1}_field"] = np.where(ok, names[index[:, j]], None)
        out[f"reason_{j + 1}_points"] = np.where(
            ok, np.take_along_axis(points, index[:, j : j + 1], axis=1)[:, 0], np.nan
        )
    return pd.DataFrame(out, index=range(len(points)))


_RANKINGS: Final = (("reasons", 0), ("positive", 1), ("negative", -1))


def explain_leads(
    model: FunnelModel,
    leads: Leads,
    k: int | None = None,
    stage: str = CLOSE,
    signed: bool = True,
) -> list[dict[str, Any]]:
    """Scores and reasons per lead, for people and for the service.

    ``leads``: a frame of canonical lead rows, or the same as plain records (dicts).

    Each dict: ``lead_id``, ``score``, ``tier``, ``p_close`` (and ``p_accept``),
    ``base_points``, ``reasons`` (top ``k`` by ``|points|``; ``k`` defaults to the
    settings' ``reasons``) and, when ``signed``, ``positive`` and ``negative`` (top ``k``
    each); a reason is ``{"field", "value", "direction", "points", "text"}``. Points are
    those of ``stage`` (see :func:`to_points`).
    """
    settings = settings_of(model)
    k = settings.reasons if k is None else k
    leads = as_columns(leads)
    X = model.matrix(leads)
    contrib = contributions(model, None, stage, X=X)
    close_raw = contrib.raw if stage == CLOSE else None  # the booster's, already predicted
    predictions = model.predict_columns(X, close_raw=close_raw)
    base_points, points = to_points(model, contrib)
    fields = contrib.fields
    ranked = {
        name: _top_k(points, k, settings.min_reason_points, sign)
        for name, sign in _RANKINGS[: 3 if signed else 1]
    }
    read = _reader(model, leads)
    texts = dict(
        zip(ranked, _texts_at(model, fields, points, list(ranked.values()), read), strict=True)
    )
    # Python lists from here: indexing numpy arrays one value at a time costs more.
    values = functools.cache(lambda field: read(field).astype(object).tolist())
    ids = lead_ids(leads).tolist()
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
                    "value": json_value(values(fields[pos])[i]),
                    "direction": "+" if row[pos] > 0 else "-",
                    "points": row[pos],
                    "text": text[i][j],
                }
                for j, pos in enumerate(index[i])
                if valid[i][j]
            ]
        out.append(lead)
    return out
