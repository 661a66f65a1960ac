"""Evaluation of one funnel stage: metrics, lift and gains, calibration, tiers and plots.

Every function takes 1-D labels ``y`` (0/1) and probabilities ``p`` in [0, 1] for the
same leads. Unlabelled leads (``accepted`` not decided yet, ``closed`` still open) must be
filtered out by the caller: a NaN label is an error here, not something to skip.

Plots use matplotlib's Agg canvas on a free-standing ``Figure`` (no pyplot, so no global
backend switch and no open figures left behind); matplotlib is imported only when a plot
is drawn. Their labels are in the current language (:mod:`leadmodel.i18n`), and so are the
numbers on their axes (:func:`local_ticks`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    roc_auc_score,
    roc_curve,
)

from leadmodel import i18n
from leadmodel.i18n import _

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

ArrayLike = Any
#: ``{model name: (y, p)}`` for the multi-model plots.
Curves = Mapping[str, tuple[ArrayLike, ArrayLike]]

DEFAULT_ECE_BINS: Final = 10
DEFAULT_TOP_FRACS: Final[tuple[float, ...]] = (0.1, 0.2)
DEFAULT_GAINS_POINTS: Final = 101
DEFAULT_TIER_ORDER: Final[tuple[str, ...]] = ("A", "B", "C", "D")
BIN_STRATEGIES: Final[tuple[str, ...]] = ("quantile", "uniform")
UNKNOWN_SEGMENT: Final = "unknown"

#: Slack when turning ``top_frac * n`` into a count, so 0.3 * 10 is 3 leads, not 4.
_COUNT_TOLERANCE: Final = 1e-9
_PERCENT: Final = 100

FIGSIZE: Final[tuple[float, float]] = (6.0, 4.5)
DPI: Final = 120
_GRID_ALPHA: Final = 0.3
_BASELINE_STYLE: Final[dict[str, Any]] = {"color": "grey", "linestyle": "--", "linewidth": 1}
#: Head room above the highest point (bar labels, markers); floor for an all-zero axis.
_AXIS_HEADROOM: Final = 1.15
_MIN_RATE_AXIS: Final = 0.01


# --------------------------------------------------------------------------- validation


def _row_name(values: ArrayLike, position: int) -> str:
    """``row 3`` for plain arrays; ``row 3 (index 'L-17')`` when ``values`` has an index.

    The index label is left out only when it equals the position (a default index).
    """
    index = getattr(values, "index", None)
    if not isinstance(index, pd.Index) or index.equals(pd.RangeIndex(len(index))):
        return f"row {position}"
    return f"row {position} (index {index[position]!r})"


def _as_float_array(values: ArrayLike, name: str) -> np.ndarray:
    """Convert ``values`` to a 1-D float array; pandas NA becomes NaN."""
    try:
        if isinstance(values, pd.Series | pd.Index | pd.api.extensions.ExtensionArray):
            array = pd.Series(values).to_numpy(dtype=float, na_value=np.nan)
        else:
            array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be numeric: {error}") from None
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    return array


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _check_labels(values: ArrayLike, array: np.ndarray, name: str) -> None:
    """Labels must be present (no NaN) and 0 or 1; the message names the first bad row."""
    if len(array) == 0:
        raise ValueError(f"{name} is empty: nothing to evaluate")
    missing = np.isnan(array)
    if missing.any():
        raise ValueError(
            f"{name} is NaN at {_row_name(values, _first_bad(missing))} "
            f"({int(missing.sum())} NaN in all); filter unlabelled rows first"
        )
    not_binary = (array != 0) & (array != 1)
    if not_binary.any():
        bad = _first_bad(not_binary)
        raise ValueError(f"{name} must be 0 or 1, got {array[bad]:g} at {_row_name(values, bad)}")


def _check_probabilities(values: ArrayLike, array: np.ndarray, name: str) -> None:
    """Probabilities must be present and in [0, 1]; the message names the first bad row."""
    missing = np.isnan(array)
    if missing.any():
        raise ValueError(
            f"{name} is NaN at {_row_name(values, _first_bad(missing))} "
            f"({int(missing.sum())} NaN in all); score every row first"
        )
    out_of_range = (array < 0) | (array > 1)
    if out_of_range.any():
        bad = _first_bad(out_of_range)
        raise ValueError(
            f"{name} must be a probability in [0, 1], got {array[bad]:g} "
            f"at {_row_name(values, bad)}"
        )


def _check_y_p(
    y: ArrayLike, p: ArrayLike, y_name: str = "y", p_name: str = "p"
) -> tuple[np.ndarray, np.ndarray]:
    """Validate labels and probabilities; return them as float arrays.

    Raises
    ------
    ValueError
        Different lengths, empty input, NaN anywhere, labels other than 0/1, or
        probabilities outside [0, 1]. The message names the field and the first bad row.
    """
    y_arr = _as_float_array(y, y_name)
    p_arr = _as_float_array(p, p_name)
    if len(y_arr) != len(p_arr):
        raise ValueError(f"{y_name} and {p_name} differ in length: {len(y_arr)} vs {len(p_arr)}")
    _check_labels(y, y_arr, y_name)
    _check_probabilities(p, p_arr, p_name)
    return y_arr, p_arr


def _top_count(top_frac: float, n: int) -> int:
    """Number of leads in the top ``top_frac``: ``ceil(top_frac * n)``, at least 1."""
    if not 0 < top_frac <= 1:
        raise ValueError(f"top_frac must be in (0, 1], got {top_frac!r}")
    return max(1, math.ceil(top_frac * n - _COUNT_TOLERANCE))


def _rank_order(p: np.ndarray) -> np.ndarray:
    """Positions from highest to lowest ``p``; ties keep input order (stable sort on -p)."""
    return np.argsort(-p, kind="stable")


def _has_both_classes(y: np.ndarray) -> bool:
    return bool(y.min() != y.max())


# --------------------------------------------------------------------------- metrics


def reliability_table(
    y: ArrayLike,
    p: ArrayLike,
    n_bins: int = DEFAULT_ECE_BINS,
    strategy: str = "quantile",
) -> pd.DataFrame:
    """Observed rate against mean predicted probability per probability bin.

    Parameters
    ----------
    y, p
        Labels (0/1) and probabilities.
    n_bins
        Number of bins asked for. Quantile bins whose edges coincide (many tied
        probabilities) are merged, so fewer may come back; empty bins are left out.
    strategy
        ``"quantile"`` (equal-count bins, stable at low base rates) or ``"uniform"``
        (equal-width bins on [0, 1]).

    Returns
    -------
    pandas.DataFrame
        Columns ``bin`` (0-based index of the bin from low to high p; an empty bin is
        left out, so ``uniform`` bins may skip numbers), ``n``, ``mean_p``, ``rate``.
    """
    y_arr, p_arr = _check_y_p(y, p)
    if isinstance(n_bins, bool) or not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    if strategy == "quantile":
        edges = np.unique(np.quantile(p_arr, np.linspace(0, 1, n_bins + 1)))
    elif strategy == "uniform":
        edges = np.linspace(0, 1, n_bins + 1)
    else:
        raise ValueError(f"strategy must be one of {BIN_STRATEGIES}, got {strategy!r}")
    # Bins are [lo, hi) except the last, which also holds p equal to the top edge.
    bins = np.searchsorted(edges[1:-1], p_arr, side="right")
    # counts and sums per bin with bincount (a groupby's fixed cost is most of the time
    # on the monitor's many small cohorts); empty bins are left out as before
    n = np.bincount(bins, minlength=len(edges))
    kept = np.flatnonzero(n)
    sum_p = np.bincount(bins, weights=p_arr, minlength=len(edges))[kept]
    sum_y = np.bincount(bins, weights=y_arr, minlength=len(edges))[kept]
    return pd.DataFrame(
        {"bin": kept, "n": n[kept], "mean_p": sum_p / n[kept], "rate": sum_y / n[kept]}
    )


def expected_calibration_error(
    y: ArrayLike,
    p: ArrayLike,
    n_bins: int = DEFAULT_ECE_BINS,
    strategy: str = "quantile",
) -> float:
    """Expected calibration error: sum over bins of (bin share) * |mean(y) - mean(p)|.

    Bins as in :func:`reliability_table`; ``"quantile"`` (the default) keeps every bin
    equally populated, which matters when positives are rare.
    """
    table = reliability_table(y, p, n_bins=n_bins, strategy=strategy)
    share = table["n"] / table["n"].sum()
    return float((share * (table["rate"] - table["mean_p"]).abs()).sum())


def lift_at(y: ArrayLike, p: ArrayLike, top_frac: float) -> dict[str, float]:
    """Lift, capture and rate among the ``top_frac`` highest-scored leads.

    The top group holds ``ceil(top_frac * n)`` leads (at least one), ranked by ``p``
    with ties broken by input order (stable sort on ``-p``).

    Returns
    -------
    dict
        ``rate``: positive rate in the top group; ``lift``: that rate over the overall
        rate; ``capture``: share of all positives found in the top group. ``lift`` and
        ``capture`` are NaN when there are no positives at all.
    """
    y_arr, p_arr = _check_y_p(y, p)
    top = _rank_order(p_arr)[: _top_count(top_frac, len(y_arr))]
    top_positives = float(y_arr[top].sum())
    positives = float(y_arr.sum())
    rate = top_positives / len(top)
    overall = positives / len(y_arr)
    if positives == 0:
        return {"lift": math.nan, "capture": math.nan, "rate": rate}
    return {"lift": rate / overall, "capture": top_positives / positives, "rate": rate}


def _frac_label(top_frac: float) -> str:
    """``0.1 -> "10"``, ``0.025 -> "2.5"``: the suffix of ``lift_top*`` keys."""
    return f"{top_frac * _PERCENT:g}"


def stage_metrics(
    y: ArrayLike, p: ArrayLike, top_fracs: Sequence[float] = DEFAULT_TOP_FRACS
) -> dict[str, float]:
    """All headline metrics of one funnel stage on one evaluation slice.

    Returns
    -------
    dict
        ``n``, ``positives``, ``rate``, ``roc_auc``, ``pr_auc`` (average precision),
        ``brier``, ``log_loss``, ``ece`` (quantile bins), ``lift_topK`` and
        ``capture_topK`` for each fraction (K in percent, e.g. ``lift_top10``) and
        ``mean_p``. ``roc_auc`` and ``pr_auc`` are NaN when only one class is present.
    """
    y_arr, p_arr = _check_y_p(y, p)
    both = _has_both_classes(y_arr)
    metrics: dict[str, float] = {
        "n": len(y_arr),
        "positives": int(y_arr.sum()),
        "rate": float(y_arr.mean()),
        "roc_auc": float(roc_auc_score(y_arr, p_arr)) if both else math.nan,
        "pr_auc": float(average_precision_score(y_arr, p_arr)) if both else math.nan,
        "brier": float(brier_score_loss(y_arr, p_arr, labels=[0, 1])),
        "log_loss": float(log_loss(y_arr, p_arr, labels=[0, 1])),
        "ece": expected_calibration_error(y_arr, p_arr),
    }
    for top_frac in top_fracs:
        lift = lift_at(y_arr, p_arr, top_frac)
        label = _frac_label(top_frac)
        metrics[f"lift_top{label}"] = lift["lift"]
        metrics[f"capture_top{label}"] = lift["capture"]
    metrics["mean_p"] = float(p_arr.mean())
    return metrics


def bootstrap_auc_intervals(
    y: ArrayLike,
    p: ArrayLike,
    other: ArrayLike | None,
    resamples: int,
    level: float,
    seed: int,
) -> dict[str, float]:
    """Percentile bootstrap intervals of ROC-AUC, and of its difference to ``other``.

    ``other`` is a second score of the same rows (a baseline); the difference
    ``AUC(p) - AUC(other)`` is bootstrapped on the same resamples (paired). Returns
    ``auc_low``, ``auc_high`` and, with ``other``, ``diff_low``, ``diff_high``; NaN when
    one class is present. Resamples that draw a single class are skipped.
    """
    y_arr, p_arr = _check_y_p(y, p)
    o_arr = None if other is None else _as_float_array(other, "other")
    keys = ["auc_low", "auc_high"] + ([] if o_arr is None else ["diff_low", "diff_high"])
    if not _has_both_classes(y_arr):
        return dict.fromkeys(keys, math.nan)
    rng = np.random.default_rng(seed)
    n = len(y_arr)
    aucs, diffs = [], []
    for _resample in range(resamples):
        at = rng.integers(0, n, size=n)
        if not _has_both_classes(y_arr[at]):
            continue
        auc = roc_auc_score(y_arr[at], p_arr[at])
        aucs.append(auc)
        if o_arr is not None:
            diffs.append(auc - roc_auc_score(y_arr[at], o_arr[at]))
    if not aucs:
        return dict.fromkeys(keys, math.nan)
    tail = (1.0 - level) / 2.0
    out = dict(
        zip(["auc_low", "auc_high"], np.quantile(aucs, [tail, 1 - tail]).tolist(), strict=True)
    )
    if o_arr is not None:
        out |= dict(
            zip(
                ["diff_low", "diff_high"],
                np.quantile(diffs, [tail, 1 - tail]).tolist(),
                strict=True,
            )
        )
    return out


def gains_curve(y: ArrayLike, p: ArrayLike, points: int = DEFAULT_GAINS_POINTS) -> pd.DataFrame:
    """Cumulative gains: share of all wins found when contacting the top share of leads.

    Leads are ranked by ``p`` (ties by input order); between whole leads the curve is
    linearly interpolated, so it runs from (0, 0) to (1, 1) and never decreases.
    ``share_of_wins`` is NaN when there are no positives.

    Returns
    -------
    pandas.DataFrame
        Columns ``share_contacted`` and ``share_of_wins``, ``points`` rows.
    """
    y_arr, p_arr = _check_y_p(y, p)
    if isinstance(points, bool) or not isinstance(points, int | np.integer) or points < 2:
        raise ValueError(f"points must be an integer >= 2, got {points!r}")
    found = np.concatenate(([0.0], np.cumsum(y_arr[_rank_order(p_arr)])))
    share_contacted = np.linspace(0, 1, points)
    leads_contacted = share_contacted * len(y_arr)
    wins = np.interp(leads_contacted, np.arange(len(found)), found)
    total = found[-1]
    share_of_wins = wins / total if total > 0 else np.full(points, math.nan)
    return pd.DataFrame({"share_contacted": share_contacted, "share_of_wins": share_of_wins})


def tier_table(
    y: ArrayLike, tiers: ArrayLike, order: Sequence[str] = DEFAULT_TIER_ORDER
) -> pd.DataFrame:
    """Volume and outcome per tier, in ``order``; tiers with no leads show ``n = 0``.

    Returns
    -------
    pandas.DataFrame
        Columns ``tier``, ``n``, ``share`` (of all leads), ``positives``, ``rate``
        (NaN for an empty tier) and ``share_of_wins`` (of all positives; NaN when there
        are none).

    Raises
    ------
    ValueError
        NaN or non-0/1 labels, missing tiers, tiers not in ``order``, or different lengths.
    """
    y_arr = _as_float_array(y, "y")
    tier_values = pd.Series(np.asarray(tiers, dtype=object))
    if len(tier_values) != len(y_arr):
        raise ValueError(f"y and tiers differ in length: {len(y_arr)} vs {len(tier_values)}")
    _check_labels(y, y_arr, "y")
    missing = tier_values.isna().to_numpy()
    if missing.any():
        raise ValueError(f"tiers is empty at {_row_name(tiers, _first_bad(missing))}")
    unknown = ~tier_values.isin(list(order)).to_numpy()
    if unknown.any():
        bad = _first_bad(unknown)
        raise ValueError(
            f"tiers has {tier_values.iloc[bad]!r} at {_row_name(tiers, bad)}, "
            f"which is not one of {tuple(order)}"
        )
    grouped = (
        pd.DataFrame({"tier": tier_values, "y": y_arr})
        .groupby("tier", sort=False)["y"]
        .agg(n="size", positives="sum")
        .reindex(list(order), fill_value=0)
    )
    n_total = len(y_arr)
    positives_total = float(y_arr.sum())
    table = pd.DataFrame(
        {
            "tier": list(order),
            "n": grouped["n"].to_numpy(dtype=int),
            "share": grouped["n"].to_numpy() / n_total,
            "positives": grouped["positives"].to_numpy(dtype=int),
        }
    )
    table["rate"] = table["positives"] / table["n"].where(table["n"] > 0)
    table["share_of_wins"] = (
        table["positives"] / positives_total if positives_total > 0 else math.nan
    )
    return table


def _grouped_roc_auc(keys: np.ndarray, y: np.ndarray, p: np.ndarray) -> pd.Series:
    """ROC AUC per group via the Mann-Whitney rank formula (ties count half).

    Equal to ``roc_auc_score`` on each group; NaN for a group with one class only.
    """
    frame = pd.DataFrame({"key": keys, "y": y, "p": p})
    frame["rank"] = frame.groupby("key", sort=False)["p"].rank(method="average")
    frame["positive_rank"] = frame["rank"] * frame["y"]
    sums = frame.groupby("key", sort=False).agg(
        n=("y", "size"), positives=("y", "sum"), rank_sum=("positive_rank", "sum")
    )
    negatives = sums["n"] - sums["positives"]
    pairs = sums["positives"] * negatives
    u_statistic = sums["rank_sum"] - sums["positives"] * (sums["positives"] + 1) / 2
    return (u_statistic / pairs.where(pairs > 0)).astype(float)


def segment_table(
    frame: pd.DataFrame,
    by: str,
    y_col: str,
    p_col: str,
    min_count: int = 1,
) -> pd.DataFrame:
    """Volume, outcome rate, mean prediction and ROC AUC per value of ``by``.

    Missing values of ``by`` are grouped as ``"unknown"``. ``roc_auc`` is NaN for a
    segment with one class only or fewer than ``min_count`` leads.

    Returns
    -------
    pandas.DataFrame
        Columns ``by`` (named after the column), ``n``, ``rate``, ``mean_p``,
        ``roc_auc``; sorted by ``n`` descending (ties in order of first appearance).
    """
    absent = [column for column in (by, y_col, p_col) if column not in frame.columns]
    if absent:
        raise ValueError(f"segment_table: column(s) {absent} not in the frame")
    y_arr, p_arr = _check_y_p(frame[y_col], frame[p_col], y_name=y_col, p_name=p_col)
    segment = frame[by].astype(object)
    keys = segment.where(segment.notna(), UNKNOWN_SEGMENT).to_numpy()
    table = (
        pd.DataFrame({"key": keys, "y": y_arr, "p": p_arr})
        .groupby("key", sort=False)
        .agg(n=("y", "size"), rate=("y", "mean"), mean_p=("p", "mean"))
    )
    auc = _grouped_roc_auc(keys, y_arr, p_arr)
    table["roc_auc"] = auc.where(table["n"] >= min_count)
    table = table.sort_values("n", ascending=False, kind="stable")
    return table.rename_axis(by).reset_index()


# --------------------------------------------------------------------------- plots


def local_ticks(axes: Axes, x: bool = True, y: bool = True) -> Axes:
    """Write the tick numbers of ``axes`` as the current language does (``0,2`` in Danish).

    Only the decimal mark and the group separator change (swapped on matplotlib's own
    labels, so its choice of ticks and decimals stays); categorical axes are left alone.
    """
    from matplotlib.ticker import ScalarFormatter

    symbols = i18n.symbols()
    if (symbols.decimal, symbols.group) == (".", ","):
        return axes
    swap = i18n.marks()

    class LocalFormatter(ScalarFormatter):
        def __call__(self, x: float, pos: int | None = None) -> str:
            return super().__call__(x, pos).translate(swap)

    for wanted, axis in ((x, axes.xaxis), (y, axes.yaxis)):
        if wanted and isinstance(axis.get_major_formatter(), ScalarFormatter):
            axis.set_major_formatter(LocalFormatter(useOffset=False))
    return axes


def _new_figure(title: str) -> tuple[Figure, Axes]:
    """A free-standing figure on the Agg canvas (no pyplot, nothing global changes)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=FIGSIZE, dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.set_title(title)
    axes.grid(alpha=_GRID_ALPHA)
    axes.set_axisbelow(True)
    return figure, axes


