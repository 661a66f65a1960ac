"""The canonical lead table: column names, types and allowed values.

Every other module speaks in these names. A CRM export is brought into this shape by
:mod:`leadmodel.ingest` (optionally through a column mapping); the synthetic generator
writes it directly.
"""

from __future__ import annotations

import re
from typing import Final

import numpy as np
import pandas as pd

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
