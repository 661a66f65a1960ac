"""The canonical lead table: column names, types and allowed values.

Every other module speaks in these names. A CRM export is brought into this shape by
:mod:`leadmodel.ingest` (optionally through a column mapping); the synthetic generator
writes it directly.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Strict, create_model
from pydantic import Field as PydanticField
from pydantic_core import PydanticCustomError

from leadmodel import i18n
from leadmodel.i18n import N_, _

if TYPE_CHECKING:
    import pandera.pandas as pdr

LEAD_ID: Final = "lead_id"
CREATED_AT: Final = "created_at"
SOURCE: Final = "source"
PRIOR_AWARENESS: Final = "prior_awareness"
ACCEPTED: Final = "accepted"
CLOSED: Final = "closed"

#: Engagement before hand-over to sales: numbers >= 0, empty = unknown.
ENGAGEMENT_COLUMNS: Final[tuple[str, ...]] = (
    "website_visits",
    "pages_viewed",
    "time_on_site_s",
    "email_opens",
    "email_clicks",
    "content_downloads",
    "events_attended",
)
#: Firmographics: numeric ones (>= 0) and text ones.
FIRMOGRAPHIC_NUMERIC: Final[tuple[str, ...]] = ("company_size",)
FIRMOGRAPHIC_TEXT: Final[tuple[str, ...]] = ("industry", "country", "job_level")

NUMERIC_COLUMNS: Final[tuple[str, ...]] = ENGAGEMENT_COLUMNS + FIRMOGRAPHIC_NUMERIC
TEXT_COLUMNS: Final[tuple[str, ...]] = (SOURCE, PRIOR_AWARENESS) + FIRMOGRAPHIC_TEXT
LABEL_COLUMNS: Final[tuple[str, ...]] = (ACCEPTED, CLOSED)

#: Allowed values of ``prior_awareness`` in increasing order; empty means unknown.
AWARENESS_LEVELS: Final[tuple[str, ...]] = ("none", "low", "high")
UNKNOWN: Final = "unknown"

#: Every canonical column, in the order written to files.
CANONICAL_COLUMNS: Final[tuple[str, ...]] = (
    (LEAD_ID, CREATED_AT, SOURCE, PRIOR_AWARENESS)
    + ENGAGEMENT_COLUMNS
    + FIRMOGRAPHIC_NUMERIC
    + FIRMOGRAPHIC_TEXT
    + LABEL_COLUMNS
)
#: Columns that must be present in every table (``created_at`` may be replaced by an
#: ordering column named in the mapping).
REQUIRED_COLUMNS: Final[tuple[str, ...]] = (LEAD_ID, CREATED_AT, SOURCE)

#: Channels the package knows as inbound (marketing-sourced) or outbound (sales-sourced).
INBOUND_SOURCES: Final[frozenset[str]] = frozenset(
    {
        "organic_search",
        "paid_search",
        "social",
        "email",
        "content",
        "webinar",
        "events",
        "referral",
    }
)
OUTBOUND_SOURCES: Final[frozenset[str]] = frozenset({"cold_call", "cold_email", "list_import"})

#: Columns that are never features: identity, time and the labels.
NON_FEATURE_COLUMNS: Final[frozenset[str]] = frozenset({LEAD_ID, CREATED_AT, ACCEPTED, CLOSED})

_NON_WORD = re.compile(r"[^0-9a-z]+")
#: Characters no ``lead_id`` may hold: the control characters (Unicode category Cc: tab,
#: newline, NUL, escape ...). They break CSV rows, logs and terminals, and a CRM id never
#: needs one.
CONTROL_CHARACTERS: Final = r"[\x00-\x1f\x7f-\x9f]"
_CONTROL = re.compile(CONTROL_CHARACTERS)
#: What is wrong with a ``lead_id`` (English; translated when shown).
LEAD_ID_BLANK: Final = N_("must not be blank")
LEAD_ID_CONTROL: Final = N_("must not contain control characters (tab, newline, NUL, escape ...)")


def lead_id_problem(value: str) -> str | None:
    """What is wrong with one ``lead_id``, or None: blank, or holding control characters.

    The rule of every path: the service refuses such a lead, ingestion rejects such a row
    (where surrounding whitespace is trimmed first, so a blank id is a missing one).
    """
    if not value.strip():
        return LEAD_ID_BLANK
    if _CONTROL.search(value):
        return LEAD_ID_CONTROL
    return None


def normalise_source(value: object) -> str:
    """Normalise a channel name to lower_snake_case; empty or missing -> ``unknown``.

    >>> normalise_source("Organic Search"), normalise_source("organic-search")
    ('organic_search', 'organic_search')
    """
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return UNKNOWN
    text = _NON_WORD.sub("_", str(value).strip().lower()).strip("_")
    return text or UNKNOWN


def normalise_sources(values: pd.Series) -> pd.Series:
    """Vectorised :func:`normalise_source` for a whole column."""
    text = values.astype("string").str.strip().str.lower()
    text = text.str.replace(_NON_WORD, "_", regex=True).str.strip("_")
    return text.mask(text.isna() | (text == ""), UNKNOWN).astype(object)


def feature_columns(columns: list[str] | pd.Index, exclude: set[str] | None = None) -> list[str]:
    """The columns a model may use: everything but id, time, labels and ``exclude``."""
    skip = set(NON_FEATURE_COLUMNS) | set(exclude or ())
    return [c for c in columns if c not in skip]


# --- the typed lead table as a pandera schema ------------------------------------------
#: Check names of :func:`lead_table_schema`; :mod:`leadmodel.ingest` reports them as reason
#: kinds (``"website_visits: negative"``). pandera's own null check becomes ``missing``.
CHECK_MISSING: Final = "missing"
CHECK_DUPLICATE: Final = "duplicate"
CHECK_NEGATIVE: Final = "negative"
CHECK_NOT_FINITE: Final = "not finite"
CHECK_FUTURE: Final = "in the future"
CHECK_NOT_ALLOWED: Final = "not allowed"
CHECK_NOT_BINARY: Final = "not 0/1"
CHECK_CLOSED_NOT_ACCEPTED: Final = "closed = 1 but accepted = 0"
CHECK_CONTROL: Final = "control characters"


def lead_table_schema(
    columns: list[str] | pd.Index, *, order_by: str = CREATED_AT, now: pd.Timestamp
) -> pdr.DataFrameSchema:
    """The pandera ``DataFrameSchema`` of a typed lead table with these ``columns``.

    Every check is vectorised. Columns that are absent are not checked (only the ones the
    caller requires must exist); extra columns pass through.

    Parameters
    ----------
    columns
        The columns of the typed table (canonical ones are checked by their role).
    order_by
        The column that orders leads in time; it must be filled in every row.
    now
        Naive UTC time after which a ``created_at`` is in the future.
    """
    with warnings.catch_warnings():
        # pandera imports pyspark.pandas when the spark extra is installed; its warning
        # about pandas 3 concerns Spark, not this schema
        warnings.filterwarnings("ignore", message="PySpark", category=FutureWarning)
        import pandera.pandas as pdr

    # Checks see missing values too (ignore_na=False) and let them pass themselves:
    # pandera's own NA filtering copies every column, far slower on a million rows.
    def check(fn: Any, name: str) -> Any:
        return pdr.Check(fn, name=name, ignore_na=False)

    present = set(columns)
    checks: dict[str, Any] = {}
    for spec in FIELDS:
        if spec.name not in present:
            continue
        if spec.kind == ID:
            checks[spec.name] = pdr.Column(
                object,
                nullable=not spec.required,
                checks=[
                    check(_not_repeated, CHECK_DUPLICATE),
                    check(_no_control_characters, CHECK_CONTROL),
                ],
            )
        elif spec.kind == DATE:
            checks[spec.name] = pdr.Column(
                "datetime64[ns]",
                nullable=order_by != spec.name,
                checks=check(lambda s: ~(s > now), CHECK_FUTURE),
            )
        elif spec.kind == NUMBER:
            low = spec.minimum
            checks[spec.name] = pdr.Column(
                "float64",
                nullable=True,
                checks=[
                    check(lambda s: ~np.isinf(s), CHECK_NOT_FINITE),
                    check(lambda s, low=low: ~(s < low) | np.isinf(s), CHECK_NEGATIVE),
                ],
            )
        elif spec.kind == LEVEL:
            allowed = (*spec.allowed, np.nan)
            checks[spec.name] = pdr.Column(
                object,
                nullable=True,
                checks=check(lambda s, allowed=allowed: s.isin(allowed), CHECK_NOT_ALLOWED),
            )
        elif spec.kind == LABEL:
            checks[spec.name] = pdr.Column(
                "float64",
                nullable=True,
                checks=check(lambda s: s.isna() | s.isin((0.0, 1.0)), CHECK_NOT_BINARY),
            )
        else:  # text: the source is always filled (missing -> unknown)
            checks[spec.name] = pdr.Column(object, nullable=spec.name != SOURCE)
    if order_by in present and order_by not in checks:
        checks[order_by] = pdr.Column(nullable=False)
    frame_checks = []
    if ACCEPTED in present and CLOSED in present:
        frame_checks.append(
            check(
                lambda df: ~((df[CLOSED] == 1) & (df[ACCEPTED] == 0)),
                CHECK_CLOSED_NOT_ACCEPTED,
            )
        )
    return pdr.DataFrameSchema(checks, checks=frame_checks, name="lead table")


def _not_repeated(ids: pd.Series) -> pd.Series:
    """False for every later row with an id seen before (missing ids are never repeats)."""
    repeated = ids.duplicated(keep="first")
    repeated[repeated] = ids[repeated].notna()  # only look at the few repeats for NaN
    return ~repeated


def _no_control_characters(ids: pd.Series) -> pd.Series:
    """False for every id holding a control character (missing ids pass: ``missing``)."""
    found = ids.astype("string").str.contains(CONTROL_CHARACTERS, regex=True)
    return ~found.fillna(False).astype(bool)


# --- the field table ---------------------------------------------------------------------
#: Kinds of field: how a value is read and checked.
ID: Final = "id"  # text, required, unique, no control characters
DATE: Final = "date"  # a date or date-time, not in the future
CATEGORY: Final = "category"  # free text (``source`` is normalised to lower_snake_case)
LEVEL: Final = "level"  # one of ``allowed`` (lower-cased)
NUMBER: Final = "number"  # a finite number >= ``minimum``
LABEL: Final = "label"  # 0/1 (yes/no, true/false)


@dataclass(frozen=True)
class FieldSpec:
    """One canonical field: how it is read, checked and documented.

    ``in_request`` says whether the service's ``Lead`` carries it (the labels are only in
    training files).
    """

    name: str
    kind: str
    description: str
    example: Any = None
    required: bool = False
    minimum: float | None = None
    allowed: tuple[str, ...] = ()
    in_request: bool = True


def _amount(name: str, description: str, example: float) -> FieldSpec:
    return FieldSpec(name, NUMBER, description, example, minimum=0)


#: The canonical lead table, in file order. The pandera checks
#: (:func:`lead_table_schema`), the service's :class:`Lead` and the value parser
#: (:func:`parse_value`, :func:`parse_numbers`, :func:`parse_dates`) are built from it.
FIELDS: Final[tuple[FieldSpec, ...]] = (
    FieldSpec(
        LEAD_ID,
        ID,
        "CRM id of the lead, unique within a request; not blank, no control characters "
        "(tab, newline, NUL ...).",
        "L0001234",
        required=True,
    ),
    FieldSpec(
        CREATED_AT,
        DATE,
        "When the lead was captured (ISO 8601 date or date-time).",
        "2026-06-01T09:30:00",
    ),
    FieldSpec(
        SOURCE,
        CATEGORY,
        "Channel, any spelling ('Organic Search', 'organic-search'); a channel the "
        "model has not seen is scored as unknown and listed in `warnings`.",
        "Organic Search",
    ),
    FieldSpec(
        PRIOR_AWARENESS,
        LEVEL,
        "How well the prospect knew the company before first sales contact.",
        "low",
        allowed=AWARENESS_LEVELS,
    ),
    _amount("website_visits", "Website visits before hand-over to sales.", 6),
    _amount("pages_viewed", "Pages viewed before hand-over.", 14),
    _amount("time_on_site_s", "Seconds on the website before hand-over.", 540),
    _amount("email_opens", "Marketing e-mails opened.", 4),
    _amount("email_clicks", "Marketing e-mail links clicked.", 2),
    _amount("content_downloads", "Content pieces downloaded.", 1),
    _amount("events_attended", "Events or webinars attended.", 0),
    _amount("company_size", "Employees of the lead's company.", 250),
    FieldSpec("industry", CATEGORY, "Industry of the lead's company.", "software"),
    FieldSpec("country", CATEGORY, "Country of the lead's company.", "DE"),
    FieldSpec("job_level", CATEGORY, "Seniority of the contact.", "manager"),
    FieldSpec(ACCEPTED, LABEL, "1 = sales accepted the lead.", in_request=False),
    FieldSpec(CLOSED, LABEL, "1 = the deal was won.", in_request=False),
)
FIELD: Final[dict[str, FieldSpec]] = {f.name: f for f in FIELDS}
assert tuple(FIELD) == CANONICAL_COLUMNS, "the field table and the column lists agree"


# --- the value parser ---------------------------------------------------------------------
#: Thousands separators a mapping may name (a decimal separator is ``.`` or ``,``).
THOUSANDS_SEPARATORS: Final[tuple[str, ...]] = (",", ".", " ", "'")
#: Text read as 0/1 in a label column (compared lower-case, trimmed).
LABEL_VALUES: Final[dict[str, float]] = {
    "0": 0.0,
    "1": 1.0,
    "0.0": 0.0,
    "1.0": 1.0,
    "no": 0.0,
    "yes": 1.0,
    "false": 0.0,
    "true": 1.0,
}
_INFINITY: Final = r"[+-]?inf(inity)?"
#: Text that is a number under some convention of separators (``2,5``, ``1.250,5``,
#: ``1,250``): in an extra column it makes the column numeric, so that a value the chosen
#: convention cannot read is rejected instead of turning the column into text.
NUMBER_LIKE: Final = r"^[+-]?(\d{1,3}([.,' ]\d{3})+|\d+)([.,]\d+)?([eE][+-]?\d+)?$"
#: Day/month/year (or month/day/year) dates with a four-digit year: ``01.07.2024``.
_NUMERIC_DATE: Final = r"^(\d{1,2})[./-](\d{1,2})[./-](\d{4})([ T].*)?$"
_NS_MIN, _NS_MAX = pd.Timestamp.min, pd.Timestamp.max


class AmbiguousDates(ValueError):
    """A date column that can be read day-first or month-first (one line naming it)."""


@dataclass(frozen=True)
class Reading:
    """How numbers and dates are written in an export (the mapping's reading keys).

    ``thousands`` is the group separator accepted in proper groups of three digits
    (``1,200``), ``None`` for none; ``dayfirst`` (``None`` = not said) and
    ``date_format`` answer how ``01.07.2024`` is read.
    """

    decimal: str = "."
    thousands: str | None = ","
    dayfirst: bool | None = None
    date_format: str | None = None

    def __post_init__(self) -> None:
        if self.decimal not in (".", ","):
            raise ValueError(
                _("decimal: must be '.' or ',', got {value}").format(value=repr(self.decimal))
            )
        if self.thousands is not None and self.thousands not in THOUSANDS_SEPARATORS:
            allowed = ", ".join(repr(t) for t in THOUSANDS_SEPARATORS)
            raise ValueError(
                _("thousands: must be one of {allowed}, got {value}").format(
                    allowed=allowed, value=repr(self.thousands)
                )
            )
        if self.thousands == self.decimal:
            raise ValueError(
                _("thousands: must differ from decimal ({decimal})").format(
                    decimal=repr(self.decimal)
                )
            )

    @property
    def number_pattern(self) -> str:
        """A regular expression matching exactly the numbers this reading accepts."""
        d = re.escape(self.decimal)
        whole = r"\d+"
        if self.thousands is not None:
            whole = rf"(?:\d{{1,3}}(?:{re.escape(self.thousands)}\d{{3}})+|\d+)"
        return rf"^[+-]?(?:{whole}(?:{d}\d*)?|{d}\d+)(?:[eE][+-]?\d+)?$"


#: The reading of JSON requests and of files without reading keys.
DEFAULT_READING: Final = Reading()


def parse_numbers(
    text: pa.Array, reading: Reading = DEFAULT_READING
) -> tuple[np.ndarray, np.ndarray]:
    """float64 values (NaN = missing) of trimmed text, and a mask of present non-numbers.

    ``inf`` parses (the rules then reject it as not finite); ``nan`` is not a number.
    """
    values = None
    if reading.decimal == ".":
        try:  # fast path: every value a plain number
            values = pc.cast(text, pa.float64())
        except pa.ArrowInvalid:
            pass
    if values is None:
        ok = pc.or_(
            pc.match_substring_regex(text, reading.number_pattern),
            pc.match_substring_regex(text, f"^{_INFINITY}$", ignore_case=True),
        )
        cleaned = pc.if_else(ok, text, None)
        if reading.thousands is not None:
            cleaned = pc.replace_substring(cleaned, reading.thousands, "")
        if reading.decimal != ".":
            cleaned = pc.replace_substring(cleaned, reading.decimal, ".")
        values = pc.cast(cleaned, pa.float64())
    numbers = values.to_numpy(zero_copy_only=False)
    present = pc.is_valid(text).to_numpy(zero_copy_only=False)
    return numbers, present & np.isnan(numbers)  # "nan" as text, and every value not ok


def number_like(text: pa.Array) -> np.ndarray:
    """Mask of values that are numbers under some convention (see :data:`NUMBER_LIKE`)."""
    found = pc.match_substring_regex(text, NUMBER_LIKE)
    return pc.fill_null(found, False).to_numpy(zero_copy_only=False)


def parse_labels(text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """0.0/1.0/NaN from :data:`LABEL_VALUES` (any case); mask of other present values."""
    keys = pa.array(list(LABEL_VALUES), type=pa.string())
    numbers = pa.array(list(LABEL_VALUES.values()), type=pa.float64())
    position = pc.index_in(pc.utf8_lower(text), value_set=keys)
    values = pc.take(numbers, position).to_numpy(zero_copy_only=False)
    present = pc.is_valid(text).to_numpy(zero_copy_only=False)
    return values, present & np.isnan(values)


def parse_dates(
    text: pa.Array, reading: Reading = DEFAULT_READING, field: str = CREATED_AT
) -> tuple[np.ndarray, np.ndarray]:
    """Naive UTC datetime64[ns] of trimmed text; mask of present values that are not dates.

    ISO 8601 (with or without a zone, converted to UTC) always reads. Other layouts follow
    ``reading.date_format`` or ``reading.dayfirst``; without either, ``dd.mm.yyyy`` /
    ``mm/dd/yyyy`` dates read the one way every value of the column allows.

    Raises
    ------
    AmbiguousDates
        Without ``dayfirst``/``date_format``, when the column holds a date that reads
        both ways (``01.07.2024``) or dates that need different ways.
    """
    present = pc.is_valid(text).to_numpy(zero_copy_only=False)
    try:  # fast path: naive ISO dates and times
        values = pc.cast(text, pa.timestamp("ns")).to_numpy(zero_copy_only=False)
        return values.astype("datetime64[ns]"), np.zeros(len(text), dtype=bool)
    except pa.ArrowInvalid:
        pass
    series = pd.Series(text.to_pandas(), dtype=object)
    parsed = pd.to_datetime(series, format="ISO8601", errors="coerce", utc=True)
    retry = parsed.isna() & series.notna()
    if retry.any():
        parsed[retry] = _other_layouts(series[retry], reading, field)
    parsed = parsed.dt.tz_localize(None)
    in_range = parsed.isna() | ((parsed >= _NS_MIN) & (parsed <= _NS_MAX))
    values = parsed.where(in_range).astype("datetime64[ns]").to_numpy()
    return values, present & np.isnat(values)


def parse_date(value: str, reading: Reading = DEFAULT_READING) -> pd.Timestamp:
    """One date text as naive wall-clock time (a zone is dropped, not converted); NaT if none.

    Raises
    ------
    AmbiguousDates
        For a date that reads day-first and month-first (``01.07.2024``) when ``reading``
        does not say which: one value cannot tell.
    """
    text = value.strip()
    try:
        stamp = pd.Timestamp(datetime.fromisoformat(text))
    except ValueError:
        parsed = parse_dates(pa.array([text or None], type=pa.string()), reading)[0]
        return pd.Timestamp(parsed[0])
    return stamp.tz_localize(None) if stamp.tzinfo is not None else stamp


def _other_layouts(texts: pd.Series, reading: Reading, field: str) -> pd.Series:
    """Dates that are not ISO 8601, read as ``reading`` says (UTC, NaT when not a date)."""
    if reading.date_format is not None:
        return pd.to_datetime(texts, format=reading.date_format, errors="coerce", utc=True)
    parts = texts.str.extract(_NUMERIC_DATE)
    numeric = parts[0].notna()
    out = pd.Series(pd.NaT, index=texts.index, dtype="datetime64[ns, UTC]")
    if numeric.any():
        first, second = parts[0][numeric].astype(int), parts[1][numeric].astype(int)
        dayfirst = reading.dayfirst
        if dayfirst is None:
            dayfirst = _column_layout(texts[numeric], first, second, field)
        day, month = (first, second) if dayfirst else (second, first)
        iso = (
            parts[2][numeric]
            + "-"
            + month.astype(str).str.zfill(2)
            + "-"
            + day.astype(str).str.zfill(2)
            + parts[3][numeric].fillna("")
        )
        out[numeric] = pd.to_datetime(iso, format="ISO8601", errors="coerce", utc=True)
    if (~numeric).any():  # "15 Mar 2024", "March 5, 2024 10:00" ...
        rest = texts[~numeric]
        out[~numeric] = pd.to_datetime(
            rest, format="mixed", dayfirst=bool(reading.dayfirst), errors="coerce", utc=True
        )
    return out


def _column_layout(texts: pd.Series, first: pd.Series, second: pd.Series, field: str) -> bool:
    """Day-first (True) or month-first, as every value of the column allows; else refuse."""
    both = (first <= 12) & (second <= 12) & (first != second)
    day_first = (first > 12) & (second <= 12)
    month_first = (second > 12) & (first <= 12)
    if both.any() or (day_first.any() and month_first.any()):
        if both.any():
            message = _(
                "{field}: dates such as '{example}' read day-first or month-first; say which "
                "in the mapping: 'dayfirst: true' (or false) or 'date_format: {format}'"
            )
            example, other = texts[both].iloc[0], ""
        else:
            message = _(
                "{field}: dates such as '{example}' and '{other}' read day-first or "
                "month-first; say which in the mapping: 'dayfirst: true' (or false) or "
                "'date_format: {format}'"
            )
            example, other = texts[day_first].iloc[0], texts[month_first].iloc[0]
        raise AmbiguousDates(
            message.format(field=field, example=example, other=other, format='"%d.%m.%Y"')
        )
    return bool(day_first.any())


class ValueProblem(ValueError):
    """One value that is not valid for its field; ``str()`` names the field and the value."""


def _is_missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def parse_value(
    field: str, value: object, *, numeric: bool, reading: Reading = DEFAULT_READING
) -> object:
    """One text or JSON value typed as ingest types it; :class:`ValueProblem` otherwise.

    Numbers (``numeric``, or a canonical number field) become floats (NaN = unknown) by
    the rules of :func:`parse_numbers`; JSON numbers are numbers, booleans are not.
    Dates (``created_at``) as :func:`parse_date` reads them, not in the future; ``source``
    is normalised, ``prior_awareness`` must be an allowed level, other text is trimmed
    (empty = unknown, ``None``).
    """
    spec = FIELD.get(field)
    numeric = numeric or (spec is not None and spec.kind == NUMBER)
    if _is_missing(value):
        return np.nan if numeric else None
    if numeric:
        return _parse_number(field, value, spec, reading)
    if spec is not None and spec.kind == DATE:
        return _parse_date_value(field, value, reading)
    text = str(value).strip()
    if not text:
        return None
    if field == SOURCE:
        return normalise_source(text)
    if spec is not None and spec.kind == LEVEL:
        text = text.lower()
        if text not in spec.allowed:
            raise ValueProblem(
                _("{field}: must be one of {allowed} (empty = unknown), got {value}").format(
                    field=field, allowed=", ".join(spec.allowed), value=repr(value)
                )
            )
    return text


def _parse_date_value(field: str, value: object, reading: Reading) -> object:
    """A date or date-time value (text read by :func:`parse_date`), not in the future."""
    given = value
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            stamp = parse_date(value, reading)
        except AmbiguousDates:
            raise ValueProblem(
                _("{field}: {value} reads day-first or month-first; use an ISO 8601 date").format(
                    field=field, value=repr(value)
                )
            ) from None
        if stamp is pd.NaT:
            raise ValueProblem(_not_a_date(field, value))
        value = stamp
    if not isinstance(value, datetime | pd.Timestamp):
        raise ValueProblem(_not_a_date(field, value))
    try:
        return _not_in_future(value)
    except PydanticCustomError:
        raise ValueProblem(
            _("{field}: in the future, got {value}").format(field=field, value=repr(given))
        ) from None


def _not_a_date(field: str, value: object) -> str:
    return _("{field}: not a date, got {value}").format(field=field, value=repr(value))


def _parse_number(field: str, value: object, spec: FieldSpec | None, reading: Reading) -> float:
    bad = ValueProblem(
        _("{field}: expected a number (empty = unknown), got {value}").format(
            field=field, value=repr(value)
        )
    )
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return np.nan
        numbers, wrong = parse_numbers(pa.array([text], type=pa.string()), reading)
        if wrong[0]:
            raise bad
        number = float(numbers[0])
    elif isinstance(value, int | float | np.number) and not isinstance(value, bool | np.bool_):
        number = float(value)
    else:
        raise bad
    if not math.isfinite(number):
        raise bad
    if spec is not None and spec.minimum is not None and number < spec.minimum:
        raise ValueProblem(
            _("{field}: must be >= {minimum}, got {value}").format(
                field=field, minimum=i18n.number(spec.minimum), value=repr(value)
            )
        )
    return number


# --- the service's Lead, generated from the field table ----------------------------------
#: A scalar value of an extra feature column (never a nested object or a list).
ExtraValue = (
    Annotated[str, Strict()] | Annotated[float, PydanticField(allow_inf_nan=False)] | bool | None
)


def _lead_id(value: str) -> str:
    problem = lead_id_problem(value)
    if problem is not None:
        raise PydanticCustomError("lead_id", _(problem))
    return value


#: A ``lead_id``: the canonical table's rule (:func:`lead_id_problem`).
LeadId = Annotated[str, AfterValidator(_lead_id)]
#: Slack for clocks and time zones: a ``created_at`` up to this far ahead of the current
#: UTC time is not yet "in the future" (ingest's default ``now`` and the service's).
FUTURE_TOLERANCE: Final = pd.Timedelta(days=1)


def _date_text(value: Any) -> Any:
    """A date text pydantic cannot read (``13.07.2024``), read by :func:`parse_dates`."""
    if not isinstance(value, str):
        return value
    try:
        datetime.fromisoformat(value.strip())
        return value  # ISO 8601: pydantic reads it itself
    except ValueError:
        pass
    try:
        parsed, bad = parse_dates(pa.array([value.strip() or None], type=pa.string()))
    except AmbiguousDates:
        raise PydanticCustomError(
            CREATED_AT, _("reads day-first or month-first; send an ISO 8601 date (YYYY-MM-DD)")
        ) from None
    return value if bad[0] else pd.Timestamp(parsed[0]).to_pydatetime()


def _not_in_future(value: datetime | None) -> datetime | None:
    """The rule of ingest's ``created_at``: not after the current UTC time (plus slack)."""
    if value is None:
        return value
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo is not None else stamp
    if stamp > pd.Timestamp.now(tz="UTC").tz_localize(None) + FUTURE_TOLERANCE:
        raise PydanticCustomError(CREATED_AT, _("in the future"))
    return value


#: A ``created_at`` of a request: ISO 8601 (or a layout only one reading fits), not in the
#: future.
LeadDate = Annotated[datetime | None, BeforeValidator(_date_text), AfterValidator(_not_in_future)]
#: The example lead of the service's documentation (each field's ``example``).
EXAMPLE_LEAD: Final[dict[str, Any]] = {f.name: f.example for f in FIELDS if f.in_request}


class _LeadBase(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        coerce_numbers_to_str=True,
        json_schema_extra={"examples": [EXAMPLE_LEAD]},
    )
    __pydantic_extra__: dict[str, ExtraValue] = PydanticField(init=False)


def _request_field(spec: FieldSpec) -> tuple[Any, Any]:
    """The pydantic annotation and ``Field`` of one field of :class:`Lead`."""
    if spec.kind == ID:
        return LeadId, PydanticField(min_length=1, description=spec.description)
    if spec.kind == NUMBER:
        amount = Annotated[float, PydanticField(ge=spec.minimum, allow_inf_nan=False, strict=True)]
        text = f"{spec.description} Number >= {spec.minimum:g}; null or absent = unknown."
        return amount | None, PydanticField(None, description=text)
    if spec.kind == DATE:
        return LeadDate, PydanticField(None, description=spec.description)
    kinds: dict[str, Any] = {CATEGORY: str, LEVEL: Literal[spec.allowed]}
    return kinds[spec.kind] | None, PydanticField(None, description=spec.description)


#: One CRM lead of a service request, generated from :data:`FIELDS`.
Lead = create_model(  # type: ignore[call-overload]
    "Lead",
    __base__=_LeadBase,
    __doc__=(
        "One CRM lead in canonical fields; only ``lead_id`` is required.\n\n"
        "Any other field is accepted as an extra feature (a string, number, boolean or null)\n"
        "and used when the model was trained with it."
    ),
    __module__=__name__,
    **{spec.name: _request_field(spec) for spec in FIELDS if spec.in_request},
)
