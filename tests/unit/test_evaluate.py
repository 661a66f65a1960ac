"""Evaluation metrics, tables and plots on small hand-checked examples and large samples."""

from __future__ import annotations

import math
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from leadmodel.evaluate import (
    DPI,
    FIGSIZE,
    expected_calibration_error,
    gains_curve,
    lift_at,
    plot_gains,
    plot_reliability,
    plot_roc,
    plot_tiers,
    reliability_table,
    segment_table,
    stage_metrics,
    tier_table,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MIN_PNG_BYTES = 5_000
SEED = 20_240_601
N_LARGE = 200_000

# Hand-checked example. Ranked by p (ties in input order): rows 0, 1, 2, 5, 9, 7, 8, 3, 4, 6
# with labels 0, 1, 1, 1, 0, 0, 0, 0, 0, 0; 3 positives out of 10 (rate 0.3).
Y_SMALL = np.array([0, 1, 1, 0, 0, 1, 0, 0, 0, 0])
P_SMALL = np.array([0.9, 0.8, 0.8, 0.3, 0.2, 0.7, 0.1, 0.5, 0.4, 0.6])


def _png_size(path: Path) -> tuple[int, int]:
    """Width and height from the PNG IHDR chunk."""
    header = path.read_bytes()[:24]
    return struct.unpack(">II", header[16:24])


# --------------------------------------------------------------------------- calibration


def test_perfect_predictions_have_auc_one_and_no_calibration_error() -> None:
    rng = np.random.default_rng(SEED)
    y = rng.integers(0, 2, 1_000)
    p = y.astype(float)
    metrics = stage_metrics(y, p)
    assert metrics["roc_auc"] == 1.0
    assert metrics["pr_auc"] == 1.0
    assert metrics["brier"] == 0.0
    assert metrics["ece"] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("strategy", ["quantile", "uniform"])
def test_calibrated_random_predictions_have_small_ece_and_halved_ones_large(
    strategy: str,
) -> None:
    rng = np.random.default_rng(SEED)
    p = rng.uniform(0, 1, N_LARGE)
    y = (rng.uniform(0, 1, N_LARGE) < p).astype(int)
    calibrated = expected_calibration_error(y, p, strategy=strategy)
    halved = expected_calibration_error(y, p * 0.5, strategy=strategy)
    assert calibrated < 0.01
    # E|p - p/2| = 0.25 for uniform p; binning only changes that slightly.
    assert halved == pytest.approx(0.25, abs=0.01)


def test_calibrated_low_base_rate_with_quantile_bins() -> None:
    rng = np.random.default_rng(SEED)
    p = rng.beta(1, 19, N_LARGE)  # mean 0.05, like a close rate
    y = (rng.uniform(0, 1, N_LARGE) < p).astype(int)
    assert expected_calibration_error(y, p) < 0.01
    assert expected_calibration_error(y, p * 0.5) > 0.02


def test_ece_hand_computed() -> None:
    # Two quantile bins: {0.1, 0.2} with rate 0 and {0.6, 0.7} with rate 1.
    y, p = [0, 0, 1, 1], [0.1, 0.2, 0.7, 0.6]
    assert expected_calibration_error(y, p, n_bins=2) == pytest.approx(0.5 * 0.15 + 0.5 * 0.35)


def test_reliability_table_bins() -> None:
    table = reliability_table([0, 0, 1, 1], [0.1, 0.2, 0.7, 0.6], n_bins=2)
    assert list(table.columns) == ["bin", "n", "mean_p", "rate"]
    assert table["n"].tolist() == [2, 2]
    assert table["mean_p"].tolist() == pytest.approx([0.15, 0.65])
    assert table["rate"].tolist() == [0.0, 1.0]

    # Uniform bins keep their position on [0, 1]; p = 1.0 falls in the last bin.
    uniform = reliability_table([0, 1, 1], [0.05, 0.95, 1.0], strategy="uniform")
    assert uniform["bin"].tolist() == [0, 9]
    assert uniform["n"].tolist() == [1, 2]


def test_quantile_bins_merge_when_probabilities_tie() -> None:
    y = [0, 1, 0, 1, 1, 0]
    p = [0.2, 0.2, 0.2, 0.2, 0.9, 0.9]
    table = reliability_table(y, p, n_bins=10)
    assert table["n"].sum() == len(y)
    assert table["mean_p"].tolist() == pytest.approx([0.2, 0.9])


# --------------------------------------------------------------------------- lift and gains


def test_lift_at_hand_computed() -> None:
    top10 = lift_at(Y_SMALL, P_SMALL, 0.1)  # row 0 only
    assert top10 == {"lift": 0.0, "capture": 0.0, "rate": 0.0}

    top20 = lift_at(Y_SMALL, P_SMALL, 0.2)  # rows 0, 1
    assert top20["rate"] == pytest.approx(0.5)
    assert top20["lift"] == pytest.approx(0.5 / 0.3)
    assert top20["capture"] == pytest.approx(1 / 3)

    # 0.3 * 10 is 3.0000000000000004 in floating point: still 3 leads (rows 0, 1, 2).
    top30 = lift_at(Y_SMALL, P_SMALL, 0.3)
    assert top30["rate"] == pytest.approx(2 / 3)
    assert top30["lift"] == pytest.approx((2 / 3) / 0.3)
    assert top30["capture"] == pytest.approx(2 / 3)

    # 15 % of 10 leads rounds up to 2 leads.
    assert lift_at(Y_SMALL, P_SMALL, 0.15) == top20

    everyone = lift_at(Y_SMALL, P_SMALL, 1.0)
    assert everyone["lift"] == pytest.approx(1.0)
    assert everyone["capture"] == pytest.approx(1.0)


def test_lift_ties_are_broken_by_input_order() -> None:
    assert lift_at([0, 1], [0.5, 0.5], 0.5)["rate"] == 0.0
    assert lift_at([1, 0], [0.5, 0.5], 0.5)["rate"] == 1.0


def test_lift_without_positives_is_nan_not_an_error() -> None:
    result = lift_at([0, 0, 0], [0.1, 0.2, 0.3], 0.5)
    assert result["rate"] == 0.0
    assert math.isnan(result["lift"])
    assert math.isnan(result["capture"])


def test_gains_curve_runs_monotone_from_origin_to_one() -> None:
    rng = np.random.default_rng(SEED)
    p = rng.uniform(0, 1, 5_000)
    y = (rng.uniform(0, 1, 5_000) < p).astype(int)
    gains = gains_curve(y, p)
    assert list(gains.columns) == ["share_contacted", "share_of_wins"]
    assert len(gains) == 101
    assert gains.iloc[0].tolist() == [0.0, 0.0]
    assert gains.iloc[-1].tolist() == pytest.approx([1.0, 1.0])
    assert (np.diff(gains["share_contacted"]) > 0).all()
    assert (np.diff(gains["share_of_wins"]) >= 0).all()
    # An informative model is above the random diagonal in the middle.
    middle = gains.iloc[50]
    assert middle["share_of_wins"] > middle["share_contacted"]


def test_gains_curve_hand_computed() -> None:
    gains = gains_curve(Y_SMALL, P_SMALL, points=101).set_index("share_contacted")
    wins = gains["share_of_wins"].to_numpy()
    assert wins[20] == pytest.approx(1 / 3)  # 2 leads: one win
    assert wins[25] == pytest.approx(0.5)  # 2.5 leads: halfway to the second win
    assert wins[40] == pytest.approx(1.0)  # 4 leads: all three wins


# --------------------------------------------------------------------------- stage metrics


def test_stage_metrics_keys_and_values() -> None:
    metrics = stage_metrics(Y_SMALL, P_SMALL)
    assert set(metrics) == {
        "n",
        "positives",
        "rate",
        "roc_auc",
        "pr_auc",
        "brier",
        "log_loss",
        "ece",
        "lift_top10",
        "capture_top10",
        "lift_top20",
        "capture_top20",
        "mean_p",
    }
    assert metrics["n"] == 10
    assert metrics["positives"] == 3
    assert metrics["rate"] == pytest.approx(0.3)
    assert metrics["roc_auc"] == pytest.approx(roc_auc_score(Y_SMALL, P_SMALL))
    assert metrics["pr_auc"] == pytest.approx(average_precision_score(Y_SMALL, P_SMALL))
    assert metrics["brier"] == pytest.approx(np.mean((P_SMALL - Y_SMALL) ** 2))
    expected_log_loss = -np.mean(Y_SMALL * np.log(P_SMALL) + (1 - Y_SMALL) * np.log(1 - P_SMALL))
    assert metrics["log_loss"] == pytest.approx(expected_log_loss)
    assert metrics["lift_top20"] == pytest.approx(0.5 / 0.3)
    assert metrics["capture_top10"] == 0.0
    assert metrics["mean_p"] == pytest.approx(P_SMALL.mean())


def test_stage_metrics_custom_fractions_name_their_keys() -> None:
    metrics = stage_metrics(Y_SMALL, P_SMALL, top_fracs=(0.05, 0.3))
    assert {"lift_top5", "capture_top5", "lift_top30", "capture_top30"} <= set(metrics)
    assert "lift_top10" not in metrics


@pytest.mark.parametrize("label", [0, 1])
def test_single_class_gives_nan_auc_not_an_exception(label: int) -> None:
    y = np.full(20, label)
    p = np.linspace(0.05, 0.95, 20)
    metrics = stage_metrics(y, p)
    assert math.isnan(metrics["roc_auc"])
    assert math.isnan(metrics["pr_auc"])
    assert math.isfinite(metrics["brier"])
    assert math.isfinite(metrics["log_loss"])
    assert math.isfinite(metrics["ece"])
    assert metrics["positives"] == 20 * label


def test_nullable_pandas_labels_are_accepted() -> None:
    y = pd.Series(Y_SMALL, dtype="Int64")
    p = pd.Series(P_SMALL, dtype="Float64")
    assert stage_metrics(y, p)["roc_auc"] == pytest.approx(roc_auc_score(Y_SMALL, P_SMALL))


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("y", "p", "message"),
    [
        ([0, 1, np.nan], [0.1, 0.2, 0.3], r"y is NaN at row 2 \(1 NaN in all\)"),
        ([0, 1, 1], [0.1, np.nan, 0.3], r"p is NaN at row 1"),
        ([0, 1, 1], [0.1, 0.2], r"y and p differ in length: 3 vs 2"),
        ([0, 2, 1], [0.1, 0.2, 0.3], r"y must be 0 or 1, got 2 at row 1"),
        ([0, 1, 1], [0.1, 1.2, 0.3], r"p must be a probability in \[0, 1\], got 1\.2 at row 1"),
        ([], [], r"y is empty"),
        ([[0, 1]], [[0.1, 0.2]], r"y must be 1-D"),
        (["no", "yes"], [0.1, 0.2], r"y must be numeric"),
    ],
)
def test_bad_input_raises_a_clear_value_error(y: list, p: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        stage_metrics(y, p)
    with pytest.raises(ValueError, match=message):
        expected_calibration_error(y, p)


def test_nan_label_in_a_series_names_the_index_label() -> None:
    y = pd.Series([1.0, np.nan, 0.0], index=["L-1", "L-2", "L-3"])
    with pytest.raises(ValueError, match=r"y is NaN at row 1 \(index 'L-2'\)"):
        lift_at(y, [0.3, 0.2, 0.1], 0.5)
    # A test slice keeps the index of the full table: its label is named too.
    test_slice = pd.Series([1.0, 0.0, np.nan], index=pd.RangeIndex(800, 803))
    with pytest.raises(ValueError, match=r"y is NaN at row 2 \(index 802\)"):
        lift_at(test_slice, [0.3, 0.2, 0.1], 0.5)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: lift_at([0, 1], [0.1, 0.2], 0.0), r"top_frac must be in \(0, 1\]"),
        (lambda: lift_at([0, 1], [0.1, 0.2], 1.5), r"top_frac must be in \(0, 1\]"),
        (lambda: reliability_table([0, 1], [0.1, 0.2], strategy="kmeans"), r"strategy"),
        (lambda: reliability_table([0, 1], [0.1, 0.2], n_bins=0), r"n_bins"),
        (lambda: gains_curve([0, 1], [0.1, 0.2], points=1), r"points must be"),
    ],
)
def test_bad_options_raise_value_error(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


# --------------------------------------------------------------------------- tiers


def test_tier_table_exact_counts() -> None:
    tiers = ["A", "B", "A", "D", "D", "B", "A"]
    y = [1, 0, 1, 0, 0, 1, 0]
    table = tier_table(y, tiers)
    assert list(table.columns) == ["tier", "n", "share", "positives", "rate", "share_of_wins"]
    assert table["tier"].tolist() == ["A", "B", "C", "D"]
    assert table["n"].tolist() == [3, 2, 0, 2]
    assert table["positives"].tolist() == [2, 1, 0, 0]
    assert table["share"].tolist() == pytest.approx([3 / 7, 2 / 7, 0, 2 / 7])
    assert table["share_of_wins"].tolist() == pytest.approx([2 / 3, 1 / 3, 0, 0])
    rates = table["rate"].tolist()
    assert rates[0] == pytest.approx(2 / 3)
    assert rates[1] == pytest.approx(0.5)
    assert math.isnan(rates[2])  # no C leads: rate undefined, not 0
    assert rates[3] == 0.0


def test_tier_table_accepts_categorical_tiers_and_custom_order() -> None:
    tiers = pd.Categorical(["hot", "cold", "hot"], categories=["hot", "cold"])
    table = tier_table([1, 0, 0], tiers, order=("hot", "cold"))
    assert table["n"].tolist() == [2, 1]
    assert table["rate"].tolist() == [0.5, 0.0]


def test_tier_table_rejects_unknown_and_missing_tiers() -> None:
    tiers = pd.Series(["A", "E", "B"], index=["L-1", "L-2", "L-3"])
    with pytest.raises(ValueError, match=r"tiers has 'E' at row 1 \(index 'L-2'\)"):
        tier_table([1, 0, 0], tiers)
    with pytest.raises(ValueError, match=r"tiers is empty at row 2"):
        tier_table([1, 0, 0], ["A", "B", None])
    with pytest.raises(ValueError, match=r"y is NaN at row 0"):
        tier_table([np.nan, 0, 0], ["A", "B", "C"])
    with pytest.raises(ValueError, match=r"y and tiers differ in length: 2 vs 3"):
        tier_table([1, 0], ["A", "B", "C"])


# --------------------------------------------------------------------------- segments


def _segment_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "source": ["web", "web", "web", "web", None, None, None, "event", "event", "partner"],
            "closed": [1, 0, 1, 0, 1, 0, 0, 1, 1, 0],
            "p_close": [0.9, 0.2, 0.6, 0.7, 0.8, 0.3, 0.4, 0.5, 0.6, 0.1],
        },
        index=[f"L-{i}" for i in range(10)],
    )


