"""Reasons: each lead's strongest contributions as readable sentences with their points.

One path for any number of leads: the leads (a frame, or plain records turned into one
by :func:`leadmodel.features.as_columns`) -> the booster's matrix -> contributions in points
-> the top ``k`` per lead -> one phrase per chosen (lead, field) value, written column by
column (:func:`_reason_texts`).

The phrases are gettext messages in the current language (:mod:`leadmodel.i18n`), numbers
written with its marks (``2,5``, ``1.200`` in Danish); each distinct value of a field is
phrased once per call, so the language costs nothing per lead. A user's own field is
named by its label (:func:`display_labels`, from the training mapping's ``display``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import babel.dates
import numpy as np
import pandas as pd

from leadmodel import i18n, schema
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
    column_numbers,
    column_stamps,
    distinct_codes,
    timestamps,
    to_numeric,
)
from leadmodel.i18n import N_, _, ngettext, pgettext
from leadmodel.model import CLOSE, FunnelModel

SECONDS_PER_MINUTE: Final = 60.0
REASON_SEPARATOR: Final = "; "
#: Key of :attr:`FunnelModel.metadata` with the display labels of the user's own fields
#: (field -> language -> label; see :meth:`leadmodel.ingest.Mapping.display_names`).
DISPLAY_KEY: Final = "display"
#: gettext's ``n`` for a count shown with decimals ("2,5 minutter"): plural in en and da.
FRACTION_PLURAL_N: Final = 2


@dataclass(frozen=True)
class _CountPhrase:
    """A count in words (``text(n)``: the message in the right plural form, ``{count}``
    to fill in) and the sentence when the count is missing."""

    text: Callable[[int], str]
    missing: str
    scale: float = 1.0


@dataclass(frozen=True)
class _TextPhrase:
    """A text value in words (``{value}`` to fill in) and the sentence when it is missing."""

    text: str
    missing: str


# Messages are English source text, translated when shown (leadmodel.i18n); the Danish is
# written as a Danish sales team would write it, not word for word.
_COUNT_PHRASES: Final[Mapping[str, _CountPhrase]] = {
    "website_visits": _CountPhrase(
        lambda n: ngettext("Visited the website once", "Visited the website {count} times", n),
        N_("Website visits unknown"),
    ),
    "pages_viewed": _CountPhrase(
        lambda n: ngettext("Viewed {count} page", "Viewed {count} pages", n),
        N_("Pages viewed unknown"),
    ),
    "time_on_site_s": _CountPhrase(
        lambda n: ngettext(
            "Spent {count} minute on the website", "Spent {count} minutes on the website", n
        ),
        N_("Time on the website unknown"),
        SECONDS_PER_MINUTE,
    ),
    "email_opens": _CountPhrase(
        lambda n: ngettext("Opened {count} email", "Opened {count} emails", n),
        N_("Email opens unknown"),
    ),
    "email_clicks": _CountPhrase(
        lambda n: ngettext("Clicked through {count} email", "Clicked through {count} emails", n),
        N_("Email clicks unknown"),
    ),
    "content_downloads": _CountPhrase(
        lambda n: ngettext(
            "Downloaded {count} piece of content", "Downloaded {count} pieces of content", n
        ),
        N_("Downloads unknown"),
    ),
    "events_attended": _CountPhrase(
        lambda n: ngettext("Attended {count} event", "Attended {count} events", n),
        N_("Events attended unknown"),
    ),
    "company_size": _CountPhrase(
        lambda n: ngettext("Company of {count} employee", "Company of {count} employees", n),
        N_("Company size unknown"),
    ),
}
_TEXT_PHRASES: Final[Mapping[str, _TextPhrase]] = {
    schema.SOURCE: _TextPhrase(N_("Came in through {value}"), N_("Source not recorded")),
    "industry": _TextPhrase(N_("Works in {value}"), N_("Industry not recorded")),
    "country": _TextPhrase(N_("Based in {value}"), N_("Country not recorded")),
    "job_level": _TextPhrase(N_("Job level is {value}"), N_("Job level not recorded")),
}
#: The channels leadmodel knows (schema.INBOUND_SOURCES, OUTBOUND_SOURCES), in words.
_SOURCE_NAMES: Final[Mapping[str, Callable[[], str]]] = {
    "organic_search": lambda: pgettext("source", "organic search"),
    "paid_search": lambda: pgettext("source", "paid search"),
    "social": lambda: pgettext("source", "social media"),
    "email": lambda: pgettext("source", "email"),
    "content": lambda: pgettext("source", "content"),
    "webinar": lambda: pgettext("source", "webinar"),
    "events": lambda: pgettext("source", "events"),
    "referral": lambda: pgettext("source", "referral"),
    "cold_call": lambda: pgettext("source", "cold call"),
    "cold_email": lambda: pgettext("source", "cold email"),
    "list_import": lambda: pgettext("source", "list import"),
}
_AWARENESS_PHRASES: Final[Mapping[str, str]] = {
    "high": N_("Knew the company well before first contact"),
    "low": N_("Knew the company a little before first contact"),
    "none": N_("Did not know the company before first contact"),
}
_AWARENESS_OTHER: Final = N_("Prior awareness '{value}'")
_AWARENESS_MISSING: Final = N_("Prior awareness not recorded")
_ARRIVAL_DAY: Final = N_("Arrived on a {weekday}")
_ARRIVAL_DAY_TIME: Final = N_("Arrived on a {weekday} at {time}")
_ARRIVAL_MISSING: Final = N_("Arrival time not recorded")
_GENERIC: Final = N_("{field} = {value}")
_GENERIC_MISSING: Final = N_("{field} unknown")
#: The canonical fields in words (score history: ``website visits 10 -> 2``).
FIELD_LABELS: Final[Mapping[str, str]] = {
    schema.CREATED_AT: N_("arrival time"),
    schema.SOURCE: N_("source"),
    schema.PRIOR_AWARENESS: N_("prior awareness"),
    "website_visits": N_("website visits"),
    "pages_viewed": N_("pages viewed"),
    "time_on_site_s": N_("seconds on the website"),
    "email_opens": N_("email opens"),
    "email_clicks": N_("email clicks"),
    "content_downloads": N_("content downloads"),
    "events_attended": N_("events attended"),
    "company_size": N_("company size"),
    "industry": N_("industry"),
    "country": N_("country"),
    "job_level": N_("job level"),
}


def display_labels(model: FunnelModel | None) -> dict[str, str]:
    """Field -> its label in the current language, for the user's own fields of ``model``.

    From the mapping the model was trained with (its ``display`` labels, else the name the
    export gave the column); empty for a model without them.
    """
    if model is None:
        return {}
    stored = model.metadata.get(DISPLAY_KEY) or {}
    lang = i18n.current()
    return {field: labels[lang] for field, labels in stored.items() if labels.get(lang)}


def field_label(field: str, labels: Mapping[str, str] | None = None) -> str:
    """``field`` as a person reads it in the current language.

    The user's label (``labels``: :func:`display_labels`) first, then leadmodel's words for
    a canonical field, else the name as the export gave it.
    """
    if labels and field in labels:
        return labels[field]
    known = FIELD_LABELS.get(field)
    return _(known) if known is not None else field


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
    return _stamp_objects(stamps)


def _stamp_objects(stamps: np.ndarray) -> np.ndarray:
    """``datetime64[us]`` values as Timestamps in an object array, NaN for NaT."""
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
    if _is_arrival(model, field):
        return _stamp_objects(column_stamps(leads, field))
    if numeric:
        return column_numbers(leads, field)
    if field in model.features.categories_:  # the text the features coded, remembered
        return model.features.category_texts(field, leads)
    return text_values(field, leads[field].reset_index(drop=True)).to_numpy()


def field_values(model: FunnelModel, leads: pd.DataFrame, field: str) -> pd.Series:
    """The values of ``field`` as the model reads them: floats, or text with NaN = missing.

    ``created_at`` (the source of the time features) reads as Timestamps.
    """
    values = _field_array(model, leads, field)
    return pd.Series(values, name=field if field in leads else None, dtype=values.dtype)


# --- texts ------------------------------------------------------------------------------------


def _format_numbers(values: Any, decimals: int) -> list[str]:
    """Compact text of numbers in the current language: ``12``, ``3.1``, ``1,200`` (en),
    ``3,1``, ``1.200`` (da); rounded to ``decimals``, no trailing zeros.

    One Python format per value (callers pass the distinct values only), then the marks of
    the language (:func:`leadmodel.i18n.marks`) in one ``str.translate``.
    """
    rounded = np.round(np.asarray(values, dtype=float), decimals) + 0.0  # no "-0"
    shown = (f"{x:,.{decimals}f}" for x in rounded.tolist())
    marks = i18n.marks()
    if decimals > 0:
        return [t.rstrip("0").rstrip(".").translate(marks) for t in shown]
    return [t.translate(marks) for t in shown]


def format_number(value: float, decimals: int) -> str:
    """One number as :func:`_format_numbers` writes it (``1,200``, ``2.5``; da ``1.200``)."""
    return _format_numbers([value], decimals)[0]


def _plural_n(value: float) -> int:
    """gettext's ``n`` for a count shown as ``value`` (already rounded as shown)."""
    return int(value) if float(value).is_integer() else FRACTION_PLURAL_N


