"""The monitoring page: one self-contained HTML file in the report's style.

Sections (stable ids): ``verdict`` (the verdict and its reasons, one line each),
``drift`` (PSI per field and week, and a table per field), ``calibration`` (predicted vs
realised rates over time, and ROC-AUC over time against the model's test figure),
``scores`` (score distribution and tier shares over time) and ``cohorts`` (the weekly
table). Plots are PNG data URIs; no scripts, no external CSS, fonts or images.
:func:`plots` draws the figures (also logged to the monitoring run), :func:`write` the page.
Texts, numbers and dates are in the current language (:mod:`leadmodel.i18n`), as on the
report; cohorts keep their ISO week names (``2026-W40``).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import jinja2
import numpy as np

from leadmodel import drift, i18n
from leadmodel.config import MonitorConfig
from leadmodel.evaluate import local_ticks
from leadmodel.i18n import N_, _
from leadmodel.monitor import LEVEL_WORDS, SCORE_QUANTILES, Text
from leadmodel.report import (
    FIGSIZE,
    WIDE_FIGSIZE,
    figure_data,
    new_figure,
    page_environment,
    save_figure,
)

if TYPE_CHECKING:
    from leadmodel.monitor import MonitorResult

TEMPLATE: Final = "monitor.html.j2"
#: Colours of the page's plots: predicted, realised, reference.
PREDICTED, REALISED, REFERENCE = "#2680c2", "#b42318", "#52606d"
#: Binomial standard errors drawn around a realised rate.
ERROR_BARS_SE: Final = 2.0
TIER_COLOURS: Final = ("#18794e", "#2680c2", "#f0b429", "#b42318", "#9aa5b1", "#52606d")
#: The flags of the field table, per kind of reason (translated when shown).
FLAGS: Final = {
    "missing": N_("missing values: {level}"),
    "unseen": N_("unseen categories: {level}"),
    "drift": N_("drift: {level}"),
}
#: Captions and alt texts of the page's figures (translated when shown).
CAPTIONS: Final = {
    "drift": N_("Population stability index of each field's present values, per weekly cohort."),
    "calibration": N_(
        "Realised rates only for cohorts old enough to be decided (bars: 2 standard errors)."
    ),
    "auc": N_("Dashed: the model's ROC-AUC on its test slice at training."),
    "scores": N_("Score quantiles and tier shares of each week's leads."),
}
ALT_TEXTS: Final = {
    "drift": N_("input drift per field"),
    "calibration": N_("calibration over time"),
    "auc": N_("ranking over time"),
    "scores": N_("score distribution over time"),
}


def stage_names() -> dict[str, str]:
    """The funnel stages as the pages name them, in the current language."""
    return {"accept": _("accepted by sales (accept)"), "close": _("won (close)")}


def _ticks(axis: Any, labels: list[str]) -> None:
    step = max(1, len(labels) // 12)
    axis.set_xticks(range(0, len(labels), step))
    axis.set_xticklabels(labels[::step], rotation=45, ha="right", fontsize=8)


def plot_drift(result: MonitorResult, path: Path, settings: MonitorConfig) -> Path | None:
    """Heat map: PSI of every field's present values, per weekly cohort."""
    cohorts = [r["cohort"] for r in result.cohorts]
    names = sorted({f for r in result.cohorts for f in r["fields"]})
    if not names:
        return None
    grid = np.full((len(names), len(cohorts)), np.nan)
    for j, row in enumerate(result.cohorts):
        for i, name in enumerate(names):
            if name in row["fields"]:
                grid[i, j] = row["fields"][name]["psi"]
    figure = new_figure((WIDE_FIGSIZE[0], max(3.0, 0.32 * len(names) + 1.5)))
    axis = figure.add_subplot()
    image = axis.imshow(
        grid, aspect="auto", cmap="Reds", vmin=0.0, vmax=max(settings.psi_alarm * 1.5, 0.01)
    )
    axis.set_yticks(range(len(names)))
    axis.set_yticklabels(names, fontsize=8)
    _ticks(axis, cohorts)
    bar = figure.colorbar(image, ax=axis, label=_("population stability index"))
    local_ticks(bar.ax, x=False)
    axis.set_title(
        _("Input drift per field (warn {warn}, alarm {alarm})").format(
            warn=i18n.number(settings.psi_warn), alarm=i18n.number(settings.psi_alarm)
        )
    )
    return save_figure(figure, path)


