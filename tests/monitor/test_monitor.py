"""``leadmodel monitor`` on synthetic production periods with a known drift (issue 13).

The session's small model (``trained``) scores one production period per scenario of
``leadmodel.synthetic`` (same company, other leads); the log is written through
``leadmodel.predlog`` and read back by the monitor through DuckDB. Each scenario must
raise its own alarm naming its own field; stable data must raise none.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from leadmodel import i18n, monitor_page, schema
from leadmodel.cli import app
from leadmodel.config import load_config
from leadmodel.monitor import ALARM, EXPERIMENT, monitor
from tests.conftest import SMALL_SEED, Trained
from tests.monitor.scenario import production_log

#: Seed of the production periods (the leads), not of the company (SMALL_SEED's).
SEED = 11
SETTINGS = load_config().monitor


@pytest.fixture(scope="module")
def periods(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> dict:
    result = trained.result
    out = {}
    for scenario in (None, "base_rate", "new_source", "tracking_break"):
        folder = tmp_path_factory.mktemp(f"period-{scenario}")
        out[scenario] = production_log(
            result.model,
            result.model_name,
            result.model_version,
            folder,
            seed=SEED,
            scenario=scenario,
            world=SMALL_SEED,
        )
    return out


@pytest.fixture(scope="module")
def results(periods: dict) -> dict:
    """The library's result per scenario, without page or MLflow run (new_source: CLI)."""
    return {
        scenario: monitor(periods[scenario].log, periods[scenario].outcomes, track=False)
        for scenario in (None, "base_rate", "tracking_break")
    }


def _alarms(result) -> list:
    return [r for r in result.reasons if r.level == ALARM]


def test_stable_data_raises_no_alarm_and_judges_old_cohorts(results: dict) -> None:
    result = results[None]
    assert result.verdict != ALARM, result.lines()
    assert not _alarms(result)
    close = result.pooled["close"]
    assert close["n"] >= SETTINGS.min_outcome_leads
    # calibrated on the same company: realised close rate near the predicted one
    assert abs(close["ratio"] - 1) < SETTINGS.calibration_warn - 1, close
    assert result.reference is not None and result.reference["quality"]["close"]["roc_auc"] > 0.6


def test_base_rate_climb_raises_a_close_calibration_alarm(results: dict) -> None:
    result = results["base_rate"]
    assert result.verdict == ALARM
    alarms = _alarms(result)
    calibration = [r for r in alarms if r.kind == "calibration" and r.field == "close"]
    assert calibration, result.lines()
    assert "close rate of leads from 2026-W" in calibration[0].line
    assert calibration[0].line.endswith("calibration alarm")
    realised = float(calibration[0].line.split(" is ")[1].split(",")[0])
    predicted = float(calibration[0].line.split("predicted ")[1].split(":")[0])
    assert realised > SETTINGS.calibration_alarm * predicted
    # the inputs did not move: no field raises an alarm
    assert not [r for r in alarms if r.kind in ("drift", "missing", "unseen")], result.lines()


def test_verdict_lines_and_page_in_danish_json_stays_english(results: dict, tmp_path: Path) -> None:
    """The same result read in Danish: its lines, notes and page; ``--json`` as in English."""
    result = results["base_rate"]
    english = result.lines()
    (calibration,) = [r for r in _alarms(result) if r.kind == "calibration" and r.field == "close"]
    with i18n.using("da"):
        line = calibration.line
        assert line.startswith("lukkeraten for leads fra 2026-W") and " til " in line, line
        assert line.endswith("kalibrering – alarm"), line
        realised = line.split(" er ")[1].split(", ")[0]
        predicted = line.split("forventede ")[1].split(":")[0]
        assert "," in realised and "." not in realised, line  # Danish decimal mark
        assert float(realised.replace(",", ".")) > SETTINGS.calibration_alarm * float(
            predicted.replace(",", ".")
        )
        assert result.to_json()["reasons"] == english  # machines read the same JSON
        assert result.to_json()["verdict"] == ALARM
        result.figures = monitor_page.plots(result, tmp_path, SETTINGS)
        try:
            page = monitor_page.write(result, tmp_path / "monitor.html").read_text("utf-8")
        finally:
            result.figures = {}
    assert '<html lang="da">' in page
    for heading in ("Vurdering: alarm", "Datadrift pr. felt", "Ugekohorter", "Scorefordeling"):
        assert heading in page, heading
    for english_heading in ("Verdict:", "Input drift per field", "Weekly cohorts", "Score dist"):
        assert english_heading not in page, english_heading
    assert line in page
    assert re.search(r"\d+,\d\xa0%", page), "no Danish percentage on the page"