def _format_points(points: np.ndarray, decimals: int) -> np.ndarray:
    """``+14 points``, ``-3.1 points``, ``+1 point`` (da: ``+14 point``, ``-3,1 point``);
    each distinct magnitude written once."""
    points = np.asarray(points, dtype=float)
    codes, magnitudes = distinct_codes(np.round(np.abs(points), decimals) + 0.0)
    shown = _format_numbers(magnitudes, decimals)
    units = np.array(
        [
            ngettext("{number} point", "{number} points", _plural_n(m)).format(number=text)
            for m, text in zip(magnitudes, shown, strict=True)
        ],
        dtype=object,
    )
    minus = i18n.symbols().minus
    return np.where(points < 0, minus, "+").astype(object) + units[codes]


def format_points(points: float, decimals: int) -> str:
    """One change in points as :func:`_format_points` writes it (``+1.5 points``, ``-12
    points``; da ``+1,5 point``): the reasons and the score-change lines round alike."""
    return str(_format_points(np.array([points], dtype=float), decimals)[0])


def _arrival_phrase(value: Any) -> str:
    """``Arrived on a Saturday`` (``... at 14:05`` when the time is known); Danish
    ``Kom ind en lørdag kl. 14:05``. Weekday names are Babel's (CLDR)."""
    if not isinstance(value, pd.Timestamp) or value is pd.NaT:
        return _(_ARRIVAL_MISSING)
    weekday = _weekday_names(i18n.current())[value.weekday()]
    if value == value.normalize():
        return _(_ARRIVAL_DAY).format(weekday=weekday)
    return _(_ARRIVAL_DAY_TIME).format(weekday=weekday, time=f"{value:%H:%M}")


