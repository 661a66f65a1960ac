"""The canonical lead table: column names, types and allowed values.

Every other module speaks in these names. A CRM export is brought into this shape by
:mod:`leadmodel.ingest` (optionally through a column mapping); the synthetic generator
writes it directly.
"""

from __future__ import annotations

import re
import warnings
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

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
LEAD_ID_BLANK: Final = "must not be blank"
LEAD_ID_CONTROL: Final = "must not contain control characters (tab, newline, NUL, escape ...)"


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
    if LEAD_ID in present:
        checks[LEAD_ID] = pdr.Column(
            object,
            nullable=False,
            checks=[
                check(_not_repeated, CHECK_DUPLICATE),
                check(_no_control_characters, CHECK_CONTROL),
            ],
        )
    if CREATED_AT in present:
        checks[CREATED_AT] = pdr.Column(
            "datetime64[ns]",
            nullable=order_by != CREATED_AT,
            checks=check(lambda s: ~(s > now), CHECK_FUTURE),
        )
    if order_by in present and order_by not in checks:
        checks[order_by] = pdr.Column(nullable=False)
    if SOURCE in present:
        checks[SOURCE] = pdr.Column(object, nullable=False)
    if PRIOR_AWARENESS in present:
        checks[PRIOR_AWARENESS] = pdr.Column(
            object,
            nullable=True,
            checks=check(lambda s: s.isin((*AWARENESS_LEVELS, np.nan)), CHECK_NOT_ALLOWED),
        )
    for col in NUMERIC_COLUMNS:
        if col in present:
            checks[col] = pdr.Column(
                "float64",
                nullable=True,
                checks=[
                    check(lambda s: ~np.isinf(s), CHECK_NOT_FINITE),
                    check(lambda s: ~(s < 0) | np.isinf(s), CHECK_NEGATIVE),
                ],
            )
    for col in FIRMOGRAPHIC_TEXT:
        if col in present:
            checks[col] = pdr.Column(object, nullable=True)
    for col in LABEL_COLUMNS:
        if col in present:
            checks[col] = pdr.Column(
                "float64",
                nullable=True,
                checks=check(lambda s: s.isna() | s.isin((0.0, 1.0)), CHECK_NOT_BINARY),
            )
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
