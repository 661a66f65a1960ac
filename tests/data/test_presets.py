"""CRM presets: `--mapping hubspot|salesforce|dynamics` on each system's synthetic export.

The synthetic export in a CRM's shape (``leadmodel synth --format``) holds the canonical
leads under the system's column names and spellings, plus the columns recorded after
hand-over that its preset drops. Read back with the preset, the labels and features are the
canonical ones, and none of the dropped or label columns reaches the table.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from leadmodel import ingest, schema, synthetic
from leadmodel.cli import app
from leadmodel.ingest import IngestError, Mapping, read_leads, validate

ROWS = 2_000
SEED = 5
PRESETS = ("hubspot", "salesforce", "dynamics")
#: Columns of each system's export recorded after hand-over: the preset must drop them.
AFTER_HANDOVER = {
    "hubspot": [
        "hs_analytics_num_visits",
        "hs_analytics_num_page_views",
        "num_conversion_events",
        "hs_email_open",
        "hs_email_click",
        "lifecyclestage",
        "num_contacted_notes",
    ],
    "salesforce": ["ConvertedDate", "ConvertedOpportunityId", "Rating", "LastActivityDate"],
    "dynamics": ["statuscode", "qualifyingopportunityid", "leadqualitycode", "budgetamount"],
}
#: Columns the label rules read (never features).
LABEL_SOURCES = {
    "hubspot": [
        "hs_lifecyclestage_salesqualifiedlead_date",
        "hs_lifecyclestage_customer_date",
        "hs_lead_status",
    ],
    "salesforce": ["IsConverted", "Status", "ConvertedOpportunity.StageName"],
    "dynamics": ["statecode", "qualifyingopportunityid.statecode"],
}
#: Canonical columns each preset reads back exactly as the generator wrote them.
SAME_VALUES = {
    "hubspot": ["prior_awareness", "website_visits", "pages_viewed", "email_clicks"],
    "salesforce": ["prior_awareness", "company_size"],
    "dynamics": ["prior_awareness", "company_size"],
}
runner = CliRunner()


@pytest.fixture(scope="module")
def canonical() -> synthetic.SyntheticExport:
    return synthetic.generate(ROWS, seed=SEED)


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``leadmodel synth --format X`` for each preset (the same leads: same rows, seed)."""
    folder = tmp_path_factory.mktemp("crm")
    paths = {}
    for system in PRESETS:
        path = folder / f"{system}.csv"
        args = ["synth", "--rows", str(ROWS), "--seed", str(SEED), "--format", system]
        done = runner.invoke(app, [*args, "--out", str(path), "--json"])
        assert done.exit_code == 0, done.output
        assert json.loads(done.stdout)["format"] == system
        paths[system] = path
    return paths


@pytest.mark.parametrize("system", PRESETS)
def test_preset_reads_its_systems_export_back_to_the_canonical_leads(
    system: str, canonical: synthetic.SyntheticExport, exports: dict[str, Path]
) -> None:
    raw = pd.read_csv(exports[system], dtype=str, keep_default_na=False)
    assert set(AFTER_HANDOVER[system]) <= set(raw.columns)  # the trap is in the file
    done = runner.invoke(app, ["validate", "--data", str(exports[system]), "--mapping", system])
    assert done.exit_code == 0, done.output
    assert "Dropped (recorded after hand-over, never read): " in done.output
    for column in AFTER_HANDOVER[system] + LABEL_SOURCES[system]:
        assert column in done.output

    result = read_leads(exports[system], system, require_labels=True)
    assert result.rows_rejected == 0
    assert set(AFTER_HANDOVER[system]) <= set(result.dropped)
    assert result.label_sources == LABEL_SOURCES[system]
    table = result.valid
    leaked = set(AFTER_HANDOVER[system] + LABEL_SOURCES[system]) & set(table.columns)
    assert not leaked
    want = canonical.export
    for label in schema.LABEL_COLUMNS:  # the rules rebuild every decided and open label
        np.testing.assert_array_equal(
            table[label].to_numpy(dtype=float), want[label].to_numpy(dtype=float, na_value=np.nan)
        )
    for column in SAME_VALUES[system]:
        if column in schema.NUMERIC_COLUMNS:
            np.testing.assert_array_equal(
                table[column].to_numpy(dtype=float), want[column].to_numpy(dtype=float)
            )
        else:
            missing = "(missing)"
            got = table[column].astype(object).fillna(missing).tolist()
            assert got == want[column].astype(object).fillna(missing).tolist(), column
    assert (table[schema.LEAD_ID].to_numpy() == raw.iloc[:, 0].to_numpy()).all()
    assert table[schema.SOURCE].ne(schema.UNKNOWN).all()  # every spelling is mapped