@functools.cache
def _weekday_names(lang: str) -> tuple[str, ...]:
    """Monday .. Sunday as ``lang`` writes them in a sentence (``mandag`` in Danish)."""
    names = babel.dates.get_day_names("wide", context="format", locale=i18n.locale(lang))
    return tuple(names[day] for day in range(7))


def _value_words(field: str, value: Any) -> str:
    """A text value in words: a known source by its name, else underscores as spaces."""
    if field == schema.SOURCE and value in _SOURCE_NAMES:
        return _SOURCE_NAMES[value]()
    return str(value).replace("_", " ")


def _value_phrase(field: str, value: Any, numeric: bool, decimals: int, label: str) -> str:
    """The sentence part of a reason (before the points) for one value of ``field``.

    ``label``: the field as the user reads it (the generic ``label = value`` form).
    """
    missing = bool(pd.isna(value))
    if field == schema.CREATED_AT and not numeric:
        return _arrival_phrase(value)
    if field == schema.PRIOR_AWARENESS:
        if missing:
            return _(_AWARENESS_MISSING)
        known = _AWARENESS_PHRASES.get(value)
        return _(known) if known is not None else _(_AWARENESS_OTHER).format(value=value)
    if numeric:
        if not missing:
            return _number_phrases(field, [float(value)], decimals, label)[0]
        count = _COUNT_PHRASES.get(field)
        return _(_GENERIC_MISSING).format(field=label) if count is None else _(count.missing)
    phrase = _TEXT_PHRASES.get(field)
    if phrase is None:
        if missing:
            return _(_GENERIC_MISSING).format(field=label)
        return _(_GENERIC).format(field=label, value=value)
    if missing:
        return _(phrase.missing)
    return _(phrase.text).format(value=_value_words(field, value))


