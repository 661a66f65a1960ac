"""The HTML report marketing reads: one self-contained file, plots embedded as PNG.

Sections (with stable ids): ``headline`` (quality, when the data has outcomes), ``tiers``,
``sources`` and ``awareness`` (which channels bring leads sales accepts and that close;
what prior awareness is worth), ``handover`` (the hand-over curve and a recommended
threshold), ``drivers`` (global importance, beeswarm, dependence plots) and ``examples``
(five leads with their reasons). No scripts, no external CSS, fonts or images.

:func:`write_report` builds it from scored leads; :func:`report_from_file` reads an export
through :func:`leadmodel.ingest.read_leads` first (``leadmodel report``);
:func:`log_run_report` writes it with its plots and tables into the active MLflow run.

Every text on the page and in its plots is a catalogue message in the current language
(:mod:`leadmodel.i18n`: ``--lang``, ``LEADMODEL_LANG`` or :func:`leadmodel.i18n.using`),
and so are its numbers and dates (``0,891``, ``12,5 %``, ``1. jul. 2026`` in Danish); the
page's ``<html lang>`` says which. The summary's ``--json`` stays English.
"""

from __future__ import annotations

import base64
import math
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import jinja2
import numpy as np
import pandas as pd

from leadmodel import evaluate, explain, i18n, schema
from leadmodel.config import ReportConfig, load_config
from leadmodel.explain.handover import reasoning
from leadmodel.explain.segments import segment_labels
from leadmodel.i18n import N_, _
from leadmodel.model import ACCEPT, CLOSE, FunnelModel

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Seed of the explained sample and of the beeswarm's points.
SAMPLE_SEED: Final = 0
#: Score quantiles of the five example leads (best, good, middle, weak, worst).
EXAMPLE_QUANTILES: Final[tuple[float, ...]] = (1.0, 0.85, 0.5, 0.2, 0.0)
#: The fraction of ``evaluate.stage_metrics``' ``lift_top10`` (the headline's lift).
TOP_FRACTION: Final = 0.1
FIGSIZE: Final[tuple[float, float]] = (7.0, 4.5)
WIDE_FIGSIZE: Final[tuple[float, float]] = (8.0, 6.0)
DPI: Final = 100
REPORT_NAME: Final = "report.html"
#: The page template (package data, ``leadmodel/templates``).
TEMPLATE: Final = "report.html.j2"
#: Plot file, alt text and column header of each segment view (texts translated when shown).
SEGMENT_PLOTS: Final = {
    schema.SOURCE: ("sources.png", N_("rates by channel"), N_("source")),
    schema.PRIOR_AWARENESS: (
        "awareness.png",
        N_("rates by prior awareness"),
        N_("prior awareness"),
    ),
}
EXPLAIN_DIR: Final = "explain"


# --- the numbers behind the report --------------------------------------------------------


@dataclass
class ReportSummary:
    """What was written, for the CLI and for tests."""

    path: Path
    leads: int
    explained: int
    sections: list[str]
    recommendation: dict[str, Any] | None
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    plots: list[str] = field(default_factory=list)
    intake: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The summary for machines: the same keys and English texts in every language."""
        rec = self.recommendation or {}
        if rec:
            with i18n.using(i18n.DEFAULT_LANGUAGE):
                rec = rec | {"reasoning": reasoning(rec)}
        return {
            "out": str(self.path),
            "leads": self.leads,
            "explained": self.explained,
            "sections": self.sections,
            "intake": self.intake,
            "threshold": rec.get("threshold"),
            "recommendation": rec.get("reasoning"),
            "metrics": {
                stage: {k: None if _isnan(v) else v for k, v in m.items()}
                for stage, m in self.metrics.items()
            },
        }


def _isnan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _explain_rows(n: int, limit: int) -> np.ndarray:
    """Positions whose contributions are computed: all, or a seeded sample of ``limit``."""
    if n <= limit:
        return np.arange(n)
    rng = np.random.default_rng(SAMPLE_SEED)
    return np.sort(rng.choice(n, limit, replace=False))


def _labels(leads: pd.DataFrame, label: str) -> np.ndarray:
    if label not in leads:
        return np.full(len(leads), np.nan)
    return pd.to_numeric(leads[label], errors="coerce").to_numpy(dtype=float)


def _stage_metrics(
    leads: pd.DataFrame, predictions: pd.DataFrame, model: FunnelModel
) -> dict[str, dict[str, float]]:
    """Metrics per stage on the leads whose outcome is decided (both classes present)."""
    out = {}
    for stage in model.stages:
        y = _labels(leads, schema.ACCEPTED if stage == ACCEPT else schema.CLOSED)
        decided = ~np.isnan(y)
        if decided.sum() and 0 < np.nansum(y) < decided.sum():
            p = predictions[f"p_{stage}"].to_numpy()[decided]
            out[stage] = evaluate.stage_metrics(y[decided], p)
    return out


def tier_summary(
    model: FunnelModel, predictions: pd.DataFrame, leads: pd.DataFrame
) -> pd.DataFrame:
    """Per tier: score range, leads, share, mean probabilities, expected and actual close."""
    y = _labels(leads, schema.CLOSED)
    frame = pd.DataFrame(
        {
            "tier": predictions["tier"].to_numpy(),
            "p_accept": predictions["p_accept"].to_numpy() if model.has_accept else np.nan,
            "p_close": predictions["p_close"].to_numpy(),
            "decided": ~np.isnan(y),
            "won": np.nan_to_num(y),
        }
    )
    order = list(model.tier_thresholds)
    table = (
        frame.groupby("tier")
        .agg(
            leads=("tier", "size"),
            mean_p_accept=("p_accept", "mean"),
            mean_p_close=("p_close", "mean"),
            expected_wins=("p_close", "sum"),
            decided=("decided", "sum"),
            wins=("won", "sum"),
        )
        .reindex(order)
        .fillna({"leads": 0, "decided": 0, "wins": 0, "expected_wins": 0})
        .reset_index()
    )
    table["min_score"] = [model.tier_thresholds[t] for t in order]
    table["share"] = table["leads"] / max(len(frame), 1)
    total_expected = table["expected_wins"].sum()
    table["share_of_expected_wins"] = table["expected_wins"] / total_expected
    table["close_rate"] = table["wins"] / table["decided"].where(table["decided"] > 0)
    return table


def _example_rows(scores: np.ndarray) -> np.ndarray:
    """Positions of the example leads: the score quantiles in :data:`EXAMPLE_QUANTILES`."""
    if len(scores) == 0:
        return np.zeros(0, dtype=int)
    ranked = np.argsort(scores, kind="stable")
    picks = np.round(np.asarray(EXAMPLE_QUANTILES) * (len(scores) - 1)).astype(int)
    return ranked[list(dict.fromkeys(picks.tolist()))]


# --- plots ----------------------------------------------------------------------------------


def new_figure(size: tuple[float, float] = FIGSIZE) -> Figure:
    """A free-standing figure on the Agg canvas (no pyplot state touched)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