def _rate_axis_limit(values: np.ndarray) -> float:
    """Upper axis limit for rates: the largest value plus head room, within (0, 1]."""
    return min(1.0, max(float(np.nanmax(values, initial=0.0)), _MIN_RATE_AXIS) * _AXIS_HEADROOM)


def _save(figure: Figure, path: str | Path) -> Path:
    """Write ``figure`` as PNG (creating parent folders) and release it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(target, format="png", dpi=DPI)
    figure.clear()
    return target


def _check_curves(curves: Curves) -> None:
    if not curves:
        raise ValueError("curves is empty: give at least one {name: (y, p)}")


def plot_roc(curves: Curves, path: str | Path, title: str) -> Path:
    """ROC curves of several models on one plot, AUC in the legend; returns the PNG path."""
    _check_curves(curves)
    figure, axes = _new_figure(title)
    random = _("random (AUC {auc})").format(auc=i18n.number(0.5, 3))
    axes.plot([0, 1], [0, 1], label=random, **_BASELINE_STYLE)
    for name, (y, p) in curves.items():
        y_arr, p_arr = _check_y_p(y, p, y_name=f"{name}: y", p_name=f"{name}: p")
        if not _has_both_classes(y_arr):
            axes.plot([], [], label=_("{name} (one class only: no curve)").format(name=name))
            continue
        fpr, tpr, _thresholds = roc_curve(y_arr, p_arr)
        auc = i18n.number(roc_auc_score(y_arr, p_arr), 3)
        axes.plot(fpr, tpr, label=_("{name} (AUC {auc})").format(name=name, auc=auc))
    axes.set(
        xlabel=_("false positive rate"), ylabel=_("true positive rate"), xlim=(0, 1), ylim=(0, 1)
    )
    axes.legend(loc="lower right")
    local_ticks(axes)
    return _save(figure, path)


def plot_reliability(
    curves: Curves, path: str | Path, title: str, n_bins: int = DEFAULT_ECE_BINS
) -> Path:
    """Reliability diagram (quantile bins) of several models, ECE in the legend.

    Both axes end just above the highest binned value, so low rates stay readable.
    """
    _check_curves(curves)
    figure, axes = _new_figure(title)
    axes.plot([0, 1], [0, 1], label=_("perfectly calibrated"), **_BASELINE_STYLE)
    highest = []
    for name, (y, p) in curves.items():
        y_arr, p_arr = _check_y_p(y, p, y_name=f"{name}: y", p_name=f"{name}: p")
        table = reliability_table(y_arr, p_arr, n_bins=n_bins)
        ece = expected_calibration_error(y_arr, p_arr, n_bins=n_bins)
        label = _("{name} (ECE {ece})").format(name=name, ece=i18n.number(ece, 3))
        axes.plot(table["mean_p"], table["rate"], marker="o", label=label)
        highest.append(table[["mean_p", "rate"]].to_numpy().max())
    limit = _rate_axis_limit(np.array(highest))
    axes.set(
        xlabel=_("mean predicted probability (bin)"),
        ylabel=_("observed rate (bin)"),
        xlim=(0, limit),
        ylim=(0, limit),
    )
    axes.legend(loc="upper left")
    local_ticks(axes)
    return _save(figure, path)


def plot_gains(curves: Curves, path: str | Path, title: str) -> Path:
    """Cumulative gains of several models against the random baseline."""
    _check_curves(curves)
    figure, axes = _new_figure(title)
    axes.plot([0, 1], [0, 1], label=_("random"), **_BASELINE_STYLE)
    for name, (y, p) in curves.items():
        y_arr, p_arr = _check_y_p(y, p, y_name=f"{name}: y", p_name=f"{name}: p")
        gains = gains_curve(y_arr, p_arr)
        axes.plot(gains["share_contacted"], gains["share_of_wins"], label=name)
    axes.set(
        xlabel=_("share of leads contacted"), ylabel=_("share of wins"), xlim=(0, 1), ylim=(0, 1)
    )
    axes.legend(loc="lower right")
    local_ticks(axes)
    return _save(figure, path)


def plot_tiers(table: pd.DataFrame, path: str | Path, title: str) -> Path:
    """Bar chart of the rate per tier from :func:`tier_table`, with ``n`` on each bar."""
    absent = [column for column in ("tier", "n", "rate") if column not in table.columns]
    if absent:
        raise ValueError(f"plot_tiers: column(s) {absent} missing; pass a tier_table() result")
    figure, axes = _new_figure(title)
    rates = table["rate"].fillna(0).to_numpy(dtype=float)
    bars = axes.bar(table["tier"].astype(str), rates, label=_("rate per tier"))
    counts = [_("n={n}").format(n=i18n.number(int(n))) for n in table["n"]]
    axes.bar_label(bars, labels=counts, padding=2)
    if "positives" in table.columns and table["n"].sum() > 0:
        overall = table["positives"].sum() / table["n"].sum()
        label = _("overall ({rate})").format(rate=i18n.percent(overall, 1))
        axes.axhline(overall, label=label, **_BASELINE_STYLE)
    axes.set(xlabel=_("tier"), ylabel=_("rate"), ylim=(0, _rate_axis_limit(rates)))
    axes.legend(loc="upper right")
    local_ticks(axes, x=False)
    return _save(figure, path)