def test_mappings_lists_the_presets_and_shows_one() -> None:
    listed = runner.invoke(app, ["mappings", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [r["name"] for r in rows] == sorted(PRESETS)
    assert {r["system"] for r in rows} == {"HubSpot", "Salesforce", "Dynamics 365"}
    assert all(r["description"] for r in rows)
    shown = runner.invoke(app, ["mappings", "salesforce"])
    assert shown.exit_code == 0, shown.output
    assert shown.stdout == (ingest.PRESETS_DIR / "salesforce.yaml").read_text(encoding="utf-8")
    unknown = runner.invoke(app, ["mappings", "pipedrive"])
    assert unknown.exit_code == 2
    assert "no preset 'pipedrive' (presets: dynamics, hubspot, salesforce)" in unknown.output


def test_unknown_mapping_name_is_one_line_listing_the_presets(tmp_path: Path) -> None:
    data = tmp_path / "leads.csv"
    data.write_text("lead_id,created_at,source\nL1,2024-01-01,web\n", encoding="utf-8")
    done = runner.invoke(app, ["validate", "--data", str(data), "--mapping", "hubspott"])
    assert done.exit_code == 2
    assert "mapping hubspott: no such file, and not a preset (presets: dynamics, hubspot, " in (
        done.output
    )
    assert "Traceback" not in done.output
    own = tmp_path / "hubspot"  # a file wins over the preset of its name
    own.write_text("rename: {Key: lead_id}\n", encoding="utf-8")
    assert ingest.load_mapping(own).rename == {"Key": "lead_id"}


def test_label_rules_first_decision_wins_and_null_keeps_a_lead_open() -> None:
    mapping = Mapping.model_validate(
        {
            "labels": {
                "accepted": [
                    {"column": ["sql_date", "SQL Date"], "filled": 1},
                    {"column": "status", "values": {"Unqualified": 0, "New": None}},
                ],
                "closed": [
                    {"column": "won_date", "filled": 1},
                    {"label": "accepted", "values": {"0": 0}},
                    {"column": "status", "values": {"New": None}},
                    {"column": "won_date", "empty": 0},
                ],
            }
        }
    )
    raw = pd.DataFrame(
        {
            "lead_id": ["a", "b", "c", "d", "e"],
            "created_at": ["2024-01-01"] * 5,
            "source": ["web"] * 5,
            "SQL Date": ["2024-01-03", "", "", "2024-01-02", "2024-01-02"],
            "status": ["Working", " unqualified ", "New", "", "New"],
            "won_date": ["2024-02-01", "", "", "", ""],
        }
    )
    result = validate(raw, mapping)
    got = result.valid.set_index(schema.LEAD_ID).loc[list("abcde")]
    nan = np.nan
    np.testing.assert_array_equal(got[schema.ACCEPTED], [1, 0, nan, 1, 1])
    np.testing.assert_array_equal(got[schema.CLOSED], [1, 0, nan, 0, nan])
    assert result.label_sources == ["SQL Date", "status", "won_date"]
    assert not {"SQL Date", "status", "won_date"} & set(result.valid.columns)


def test_label_rules_refuse_what_cannot_be_read() -> None:
    with pytest.raises(ValueError, match="not a label column"):
        Mapping.model_validate({"labels": {"won": [{"column": "x", "filled": 1}]}})
    with pytest.raises(ValueError, match="also in derive"):
        Mapping.model_validate(
            {"derive": {"closed": "Won"}, "labels": {"closed": [{"column": "x", "filled": 1}]}}
        )
    with pytest.raises(ValueError, match="give 'values', 'filled' or 'empty'"):
        Mapping.model_validate({"labels": {"closed": [{"column": "x"}]}})
    mapping = Mapping.model_validate({"labels": {"closed": [{"column": "x", "filled": 1}]}})
    raw = pd.DataFrame({"lead_id": ["a"], "created_at": ["2024-01-01"], "source": ["web"]})
    raw["closed"], raw["x"] = "1", "2024-01-02"
    with pytest.raises(IngestError, match="would replace the export's own column 'closed'"):
        validate(raw, mapping)