def test_tracking_break_raises_a_missing_values_alarm_on_website_visits(results: dict) -> None:
    result = results["tracking_break"]
    assert result.verdict == ALARM
    missing = [r for r in _alarms(result) if r.kind == "missing"]
    assert [r.field for r in missing] == ["website_visits"], result.lines()
    assert missing[0].line.startswith("website_visits: missing in 100% of the leads from 2026-W28")
    fields = {r.field for r in _alarms(result) if r.kind in ("drift", "missing", "unseen")}
    assert fields == {"website_visits"}, result.lines()


def test_recent_open_leads_never_count_as_lost(periods: dict, results: dict) -> None:
    period = periods["base_rate"]
    result = results["base_rate"]
    leads = period.leads
    week = pd.to_datetime(leads[schema.CREATED_AT]).dt.strftime("%G-W%V")
    judged = [c["cohort"] for c in result.cohorts if c["quality"]["close"]["judged"]]
    open_weeks = set(week[leads[schema.CLOSED].isna()])
    recent = [c["cohort"] for c in result.cohorts[-6:]]
    assert open_weeks & set(recent) and not set(recent) & set(judged)
    for row in result.cohorts:
        q = row["quality"]["close"]
        in_week = leads[week == row["cohort"]]
        assert q["decided"] == in_week[schema.CLOSED].notna().sum()
        if q["judged"]:  # every lost lead counted is a lead the export says was lost
            lost = int((in_week[schema.CLOSED] == 0).sum())
            assert q["n"] - q["positives"] == lost
            assert q["decided_share"] >= SETTINGS.min_decided_share


def test_cli_new_source_alarm_writes_the_page_logs_the_run_and_exits_1(
    periods: dict, trained: Trained, tmp_path: Path
) -> None:
    period = periods["new_source"]
    page = tmp_path / "monitor.html"
    args = ["monitor", "--log", str(period.log), "--outcomes", str(period.outcomes)]
    run = CliRunner().invoke(app, [*args, "--out", str(page), "--json"])
    assert run.exit_code == 1, run.output
    found = json.loads(run.stdout)
    assert found["verdict"] == ALARM
    # a new source: an unseen-category alarm on source, and on no other field
    alarms = [r for r in found["reason_details"] if r["level"] == ALARM]
    unseen = [r for r in alarms if r["kind"] == "unseen"]
    assert [r["field"] for r in unseen] == [schema.SOURCE], found["reasons"]
    assert unseen[0]["first"] == "2026-W28"  # the scenario starts on Monday 2026-07-06
    assert {r["field"] for r in alarms if r["field"]} == {schema.SOURCE}, found["reasons"]
    html = page.read_text(encoding="utf-8")
    for section in ("verdict", "drift", "calibration", "scores", "cohorts"):
        assert f'<section id="{section}">' in html
    assert html.count("data:image/png;base64,") >= 3
    assert "http://" not in html and "https://" not in html and "<script" not in html
    client = MlflowClient()
    experiment = client.get_experiment_by_name(EXPERIMENT)
    (logged,) = client.search_runs(
        [experiment.experiment_id], filter_string=f"attributes.run_id = '{found['run_id']}'"
    )
    assert logged.data.tags["model_version"] == trained.result.model_version
    assert logged.data.tags["verdict"] == ALARM
    assert "psi_source" in logged.data.metrics
    artifacts = {a.path for a in client.list_artifacts(found["run_id"], "plots")}
    assert "plots/drift.png" in artifacts


def test_cli_bad_outcomes_is_one_line_exit_2(periods: dict, tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    args = ["monitor", "--log", str(periods[None].log), "--outcomes", str(missing)]
    run = CliRunner().invoke(app, args)
    assert run.exit_code == 2
    assert "nope.csv" in run.output and "Traceback" not in run.output
    assert len(run.output.strip().splitlines()) == 1


def test_a_model_without_reference_is_judged_on_quality_and_says_so(
    periods: dict, trained: Trained
) -> None:
    import copy

    import mlflow

    from leadmodel.tracking import input_example, log_model

    old = copy.copy(trained.result.model)  # as models trained before issue 13 are
    old.metadata = {k: v for k, v in old.metadata.items() if k != "reference"}
    with mlflow.start_run():
        info = log_model(old, input_example(trained.result.test, old))
    period = periods["base_rate"]
    result = monitor(period.log, period.outcomes, model_uri=info.model_uri, track=False)
    assert any("keeps no reference distributions" in str(note) for note in result.notes)
    assert {r.kind for r in result.reasons} <= {"calibration", "ranking"}
    assert [r for r in result.reasons if r.kind == "calibration" and r.level == ALARM]
