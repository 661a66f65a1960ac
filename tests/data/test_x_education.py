"""The real X Education export through the shipped mapping (data/mappings/x_education.yaml)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from leadmodel import ingest, schema
from tests.data.real_exports import export_fixtures

REPO_ROOT = Path(__file__).resolve().parents[2]
MAPPING = REPO_ROOT / "data" / "mappings" / "x_education.yaml"
ROWS = 9_240
#: Published share of converted leads in the file.
CLOSED_SHARE = 0.385
CLOSED_SHARE_TOLERANCE = 0.001
#: Columns the sales team fills in after talking to the lead: never in the table.
AFTER_CONTACT = (
    "Tags",
    "Lead Quality",
    "Lead Profile",
    "Asymmetrique Activity Index",
    "Asymmetrique Profile Index",
    "Asymmetrique Activity Score",
    "Asymmetrique Profile Score",
    "Last Notable Activity",
)
AWARENESS = "How did you hear about X Education"


(
    raw,
    mapping,
    result,
    test_every_row_is_accounted_for_and_valid,
    test_every_export_column_is_mapped_or_dropped_on_purpose,
) = export_fixtures("x_education_path", MAPPING, ROWS)


def test_after_contact_columns_never_reach_the_table(result: ingest.IngestResult) -> None:
    columns = {c.lower() for c in result.valid.columns}
    for name in AFTER_CONTACT:
        assert name.lower() not in columns
        assert name.lower().replace(" ", "_") not in columns
    assert not any("asymmetrique" in c or "notable" in c or "tag" in c for c in columns)


def test_prior_awareness_is_only_levels_and_only_unanswered_is_unknown(
    raw: pd.DataFrame, result: ingest.IngestResult
) -> None:
    awareness = result.valid[schema.PRIOR_AWARENESS]
    assert set(awareness.dropna()) == set(schema.AWARENESS_LEVELS)
    unanswered = raw[AWARENESS].str.strip().isin(["", "Select"]).sum()
    assert awareness.isna().sum() == unanswered  # every real answer is mapped to a level


def test_closed_share_matches_the_published_rate(result: ingest.IngestResult) -> None:
    closed = result.valid[schema.CLOSED]
    assert closed.notna().all()
    assert closed.mean() == pytest.approx(CLOSED_SHARE, abs=CLOSED_SHARE_TOLERANCE)


def test_leads_are_ordered_by_the_lead_number(
    raw: pd.DataFrame, result: ingest.IngestResult
) -> None:
    assert result.order_by == "lead_number"
    order = result.valid["lead_number"]
    assert order.dtype == "float64" and order.notna().all() and order.is_unique
    assert order.tolist() == raw["Lead Number"].astype(float).tolist()


def test_canonical_columns_are_typed_and_sources_normalised(
    raw: pd.DataFrame, result: ingest.IngestResult
) -> None:
    valid = result.valid
    assert valid["website_visits"].dtype == "float64"
    assert valid["time_on_site_s"].dtype == "float64"
    assert valid["page_views_per_visit"].dtype == "float64"
    google = raw["Lead Source"].str.lower().eq("google").sum()
    assert (valid[schema.SOURCE] == "google").sum() == google  # "Google" and "google" merged
    assert (valid[schema.SOURCE] == schema.UNKNOWN).sum() == raw["Lead Source"].eq("").sum()
    assert "unknown" not in set(valid["country"].dropna())
    assert valid["city"].isna().sum() == raw["City"].isin(["", "Select"]).sum()


def test_excluded_features_stay_in_the_table(
    result: ingest.IngestResult, mapping: ingest.Mapping
) -> None:
    assert set(mapping.exclude_features) <= set(result.valid.columns)
