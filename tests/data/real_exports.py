"""Checks every shipped mapping of a real export must pass (shared by its tests)."""

from __future__ import annotations

import pandas as pd

from leadmodel import ingest, schema


def assert_every_row_valid(result: ingest.IngestResult, rows: int) -> None:
    """Every row of the export read, none rejected, ids unique."""
    assert result.rows_in == rows
    assert result.rows_valid + result.rows_rejected == rows
    assert result.rows_valid == rows, result.reasons
    assert result.valid[schema.LEAD_ID].is_unique


def assert_every_column_named(raw: pd.DataFrame, mapping: ingest.Mapping) -> None:
    """Each export column renamed, derived or dropped on purpose; none twice."""
    named = set(mapping.rename) | set(mapping.derive.values()) | set(mapping.drop)
    assert named == set(raw.columns)  # no typo, and no column passes through unnamed
    assert not set(mapping.rename) & set(mapping.drop)