@contextmanager
def _pyplot_figure(size: tuple[float, float]) -> Iterator[Figure]:
    """A pyplot figure for shap's plots (they call pyplot); closes every figure they open."""
    import matplotlib.pyplot as plt

    before = set(plt.get_fignums())
    figure = plt.figure(figsize=size, dpi=DPI)
    try:
        yield figure
    finally:
        for number in set(plt.get_fignums()) - before:
            plt.close(number)


def save_figure(figure: Figure, path: Path) -> Path:
    """Write ``figure`` as the page's PNG (tight layout, the report's DPI)."""
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=DPI)
    return path


def _colour_matrix(model: FunnelModel, leads: pd.DataFrame, fields: list[str]) -> np.ndarray:
    """Numbers per field for shap's colouring: values, awareness levels 0-2, category codes."""
    columns = []
    for name in fields:
        values = explain.field_values(model, leads, name)
        if name in model.features.numeric_:
            columns.append(values.to_numpy(dtype=float))
        elif name == schema.PRIOR_AWARENESS:
            levels = {level: i for i, level in enumerate(schema.AWARENESS_LEVELS)}
            columns.append(values.map(levels).to_numpy(dtype=float))
        else:
            codes = pd.Categorical(values).codes.astype(float)
            columns.append(np.where(codes < 0, np.nan, codes))
    return np.column_stack(columns) if columns else np.zeros((len(leads), 0))


def _explanation(
    model: FunnelModel, leads: pd.DataFrame, contrib: explain.StageContributions
) -> Any:
    """A ``shap.Explanation`` of the contributions in score points."""
    import shap

    base_points, points = explain.to_points(model, contrib)
    return shap.Explanation(
        values=points,
        base_values=np.full(len(points), base_points),
        data=_colour_matrix(model, leads, contrib.fields),
        feature_names=contrib.fields,
    )


def plot_importance(importance: pd.DataFrame, path: Path, max_drivers: int) -> Path:
    """Mean |points| per field, close and accept side by side (strongest on top)."""
    figure = new_figure(WIDE_FIGSIZE)
    axes = figure.add_subplot()
    close = importance[importance["stage"] == CLOSE].head(max_drivers)
    order = close["field"].tolist()[::-1]
    y = np.arange(len(order))
    stages = [s for s in (CLOSE, ACCEPT) if (importance["stage"] == s).any()]
    height = 0.8 / len(stages)
    names = {CLOSE: _("close stage (won)"), ACCEPT: _("accept stage (accepted by sales)")}
    for i, stage in enumerate(stages):
        part = importance[importance["stage"] == stage].set_index("field")
        values = part["mean_abs_points"].reindex(order).fillna(0).to_numpy()
        axes.barh(y + i * height - 0.4 + height / 2, values, height, label=names[stage])
    axes.set_yticks(y, order)
    axes.set_xlabel(_("mean |points| per lead"))
    axes.set_title(_("What drives the score (mean size of each field's points)"))
    axes.legend(loc="lower right")
    axes.grid(axis="x", alpha=0.3)
    evaluate.local_ticks(axes, y=False)
    return save_figure(figure, path)


def plot_beeswarm(explanation: Any, path: Path, title: str, max_drivers: int) -> Path:
    """shap beeswarm of a sample of leads (points per field, coloured by value)."""
    import shap

    with _pyplot_figure(WIDE_FIGSIZE) as figure:
        axes = figure.add_subplot()
        shap.plots.beeswarm(
            explanation, ax=axes, show=False, plot_size=None, max_display=max_drivers
        )
        axes.set_xlabel(_("points (impact on the score)"))
        axes.set_title(title)
        _local_colourbar(figure, axes)
        evaluate.local_ticks(axes, y=False)
        return save_figure(figure, path)