def test_segment_table_with_a_missing_segment() -> None:
    table = segment_table(_segment_frame(), by="source", y_col="closed", p_col="p_close")
    assert list(table.columns) == ["source", "n", "rate", "mean_p", "roc_auc"]
    assert table["source"].tolist() == ["web", "unknown", "event", "partner"]
    assert table["n"].tolist() == [4, 3, 2, 1]
    assert table["rate"].tolist() == pytest.approx([0.5, 1 / 3, 1.0, 0.0])
    assert table["mean_p"].tolist() == pytest.approx([0.6, 0.5, 0.55, 0.1])
    auc = table["roc_auc"].tolist()
    assert auc[0] == pytest.approx(0.75)  # 3 of 4 positive-negative pairs ranked right
    assert auc[1] == pytest.approx(1.0)
    assert math.isnan(auc[2])  # one class only
    assert math.isnan(auc[3])


def test_segment_table_min_count_hides_small_segment_auc() -> None:
    table = segment_table(_segment_frame(), "source", "closed", "p_close", min_count=4)
    auc = dict(zip(table["source"], table["roc_auc"], strict=True))
    assert auc["web"] == pytest.approx(0.75)
    assert math.isnan(auc["unknown"])


def test_segment_table_with_categorical_column() -> None:
    frame = _segment_frame()
    frame["source"] = frame["source"].astype("category")
    table = segment_table(frame, "source", "closed", "p_close")
    assert table["source"].tolist() == ["web", "unknown", "event", "partner"]


