"""The real online-shoppers web-session export through data/mappings/online_shoppers.yaml."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadmodel import ingest, schema
from tests.data.real_exports import export_fixtures

REPO_ROOT = Path(__file__).resolve().parents[2]
MAPPING = REPO_ROOT / "data" / "mappings" / "online_shoppers.yaml"
EXPORT = (
    REPO_ROOT.parent / "shared" / "datasets" / "online-shoppers" / "online_shoppers_intention.csv"
)
ROWS = 12_330
#: Published share of sessions that ended in a purchase (1,908 of 12,330).
CLOSED_SHARE = 0.155
CLOSED_SHARE_TOLERANCE = 0.001
#: Computed from the revenue of the purchases that followed, this session's included.
AFTER_OUTCOME = "PageValues"
ORDER = "session_number"


@pytest.fixture(scope="module")
def export_path() -> Path:
    if not EXPORT.is_file():
        pytest.skip(f"real export not found at {EXPORT}")
    return EXPORT


(
    raw,
    mapping,
    result,
    test_every_row_is_accounted_for_and_valid,
    test_every_export_column_is_mapped_or_dropped_on_purpose,
) = export_fixtures("export_path", MAPPING, ROWS)


def test_page_values_never_reach_the_table_or_the_features(
    result: ingest.IngestResult, mapping: ingest.Mapping
) -> None:
    assert AFTER_OUTCOME in mapping.drop
    columns = {c.lower().replace("_", "") for c in result.valid.columns}
    assert AFTER_OUTCOME.lower() not in columns
    features = schema.feature_columns(list(result.valid.columns), set(mapping.exclude_features))
    assert not any("page_value" in f or "pagevalue" in f for f in features)
    assert "month" in result.valid.columns and "month" not in features  # kept, not a feature


def test_closed_share_matches_the_published_rate(
    raw: pd.DataFrame, result: ingest.IngestResult
) -> None:
    closed = result.valid[schema.CLOSED]
    assert closed.notna().all()
    assert closed.mean() == pytest.approx(CLOSED_SHARE, abs=CLOSED_SHARE_TOLERANCE)
    assert closed.tolist() == raw["Revenue"].str.upper().eq("TRUE").astype(float).tolist()


def test_rows_are_numbered_in_file_order_as_id_and_time_order(
    result: ingest.IngestResult,
) -> None:
    assert result.order_by == ORDER
    order = result.valid[ORDER]
    assert order.dtype == "float64" and order.notna().all()
    assert order.is_monotonic_increasing and order.is_unique
    assert order.tolist() == list(np.arange(1.0, ROWS + 1))
    assert result.valid[schema.LEAD_ID].tolist() == [str(i) for i in range(1, ROWS + 1)]


def test_prior_awareness_is_only_levels_and_only_other_is_unknown(
    raw: pd.DataFrame, result: ingest.IngestResult
) -> None:
    awareness = result.valid[schema.PRIOR_AWARENESS]
    visitor = raw["VisitorType"]
    assert set(awareness.dropna()) == {"high", "none"}
    assert (awareness == "high").sum() == visitor.eq("Returning_Visitor").sum()
    assert (awareness == "none").sum() == visitor.eq("New_Visitor").sum()
    assert awareness.isna().sum() == visitor.eq("Other").sum()


def test_codes_are_categories_and_counts_are_numbers(
    raw: pd.DataFrame, result: ingest.IngestResult
) -> None:
    valid = result.valid
    for column in ("operating_system", "browser", "region"):
        assert valid[column].dtype == object and valid[column].notna().all()
    assert (valid["region"] == "region_1").sum() == raw["Region"].eq("1").sum()
    assert set(valid[schema.SOURCE]) == set(raw["TrafficType"])
    for column in ("product_pages", "product_time_s", "bounce_rate", "exit_rate", "weekend"):
        assert valid[column].dtype == "float64"
    assert valid["weekend"].sum() == raw["Weekend"].eq("TRUE").sum()


def test_excluded_features_stay_in_the_table(
    result: ingest.IngestResult, mapping: ingest.Mapping
) -> None:
    assert set(mapping.exclude_features) <= set(result.valid.columns)