def plot_calibration(result: MonitorResult, path: Path) -> Path | None:
    """Per stage: mean predicted rate of all leads, realised rate of judged cohorts."""
    cohorts = [r["cohort"] for r in result.cohorts]
    stages = [s for s in ("accept", "close") if any(s in r["quality"] for r in result.cohorts)]
    if not stages:
        return None
    figure = new_figure((WIDE_FIGSIZE[0], 3.2 * len(stages)))
    for k, stage in enumerate(stages):
        axis = figure.add_subplot(len(stages), 1, k + 1)
        predicted = [(r["predicted"] or {}).get(stage, np.nan) for r in result.cohorts]
        axis.plot(range(len(cohorts)), predicted, color=PREDICTED, label=_("predicted (all leads)"))
        at, rate, err, pred = [], [], [], []
        for j, row in enumerate(result.cohorts):
            q = row["quality"].get(stage, {})
            if q.get("judged"):
                at.append(j)
                rate.append(q["realised"])
                pred.append(q["predicted"])
                err.append(ERROR_BARS_SE * np.sqrt(q["predicted"] * (1 - q["predicted"]) / q["n"]))
        if at:
            axis.errorbar(
                at, rate, yerr=err, fmt="o", color=REALISED, label=_("realised (decided)")
            )
            axis.plot(at, pred, "x", color=PREDICTED, label=_("predicted (decided leads)"))
        axis.set_ylabel(_("accept rate") if stage == "accept" else _("close rate"))
        axis.set_ylim(bottom=0)
        axis.legend(fontsize=8, loc="upper left")
        _ticks(axis, cohorts)
        local_ticks(axis, x=False)
    figure.suptitle(_("Calibration over time: predicted vs realised rate per weekly cohort"))
    return save_figure(figure, path)


def plot_auc(result: MonitorResult, path: Path) -> Path | None:
    """Per stage: ROC-AUC of judged cohorts with their intervals, and the test figure."""
    cohorts = [r["cohort"] for r in result.cohorts]
    test = (result.reference or {}).get("quality") or {}
    figure = new_figure(FIGSIZE)
    axis = figure.add_subplot()
    drawn = False
    names = stage_names()
    for stage, colour in (("accept", PREDICTED), ("close", REALISED)):
        at, value, low, high = [], [], [], []
        for j, row in enumerate(result.cohorts):
            q = row["quality"].get(stage, {})
            if q.get("judged") and q["roc_auc"] == q["roc_auc"]:
                at.append(j)
                value.append(q["roc_auc"])
                low.append(q["roc_auc"] - q["roc_auc_low"])
                high.append(q["roc_auc_high"] - q["roc_auc"])
        if at:
            drawn = True
            axis.errorbar(at, value, yerr=[low, high], fmt="o", color=colour, label=names[stage])
        if (test.get(stage) or {}).get("roc_auc") is not None:
            at_test = _("{stage} at test").format(stage=names[stage])
            axis.axhline(test[stage]["roc_auc"], color=colour, ls="--", lw=1, label=at_test)
    if not drawn:
        return None
    axis.set_ylabel(_("ROC-AUC"))
    axis.legend(fontsize=8)
    _ticks(axis, cohorts)
    local_ticks(axis, x=False)
    axis.set_title(_("Ranking over time (decided cohorts, bootstrap intervals)"))
    return save_figure(figure, path)


def plot_scores(result: MonitorResult, path: Path) -> Path:
    """Score quantile bands per cohort, and tier shares against the reference shares."""
    cohorts = [r["cohort"] for r in result.cohorts]
    x = np.arange(len(cohorts))
    figure = new_figure((WIDE_FIGSIZE[0], 6.5))
    top = figure.add_subplot(2, 1, 1)
    q = np.array([r["score_quantiles"] or [np.nan] * 5 for r in result.cohorts], dtype=float)
    low, quarter, _median, three_quarters, high = SCORE_QUANTILES
    outer = f"{i18n.number(low * 100)}-{i18n.percent(high)}"
    inner = f"{i18n.number(quarter * 100)}-{i18n.percent(three_quarters)}"
    top.fill_between(x, q[:, 0], q[:, 4], color=PREDICTED, alpha=0.15, label=outer)
    top.fill_between(x, q[:, 1], q[:, 3], color=PREDICTED, alpha=0.3, label=inner)
    top.plot(x, q[:, 2], color=PREDICTED, label=_("median"))
    top.set_ylabel(_("score"))
    top.set_ylim(0, 100)
    top.legend(fontsize=8, loc="upper left")
    _ticks(top, cohorts)
    bottom = figure.add_subplot(2, 1, 2)
    tiers = list((result.reference or {}).get("tiers") or {})
    if not tiers:
        tiers = sorted({t for r in result.cohorts for t in (r["tier_shares"] or {})})
    base = np.zeros(len(cohorts))
    for k, tier in enumerate(tiers):
        share = np.array([(r["tier_shares"] or {}).get(tier, 0.0) for r in result.cohorts])
        colour = TIER_COLOURS[k % len(TIER_COLOURS)]
        bottom.bar(x, share, bottom=base, color=colour, label=tier, width=0.85)
        base = base + share
        ref = (result.reference or {}).get("tiers") or {}
        if tier in ref and k < len(tiers) - 1:
            level = sum(ref[t] for t in tiers[: k + 1])
            bottom.axhline(level, color=REFERENCE, ls="--", lw=0.8)
    bottom.set_ylabel(_("tier share (dashed: at training)"))
    bottom.set_ylim(0, 1)
    bottom.legend(fontsize=8, ncol=len(tiers), loc="upper left")
    _ticks(bottom, cohorts)
    local_ticks(bottom, x=False)
    figure.suptitle(_("Score distribution over time"))
    return save_figure(figure, path)