def test_segment_auc_matches_sklearn_with_tied_scores() -> None:
    rng = np.random.default_rng(SEED)
    n = 3_000
    frame = pd.DataFrame(
        {
            "industry": rng.choice(["retail", "saas", "finance"], n),
            "p": np.round(rng.uniform(0, 1, n), 1),  # many ties
        }
    )
    frame["y"] = (rng.uniform(0, 1, n) < frame["p"]).astype(int)
    table = segment_table(frame, "industry", "y", "p").set_index("industry")
    for industry, rows in frame.groupby("industry"):
        expected = roc_auc_score(rows["y"], rows["p"])
        assert table.loc[industry, "roc_auc"] == pytest.approx(expected)


def test_segment_table_bad_input_names_column_and_row() -> None:
    frame = _segment_frame()
    frame["closed"] = frame["closed"].astype(float)
    frame.loc["L-3", "closed"] = np.nan
    with pytest.raises(ValueError, match=r"closed is NaN at row 3 \(index 'L-3'\)"):
        segment_table(frame, "source", "closed", "p_close")
    with pytest.raises(ValueError, match=r"column\(s\) \['country'\] not in the frame"):
        segment_table(_segment_frame(), "country", "closed", "p_close")


# --------------------------------------------------------------------------- plots


@pytest.fixture(scope="module")
def model_curves() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(SEED)
    n = 2_000
    truth = rng.uniform(0, 1, n)
    y = (rng.uniform(0, 1, n) < truth).astype(int)
    noisy = np.clip(truth + rng.normal(0, 0.2, n), 0, 1)
    return {"lightgbm": (y, truth), "logistic": (y, noisy), "rule points": (y, np.round(noisy, 1))}