def _local_colourbar(figure: Figure, axes: Any) -> None:
    """shap writes "Feature value", "Low", "High" on its colour bar and "Sum of N other
    features" under the beeswarm: say them in the page's language."""
    for other in figure.axes:
        if other is not axes and other.get_ylabel() == "Feature value":
            other.set_ylabel(_("field value"))
            words = {"Low": _("low"), "High": _("high")}
            labels = [t.get_text() for t in other.get_yticklabels()]
            if labels and all(label in words for label in labels):
                other.set_yticks(other.get_yticks(), [words[label] for label in labels])
    labels = [t.get_text() for t in axes.get_yticklabels()]
    for i, label in enumerate(labels):
        found = re.fullmatch(r"Sum of (\d+) other features", label)
        if found:
            count = int(found.group(1))
            text = i18n.ngettext("Sum of {count} other field", "Sum of {count} other fields", count)
            labels[i] = text.format(count=count)
            axes.set_yticks(axes.get_yticks(), labels)


def plot_dependence(
    explanation: Any, name: str, path: Path, colour_by: str | None = None
) -> Path | None:
    """shap dependence (scatter) plot of one field's points against its value.

    Leads where the field is unknown are left out; None when it is never known.
    """
    import shap

    column = explanation[:, name]
    known = ~np.isnan(np.asarray(column.data, dtype=float))
    if not known.any():
        return None
    column = column[known]
    with _pyplot_figure(FIGSIZE) as figure:
        axes = figure.add_subplot()
        colour = explanation[known][:, colour_by] if colour_by else "#1E88E5"
        shap.plots.scatter(column, ax=axes, show=False, color=colour)
        axes.set_ylabel(_("points from {field}").format(field=name))
        if name == schema.PRIOR_AWARENESS:
            levels = list(schema.AWARENESS_LEVELS)
            axes.set_xticks(range(len(levels)), segment_labels(name, levels))
            axes.set_xlabel(_(SEGMENT_PLOTS[name][2]))
            evaluate.local_ticks(axes, x=False)
        else:
            evaluate.local_ticks(axes)
        axes.set_title(_("Points from {field} (leads where it is known)").format(field=name))
        _local_colourbar(figure, axes)
        return save_figure(figure, path)


def plot_segments(table: pd.DataFrame, by: str, path: Path, labelled: bool) -> Path:
    """Accept and close rate per segment: actual when labelled, else predicted."""
    figure = new_figure()
    axes = figure.add_subplot()
    names = segment_labels(by, table[by].astype(str).tolist())
    x = np.arange(len(names))
    pairs = (
        (("accept_rate", _("accepted by sales")), ("close_rate", _("won")))
        if labelled
        else (("mean_p_accept", _("P(accept)")), ("mean_p_close", _("P(close)")))
    )
    for i, (column, label) in enumerate(pairs):
        values = table[column].to_numpy(dtype=float)
        if np.isnan(values).all():
            continue
        axes.bar(x + (i - 0.5) * 0.4, np.nan_to_num(values), 0.4, label=label)
    axes.set_xticks(x, names, rotation=30, ha="right")
    axes.set_ylabel(_("share of leads") if labelled else _("mean predicted probability"))
    segment = _(SEGMENT_PLOTS[by][2]) if by in SEGMENT_PLOTS else by
    if labelled:
        axes.set_title(_("Leads by {segment}: actual outcomes").format(segment=segment))
    else:
        axes.set_title(_("Leads by {segment}: predicted").format(segment=segment))
    axes.legend()
    axes.grid(axis="y", alpha=0.3)
    evaluate.local_ticks(axes, x=False)
    return save_figure(figure, path)


def plot_handover(curve: pd.DataFrame, path: Path, threshold: int | None) -> Path:
    """Share passed, share of wins and expected accept rate against the threshold."""
    figure = new_figure()
    axes = figure.add_subplot()
    t = curve["threshold"]
    axes.plot(t, curve["share_passed"], label=_("share of leads passed to sales"))
    if "share_of_wins" in curve:
        axes.plot(t, curve["share_of_wins"], label=_("share of wins among them"))
    if curve["expected_accept_rate"].notna().any():
        axes.plot(t, curve["expected_accept_rate"], label=_("expected accept rate among them"))
    if threshold is not None:
        recommended = _("recommended: {threshold}").format(threshold=threshold)
        axes.axvline(threshold, color="grey", linestyle="--", label=recommended)
    axes.set(
        xlabel=_("pass leads scoring at least"), ylabel=_("share"), xlim=(0, 100), ylim=(0, 1.02)
    )
    axes.set_title(_("Hand-over to sales by score threshold"))
    axes.legend(loc="center left", fontsize="small")
    axes.grid(alpha=0.3)
    evaluate.local_ticks(axes)
    return save_figure(figure, path)


# --- the page: data here, markup in templates/report.html.j2 ------------------------------


@dataclass(frozen=True)
class Column:
    """A table column: the record key, its header and how its cells are written."""

    key: str
    header: str
    format: str = "text"  # text, int, pct, pts, num (``digits`` decimals), times
    digits: int = 1


