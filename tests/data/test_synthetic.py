"""The synthetic CRM export: published funnel facts, determinism, messy mode, the drift and
campaign scenarios, and the CLI."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import logit
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from leadmodel import schema, synthetic
from leadmodel.cli import app
from leadmodel.ingest import read_table
from leadmodel.io import write_table
from leadmodel.synthetic import SyntheticExport, generate

ROWS = 60_000
SEED = 11
AS_OF = pd.Timestamp(synthetic.DEFAULT_AS_OF)
CLI_ROWS = 2_000
ENGAGEMENT_BANDS = 5
SCENARIO_ROWS = 50_000
CAMPAIGNS = 400
#: Campaigns with at least this many leads count as big.
BIG_CAMPAIGN = 300

runner = CliRunner()


@pytest.fixture(scope="module")
def clean() -> SyntheticExport:
    return generate(ROWS, seed=SEED)


@pytest.fixture(scope="module")
def messy() -> SyntheticExport:
    return generate(ROWS, seed=SEED, messy=True)


@pytest.fixture(scope="module")
def base() -> SyntheticExport:
    return generate(SCENARIO_ROWS, seed=SEED)


@pytest.fixture(scope="module")
def scenarios() -> SyntheticExport:
    return generate(SCENARIO_ROWS, seed=SEED, drift=True, campaigns=CAMPAIGNS)


@pytest.fixture(scope="module")
def leads(clean: SyntheticExport) -> pd.DataFrame:
    """The clean export with float labels, an inbound flag and an engagement band."""
    df = clean.export.copy()
    df["accepted"] = df["accepted"].astype("float64")
    df["closed"] = df["closed"].astype("float64")
    df["inbound"] = df["source"].isin(schema.INBOUND_SOURCES)
    engagement = sum(np.log1p(df[c].astype("float64")) for c in schema.ENGAGEMENT_COLUMNS)
    df["engagement_band"] = pd.qcut(engagement, ENGAGEMENT_BANDS, labels=False, duplicates="drop")
    return df


# --- shape of the export -------------------------------------------------------------------


def test_export_has_canonical_and_extra_columns_but_no_truth(clean: SyntheticExport) -> None:
    df = clean.export
    assert list(df.columns) == [*schema.CANONICAL_COLUMNS, "sales_alignment", "business_unit"]
    assert not {"p_accept", "p_close"} & set(df.columns)
    assert len(df) == ROWS
    assert df["lead_id"].is_unique
    assert df["lead_id"].iloc[0] == "L0000001"
    assert df["lead_id"].str.fullmatch(r"L\d{7}").all()


def test_values_are_typed_and_in_range(clean: SyntheticExport) -> None:
    df = clean.export
    assert pd.api.types.is_datetime64_any_dtype(df["created_at"])
    assert df["created_at"].is_monotonic_increasing
    assert df["created_at"].max() <= AS_OF
    assert (df["created_at"] == df["created_at"].dt.normalize()).all()
    for col in schema.NUMERIC_COLUMNS:
        assert pd.api.types.is_integer_dtype(df[col]), col
        assert df[col].notna().all() and (df[col] >= 0).all(), col
    assert set(df["source"]) <= schema.INBOUND_SOURCES | schema.OUTBOUND_SOURCES
    assert set(df["prior_awareness"].dropna()) == set(schema.AWARENESS_LEVELS)
    assert set(df["accepted"].dropna()) == {0, 1} and set(df["closed"].dropna()) == {0, 1}


def test_every_feature_has_a_documented_effect(clean: SyntheticExport) -> None:
    features = set(schema.feature_columns(clean.export.columns)) | {schema.CREATED_AT}
    assert features == set(synthetic.EFFECT_STRENGTH)
    assert set(synthetic.EFFECT_STRENGTH.values()) <= {"strong", "moderate", "weak", "none"}


def test_truth_is_row_aligned_and_consistent(clean: SyntheticExport) -> None:
    truth = clean.truth
    assert list(truth.columns) == list(synthetic.TRUTH_COLUMNS)
    assert truth["lead_id"].equals(clean.export["lead_id"])
    assert ((truth["p_close"] > 0) & (truth["p_close"] <= truth["p_accept"])).all()
    assert (truth["p_accept"] < 1).all()


# --- the published funnel facts ------------------------------------------------------------


def test_about_a_third_know_the_company_before_first_contact(leads: pd.DataFrame) -> None:
    awareness = leads["prior_awareness"]
    aware = awareness.isin(["low", "high"])
    assert 0.28 <= aware.sum() / awareness.notna().sum() <= 0.40
    assert 0.28 <= aware.mean() <= 0.40  # over all leads, unknown counted as not aware
    assert 0.0 < awareness.isna().mean() < 0.10


def test_accept_and_close_rates_rise_with_awareness(leads: pd.DataFrame) -> None:
    rates = leads.groupby("prior_awareness")[["accepted", "closed"]].mean()
    rates = rates.loc[list(schema.AWARENESS_LEVELS)]
    assert rates["accepted"].is_monotonic_increasing and rates["accepted"].is_unique
    assert rates["closed"].is_monotonic_increasing and rates["closed"].is_unique
    assert rates.loc["high", "closed"] > 2 * rates.loc["none", "closed"]


def test_both_inbound_and_outbound_channels_are_present(leads: pd.DataFrame) -> None:
    assert set(leads["source"]) == schema.INBOUND_SOURCES | schema.OUTBOUND_SOURCES
    assert 0.60 <= leads["inbound"].mean() <= 0.70


def test_inbound_leads_are_more_aware_and_more_engaged(leads: pd.DataFrame) -> None:
    by_channel = leads.groupby("inbound")
    aware = by_channel["prior_awareness"].apply(lambda s: s.isin(["low", "high"]).mean())
    assert aware[True] > aware[False] + 0.2
    for col in ("website_visits", "email_clicks", "content_downloads"):
        means = by_channel[col].mean()
        assert means[True] > means[False], col


def test_inbound_converts_better_mostly_through_awareness_and_engagement(
    leads: pd.DataFrame,
) -> None:
    decided = leads[leads["closed"].notna() & leads["prior_awareness"].notna()]
    y = decided["closed"].astype(int)
    inbound = decided[["inbound"]].astype(float)
    adjusted = pd.concat(
        [
            inbound,
            pd.get_dummies(decided["prior_awareness"], drop_first=True, dtype=float),
            pd.get_dummies(decided["engagement_band"], prefix="band", drop_first=True, dtype=float),
        ],
        axis=1,
    )
    raw_gap = decided.groupby("inbound")["closed"].mean()
    assert raw_gap[True] - raw_gap[False] > 0.03

    raw_coef = LogisticRegression(C=1e6).fit(inbound, y).coef_[0, 0]
    adjusted_coef = LogisticRegression(C=1e6, max_iter=1000).fit(adjusted, y).coef_[0, 0]
    assert raw_coef > 0.5
    assert abs(adjusted_coef) < 0.4 * raw_coef


def test_an_sla_raises_acceptance_of_inbound_leads_only(leads: pd.DataFrame) -> None:
    assert (leads.groupby("business_unit")["sales_alignment"].nunique() == 1).all()
    assert set(leads["sales_alignment"]) == set(synthetic.ALIGNMENT_LEVELS)
    rate = leads.groupby(["inbound", "sales_alignment"])["accepted"].mean()
    assert rate[(True, "sla")] > rate[(True, "aligned")] > rate[(True, "misaligned")]
    assert rate[(True, "sla")] - rate[(True, "misaligned")] > 0.10
    assert abs(rate[(False, "sla")] - rate[(False, "misaligned")]) < 0.03


def test_rates_are_realistic_for_b2b(leads: pd.DataFrame) -> None:
    assert 0.30 <= leads["accepted"].mean() <= 0.60
    won_share_of_all = (leads["closed"] == 1).mean()
    assert 0.02 <= won_share_of_all <= 0.10


def test_only_recent_leads_are_undecided(leads: pd.DataFrame) -> None:
    age = (AS_OF - leads["created_at"]).dt.days
    assert age[leads["closed"].isna()].max() < synthetic.OPEN_WINDOW_DAYS
    assert age[leads["accepted"].isna()].max() < synthetic.ACCEPT_PENDING_DAYS
    assert leads["closed"].isna().any() and leads["accepted"].isna().any()
    open_share = leads.groupby(pd.cut(age, [-1, 14, 30, 59]), observed=True)["closed"].apply(
        lambda s: s.isna().mean()
    )
    assert open_share.is_monotonic_decreasing and open_share.iloc[-1] > 0


def test_labels_follow_the_funnel(leads: pd.DataFrame) -> None:
    rejected = leads["accepted"] == 0
    assert (leads.loc[rejected, "closed"] == 0).all()
    assert (leads.loc[leads["closed"] == 1, "accepted"] == 1).all()
    assert leads.loc[leads["accepted"].isna(), "closed"].isna().all()


def test_true_close_probability_is_informative_but_not_trivial(
    clean: SyntheticExport,
) -> None:
    closed = clean.export["closed"]
    decided = closed.notna().to_numpy()
    auc = roc_auc_score(closed[decided].astype(int), clean.truth["p_close"][decided])
    assert 0.75 <= auc <= 0.90


def test_true_accept_probability_is_informative_but_not_trivial(
    clean: SyntheticExport,
) -> None:
    accepted = clean.export["accepted"]
    decided = accepted.notna().to_numpy()
    auc = roc_auc_score(accepted[decided].astype(int), clean.truth["p_accept"][decided])
    assert 0.70 <= auc <= 0.85


def test_country_has_no_effect(clean: SyntheticExport) -> None:
    p_close = clean.truth["p_close"]
    by_country = p_close.groupby(clean.export["country"]).mean()
    assert (by_country - p_close.mean()).abs().max() < 0.1 * p_close.mean()


# --- determinism and bad arguments -----------------------------------------------------------


def test_same_seed_same_frames_other_seed_other_frames() -> None:
    first, again, other = generate(500, seed=4), generate(500, seed=4), generate(500, seed=5)
    pd.testing.assert_frame_equal(first.export, again.export)
    pd.testing.assert_frame_equal(first.truth, again.truth)
    assert not first.truth["p_close"].equals(other.truth["p_close"])


def test_as_of_moves_the_dates() -> None:
    df = generate(200, seed=1, as_of="2025-01-31").export
    assert df["created_at"].max() <= pd.Timestamp("2025-01-31")
    assert df["created_at"].min() >= pd.Timestamp("2025-01-31") - pd.Timedelta(
        days=synthetic.HISTORY_DAYS
    )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"rows": 0}, "rows"),
        ({"rows": -3}, "rows"),
        ({"rows": 10, "as_of": "soon"}, "as_of"),
        ({"rows": 10, "campaigns": -1}, "campaigns"),
    ],
)
def test_bad_arguments_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=rf"^{field}: "):
        generate(**kwargs)  # type: ignore[arg-type]


@pytest.mark.slow
def test_a_million_rows_generate_quickly() -> None:
    start = time.perf_counter()
    data = generate(1_000_000, seed=0, messy=True)
    assert time.perf_counter() - start < 20.0
    assert len(data.export) == 1_000_000


# --- messy mode --------------------------------------------------------------------------------


def test_messy_keeps_every_row_and_the_truth(
    clean: SyntheticExport, messy: SyntheticExport
) -> None:
    assert len(messy.export) == ROWS
    assert list(messy.export.columns) == list(clean.export.columns)
    pd.testing.assert_frame_equal(messy.truth, clean.truth)
    for col in ("sales_alignment", "business_unit"):
        assert messy.export[col].equals(clean.export[col])
    assert clean.injected == {}


def test_messy_source_spellings_normalise_back(
    clean: SyntheticExport, messy: SyntheticExport
) -> None:
    raw = messy.export["source"]
    assert {"Organic Search", "organic-search", " ORGANIC_SEARCH "} <= set(raw)
    assert 0.2 < (raw != clean.export["source"]).mean() < 0.4
    assert schema.normalise_sources(raw).tolist() == clean.export["source"].tolist()


def test_messy_has_5_to_15_percent_missing(messy: SyntheticExport) -> None:
    for col in synthetic.MISSING_COLUMNS:
        assert 0.045 <= messy.export[col].isna().mean() <= 0.155, col


def test_messy_stores_some_numbers_as_text(clean: SyntheticExport, messy: SyntheticExport) -> None:
    for col in synthetic.TEXT_NUMBER_COLUMNS:
        text = messy.export[col]
        assert pd.api.types.is_string_dtype(text), col
        assert (text.str.strip() != text).any(), col
        parsed = pd.to_numeric(text.str.strip().str.replace(",", ""), errors="raise")
        present = text.notna()
        assert (parsed[present] == clean.export.loc[present, col]).all(), col
    assert messy.export["company_size"].str.fullmatch(r"\d{1,3}(,\d{3})+").any()


def test_messy_injects_exactly_the_reported_bad_rows(messy: SyntheticExport) -> None:
    df, injected = messy.export, messy.injected
    kinds = {
        synthetic.DUPLICATE_LEAD_ID: df["lead_id"].duplicated(keep="first"),
        synthetic.NEGATIVE_VALUE: (df["website_visits"] < 0).fillna(False),
        synthetic.FUTURE_CREATED_AT: df["created_at"] > AS_OF,
        synthetic.INVALID_PRIOR_AWARENESS: ~df["prior_awareness"].isin(
            [*schema.AWARENESS_LEVELS, np.nan]
        ),
        synthetic.CLOSED_WITHOUT_ACCEPT: (df["closed"] == 1) & (df["accepted"] == 0),
    }
    assert set(injected) == set(kinds)
    for kind, bad in kinds.items():
        assert bad.sum() == injected[kind] > 0, kind
    assert injected[synthetic.DUPLICATE_LEAD_ID] == round(ROWS * synthetic.DUPLICATE_ID_SHARE)
    assert df["lead_id"].value_counts().max() == 2
    first_copies = df["lead_id"].duplicated(keep="last")
    every_bad_row = pd.concat([*kinds.values(), first_copies], axis=1)
    assert (every_bad_row.sum(axis=1) <= 1).all()  # one reason per row
    assert set(df.loc[kinds[synthetic.INVALID_PRIOR_AWARENESS], "prior_awareness"]) == {"maybe"}
    # far enough ahead (a mistyped year) that a check against today's date catches them too
    future = df.loc[kinds[synthetic.FUTURE_CREATED_AT], "created_at"]
    assert future.min() > AS_OF + pd.DateOffset(years=9)


def test_messy_is_deterministic_and_writes_to_csv_and_parquet(
    messy: SyntheticExport, tmp_path: Path
) -> None:
    again = generate(ROWS, seed=SEED, messy=True)
    pd.testing.assert_frame_equal(messy.export, again.export)
    assert messy.injected == again.injected
    small = generate(300, seed=SEED, messy=True).export
    for name in ("leads.csv", "leads.parquet"):
        back = read_table(write_table(small, tmp_path / name), dtype=None)
        assert len(back) == len(small) and list(back.columns) == list(small.columns)


def test_tiny_messy_exports_still_work() -> None:
    data = generate(3, seed=0, messy=True)
    assert len(data.export) == 3
    assert sum(data.injected.values()) <= 3


def test_write_table_never_leaves_a_half_file(tmp_path: Path) -> None:
    path = tmp_path / "leads.parquet"
    write_table(pd.DataFrame({"x": [1, 2]}), path)
    unwritable = pd.DataFrame({"x": [1, "two"]}, dtype=object)  # Arrow refuses mixed types
    with pytest.raises((TypeError, ValueError)):
        write_table(unwritable, path)
    assert read_table(path, dtype=None)["x"].tolist() == [1, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["leads.parquet"]


# --- scenarios: drift and campaigns ------------------------------------------------------------


def _quarter(export: pd.DataFrame) -> pd.Series:
    """0 for the oldest quarter of leads by created_at ... 3 for the newest."""
    return pd.qcut(export["created_at"].rank(method="first"), 4, labels=False)


def _close_given_accept(data: SyntheticExport) -> pd.Series:
    return data.truth["p_close"] / data.truth["p_accept"]


def test_scenarios_off_leave_the_export_unchanged() -> None:
    for messy in (False, True):
        default = generate(2_000, seed=SEED, messy=messy)
        off = generate(2_000, seed=SEED, messy=messy, drift=False, campaigns=0)
        pd.testing.assert_frame_equal(off.export, default.export)
        pd.testing.assert_frame_equal(off.truth, default.truth)
        assert off.injected == default.injected


def test_scenarios_change_only_the_labels_and_add_the_campaign(
    base: SyntheticExport, scenarios: SyntheticExport
) -> None:
    labels = [schema.ACCEPTED, schema.CLOSED]
    assert list(scenarios.export.columns) == [*base.export.columns, synthetic.CAMPAIGN_COLUMN]
    pd.testing.assert_frame_equal(
        scenarios.export.drop(columns=[*labels, synthetic.CAMPAIGN_COLUMN]),
        base.export.drop(columns=labels),
    )
    assert scenarios.truth["lead_id"].equals(scenarios.export["lead_id"])
    assert not scenarios.export[labels].equals(base.export[labels])


def test_drift_raises_the_close_rate_of_the_newest_quarter_3x(scenarios: SyntheticExport) -> None:
    df = scenarios.export
    by_quarter = df["closed"].astype("float64").groupby(_quarter(df)).mean()
    assert by_quarter[3] >= 3 * by_quarter[0]
    true_by_quarter = scenarios.truth["p_close"].groupby(_quarter(df)).mean()
    assert true_by_quarter[3] >= 3 * true_by_quarter[0]
    summary = synthetic.summarise(df)
    assert summary["close_rate_oldest_quarter"] == pytest.approx(by_quarter[0], abs=1e-4)
    assert summary["close_rate_newest_quarter"] == pytest.approx(by_quarter[3], abs=1e-4)


def test_drift_is_a_smooth_ramp_of_the_close_intercept_flat_at_the_end(
    base: SyntheticExport,
) -> None:
    drifted = generate(SCENARIO_ROWS, seed=SEED, drift=True)
    pd.testing.assert_series_equal(drifted.truth["p_accept"], base.truth["p_accept"])
    shift = logit(_close_given_accept(drifted)) - logit(_close_given_accept(base))
    by_day = shift.groupby(base.export["created_at"]).agg(["min", "max"])
    assert (by_day["max"] - by_day["min"]).max() < 1e-9  # one shift per day, same field effects
    ramp = by_day["min"]
    assert (ramp.diff().dropna() > -1e-9).all()  # never falls
    assert ramp.iloc[0] == pytest.approx(synthetic.DRIFT_CLOSE_LOGIT[0], abs=0.01)
    position = (ramp.index - ramp.index[0]) / (AS_OF - ramp.index[0])
    flat = ramp[position >= synthetic.DRIFT_RAMP_END]
    assert flat.to_numpy() == pytest.approx(synthetic.DRIFT_CLOSE_LOGIT[1], abs=1e-9)
    assert ramp.diff().max() < 0.05  # smooth: no jump from one day to the next
    middle = ramp[position < synthetic.DRIFT_RAMP_END / 2].iloc[-1]
    assert middle == pytest.approx(np.mean(synthetic.DRIFT_CLOSE_LOGIT), abs=0.02)


def test_campaign_sizes_are_zipf_like(scenarios: SyntheticExport) -> None:
    campaign = scenarios.export[synthetic.CAMPAIGN_COLUMN]
    assert pd.api.types.is_string_dtype(campaign) and campaign.notna().all()
    assert campaign.str.fullmatch(r"cmp_\d{4}").all()
    sizes = campaign.value_counts()
    assert 0.9 * CAMPAIGNS <= len(sizes) <= CAMPAIGNS
    assert BIG_CAMPAIGN <= sizes.iloc[0] < 0.05 * SCENARIO_ROWS  # hundreds, not thousands
    assert (sizes >= BIG_CAMPAIGN).sum() >= 20
    assert (sizes <= 20).sum() >= 0.25 * CAMPAIGNS  # many small ones
    assert (sizes <= 5).sum() >= 10  # and a tail of tiny ones


def test_campaign_effect_is_in_the_truth_of_both_stages(
    base: SyntheticExport, scenarios: SyntheticExport
) -> None:
    campaign = scenarios.export[synthetic.CAMPAIGN_COLUMN]
    drift_only = generate(SCENARIO_ROWS, seed=SEED, drift=True)
    accept = logit(scenarios.truth["p_accept"]) - logit(base.truth["p_accept"])
    close = logit(_close_given_accept(scenarios)) - logit(_close_given_accept(drift_only))
    for effect in (accept, close):
        per_campaign = effect.groupby(campaign).agg(["min", "max"])
        assert (per_campaign["max"] - per_campaign["min"]).max() < 1e-9  # one effect each
        assert 0.45 <= per_campaign["min"].std() <= 0.75
    assert abs(np.corrcoef(accept, close)[0, 1]) < 0.2  # drawn per stage


def test_big_campaigns_differ_more_than_binomial_noise(scenarios: SyntheticExport) -> None:
    df = scenarios.export[scenarios.export["closed"].notna()]
    by_campaign = df.groupby(synthetic.CAMPAIGN_COLUMN)["closed"].agg(["mean", "size"])
    big = by_campaign[by_campaign["size"] >= BIG_CAMPAIGN]
    rate = df["closed"].astype("float64").mean()
    noise = np.sqrt(rate * (1 - rate) / big["size"]).mean()
    assert big["mean"].astype("float64").std() > 2.5 * noise


def test_scenarios_are_deterministic_and_work_with_messy() -> None:
    def both(seed: int, messy: bool = False) -> SyntheticExport:
        return generate(3_000, seed=seed, messy=messy, drift=True, campaigns=CAMPAIGNS)

    first, again, other, clean = both(4, messy=True), both(4, messy=True), both(5), both(4)
    pd.testing.assert_frame_equal(first.export, again.export)
    pd.testing.assert_frame_equal(first.truth, again.truth)
    assert not first.export["campaign"].equals(other.export["campaign"])
    pd.testing.assert_frame_equal(first.truth, clean.truth)
    assert first.export["campaign"].equals(clean.export["campaign"])
    assert sum(first.injected.values()) > 0


def test_every_scenario_feature_has_a_documented_effect(scenarios: SyntheticExport) -> None:
    strength = synthetic.effect_strength(drift=True, campaigns=CAMPAIGNS)
    features = set(schema.feature_columns(scenarios.export.columns)) | {schema.CREATED_AT}
    assert features == set(strength)
    assert strength[synthetic.CAMPAIGN_COLUMN] == "moderate"
    assert strength[schema.CREATED_AT] != "none"
    assert synthetic.effect_strength() == dict(synthetic.EFFECT_STRENGTH)
    assert synthetic.summarise(scenarios.export)["campaigns_seen"] == (
        scenarios.export["campaign"].nunique()
    )


# --- summary ----------------------------------------------------------------------------------


def test_summary_numbers_match_the_export(messy: SyntheticExport) -> None:
    df = messy.export
    summary = synthetic.summarise(df)
    assert summary["rows"] == ROWS
    assert summary["date_max"] > synthetic.DEFAULT_AS_OF  # the injected future dates show
    assert summary["accept_rate"] == pytest.approx(df["accepted"].mean(), abs=1e-4)
    assert summary["open_share"] == pytest.approx(df["closed"].isna().mean(), abs=1e-4)
    assert sum(summary["awareness_share"].values()) == pytest.approx(1.0, abs=1e-3)
    assert summary["awareness_share"]["maybe"] > 0
    assert set(summary["top_sources"]) <= schema.INBOUND_SOURCES | schema.OUTBOUND_SOURCES


# --- the CLI ----------------------------------------------------------------------------------


def _synth(*args: str) -> object:
    return runner.invoke(app, ["synth", *args])


def test_cli_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    paths = [tmp_path / f"{name}.csv" for name in ("a", "b", "c")]
    for path, seed in zip(paths, ("7", "7", "8"), strict=True):
        result = _synth("--rows", str(CLI_ROWS), "--seed", seed, "--out", str(path))
        assert result.exit_code == 0, result.output
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert paths[0].read_bytes() != paths[2].read_bytes()
    assert "rows" in result.stdout and f"{CLI_ROWS:,}" in result.stdout
    assert not list(tmp_path.glob(".*.tmp"))


def test_cli_writes_truth_separately(tmp_path: Path) -> None:
    out, truth_out = tmp_path / "leads.parquet", tmp_path / "truth.csv"
    result = _synth("--rows", str(CLI_ROWS), "--out", str(out), "--truth-out", str(truth_out))
    assert result.exit_code == 0, result.output
    export, truth = read_table(out, dtype=None), read_table(truth_out, dtype=None)
    assert list(truth.columns) == list(synthetic.TRUTH_COLUMNS)
    assert not set(synthetic.TRUTH_COLUMNS[1:]) & set(export.columns)
    assert truth["lead_id"].tolist() == export["lead_id"].tolist()
    assert len(export) == CLI_ROWS


def test_cli_json_summary(tmp_path: Path) -> None:
    out = tmp_path / "leads.csv"
    result = _synth("--rows", str(CLI_ROWS), "--seed", "2", "--messy", "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rows"] == CLI_ROWS and summary["messy"] is True
    assert summary["injected"][synthetic.DUPLICATE_LEAD_ID] >= 1
    assert 0.30 <= summary["accept_rate"] <= 0.60
    assert {"date_min", "date_max", "close_rate", "open_share", "awareness_share"} <= set(summary)
    assert len(pd.read_csv(out)) == CLI_ROWS


def test_cli_drift_and_campaigns(tmp_path: Path) -> None:
    out = tmp_path / "x.parquet"
    argv = ["--drift", "--campaigns", str(CAMPAIGNS), "--rows", "5000", "--out", str(out)]
    result = _synth(*argv, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["drift"] is True and summary["campaigns"] == CAMPAIGNS
    assert 0.5 * CAMPAIGNS < summary["campaigns_seen"] <= CAMPAIGNS
    assert summary["close_rate_newest_quarter"] > 2 * summary["close_rate_oldest_quarter"]
    export = read_table(out, dtype=None)
    assert len(export) == 5000 and export["campaign"].nunique() == summary["campaigns_seen"]

    human = _synth(*argv)
    assert human.exit_code == 0, human.output
    assert "drift: close rate" in human.stdout and "campaigns: 400 requested" in human.stdout
    plain = json.loads(_synth("--rows", "50", "--out", str(out), "--json").stdout)
    assert plain["drift"] is False and plain["campaigns"] == 0 and "campaigns_seen" not in plain


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--rows", "0"], "--rows"),
        (["--campaigns", "-1"], "--campaigns"),
        (["--rows", "-5"], "--rows"),
        (["--out", "{tmp}/leads.txt"], "unknown table extension '.txt'"),
        (["--out", "{tmp}/missing/leads.csv"], "does not exist"),
        (["--out", "{tmp}/a_file/leads.csv"], "does not exist"),
        (["--truth-out", "{tmp}/truth.xlsx"], "--truth-out"),
        (["--truth-out", "{tmp}/leads.csv"], "must differ from --out"),
        (["--as-of", "someday"], "as_of"),
    ],
)
def test_cli_bad_options_fail_with_one_clear_line(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    (tmp_path / "a_file").write_text("not a folder")
    base = {"--rows": "10", "--out": f"{tmp_path}/leads.csv"}
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    argv = [part.replace("{tmp}", str(tmp_path)) for pair in base.items() for part in pair]
    result = _synth(*argv)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and expected in lines[0]
    assert "Traceback" not in result.output
    assert not (tmp_path / "leads.csv").exists()


# --- monitoring scenarios (issue 13) ---------------------------------------------------


def test_scenarios_change_only_leads_from_their_start_and_only_their_field() -> None:
    start = pd.Timestamp("2026-03-02")
    plain = generate(6000, seed=5).export
    before = plain[schema.CREATED_AT] < start
    for name in ("base_rate", "new_source", "tracking_break"):
        found = generate(6000, seed=5, scenario=name, scenario_from=str(start.date())).export
        pd.testing.assert_frame_equal(found[before], plain[before])
        after = ~before
        if name == "new_source":
            share = (found.loc[after, schema.SOURCE] == synthetic.SCENARIO_NEW_SOURCE).mean()
            assert 0.2 < share < 0.4
        elif name == "tracking_break":
            assert found.loc[after, synthetic.SCENARIO_BREAK_FIELD].isna().all()
            others = found.columns.drop(synthetic.SCENARIO_BREAK_FIELD)
            pd.testing.assert_frame_equal(found[others], plain[others])
        else:  # the close rate of decided leads climbs; the fields stay the same
            old = plain.loc[after & plain[schema.CREATED_AT].lt("2026-05-01"), schema.CLOSED]
            new = found.loc[after & found[schema.CREATED_AT].lt("2026-05-01"), schema.CLOSED]
            assert new.mean() > 1.5 * old.mean()
            fields = [c for c in plain.columns if c not in (schema.ACCEPTED, schema.CLOSED)]
            pd.testing.assert_frame_equal(found[fields], plain[fields])


def test_world_gives_another_seed_the_company_of_that_seed() -> None:
    company = generate(3000, seed=3).export
    other = generate(3000, seed=9, world=3).export
    units = company.groupby("business_unit")["sales_alignment"].first()
    assert other.groupby("business_unit")["sales_alignment"].first().equals(units)
    assert not other["website_visits"].equals(company["website_visits"])  # other leads


def test_cli_writes_a_scenario_and_refuses_an_unknown_one(tmp_path: Path) -> None:
    out = tmp_path / "drifted.csv"
    args = ["synth", "--rows", "2000", "--out", str(out), "--as-of", "2026-06-30"]
    run = CliRunner().invoke(app, [*args, "--scenario", "new_source", "--json"])
    assert run.exit_code == 0, run.output
    assert json.loads(run.stdout)["scenario"] == "new_source"
    assert synthetic.SCENARIO_NEW_SOURCE in read_table(out)[schema.SOURCE].tolist()
    bad = CliRunner().invoke(app, [*args, "--scenario", "flood"])
    assert bad.exit_code == 2 and "scenario: must be one of" in bad.output
    assert "Traceback" not in bad.output