def _assert_png(path: Path) -> None:
    assert path.exists()
    assert path.read_bytes()[: len(PNG_MAGIC)] == PNG_MAGIC
    assert path.stat().st_size > MIN_PNG_BYTES
    width, height = _png_size(path)
    assert (width, height) == (round(FIGSIZE[0] * DPI), round(FIGSIZE[1] * DPI))


def test_plot_roc_reliability_gains_write_png(tmp_path: Path, model_curves: dict) -> None:
    roc = plot_roc(model_curves, tmp_path / "roc.png", "Close: ROC on test slice")
    reliability = plot_reliability(model_curves, tmp_path / "rel.png", "Close: reliability")
    gains = plot_gains(model_curves, tmp_path / "nested" / "gains.png", "Close: gains")
    assert roc == tmp_path / "roc.png"
    assert gains.parent.name == "nested"
    for path in (roc, reliability, gains):
        _assert_png(path)


def test_plot_roc_with_a_single_class_model_still_writes(tmp_path: Path) -> None:
    curves = {"good": (Y_SMALL, P_SMALL), "no wins": (np.zeros(10), P_SMALL)}
    _assert_png(plot_roc(curves, tmp_path / "roc.png", "ROC"))


def test_plot_tiers_writes_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(SEED)
    tiers = rng.choice(["A", "B", "C", "D"], 1_000, p=[0.1, 0.2, 0.3, 0.4])
    rate = pd.Series(tiers).map({"A": 0.4, "B": 0.2, "C": 0.1, "D": 0.02}).to_numpy()
    y = (rng.uniform(0, 1, 1_000) < rate).astype(int)
    _assert_png(plot_tiers(tier_table(y, tiers), tmp_path / "tiers.png", "Close rate by tier"))