def cell(value: Any, column: Column) -> str:
    """One table cell as text in the current language: ``-`` for a missing number."""
    if column.format == "text":
        return str(value)
    if value is None or _isnan(value):
        return "-"
    if column.format == "int":
        return i18n.number(int(value), 0)
    if column.format == "pct":
        return i18n.percent(value, 1)
    if column.format == "pts":
        return signed(value, 1)
    if column.format == "times":
        return _("{times}x").format(times=i18n.number(value, column.digits))
    return i18n.number(value, column.digits)


def signed(value: float, decimals: int) -> str:
    """A number of points with its sign: ``+2.5`` / ``-1.0`` (``+2,5`` in Danish)."""
    text = i18n.number(abs(value), decimals)
    if text.strip("0.,") == "":
        return text
    return ("+" if value > 0 else i18n.symbols().minus) + text


def _table(frame: pd.DataFrame, columns: list[Column]) -> dict[str, Any]:
    return {"columns": columns, "rows": frame[[c.key for c in columns]].to_dict(orient="records")}


def figure_data(path: Path, alt: str, caption: str = "") -> dict[str, str]:
    """A PNG as the page embeds it (``alt`` and ``caption`` are texts in the page's language)."""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return {"src": f"data:image/png;base64,{data}", "alt": alt, "caption": caption}


@dataclass
class _Context:
    """Everything computed once and shared by the sections."""

    model: FunnelModel
    leads: pd.DataFrame
    predictions: pd.DataFrame
    rows: np.ndarray
    contribs: dict[str, explain.StageContributions]
    metrics: dict[str, dict[str, float]]
    plots: Path
    weeks: float
    labelled: bool
    settings: ReportConfig


def _readiness(ctx: _Context) -> dict[str, str] | None:
    """The training run's readiness verdict, as the run gave it (None for older models)."""
    found = ctx.model.metadata.get("readiness") or {}
    if not found.get("verdict"):
        return None
    words = {
        "ready": i18n.pgettext("readiness", "ready"),
        "weak": i18n.pgettext("readiness", "weak"),
        "not ready": i18n.pgettext("readiness", "not ready"),
    }
    return {
        "verdict": found["verdict"],
        "verdict_text": words.get(found["verdict"], found["verdict"]),
        "reasons": "; ".join(found.get("reasons") or []),
    }


def _headline(ctx: _Context) -> dict[str, Any]:
    data: dict[str, Any] = {"readiness": _readiness(ctx)}
    close = ctx.metrics.get(CLOSE)
    if close is None:
        trained = ctx.model.metadata.get("metrics", {}).get(CLOSE, {})
        return data | {"measured": False, "trained_auc": trained.get("roc_auc")}
    label = f"{TOP_FRACTION * 100:g}"  # the key suffix of evaluate.stage_metrics
    rows = [
        {
            "stage": stage,
            "n": m["n"],
            "rate": m["rate"],
            "roc_auc": m["roc_auc"],
            "ece": m["ece"],
            "brier": m["brier"],
            "lift": m.get(f"lift_top{label}", math.nan),
        }
        for stage, m in ctx.metrics.items()
    ]
    stage_names = {CLOSE: _("won (close)"), ACCEPT: _("accepted by sales (accept)")}
    for row in rows:
        row["stage"] = stage_names.get(row["stage"], row["stage"])
    columns = [
        Column("stage", _("stage")),
        Column("n", _("decided leads"), "int"),
        Column("rate", _("actual rate"), "pct"),
        Column("roc_auc", _("ROC-AUC"), "num", 3),
        Column("ece", _("calibration error"), "pct"),
        Column("brier", _("Brier"), "num", 4),
        Column(
            "lift", _("lift in top {share}").format(share=i18n.percent(TOP_FRACTION)), "times", 2
        ),
    ]
    y = _labels(ctx.leads, schema.CLOSED)
    decided = ~np.isnan(y)
    curves = {_("model"): (y[decided], ctx.predictions["p_close"].to_numpy()[decided])}
    reliability = evaluate.plot_reliability(
        curves, ctx.plots / "close_reliability.png", _("Predicted vs actual close rate")
    )
    gains = evaluate.plot_gains(
        curves, ctx.plots / "close_gains.png", _("Share of wins found by contacting the top leads")
    )
    return data | {
        "measured": True,
        "n": close["n"],
        "positives": close["positives"],
        "rate": close["rate"],
        "roc_auc": close["roc_auc"],
        "ece": close["ece"],
        "top_fraction": TOP_FRACTION,
        "lift": close.get(f"lift_top{label}", math.nan),
        "table": _table(pd.DataFrame(rows), columns),
        "figures": [
            figure_data(
                reliability,
                _("calibration plot"),
                _("Points on the diagonal: predictions are right."),
            ),
            figure_data(
                gains,
                _("cumulative gains"),
                _("Above the diagonal: better than random order."),
            ),
        ],
    }


