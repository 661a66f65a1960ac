"""Explanations: additivity, direction on data with a known answer, reasons, what-if, CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from leadmodel import explain, schema
from leadmodel.cli import app
from leadmodel.io import write_table
from leadmodel.model import ACCEPT, CLOSE, sigmoid
from leadmodel.report import write_report
from leadmodel.synthetic import EFFECT_STRENGTH

ATOL = 1e-6
#: Leads checked one by one through what_if (each call scores two rows).
WHAT_IF_LEADS = 25
SECTION_IDS = ("headline", "tiers", "sources", "awareness", "handover", "drivers", "examples")


@pytest.fixture(scope="module")
def model(trained):
    return trained.result.model


@pytest.fixture(scope="module")
def leads(trained) -> pd.DataFrame:
    """The test slice of the session model: the newest leads, as ingest typed them."""
    return trained.result.test


@pytest.fixture(scope="module")
def contribs(model, leads) -> dict[str, explain.StageContributions]:
    return explain.all_contributions(model, leads)


# --- additivity -------------------------------------------------------------------------


@pytest.mark.parametrize("stage", [ACCEPT, CLOSE])
def test_contributions_add_up_to_the_booster_output_for_every_lead(
    model, leads, contribs, stage: str
) -> None:
    contrib = contribs[stage]
    raw = model.stages[stage].raw(model.transform(leads))  # independent of pred_contrib
    assert contrib.values.shape == (len(leads), len(contrib.fields))
    assert contrib.fields == explain.model_fields(model)
    np.testing.assert_allclose(contrib.base + contrib.values.sum(axis=1), raw, rtol=0, atol=ATOL)
    np.testing.assert_allclose(contrib.raw, raw, rtol=0, atol=ATOL)


def test_close_points_add_up_to_the_score_for_every_lead(model, leads, contribs) -> None:
    contrib = contribs[CLOSE]
    base_points, points = explain.to_points(model, contrib)
    total = base_points + points.sum(axis=1)
    # calibration is a line on log-odds, so scaled contributions stay additive with it
    close = model.stages[CLOSE]
    calibrated = close.calib_slope * (contrib.base + contrib.values.sum(axis=1))
    calibrated += close.calib_intercept
    np.testing.assert_allclose(contrib.calibrated_logit(model), calibrated, rtol=0, atol=ATOL)
    np.testing.assert_allclose(
        total, model.score_from_logit(calibrated, clip=False), rtol=0, atol=ATOL
    )
    scored = model.predict(leads)
    np.testing.assert_allclose(np.clip(total, 0, 100), scored["score"], rtol=0, atol=ATOL)
    np.testing.assert_allclose(sigmoid(calibrated), scored["p_close"], rtol=0, atol=ATOL)


def test_accept_points_add_up_to_the_calibrated_accept_log_odds(model, leads, contribs) -> None:
    base_points, points = explain.to_points(model, contribs[ACCEPT])
    total = base_points + points.sum(axis=1)
    logit = total / model.points_per_logit
    np.testing.assert_allclose(logit, contribs[ACCEPT].calibrated_logit(model), rtol=0, atol=ATOL)
    np.testing.assert_allclose(sigmoid(logit), model.predict(leads)["p_accept"], rtol=0, atol=ATOL)


def test_full_contributions_add_up_per_lead(model, leads) -> None:
    few = leads.head(20)
    scores = model.predict(few)
    for lead, score in zip(explain.full_contributions(model, few), scores["score"], strict=True):
        close = lead[CLOSE]
        assert close["base_points"] + sum(close["points"].values()) == pytest.approx(
            close["total_points"], abs=ATOL
        )
        assert np.clip(close["total_points"], 0, 100) == pytest.approx(score, abs=ATOL)
        assert set(lead) == {schema.LEAD_ID, ACCEPT, CLOSE}


# --- direction on data with a known answer ------------------------------------------------


def test_strong_fields_rank_above_fields_without_effect(model, leads, contribs) -> None:
    importance = explain.global_importance(model, leads, contribs)
    strong = [f for f, s in EFFECT_STRENGTH.items() if s == "strong"]
    # business_unit has no effect of its own, but each unit has one sales_alignment level,
    # so it carries that field's (moderate) effect: only truly inert fields count here
    inert = [f for f, s in EFFECT_STRENGTH.items() if s == "none" and f != "business_unit"]
    inert = [f for f in inert if f in explain.model_fields(model)]
    assert strong and inert
    for stage in (ACCEPT, CLOSE):
        points = importance[importance["stage"] == stage].set_index("field")["mean_abs_points"]
        weakest_strong = points[strong].min()
        strongest_inert = points[inert].max()
        assert weakest_strong > strongest_inert, (stage, points.to_dict())


def test_high_awareness_gets_more_awareness_points_than_none(model, leads, contribs) -> None:
    awareness = explain.field_values(model, leads, schema.PRIOR_AWARENESS).to_numpy()
    for stage in (ACCEPT, CLOSE):
        _, points = explain.to_points(model, contribs[stage])
        own = points[:, contribs[stage].fields.index(schema.PRIOR_AWARENESS)]
        high, none = own[awareness == "high"], own[awareness == "none"]
        assert len(high) > 10 and len(none) > 10
        assert high.mean() > none.mean() + 1.0, stage


def test_segment_view_by_awareness_is_ordered_and_counts_every_lead(model, leads, contribs) -> None:
    table = explain.segment_view(model, leads, schema.PRIOR_AWARENESS, contribs)
    assert table["n"].sum() == len(leads)
    known = [v for v in table[schema.PRIOR_AWARENESS] if v in schema.AWARENESS_LEVELS]
    assert known == [v for v in schema.AWARENESS_LEVELS if v in known]
    rows = table.set_index(schema.PRIOR_AWARENESS)
    assert rows.loc["high", "mean_points"] > rows.loc["none", "mean_points"]
    assert rows.loc["high", "mean_p_close"] > rows.loc["none", "mean_p_close"]
    decided = leads[schema.CLOSED].notna()
    assert rows["close_decided"].sum() == decided.sum()


def test_segment_view_by_source_normalises_and_rejects_unknown_columns(
    model, leads, contribs
) -> None:
    messy = leads.copy()
    messy[schema.SOURCE] = messy[schema.SOURCE].str.replace("_", " ").str.title()
    table = explain.segment_view(model, messy, schema.SOURCE, contribs)
    assert set(table[schema.SOURCE]) == set(leads[schema.SOURCE])
    assert table["n"].sum() == len(leads)
    # a sample of contributions: mean points over the sampled leads only
    rows = np.arange(0, len(leads), 2)
    sample = {stage: explain.contributions(model, leads.iloc[rows], stage) for stage in contribs}
    half = explain.segment_view(model, leads, schema.SOURCE, sample, rows=rows)
    assert (half["n"].to_numpy() == table["n"].to_numpy()).all()
    _, points = explain.to_points(model, sample[CLOSE])
    own = points[:, sample[CLOSE].fields.index(schema.SOURCE)]
    keys = leads[schema.SOURCE].to_numpy()[rows]
    first = half[schema.SOURCE].iloc[0]
    assert half["mean_points"].iloc[0] == pytest.approx(own[keys == first].mean())
    with pytest.raises(ValueError, match="no_such_field"):
        explain.segment_view(model, leads, "no_such_field")


# --- reasons ---------------------------------------------------------------------------------


def test_reasons_frame_equals_explain_leads(model, leads) -> None:
    few = leads.head(200)
    k = 3
    frame = explain.reasons_frame(model, few, k=k)
    explained = explain.explain_leads(model, few, k=k)
    assert list(frame[schema.LEAD_ID]) == [e[schema.LEAD_ID] for e in explained]
    for i, lead in enumerate(explained):
        reasons = lead["reasons"]
        assert 0 < len(reasons) <= k
        for j in range(k):
            field = frame.at[i, f"reason_{j + 1}_field"]
            if j < len(reasons):
                assert field == reasons[j]["field"]
                assert frame.at[i, f"reason_{j + 1}_points"] == pytest.approx(
                    reasons[j]["points"], abs=ATOL
                )
            else:
                assert field is None
        assert frame.at[i, "reasons"] == "; ".join(r["text"] for r in reasons)


def test_explain_leads_ranks_reasons_and_matches_the_score(model, leads) -> None:
    few = leads.head(50)
    scores = model.predict(few)
    contrib = explain.contributions(model, few)
    _, points = explain.to_points(model, contrib)
    for i, lead in enumerate(explain.explain_leads(model, few, k=4)):
        assert lead["score"] == pytest.approx(scores["score"].iloc[i])
        assert lead["tier"] == scores["tier"].iloc[i]
        strength = [abs(r["points"]) for r in lead["reasons"]]
        assert strength == sorted(strength, reverse=True)
        assert strength[0] == pytest.approx(np.abs(points[i]).max())
        assert all(r["points"] > 0 and r["direction"] == "+" for r in lead["positive"])
        assert all(r["points"] < 0 and r["direction"] == "-" for r in lead["negative"])
        positive = sorted(points[i][points[i] >= explain.MIN_REASON_POINTS], reverse=True)[:4]
        assert [r["points"] for r in lead["positive"]] == pytest.approx(positive)


def test_reason_texts_read_like_sentences() -> None:
    assert (
        explain.reason_text("prior_awareness", "high", 14.0)
        == "Knew the company well before first contact: +14 points"
    )
    assert explain.reason_text("prior_awareness", " HIGH ", -2.46) == (
        "Knew the company well before first contact: -2.5 points"
    )
    assert (
        explain.reason_text("website_visits", 12, 3.1)
        == "Visited the website 12 times: +3.1 points"
    )
    assert explain.reason_text("website_visits", None, -1.0) == "Website visits unknown: -1 point"
    assert explain.reason_text("source", "Organic Search", 2) == (
        "Came in through organic search: +2 points"
    )
    assert explain.reason_text("lead_score_v2", 12, 3.1) == "lead_score_v2 = 12: +3.1 points"
    assert explain.reason_text("region", "EMEA", -0.55) == "region = EMEA: -0.6 points"
    assert explain.reason_text("job_level", "c_level", 5) == "Job level is c level: +5 points"


# --- what if -----------------------------------------------------------------------------------


def test_what_if_matches_batch_scoring_and_reports_the_change(model, leads) -> None:
    few = leads[leads[schema.PRIOR_AWARENESS] == "none"].head(WHAT_IF_LEADS)
    changed = model.predict(few.assign(**{schema.PRIOR_AWARENESS: "high"}))
    before = model.predict(few)
    for i, (_, lead) in enumerate(few.iterrows()):
        result = explain.what_if(model, lead, {schema.PRIOR_AWARENESS: "High"})
        assert result[schema.LEAD_ID] == lead[schema.LEAD_ID]
        assert result["old"]["score"] == pytest.approx(before["score"].iloc[i], abs=ATOL)
        assert result["new"]["score"] == pytest.approx(changed["score"].iloc[i], abs=ATOL)
        assert result["new"]["tier"] == changed["tier"].iloc[i]
        assert result["changes"] == {schema.PRIOR_AWARENESS: {"from": "none", "to": "high"}}
        # the unclipped score moves by exactly the sum of the per-field points changes
        unclipped = [
            model.score_from_logit(np.log(r["p_close"] / (1 - r["p_close"])), clip=False)
            for r in (result["old"], result["new"])
        ]
        assert sum(result["points_change"].values()) == pytest.approx(
            unclipped[1] - unclipped[0], abs=1e-4
        )
        assert result["points_change"][schema.PRIOR_AWARENESS] > 0


def test_raising_awareness_never_lowers_the_score(model, leads) -> None:
    lowered = {}
    for lower, higher in (("none", "low"), ("low", "high")):
        base = model.predict(leads.assign(**{schema.PRIOR_AWARENESS: lower}))["score"]
        raised = model.predict(leads.assign(**{schema.PRIOR_AWARENESS: higher}))["score"]
        drop = (raised - base).to_numpy()
        worst = int(np.argmin(drop))  # what_if agrees with the batch on the worst lead
        lead = leads.iloc[worst].to_dict() | {schema.PRIOR_AWARENESS: lower}
        result = explain.what_if(model, lead, {schema.PRIOR_AWARENESS: higher})
        assert result["new"]["score"] - result["old"]["score"] == pytest.approx(
            drop[worst], abs=ATOL
        )
        lowered[f"{lower}->{higher}"] = int((drop < -ATOL).sum())
    assert sum(lowered.values()) == 0, f"leads scored lower of {len(leads)}: {lowered}"


def test_what_if_types_values_like_ingest(model, leads) -> None:
    lead = leads.iloc[0].to_dict()
    result = explain.what_if(
        model, lead, {"website_visits": " 1,200 ", "source": "Organic-Search", "industry": ""}
    )
    assert result["changes"]["website_visits"]["to"] == 1200
    assert result["changes"]["source"]["to"] == "organic_search"
    assert result["changes"]["industry"]["to"] is None
    as_text = {k: (None if pd.isna(v) else str(v)) for k, v in lead.items()}
    assert explain.what_if(model, as_text, {"email_clicks": "3"})["old"]["score"] == pytest.approx(
        result["old"]["score"], abs=ATOL
    )


@pytest.mark.parametrize(
    "changes,needle",
    [
        ({"favourite_colour": "blue"}, "favourite_colour: not a field this model uses"),
        ({"website_visits": "-3"}, "website_visits: must be >= 0"),
        ({"website_visits": "2,5"}, "website_visits: expected a number"),
        ({"email_clicks": "lots"}, "email_clicks: expected a number"),
        ({"prior_awareness": "maybe"}, "prior_awareness: must be one of none, low, high"),
    ],
)
def test_what_if_bad_change_names_the_field(model, leads, changes, needle: str) -> None:
    with pytest.raises(ValueError, match=re.escape(needle)):
        explain.what_if(model, leads.iloc[0], changes)


def test_what_if_bad_lead_value_names_the_lead_and_field(model, leads) -> None:
    lead = leads.iloc[0].to_dict() | {"pages_viewed": "many"}
    with pytest.raises(ValueError, match=rf"lead '{lead['lead_id']}': pages_viewed"):
        explain.what_if(model, lead, {"prior_awareness": "high"})


# --- hand-over threshold -----------------------------------------------------------------------


def test_handover_curve_is_monotone_and_complete(model, leads) -> None:
    scored = model.predict(leads)
    curve = explain.handover_curve(
        scored["score"], scored["p_accept"], scored["p_close"], leads[schema.CLOSED]
    )
    assert list(curve["threshold"]) == list(range(101))
    assert curve["leads_passed"].iloc[0] == len(leads)
    assert (np.diff(curve["leads_passed"]) <= 0).all()
    assert (np.diff(curve["share_of_wins"]) <= 1e-12).all()
    for t in (0, 37, 80, 100):
        passed = scored["score"] >= t
        row = curve.set_index("threshold").loc[t]
        assert row["leads_passed"] == passed.sum()
        if passed.any():
            assert row["expected_accept_rate"] == pytest.approx(scored["p_accept"][passed].mean())
        wins = leads[schema.CLOSED].fillna(0).to_numpy()
        assert row["share_of_actual_wins"] == pytest.approx(wins[passed].sum() / wins.sum())


@pytest.mark.parametrize("capacity", [5.0, 20.0, 60.0, 1e6])
def test_recommended_threshold_never_passes_more_than_capacity(model, leads, capacity) -> None:
    scored = model.predict(leads)
    curve = explain.handover_curve(scored["score"], scored["p_accept"], scored["p_close"])
    weeks = explain.weeks_spanned(leads[schema.CREATED_AT])
    assert weeks > 1
    rec = explain.recommend_threshold(curve, leads_per_week=capacity, weeks=weeks)
    if rec["threshold"] is None:
        assert (curve["leads_passed"] / weeks > capacity).all()
        return
    passed = int((scored["score"] >= rec["threshold"]).sum())
    assert rec["leads_passed"] == passed
    assert passed / weeks <= capacity
    assert rec["leads_per_week_passed"] <= capacity
    if rec["threshold"] > 0:  # the lowest threshold that fits: one lower does not
        below = int((scored["score"] >= rec["threshold"] - 1).sum())
        assert below / weeks > capacity
    assert str(rec["threshold"]) in rec["reasoning"]


def test_recommendation_reads_in_danish_from_the_same_numbers() -> None:
    """The reasoning is rebuilt per language from the result's numbers (whole sentences)."""
    from leadmodel import i18n
    from leadmodel.explain.handover import reasoning

    rng = np.random.default_rng(0)
    scores = rng.uniform(0, 100, 1200)
    curve = explain.handover_curve(scores, scores / 100, scores / 400, scores > 80)
    with i18n.using("en"):
        rec = explain.recommend_threshold(curve, leads_per_week=25, weeks=12.5)
    assert rec["reasoning"].startswith(f"Pass leads scoring {rec['threshold']} or more")
    assert "at most 25 leads per week" in rec["reasoning"] and "12.5 weeks" in rec["reasoning"]
    with i18n.using("da"):
        danish = reasoning(rec)
        none = explain.recommend_threshold(curve, target_accept_rate=1.0)["reasoning"]
    assert danish.startswith(f"Send leads med en score på {rec['threshold']} eller mere")
    assert "højst 25 leads om ugen" in danish and "over 12,5 uger" in danish, danish
    assert i18n.number(rec["leads_passed"], lang="da") in danish
    assert none.startswith("Ingen scoretærskel overholder en forventet acceptrate på mindst 100")


