"""Write-back files: synth --format X -> validate -> fit -> score --format X, per preset.

Each preset's model is the run's own fit (read with the preset, time split,
:func:`leadmodel.model.fit_funnel`) without the MLflow part, which is the same for every
mapping and tested with the ``trained`` model (that one also drives the CLI here). Each
write-back file must match docs/crm.md: its columns in order, the record ids of the
export, the field length limits, and the scores of the canonical scores file.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from leadmodel import crm, synthetic
from leadmodel.batch import score_file
from leadmodel.cli import app
from leadmodel.config import load_config
from leadmodel.ingest import read_leads
from leadmodel.io import write_table
from leadmodel.model import FunnelModel, fit_funnel
from leadmodel.train import time_split
from tests.conftest import REPO_ROOT

ROWS = 2_500
SEED = 6
PRESETS = ("hubspot", "salesforce", "dynamics")
CRM_DOC = REPO_ROOT / "docs" / "crm.md"
#: A fit small enough for a test: one setting tried on two folds.
LEAN_CONFIG = "tuning: {trials: 1, folds: 2}\n"
#: Leads the command scores with the session's model (the command is under test, not speed).
CLI_ROWS = 200
HUBSPOT_COUNTERS = ["hs_analytics_num_visits", "hs_analytics_num_page_views", "hs_email_click"]
runner = CliRunner()


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("writeback")
    data = synthetic.generate(ROWS, seed=SEED)
    return {
        system: write_table(
            synthetic.crm_export(data.export, system, SEED), folder / f"{system}.csv"
        )
        for system in PRESETS
    }


@pytest.fixture(scope="module")
def funnels(exports: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Each preset's funnel, fitted on its own export as a training run fits it."""
    config = tmp_path_factory.mktemp("config") / "lean.yaml"
    config.write_text(LEAN_CONFIG, encoding="utf-8")
    cfg = load_config(config)
    found: dict[str, FunnelModel] = {}
    for system, path in exports.items():
        result = read_leads(path, system, require_labels=True)
        split = time_split(
            result.valid, result.order_by, cfg.split.test_share, cfg.split.valid_share
        )
        found[system] = fit_funnel(split.train, split.valid, cfg)
    return found


def documented_columns(system: str) -> list[str]:
    """The first column of the system's table in docs/crm.md, in order."""
    title = crm.WRITE_BACKS[system].system
    section = CRM_DOC.read_text(encoding="utf-8").split(f"### {title}\n", 1)[1]
    return re.findall(r"^\| `([^`]+)` \|", section.split("\n#", 1)[0], re.M)


@pytest.mark.slow
def test_hubspot_model_reads_the_frozen_copies_never_the_live_counters(funnels: dict) -> None:
    features = set(funnels["hubspot"].features.feature_names_)
    assert {"website_visits", "pages_viewed", "email_clicks"} <= features  # the frozen copies
    assert not features & set(HUBSPOT_COUNTERS + ["hs_lead_status", "lifecyclestage"])


@pytest.mark.slow
@pytest.mark.parametrize("system", PRESETS)
def test_write_back_file_is_the_documented_import_of_the_exports_records(
    system: str, exports: dict[str, Path], funnels: dict, tmp_path: Path
) -> None:
    spec = crm.WRITE_BACKS[system]
    path = exports[system]
    out, canonical = tmp_path / f"leadmodel-{system}.csv", tmp_path / "scores.csv"
    model = (funnels[system], {"uri": f"test:{system}"})
    summary = score_file(path, out, mapping=system, model=model, crm_format=system)
    assert summary.rows_scored == ROWS
    score_file(path, canonical, mapping=system, model=model, reasons=3)

    written = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(written.columns) == spec.columns == documented_columns(system)
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert written[spec.id_column].tolist() == raw.iloc[:, 0].tolist()  # the export's record ids
    reasons = written[spec.reasons]
    assert reasons.str.len().max() <= spec.reasons_max_chars
    assert (reasons != "").all()
    assert set(written[spec.tier]) <= set("ABCD")
    scores = pd.read_csv(canonical, dtype={"reasons": str}, keep_default_na=False)
    pd.testing.assert_series_equal(
        written[spec.score].astype(float), scores["score"].round(1), check_names=False
    )
    pd.testing.assert_series_equal(
        written[spec.p_close].astype(float), scores["p_close"].round(4), check_names=False
    )
    assert written[spec.tier].tolist() == scores["tier"].tolist()
    assert reasons.tolist() == scores["reasons"].map(spec.fit_text).tolist()


@pytest.mark.slow
def test_score_command_writes_a_write_back_file(trained, tmp_path: Path) -> None:
    leads = pd.read_csv(trained.data_path, dtype=str, keep_default_na=False).head(CLI_ROWS)
    data = write_table(leads, tmp_path / "leads.csv")
    out = tmp_path / "leadmodel-salesforce.csv"
    args = ["score", "--data", str(data), "--model", trained.result.model_uri]
    done = runner.invoke(app, [*args, "--format", "salesforce", "--out", str(out)])
    assert done.exit_code == 0, done.output
    written = pd.read_csv(out, dtype=str, keep_default_na=False)
    spec = crm.WRITE_BACKS["salesforce"]
    assert list(written.columns) == spec.columns
    assert written[spec.id_column].tolist() == leads["lead_id"].tolist()
    assert written[spec.reasons].str.len().between(1, spec.reasons_max_chars).all()


def test_reasons_are_cut_to_whole_reasons_within_the_field() -> None:
    salesforce = crm.WRITE_BACKS["salesforce"]
    reason = "Viewed 23 pages on the website before first contact: +18.7 points"
    text = "; ".join([reason] * 6)
    cut = salesforce.fit_text(text)
    assert len(text) > salesforce.reasons_max_chars >= len(cut)
    assert cut == "; ".join([reason] * 3)  # 3 x 65 + 2 x 2 = 199 fits, a fourth would not
    long = "x" * 400
    assert salesforce.fit_text(long) == "x" * 254 + "…"
    assert salesforce.fit_text(reason) == reason


def test_score_format_refuses_what_a_crm_cannot_import(tmp_path: Path) -> None:
    data = tmp_path / "leads.csv"
    data.write_text("lead_id,created_at,source\nL1,2024-01-01,web\n", encoding="utf-8")
    args = ["score", "--data", str(data), "--model", "models:/none/1"]
    parquet = runner.invoke(app, [*args, "--format", "hubspot", "--out", str(tmp_path / "s.pq")])
    assert parquet.exit_code == 2
    assert "a HubSpot write-back file is imported as CSV; name it *.csv" in parquet.output
    other = runner.invoke(app, [*args, "--format", "pipedrive", "--out", str(tmp_path / "s.csv")])
    assert other.exit_code == 2
    assert "--format: must be one of canonical, hubspot, salesforce, dynamics" in other.output
    spark = [*args, "--format", "dynamics", "--engine", "spark", "--out", str(tmp_path / "s.csv")]
    assert "a write-back file is written with --engine pandas" in runner.invoke(app, spark).output