def _tiers(ctx: _Context) -> dict[str, Any]:
    table = tier_summary(ctx.model, ctx.predictions, ctx.leads)
    columns = [
        Column("tier", _("tier")),
        Column("min_score", _("score from"), "num", 0),
        Column("leads", _("leads"), "int"),
        Column("share", _("share of leads"), "pct"),
    ]
    if ctx.model.has_accept:
        columns.append(Column("mean_p_accept", _("P(accept)"), "pct"))
    columns.append(Column("mean_p_close", _("P(close)"), "pct"))
    columns.append(Column("share_of_expected_wins", _("share of expected wins"), "pct"))
    figure = None
    if ctx.labelled:
        columns.append(Column("decided", _("decided"), "int"))
        columns.append(Column("close_rate", _("actual close rate"), "pct"))
        y = _labels(ctx.leads, schema.CLOSED)
        decided = ~np.isnan(y)
        tiers = evaluate.tier_table(
            y[decided],
            ctx.predictions["tier"].to_numpy()[decided],
            order=tuple(ctx.model.tier_thresholds),
        )
        path = evaluate.plot_tiers(tiers, ctx.plots / "tiers.png", _("Actual close rate per tier"))
        figure = figure_data(path, _("close rate per tier"))
    return {"table": _table(table, columns), "figure": figure}


def _segment_columns(ctx: _Context, by: str) -> list[Column]:
    columns = [Column(by, _(SEGMENT_PLOTS[by][2])), Column("n", _("leads"), "int")]
    if ctx.labelled:
        if schema.ACCEPTED in ctx.leads:
            columns.append(Column("accept_rate", _("accepted by sales"), "pct"))
        columns.append(Column("close_rate", _("won"), "pct"))
    if ctx.model.has_accept:
        columns.append(Column("mean_p_accept", _("P(accept)"), "pct"))
    columns.append(Column("mean_p_close", _("P(close)"), "pct"))
    columns.append(Column("mean_score", _("mean score"), "num", 1))
    columns.append(Column("mean_points", _("points from {field}").format(field=by), "pts"))
    return columns


def _extremes(table: pd.DataFrame, by: str, ctx: _Context) -> dict[str, Any] | None:
    """The best and worst segment (enough leads only), or None with fewer than two."""
    if ctx.labelled:
        enough = table[table["close_decided"] >= ctx.model.explain_settings.segment_min_leads]
        column = "close_rate"
    else:
        enough = table[table["n"] >= ctx.model.explain_settings.segment_min_leads]
        column = "mean_p_close"
    enough = enough[enough[column].notna()]
    if len(enough) < 2:
        return None
    best = enough.loc[enough[column].idxmax()]
    worst = enough.loc[enough[column].idxmin()]
    best_name, worst_name = segment_labels(by, [str(best[by]), str(worst[by])])
    return {
        "best": best_name,
        "best_rate": best[column],
        "worst": worst_name,
        "worst_rate": worst[column],
    }


def _segment(ctx: _Context, by: str) -> tuple[pd.DataFrame, dict[str, Any]] | None:
    """A segment view's table and its plot, or None when the data has no ``by`` column."""
    if by not in ctx.leads:
        return None
    table = explain.segment_view(ctx.model, ctx.leads, by, ctx.contribs, ctx.predictions, ctx.rows)
    name, alt, _header = SEGMENT_PLOTS[by]
    path = plot_segments(table, by, ctx.plots / name, ctx.labelled)
    shown = table.assign(**{by: segment_labels(by, table[by].astype(str).tolist())})
    return table, {
        "labelled": ctx.labelled,
        "table": _table(shown, _segment_columns(ctx, by)),
        "figure": figure_data(path, _(alt)),
    }


def _sources(ctx: _Context) -> dict[str, Any] | None:
    found = _segment(ctx, schema.SOURCE)
    if found is None:
        return None
    table, data = found
    return data | {"extremes": _extremes(table, schema.SOURCE, ctx)}


def _awareness(ctx: _Context) -> dict[str, Any] | None:
    found = _segment(ctx, schema.PRIOR_AWARENESS)
    if found is None:
        return None
    table, data = found
    levels = table.set_index(schema.PRIOR_AWARENESS)
    contrast = None
    if {"high", "none"} <= set(levels.index):
        high, none = levels.loc["high"], levels.loc["none"]
        rate = "close_rate" if ctx.labelled else "mean_p_close"
        contrast = {
            "high_rate": high[rate],
            "none_rate": none[rate],
            "worth": high["mean_points"] - none["mean_points"],
        }
    return data | {"contrast": contrast}