def test_recommended_threshold_for_a_target_accept_rate(model, leads) -> None:
    scored = model.predict(leads)
    curve = explain.handover_curve(scored["score"], scored["p_accept"], scored["p_close"])
    rec = explain.recommend_threshold(curve, target_accept_rate=0.6)
    passed = scored["score"] >= rec["threshold"]
    assert scored["p_accept"][passed].mean() >= 0.6
    with pytest.raises(ValueError, match="weeks"):
        explain.recommend_threshold(curve, leads_per_week=10)
    with pytest.raises(ValueError, match="leads_per_week"):
        explain.recommend_threshold(curve)


# --- training run artifacts --------------------------------------------------------------------


def test_training_run_logs_report_and_explanations(trained) -> None:
    client = MlflowClient()
    run_id = trained.result.run_id
    top = {a.path for a in client.list_artifacts(run_id)}
    assert "report.html" in top
    explained = {a.path for a in client.list_artifacts(run_id, "explain")}
    for name in ("importance.csv", "reasons.csv", "handover.csv", "beeswarm_close.png"):
        assert f"explain/{name}" in explained, explained
    local = Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="explain"))
    reasons = pd.read_csv(local / "reasons.csv")
    assert len(reasons) == len(trained.result.test)


def test_report_without_labels_says_so(model, leads, tmp_path: Path) -> None:
    unlabelled = leads.drop(columns=[schema.ACCEPTED, schema.CLOSED]).head(300)
    summary = write_report(model, unlabelled, tmp_path / "r.html", capacity=10)
    page = summary.path.read_text(encoding="utf-8")
    assert "no decided outcomes" in page
    assert summary.metrics == {}
    assert summary.recommendation is not None
    assert summary.recommendation["leads_per_week_passed"] <= 10


