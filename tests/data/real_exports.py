"""Checks every shipped mapping of a real export must pass (shared by its tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from leadmodel import ingest, schema


def export_fixtures(path_fixture: str, mapping_path: Path, rows: int) -> tuple[Any, ...]:
    """The fixtures and the two checks every real export's test module has.

    Returns ``raw``, ``mapping`` and ``result`` fixtures and the tests that every one of
    the ``rows`` rows is read and valid and that every column is named on purpose; a
    module assigns them to module names so pytest collects them there. ``path_fixture``
    names the fixture that gives the export's path (it skips when the shared data set is
    not there); ``raw`` is the file as text, ``result`` the ingest of it through the
    shipped mapping at ``mapping_path``.
    """

    @pytest.fixture(scope="module")
    def raw(request: pytest.FixtureRequest) -> pd.DataFrame:
        return ingest.read_table(request.getfixturevalue(path_fixture))

    @pytest.fixture(scope="module")
    def mapping() -> ingest.Mapping:
        return ingest.load_mapping(mapping_path)

    @pytest.fixture(scope="module")
    def result(request: pytest.FixtureRequest, mapping: ingest.Mapping) -> ingest.IngestResult:
        path = request.getfixturevalue(path_fixture)
        return ingest.read_leads(path, mapping, require_labels=True)

    def test_every_row_is_accounted_for_and_valid(result: ingest.IngestResult) -> None:
        assert_every_row_valid(result, rows)

    def test_every_export_column_is_mapped_or_dropped_on_purpose(
        raw: pd.DataFrame, mapping: ingest.Mapping
    ) -> None:
        assert_every_column_named(raw, mapping)

    return (
        raw,
        mapping,
        result,
        test_every_row_is_accounted_for_and_valid,
        test_every_export_column_is_mapped_or_dropped_on_purpose,
    )


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