def plots(result: MonitorResult, folder: Path, settings: MonitorConfig) -> dict[str, Path]:
    """Every figure of the page as PNG files in ``folder`` (name -> path)."""
    drawn = {
        "drift": plot_drift(result, folder / "drift.png", settings),
        "calibration": plot_calibration(result, folder / "calibration.png"),
        "auc": plot_auc(result, folder / "auc.png"),
        "scores": plot_scores(result, folder / "scores.png"),
    }
    return {k: v for k, v in drawn.items() if v is not None}


def field_table(result: MonitorResult) -> list[dict[str, Any]]:
    """Per field: reference missing share, the worst PSI, missing change and unseen rise."""
    ref = (result.reference or {}).get("fields") or {}
    kinds = {
        drift.NUMERIC: i18n.pgettext("field kind", "numeric"),
        drift.CATEGORICAL: i18n.pgettext("field kind", "categorical"),
    }
    flagged: dict[str, list[str]] = {}
    for reason in result.reasons:
        if reason.field in ref:
            level = str(Text(LEVEL_WORDS[reason.level]))
            flag = _(FLAGS[reason.kind]).format(level=level) if reason.kind in FLAGS else level
            flagged.setdefault(reason.field, []).append(flag)
    rows = []
    for name in ref:
        stats = [
            r["fields"][name]
            for r in result.cohorts
            if name in r["fields"] and r["judged_for_drift"]
        ]
        if not stats:
            continue
        psi = [s["psi"] for s in stats if s["psi"] == s["psi"]]
        unseen = [s["unseen_change"] for s in stats if "unseen_change" in s]
        rows.append(
            {
                "field": name,
                "kind": kinds.get(ref[name]["kind"], ref[name]["kind"]),
                "psi": max(psi) if psi else None,
                "missing_ref": ref[name]["missing"],
                "missing_now": stats[-1]["missing"],
                "missing_change": max((s["missing_change"] for s in stats), key=abs),
                "unseen": max(unseen) if unseen else None,
                "flags": ", ".join(flagged.get(name, [])) or _("ok"),
            }
        )
    return rows


def reference_info(result: MonitorResult) -> dict[str, Any] | None:
    """What the model's reference distributions were computed on, as the page shows it."""
    ref = result.reference
    if not ref:
        return None
    computed_on = ref.get("computed_on")
    return {
        "computed_on": _(computed_on) if computed_on == drift.COMPUTED_ON else computed_on,
        "rows": ref.get("rows"),
        "created_from": _day(ref.get("created_from")),
        "created_to": _day(ref.get("created_to")),
    }


def _day(value: str | None) -> str | None:
    """A ``YYYY-MM-DD`` day as the current language writes dates."""
    return i18n.date(dt.date.fromisoformat(value)) if value else None


@lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    return page_environment().get_template(TEMPLATE)


def write(result: MonitorResult, out: str | Path) -> Path:
    """Write the page for ``result`` (its figures drawn by :func:`plots`) to ``out``, in the
    current language."""
    figures = {
        k: figure_data(p, _(ALT_TEXTS[k]), _(CAPTIONS[k])) for k, p in result.figures.items()
    }
    page = _template().render(
        lang=i18n.current(),
        title=_("Model monitoring: {name} version {version}").format(
            name=result.model.get("name"), version=result.model.get("version")
        ),
        verdict=str(Text(LEVEL_WORDS[result.verdict])),
        stages=stage_names(),
        result=result,
        reference=reference_info(result),
        cohorts=result.cohorts,
        fields=field_table(result),
        figures=figures,
        first=result.cohorts[0]["cohort"] if result.cohorts else "-",
        last=result.cohorts[-1]["cohort"] if result.cohorts else "-",
    )

    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