def test_report_settings_shape_the_page(model, leads, tmp_path: Path) -> None:
    """The report's ReportConfig is used: the hand-over table's step, reasons per example."""
    from leadmodel.config import ReportConfig

    sample = leads.head(400)
    plain = write_report(model, sample, tmp_path / "a.html").path.read_text(encoding="utf-8")
    settings = ReportConfig(handover_table_step=25, example_reasons=1, target_accept_rate=0.9)
    custom = write_report(model, sample, tmp_path / "b.html", settings=settings)
    page = custom.path.read_text(encoding="utf-8")
    assert "each with its 1 strongest reasons" in page
    assert "each with its 3 strongest reasons" in plain
    handover = page.split('id="handover"')[1].split("</section>")[0]
    assert handover.count("<tr>") == 1 + 5  # header and thresholds 0, 25, 50, 75, 100
    if model.has_accept:
        assert "accept rate at 90% or more" in page


# --- the CLI ---------------------------------------------------------------------------------


def _lead_json(leads: pd.DataFrame) -> dict:
    row = leads[leads[schema.PRIOR_AWARENESS] == "none"].iloc[0]
    return {k: (None if pd.isna(v) else v) for k, v in row.items() if k != schema.CREATED_AT}


def test_cli_whatif_prints_old_and_new_score(trained, leads, tmp_path: Path) -> None:
    lead = _lead_json(leads)
    uri = trained.result.model_uri
    runner = CliRunner()
    args = ["whatif", "--model", uri, "--lead", json.dumps(lead)]
    result = runner.invoke(app, [*args, "--set", "prior_awareness=high", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["changes"] == {"prior_awareness": {"from": "none", "to": "high"}}
    assert data["new"]["score"] >= data["old"]["score"]
    path = tmp_path / "lead.json"
    path.write_text(json.dumps(lead), encoding="utf-8")
    human = runner.invoke(
        app, ["whatif", "--model", uri, "--lead", f"@{path}", "--set", "email_clicks=4"]
    )
    assert human.exit_code == 0, human.output
    assert "score" in human.stdout and "email_clicks" in human.stdout


@pytest.mark.parametrize(
    "extra,needle",
    [
        (["--set", "favourite_colour=blue"], "favourite_colour"),
        (["--set", "website_visits=-2"], "website_visits"),
        (["--set", "no_equals_sign"], "--set"),
        ([], "--set"),
    ],
)
def test_cli_whatif_bad_input_is_one_clear_line(trained, leads, extra, needle: str) -> None:
    lead = json.dumps(_lead_json(leads))
    result = CliRunner().invoke(
        app, ["whatif", "--model", trained.result.model_uri, "--lead", lead, *extra]
    )
    _assert_one_error_line(result, needle)


def _assert_one_error_line(result, needle: str) -> None:
    """Exit code 2, one ``error:`` line on stderr that names ``needle``, no traceback."""
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and needle in errors[0], result.stderr
    assert "Traceback" not in result.output


def test_cli_whatif_bad_lead_and_missing_model(trained, tmp_path: Path) -> None:
    runner = CliRunner()
    uri = trained.result.model_uri
    bad_json = runner.invoke(app, ["whatif", "--model", uri, "--lead", "{oops", "--set", "a=1"])
    _assert_one_error_line(bad_json, "--lead: not valid JSON")
    not_object = runner.invoke(app, ["whatif", "--model", uri, "--lead", "[1]", "--set", "a=1"])
    _assert_one_error_line(not_object, "expected one JSON object")
    missing = runner.invoke(
        app, ["whatif", "--model", uri, "--lead", f"@{tmp_path / 'no.json'}", "--set", "a=1"]
    )
    _assert_one_error_line(missing, "cannot read the file")
    no_model = runner.invoke(
        app,
        ["whatif", "--model", "models:/no-such-model@champion", "--lead", "{}", "--set", "a=1"],
    )
    _assert_one_error_line(no_model, "leadmodel train")


@pytest.mark.slow
def test_cli_report_writes_a_self_contained_page(trained, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = CliRunner().invoke(
        app,
        [
            "report",
            "--data",
            str(trained.data_path),
            "--model",
            trained.result.model_uri,
            "--out",
            str(out),
            "--capacity",
            "25",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["leads"] == len(pd.read_csv(trained.data_path))
    assert summary["threshold"] is not None and "25 leads per week" in summary["recommendation"]
    page = out.read_text(encoding="utf-8")
    for section in SECTION_IDS:
        assert f'id="{section}"' in page
    assert "<script" not in page.lower()
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", page)
    assert page.count('src="data:image/png;base64,') >= 8
    verdict = trained.result.readiness.verdict
    assert f"Readiness at training: {verdict}." in page


def test_cli_report_counts_rejected_rows(trained, tmp_path: Path) -> None:
    frame = pd.read_csv(trained.data_path).head(400)
    frame.loc[3, "website_visits"] = -4
    path = write_table(frame, tmp_path / "some_bad.csv")
    out = tmp_path / "r.html"
    result = CliRunner().invoke(
        app,
        ["report", "--data", str(path), "--model", trained.result.model_uri, "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "1 of 400 rows rejected" in result.stdout
    assert "1 of 400 rows in the file were rejected" in out.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--data", "{missing}"], "no_such.csv"),
        (["--out", "{tmp}/report.txt"], "--out"),
        (["--out", "{tmp}/no/such/folder/r.html"], "--out"),
        (["--capacity", "-5"], "--capacity"),
        (["--model", "models:/no-such-model@champion"], "leadmodel train"),
    ],
)
def test_cli_report_bad_input_is_one_clear_line(trained, tmp_path: Path, args, needle) -> None:
    base = {
        "--data": str(trained.data_path),
        "--model": trained.result.model_uri,
        "--out": str(tmp_path / "r.html"),
    }
    given = dict(zip(args[::2], args[1::2], strict=True))
    values = base | {
        k: v.format(missing=tmp_path / "no_such.csv", tmp=tmp_path) for k, v in given.items()
    }
    argv = ["report", *[x for kv in values.items() for x in kv]]
    _assert_one_error_line(CliRunner().invoke(app, argv), needle)


def test_cli_report_with_every_row_rejected_says_so(trained, tmp_path: Path) -> None:
    frame = pd.read_csv(trained.data_path).head(20)
    frame["website_visits"] = -1
    path = write_table(frame, tmp_path / "all_bad.csv")
    argv = ["report", "--data", str(path), "--model", trained.result.model_uri]
    result = CliRunner().invoke(app, [*argv, "--out", str(tmp_path / "r.html")])
    _assert_one_error_line(result, "no valid leads to report on (all 20 rows rejected")
    assert not (tmp_path / "r.html").exists()