def test_plots_reject_empty_or_wrong_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="curves is empty"):
        plot_roc({}, tmp_path / "roc.png", "ROC")
    with pytest.raises(ValueError, match=r"logistic: p is NaN at row 1"):
        plot_gains({"logistic": ([0, 1], [0.2, np.nan])}, tmp_path / "g.png", "Gains")
    with pytest.raises(ValueError, match=r"pass a tier_table\(\) result"):
        plot_tiers(pd.DataFrame({"tier": ["A"]}), tmp_path / "t.png", "Tiers")
    assert not list(tmp_path.iterdir())


def test_import_is_inert_and_plots_leave_no_pyplot_state(tmp_path: Path) -> None:
    script = f"""
import sys
import leadmodel.evaluate as ev
assert "matplotlib" not in sys.modules, "matplotlib imported at import time"
ev.plot_gains({{"m": ([0, 1, 1, 0], [0.1, 0.9, 0.8, 0.3])}}, {str(tmp_path / "g.png")!r}, "t")
assert "matplotlib.pyplot" not in sys.modules, "pyplot used: global figure state"
print("ok")
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_plot_numbers_follow_the_language() -> None:
    """Tick labels in Danish get the decimal comma; English keeps matplotlib's own."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from leadmodel import i18n
    from leadmodel.evaluate import local_ticks

    def ticks(lang: str) -> list[str]:
        figure = Figure()
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        axes.plot([0, 1], [0, 0.5])
        with i18n.using(lang):
            local_ticks(axes)
            figure.canvas.draw()
        return [t.get_text() for t in axes.get_yticklabels()]

    english, danish = ticks("en"), ticks("da")
    assert "0.1" in english and "0,1" not in english, english
    assert "0,1" in danish and not any("." in t for t in danish), danish