def _handover(
    ctx: _Context, capacity: float | None, target_accept_rate: float | None
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    p_accept = ctx.predictions["p_accept"] if ctx.model.has_accept else None
    y = _labels(ctx.leads, schema.CLOSED) if ctx.labelled else None
    curve = explain.handover_curve(
        ctx.predictions["score"], p_accept, ctx.predictions["p_close"], y
    )
    recommendation = None
    target, default_target = target_accept_rate, None
    if capacity is None and target is None and ctx.model.has_accept:
        target = default_target = ctx.settings.target_accept_rate
    if capacity is not None or target is not None:
        recommendation = explain.recommend_threshold(
            curve,
            leads_per_week=capacity,
            weeks=ctx.weeks if capacity is not None else None,
            target_accept_rate=target,
        )
    threshold = recommendation["threshold"] if recommendation else None
    path = plot_handover(curve, ctx.plots / "handover.png", threshold)
    shown = curve[curve["threshold"] % ctx.settings.handover_table_step == 0].copy()
    shown["per_week"] = shown["leads_passed"] / ctx.weeks if ctx.weeks > 0 else np.nan
    columns = [
        Column("threshold", _("score at least"), "int"),
        Column("leads_passed", _("leads passed"), "int"),
        Column("share_passed", _("share of leads"), "pct"),
    ]
    if not math.isnan(ctx.weeks):
        columns.append(Column("per_week", _("per week"), "num", 1))
    if "share_of_wins" in shown:
        columns.append(Column("share_of_wins", _("share of wins"), "pct"))
    if ctx.model.has_accept:
        columns.append(Column("expected_accept_rate", _("expected accept rate"), "pct"))
    data = {
        "default_target": default_target,
        "reasoning": recommendation["reasoning"] if recommendation else None,
        "figure": figure_data(path, _("hand-over curve")),
        "table": _table(shown, columns),
    }
    return data, recommendation


def _drivers(ctx: _Context) -> dict[str, Any]:
    importance = explain.global_importance(ctx.model, ctx.leads.iloc[ctx.rows], ctx.contribs)
    figures = [
        figure_data(
            plot_importance(importance, ctx.plots / "importance.png", ctx.settings.max_drivers),
            _("importance"),
        )
    ]
    if len(ctx.rows) > ctx.settings.beeswarm_rows:
        rng = np.random.default_rng(SAMPLE_SEED)
        pick = np.sort(rng.choice(len(ctx.rows), ctx.settings.beeswarm_rows, replace=False))
    else:
        pick = np.arange(len(ctx.rows))
    explained = ctx.leads.iloc[ctx.rows]
    close = _explanation(ctx.model, explained, ctx.contribs[CLOSE])[pick]
    beeswarm = plot_beeswarm(
        close,
        ctx.plots / "beeswarm_close.png",
        _("Points per field (won)"),
        ctx.settings.max_drivers,
    )
    figures.append(
        figure_data(
            beeswarm,
            _("beeswarm"),
            _(
                "Each dot is one lead. Numbers: red = high value, blue = low; categories get "
                "arbitrary colours."
            ),
        )
    )
    close_importance = importance[importance["stage"] == CLOSE]
    engagement = [f for f in close_importance["field"] if f in schema.ENGAGEMENT_COLUMNS]
    dependence = []
    if schema.PRIOR_AWARENESS in ctx.contribs[CLOSE].fields:
        path = plot_dependence(
            close, schema.PRIOR_AWARENESS, ctx.plots / "dependence_prior_awareness.png"
        )
        if path is not None:
            alt = _("dependence: {field}").format(field=schema.PRIOR_AWARENESS)
            dependence.append(figure_data(path, alt))
    if engagement:
        name = engagement[0]
        colour = schema.PRIOR_AWARENESS if schema.PRIOR_AWARENESS in close.feature_names else None
        path = plot_dependence(close, name, ctx.plots / f"dependence_{name}.png", colour)
        caption = _("Colour: prior awareness.") if colour else ""
        if path is not None:
            alt = _("dependence: {field}").format(field=name)
            dependence.append(figure_data(path, alt, caption))
    columns = [
        Column("field", _("field")),
        Column("mean_abs_points", _("mean |points|"), "num", 2),
        Column("share", _("share of all points"), "pct"),
    ]
    return {
        "table": _table(close_importance.head(ctx.settings.max_drivers), columns),
        "figures": figures,
        "dependence": dependence,
    }


def _examples(ctx: _Context) -> dict[str, Any]:
    picks = _example_rows(ctx.predictions["score"].to_numpy())
    leads = ctx.leads.iloc[picks].reset_index(drop=True)
    explained = explain.explain_leads(ctx.model, leads, k=ctx.settings.example_reasons)
    return {
        "k": ctx.settings.example_reasons,
        "base_points": explain.to_points(ctx.model, ctx.contribs[CLOSE])[0],
        "leads": [
            {
                "lead_id": lead[schema.LEAD_ID],
                "score": lead["score"],
                "tier": lead["tier"],
                "p_close": lead["p_close"],
                "p_accept": lead.get("p_accept"),
                "reasons": lead["reasons"],
            }
            for lead in explained
        ],
    }


def _header(
    ctx: _Context, info: Mapping[str, Any] | None, intake: Mapping[str, Any] | None
) -> dict[str, Any]:
    model = None
    if info:
        name, version = info.get("name"), info.get("version")
        if name and version:
            model = _("{name} version {version}").format(name=name, version=version)
        else:
            model = str(info.get("uri", ""))
    trained = _day(ctx.model.metadata.get("trained_at"))
    created = None
    if schema.CREATED_AT in ctx.leads:
        dates = pd.to_datetime(ctx.leads[schema.CREATED_AT], errors="coerce")
        if dates.notna().any():
            created = (i18n.date(dates.min()), i18n.date(dates.max()))
    rejected = None
    if intake and intake.get("rows_rejected"):
        reasons = ", ".join(
            f"{k}: {i18n.number(v)}" for k, v in dict(intake.get("reasons", {})).items()
        )
        rejected = {
            "rows": intake["rows_rejected"],
            "rows_in": intake["rows_in"],
            "reasons": reasons,
        }
    return {
        "model": model,
        "trained": trained,
        "created": created,
        "leads": len(ctx.leads),
        "sampled": len(ctx.rows) if len(ctx.rows) < len(ctx.leads) else None,
        "rejected": rejected,
    }


def _day(value: Any) -> str | None:
    """A timestamp of the model's metadata as a date in the current language."""
    stamp = pd.to_datetime(value, errors="coerce", utc=True) if value else None
    return None if stamp is None or pd.isna(stamp) else i18n.date(stamp.date())


def _missing(value: Any) -> bool:
    return value is None or _isnan(value)


def page_environment() -> jinja2.Environment:
    """A Jinja2 environment of the package's page templates (the report, the monitor's).

    Escaped, strict about undefined names; ``{% trans %}`` and ``_()`` in the current
    language (:func:`leadmodel.i18n.install`), and number filters that write numbers as
    that language does: ``count`` (whole numbers), ``num(d)`` (``d`` decimals),
    ``pct`` (one decimal), ``pct0`` (none), ``pts`` (signed points); ``-`` when missing.
    """
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("leadmodel", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    i18n.install(environment)
    filters = {
        "count": lambda v: "-" if _missing(v) else i18n.number(int(v), 0),
        "num": lambda v, d=3: "-" if _missing(v) else i18n.number(v, d),
        "pct": lambda v: "-" if _missing(v) else i18n.percent(v, 1),
        "pct0": lambda v: "-" if _missing(v) else i18n.percent(v),
        "pts": lambda v: "-" if _missing(v) else signed(v, 1),
    }
    environment.filters.update(filters)
    return environment


@lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    """The page template (package data), with the cell filter of its tables."""
    environment = page_environment()
    environment.filters["cell"] = cell
    return environment.get_template(TEMPLATE)


def render(title: str, sections: Mapping[str, Any]) -> str:
    """The report page for the sections' data (see :func:`write_report`), in the current
    language."""
    return _template().render(title=title, lang=i18n.current(), **sections)


def write_report(
    model: FunnelModel,
    leads: pd.DataFrame,
    out: str | Path,
    *,
    capacity: float | None = None,
    weeks: float | None = None,
    target_accept_rate: float | None = None,
    title: str | None = None,
    info: Mapping[str, Any] | None = None,
    intake: Mapping[str, Any] | None = None,
    plots_dir: str | Path | None = None,
    tables_dir: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
    explain_rows: int | None = None,
    settings: ReportConfig | None = None,
) -> ReportSummary:
    """Score ``leads``, explain them and write the self-contained HTML report to ``out``.

    Parameters
    ----------
    capacity
        Sales capacity in leads per week: the recommended threshold passes no more.
    weeks
        Weeks the leads cover (default: from ``created_at``); needed with ``capacity``
        when the data has no dates.
    target_accept_rate
        Recommend the lowest threshold keeping the expected accept rate at least this.
    title
        The page's title (default: "Lead quality report" in the current language).
    info
        Model description shown in the header (``uri``, ``name``, ``version``).
    intake
        Ingest summary (``rows_in``, ``rows_rejected``, ``reasons``) shown in the header.
    plots_dir
        Also keep the PNGs there (default: a temporary folder).
    tables_dir
        Also write the explanation tables there as CSV (see :func:`log_run_report`).
    explain_rows
        Explain at most this many leads (a seeded sample; default: the settings'
        ``explain_rows``); scores, tiers, the tables and the hand-over curve always use
        every lead.
    settings
        What the report shows (default: the ``report`` section of the shipped config).

    Raises
    ------
    ValueError
        No leads, or a capacity without dates or ``weeks``.
    """
    say = progress or (lambda _msg: None)
    settings = settings or load_config().report
    title = title or _("Lead quality report")
    leads = leads.reset_index(drop=True)
    if len(leads) == 0:
        raise ValueError(_("no valid leads to report on"))
    if weeks is None:
        weeks = (
            explain.weeks_spanned(leads[schema.CREATED_AT])
            if schema.CREATED_AT in leads
            else math.nan
        )
    if capacity is not None and not weeks > 0:
        raise ValueError(
            _(
                "--capacity: the leads have no created_at dates to turn it into a volume; "
                "give the number of weeks the file covers with --weeks"
            )
        )
    out = Path(out)
    with tempfile.TemporaryDirectory() as tmp:
        plots = Path(plots_dir) if plots_dir is not None else Path(tmp)
        plots.mkdir(parents=True, exist_ok=True)
        say(_("scoring leads"))
        X = model.transform(leads)
        predictions = model.predict_features(X, leads)
        rows = _explain_rows(len(leads), explain_rows or settings.explain_rows)
        say(_("explaining {count} leads").format(count=i18n.number(len(rows))))
        contribs = explain.all_contributions(model, leads.iloc[rows], X.iloc[rows])
        metrics = _stage_metrics(leads, predictions, model)
        labelled = bool((~np.isnan(_labels(leads, schema.CLOSED))).any())
        ctx = _Context(
            model,
            leads,
            predictions,
            rows,
            contribs,
            metrics,
            plots,
            float(weeks),
            labelled,
            settings,
        )
        say(_("drawing the report"))
        handover, recommendation = _handover(ctx, capacity, target_accept_rate)
        page = render(
            title,
            {
                "header": _header(ctx, info, intake),
                "headline": _headline(ctx),
                "tiers": _tiers(ctx),
                "sources": _sources(ctx),
                "awareness": _awareness(ctx),
                "handover": handover,
                "drivers": _drivers(ctx),
                "examples": _examples(ctx),
            },
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(page, encoding="utf-8")
        plot_names = sorted(p.name for p in plots.glob("*.png"))
        if tables_dir is not None:
            _write_tables(ctx, Path(tables_dir), k=explain.DEFAULT_K)
    return ReportSummary(
        path=out,
        leads=len(leads),
        explained=len(rows),
        sections=["headline", "tiers", "sources", "awareness", "handover", "drivers", "examples"],
        recommendation=recommendation,
        metrics=metrics,
        plots=plot_names,
        intake=dict(intake or {}),
    )


# --- entry points ----------------------------------------------------------------------------


def report_from_file(
    data: str | Path,
    out: str | Path,
    *,
    model_uri: str | None = None,
    mapping: str | Path | None = None,
    capacity: float | None = None,
    weeks: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> ReportSummary:
    """Read an export through ingest, load the model and write the report (``leadmodel report``).

    Raises
    ------
    leadmodel.ingest.IngestError
        The file or mapping cannot be read.
    leadmodel.tracking.ModelNotFound
        No model at ``model_uri`` (default: the registered champion).
    ValueError
        No valid leads, or a capacity the data cannot be turned into a weekly volume.
    """
    from leadmodel import ingest
    from leadmodel.tracking import default_model_uri, load_funnel

    say = progress or (lambda _msg: None)
    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise ValueError(
            _("--out: the report is an HTML file (name it .html), got {path}").format(path=out)
        )
    if not out.parent.is_dir():
        raise ValueError(
            _("--out: folder {folder} does not exist").format(folder=repr(str(out.parent)))
        )
    if capacity is not None and not capacity > 0:
        raise ValueError(
            _("--capacity: must be a positive number of leads per week, got {value}").format(
                value=capacity
            )
        )
    if weeks is not None and not weeks > 0:
        raise ValueError(
            _("--weeks: must be a positive number of weeks, got {value}").format(value=weeks)
        )
    mapping = mapping if isinstance(mapping, ingest.Mapping) else ingest.load_mapping(mapping)
    say(_("loading the model"))
    model, info = load_funnel(model_uri or default_model_uri(mapping.model_name))
    say(_("reading and validating leads"))
    result = ingest.read_leads(data, mapping)
    if result.rows_valid == 0:
        reasons = ", ".join(f"{k}: {i18n.number(v)}" for k, v in result.reasons.items())
        raise ValueError(
            _(
                "{file}: no valid leads to report on (all {rows} rows rejected: {reasons}); "
                "see them with `leadmodel validate --data {file} --rejects FILE`"
            ).format(file=data, rows=i18n.number(result.rows_in), reasons=reasons)
        )
    return write_report(
        model,
        result.valid,
        out,
        capacity=capacity,
        weeks=weeks,
        info=info,
        intake=result.summary(),
        title=_("Lead quality report: {file}").format(file=Path(data).name),
        progress=say,
    )


def log_run_report(
    model: FunnelModel, leads: pd.DataFrame, out_dir: str | Path, settings: ReportConfig
) -> ReportSummary:
    """Write the report, its plots and tables for ``leads`` and log them to the active run.

    ``settings`` is the run's ``report`` config; it explains ``run_explain_rows`` leads.
    The page is in the current language (the language the command runs in).

    Artifacts: ``report.html``, ``explain/*.png`` (the report's plots) and ``explain/*.csv``
    (global importance, the source and awareness tables, the hand-over curve and the
    top reasons of every explained lead).
    """
    import mlflow

    out_dir = Path(out_dir)
    explain_dir = out_dir / EXPLAIN_DIR
    explain_dir.mkdir(parents=True, exist_ok=True)
    summary = write_report(
        model,
        leads,
        out_dir / REPORT_NAME,
        title=_("Lead quality report: test slice (newest leads)"),
        plots_dir=explain_dir,
        tables_dir=explain_dir,
        explain_rows=settings.run_explain_rows,
        settings=settings,
    )
    mlflow.log_artifact(str(summary.path))
    mlflow.log_artifacts(str(explain_dir), EXPLAIN_DIR)
    return summary


def _write_tables(ctx: _Context, out_dir: Path, k: int) -> list[Path]:
    """The explanation tables as CSV: importance, segments, hand-over curve, reasons."""
    sample = ctx.leads.iloc[ctx.rows].reset_index(drop=True)
    tables = {"importance": explain.global_importance(ctx.model, sample, ctx.contribs)}
    for by in (schema.SOURCE, schema.PRIOR_AWARENESS):
        if by in ctx.leads:
            tables[f"by_{by}"] = explain.segment_view(
                ctx.model, ctx.leads, by, ctx.contribs, ctx.predictions, ctx.rows
            )
    p_accept = ctx.predictions["p_accept"] if ctx.model.has_accept else None
    y = _labels(ctx.leads, schema.CLOSED) if ctx.labelled else None
    tables["handover"] = explain.handover_curve(
        ctx.predictions["score"], p_accept, ctx.predictions["p_close"], y
    )
    tables["reasons"] = explain.reasons_frame(ctx.model, sample, k=k, contrib=ctx.contribs[CLOSE])
    written = []
    for name, table in tables.items():
        written.append(out_dir / f"{name}.csv")
        table.to_csv(written[-1], index=False)
    return written