def _reason_texts(
    field: str,
    values: np.ndarray,
    points: np.ndarray,
    numeric: bool,
    decimals: int,
    label: str | None = None,
) -> np.ndarray:
    """``phrase: points`` for one field, each distinct value phrased once.

    ``values`` as :func:`field_values` reads them (floats, text or Timestamps; NaN missing);
    ``label``: the field as the user reads it (default: its name).
    """
    phrases = _value_texts(field, values, numeric, decimals, label)
    return phrases + ": " + _format_points(points, decimals)


def _value_texts(
    field: str, values: np.ndarray, numeric: bool, decimals: int, label: str | None = None
) -> np.ndarray:
    """The phrase part of :func:`_reason_texts` (before the points), as an object array."""
    label = field if label is None else label
    codes, uniques = distinct_codes(np.asarray(values, dtype=float if numeric else object))
    if numeric and field != schema.PRIOR_AWARENESS:
        phrases = _number_phrases(field, uniques, decimals, label)
    else:
        phrases = [_value_phrase(field, v, numeric, decimals, label) for v in uniques]
    phrases.append(_value_phrase(field, np.nan, numeric, decimals, label))  # code -1: missing
    return np.array(phrases, dtype=object)[codes]


def _number_phrases(field: str, values: list[float], decimals: int, label: str) -> list[str]:
    """:func:`_value_phrase` of distinct numbers (none missing) of a numeric ``field``:
    the numbers written in one :func:`_format_numbers` call, each plural form looked up
    once (a 1,000-lead request has hundreds of distinct visit times)."""
    count = _COUNT_PHRASES.get(field)
    if count is None:
        generic = _(_GENERIC)
        return [generic.format(field=label, value=v) for v in _format_numbers(values, decimals)]
    scaled = [round(v / count.scale, decimals) + 0.0 for v in values]
    forms: dict[int, str] = {}
    phrases = []
    for number, shown in zip(scaled, _format_numbers(scaled, decimals), strict=True):
        n = _plural_n(number)
        form = forms.get(n)
        if form is None:
            form = forms[n] = count.text(n)
        phrases.append(form.format(count=shown))
    return phrases


def reason_text(
    field: str,
    value: object,
    points: float,
    decimals: int = DEFAULTS.text_decimals,
    label: str | None = None,
) -> str:
    """A human sentence for one field's contribution, in the current language.

    ``label``: how a field without its own sentence is named (default: its name).

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
    return str(_reason_texts(field, read, np.array([points]), numeric, decimals, label)[0])


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
    field's phrases are written in one go for the leads that chose it, and the points of
    every chosen pair in one go.
    """
    decimals = settings_of(model).text_decimals
    labels = display_labels(model)
    width = points.shape[1]
    picked = [
        np.flatnonzero(valid) // valid.shape[1] * width + index[valid] for index, valid in ranked
    ]
    pairs = np.unique(np.concatenate(picked))  # row * width + field position, sorted
    rows, at_field = np.divmod(pairs, width)
    phrases = np.empty(len(pairs), dtype=object)
    for pos in np.unique(at_field):
        field = fields[pos]
        here = np.flatnonzero(at_field == pos)
        numeric = field in model.features.numeric_
        phrases[here] = _value_texts(
            field, read(field)[rows[here]], numeric, decimals, labels.get(field)
        )
    texts = phrases + ": " + _format_points(points[rows, at_field], decimals)
    out = []
    for (index, valid), keys in zip(ranked, picked, strict=True):
        written = np.full(index.shape, None, dtype=object)
        written[valid] = texts[np.searchsorted(pairs, keys)]
        out.append(written)
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
    _base, points = to_points(model, contrib)
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
    _base, points = to_points(model, contrib)
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
