"""``leadmodel monitor``: drift and quality of logged scores, week by week, with a verdict.

:func:`monitor` reads the prediction log (:mod:`leadmodel.predlog`, through DuckDB) and
an outcomes export (any CRM export :func:`leadmodel.ingest.read_leads` reads, with its
mapping: ``lead_id`` and the ``accepted``/``closed`` labels as they stand now). Each lead
counts once, with its **first** logged score (what the model said before anything was
known), in the weekly cohort (ISO week, UTC) of that score.

- **Drift**, for every cohort of at least ``monitor.min_cohort_leads`` leads, against the
  reference distributions the model keeps from its test slice (:mod:`leadmodel.drift`):
  population stability index (PSI) of every input field's present values, the rise in
  the share of values the model never saw (categorical fields: scored as ``unknown``),
  the change in the missing share, and the PSI of the score and of the tiers. Leads
  whose outcome is not known yet count here too.
- **Quality**, only for cohorts old enough to be decided: a lead is decided for a stage
  when its label is filled in the export (the rule training uses: an open lead is never
  counted as lost); a cohort is judged once ``monitor.min_decided_share`` of its leads
  found in the export are decided and at least ``monitor.min_outcome_leads`` are. Per
  stage: predicted vs realised rate (overall and per tier), ECE, ROC-AUC with a bootstrap
  interval against the model's own test figure.
- **Verdict** ``ok``/``warn``/``alarm`` with one line per reason, thresholds in the
  ``monitor:`` settings; :attr:`MonitorResult.exit_code` is 1 on alarm. The lines and the
  notes are :class:`Text`: written in the language current when they are read (the
  summary, the page), and in English in ``--json`` (the codes never change).

The HTML page (``templates/monitor.html.j2``, plots embedded as data URIs) and an MLflow
run tagged with the model's name and version carry the same figures.

Evidently was considered: it co-installs with the pinned stack (``pip install --dry-run``
adds some twenty packages: litestar, plotly, nltk, statsmodels, ...), but its reports
compare two frames of raw rows (we keep distributions, not the training rows, and a log
of millions of scores is aggregated in DuckDB rather than loaded), its pages embed
plotly's JavaScript, and it ships a usage-telemetry client (no network at run time
here). The statistics are a few lines of numpy each, so they are computed directly.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
from scipy.stats import norm, rankdata

from leadmodel import drift, evaluate, i18n, predlog, schema
from leadmodel.config import MonitorConfig, TrainConfig, load_config
from leadmodel.i18n import N_, _
from leadmodel.model import ACCEPT, CLOSE, STAGE_LABEL

OK, WARN, ALARM = "ok", "warn", "alarm"
LEVELS: Final = (OK, WARN, ALARM)
#: The page template (package data, ``leadmodel/templates``).
TEMPLATE: Final = "monitor.html.j2"
#: MLflow experiment of monitoring runs.
EXPERIMENT: Final = "leadmodel-monitor"
#: Score quantiles drawn per cohort on the page.
SCORE_QUANTILES: Final = (0.1, 0.25, 0.5, 0.75, 0.9)
#: Resamples bootstrapped at once (memory: this many x the cohort's rows).
BOOTSTRAP_BATCH: Final = 20
STAGE_WORD: Final = {ACCEPT: "accept", CLOSE: "close"}
#: The verdict levels as people read them (translated when shown; the codes stay as they are).
LEVEL_WORDS: Final = {OK: N_("ok"), WARN: N_("warn"), ALARM: N_("alarm")}


class MonitorError(Exception):
    """The log, the outcomes or the model cannot be monitored as asked (one clear line)."""


@dataclass(frozen=True)
class Text:
    """A text for people, written when it is read: ``str(text)`` is ``message`` translated
    into the current language with ``values`` filled in.

    A value is shown as it is, or, when it is a callable (``partial(i18n.number, v, 2)``)
    or another :class:`Text`, as it writes itself then: numbers follow the language too.
    """

    message: str  # the English message, marked for the catalogue with N_
    values: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        shown = {k: v() if callable(v) else str(v) for k, v in self.values.items()}
        return _(self.message).format(**shown)

    def __html__(self) -> str:  # Jinja2 escapes it like any text
        from markupsafe import escape

        return str(escape(str(self)))


@dataclass
class Reason:
    """One line of the verdict: what moved, where, how much, and how bad."""

    level: str
    kind: str
    field: str | None
    first: str
    last: str
    value: float
    text: Text

    @property
    def line(self) -> str:
        """The line in the current language."""
        return str(self.text)

    def to_dict(self) -> dict[str, Any]:
        found = {k: v for k, v in self.__dict__.items() if k != "text"}
        return found | {"line": self.line}


@dataclass
class MonitorResult:
    """Everything ``leadmodel monitor`` found (``--json`` prints :meth:`to_json`)."""

    verdict: str
    reasons: list[Reason]
    notes: list[Text]
    model: dict[str, Any]
    log: str
    rows_logged: int
    leads: int
    cohorts: list[dict[str, Any]]
    pooled: dict[str, dict[str, Any]]
    reference: dict[str, Any] | None
    outcomes: dict[str, Any]
    html: str | None = None
    run_id: str | None = None
    figures: dict[str, Path] = field(default_factory=dict, repr=False)

    @property
    def exit_code(self) -> int:
        """1 on alarm (a scheduler acts on it), else 0."""
        return 1 if self.verdict == ALARM else 0

    def lines(self) -> list[str]:
        """The reasons' lines in the current language."""
        return [r.line for r in self.reasons]

    def to_json(self) -> dict[str, Any]:
        """The result for machines: codes as they are, texts in English in every language."""
        with i18n.using(i18n.DEFAULT_LANGUAGE):
            reasons = self.lines()
            details = [r.to_dict() for r in self.reasons]
            notes = [str(n) for n in self.notes]
        return _plain(
            {
                "verdict": self.verdict,
                "reasons": reasons,
                "reason_details": details,
                "notes": notes,
                "model": self.model,
                "log": self.log,
                "rows_logged": self.rows_logged,
                "leads": self.leads,
                "outcomes": self.outcomes,
                "cohorts": self.cohorts,
                "pooled": self.pooled,
                "reference_quality": (self.reference or {}).get("quality"),
                "html": self.html,
                "run_id": self.run_id,
            }
        )


def _plain(obj: Any) -> Any:
    """JSON-safe copy: NaN as None, numpy numbers as Python numbers."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


# --- reading the log and the outcomes -------------------------------------------------------


def _model_of_log(con: Any) -> tuple[str, str, int]:
    """Name and version of the newest logged score, and the rows of other versions."""
    rows = con.execute(
        "SELECT model_name, model_version, max(scored_at) AS latest, count(*) AS n "
        "FROM predictions GROUP BY ALL ORDER BY latest DESC"
    ).fetchall()
    name, version = str(rows[0][0]), str(rows[0][1])
    return name, version, int(sum(r[3] for r in rows[1:]))


def _load_model(model_uri: str | None, con: Any, tracking: str | None) -> tuple[Any, dict, str]:
    """The monitored model, its description, and the SQL filter of its logged rows."""
    from leadmodel.tracking import ModelNotFound, load_funnel

    if model_uri is None:
        name, version, _others = _model_of_log(con)
        model_uri = f"models:/{name}/{version}"
    try:
        model, info = load_funnel(model_uri, tracking=tracking)
    except ModelNotFound as exc:
        raise MonitorError(str(exc)) from None
    name, version = info.get("name"), info.get("version")
    where = (
        f"model_name = {_sql_text(name)} AND model_version = {_sql_text(version)}"
        if name and version
        else "TRUE"
    )
    return model, info, where


def _sql_text(value: Any) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def read_outcomes(path: str | Path, mapping: Any = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``lead_id`` and the labels of an outcomes export, read as every export is read."""
    from leadmodel.ingest import IngestError, read_leads

    try:
        result = read_leads(path, mapping)
    except IngestError as exc:
        raise MonitorError(_("--outcomes: {error}").format(error=exc)) from None
    frame = result.valid
    if schema.CLOSED not in frame:
        raise MonitorError(
            _(
                "--outcomes {path}: no '{column}' column (map it in the mapping): "
                "without outcomes only drift can be measured"
            ).format(path=path, column=schema.CLOSED)
        )
    labels = [c for c in (schema.ACCEPTED, schema.CLOSED) if c in frame]
    out = pd.DataFrame({schema.LEAD_ID: frame[schema.LEAD_ID].astype(str)})
    for label in labels:
        out[label] = pd.to_numeric(frame[label], errors="coerce").astype(float)
    return out, result.summary() | {"path": str(path)}


# --- drift --------------------------------------------------------------------------------


def _numeric_case(column: str, cuts: Sequence[float]) -> str:
    """SQL bin of a numeric column as :func:`leadmodel.drift.numeric_bins` gives it."""
    parts = [f"WHEN {column} IS NULL OR isnan({column}) THEN -1"]
    parts += [f"WHEN {column} < {float(c)!r} THEN {j}" for j, c in enumerate(cuts)]
    return "CASE " + " ".join(parts) + f" ELSE {len(cuts)} END"


def _counts(con: Any, expression: str) -> pd.DataFrame:
    """Leads per (cohort, value of ``expression``) over the first scorings."""
    return con.execute(
        f"SELECT cohort, {expression} AS value, count(*) AS n FROM firsts GROUP BY ALL"
    ).df()


def _cohort_table(counts: pd.DataFrame, cohorts: list[str]) -> pd.DataFrame:
    table = counts.pivot_table(index="cohort", columns="value", values="n", aggfunc="sum")
    return table.reindex(cohorts).fillna(0.0)


def _field_drift(
    con: Any, model: Any, name: str, ref: Mapping[str, Any], cohorts: list[str], s: MonitorConfig
) -> dict[str, dict[str, float]]:
    """Per cohort: PSI of present values, missing share and change, unseen share and rise."""
    column = _ident(name)
    out: dict[str, dict[str, float]] = {}
    if ref["kind"] == drift.NUMERIC:
        table = _cohort_table(_counts(con, _numeric_case(column, ref["cuts"])), cohorts)
        bins = list(range(len(ref["cuts"]) + 1))
        present = table.reindex(columns=bins, fill_value=0.0).to_numpy()
        missing = table[-1].to_numpy() if -1 in table else np.zeros(len(cohorts))
        expected = ref["shares"]
        unknown = None
    else:
        raw = _counts(con, column)
        values = raw["value"].astype(object).where(raw["value"].notna(), None)
        raw["value"] = model.features.category_of(name, values)
        table = _cohort_table(raw, cohorts)
        missing = table["missing"].to_numpy() if "missing" in table else np.zeros(len(cohorts))
        cats = list(dict.fromkeys([*ref["shares"], *[c for c in table if c != "missing"]]))
        present = table.reindex(columns=cats, fill_value=0.0).to_numpy()
        expected = [ref["shares"].get(c, 0.0) for c in cats]
        unknown = (
            table[schema.UNKNOWN].to_numpy() if schema.UNKNOWN in table else np.zeros(len(cohorts))
        )
    for i, cohort in enumerate(cohorts):
        total = present[i].sum() + missing[i]
        if total == 0:
            continue
        row: dict[str, float] = {
            "leads": float(total),
            "missing": float(missing[i] / total),
            "missing_change": float(missing[i] / total - ref["missing"]),
            "psi": (
                drift.psi(expected, present[i] / present[i].sum(), s.psi_floor)
                if present[i].sum()
                else math.nan
            ),
        }
        if unknown is not None:
            share = float(unknown[i] / present[i].sum()) if present[i].sum() else 0.0
            row["unseen"] = share
            row["unseen_change"] = share - float(ref["shares"].get(schema.UNKNOWN, 0.0))
        out[cohort] = row
    return out


def _score_drift(
    con: Any, reference: Mapping[str, Any], cohorts: list[str], s: MonitorConfig
) -> tuple[dict[str, float], dict[str, float], dict[str, dict[str, float]]]:
    """Per cohort: PSI of the score bins and of the tiers, and each tier's share."""
    score = reference["score"]
    table = _cohort_table(_counts(con, _numeric_case("score", score["cuts"])), cohorts)
    table = table.reindex(columns=list(range(len(score["cuts"]) + 1)), fill_value=0.0)
    tiers = _cohort_table(_counts(con, "tier"), cohorts)
    names = list(reference["tiers"])
    tiers = tiers.reindex(columns=list(dict.fromkeys([*names, *tiers.columns])), fill_value=0.0)
    score_psi, tier_psi, tier_shares = {}, {}, {}
    for cohort in cohorts:
        row = table.loc[cohort].to_numpy()
        if row.sum():
            score_psi[cohort] = drift.psi(score["shares"], row / row.sum(), s.psi_floor)
        t = tiers.loc[cohort]
        if t.sum():
            shares = t / t.sum()
            expected = [reference["tiers"].get(c, 0.0) for c in tiers.columns]
            tier_psi[cohort] = drift.psi(expected, shares.to_numpy(), s.psi_floor)
            tier_shares[cohort] = {str(k): float(v) for k, v in shares.items()}
    return score_psi, tier_psi, tier_shares


# --- quality ---------------------------------------------------------------------------------


def auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC-AUC from ranks (ties averaged); NaN with one class."""
    positives = int(y.sum())
    negatives = len(y) - positives
    if positives == 0 or negatives == 0:
        return math.nan
    ranks = rankdata(p)
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def bootstrap_auc(y: np.ndarray, p: np.ndarray, s: MonitorConfig, seed: int) -> tuple[float, float]:
    """Percentile bootstrap interval of ROC-AUC.

    Each resample is drawn as counts of the leads (how often each is drawn with
    replacement), and its AUC read off the leads sorted once by ``p`` (ties count
    half), so a resample costs a cumulative sum instead of a sort. Beyond
    ``bootstrap_max_rows`` leads a seeded sample of that many is resampled: the interval
    is then wider than the whole cohort's, never narrower.
    """
    rng = np.random.default_rng(seed)
    if len(y) > s.bootstrap_max_rows:
        keep = rng.choice(len(y), size=s.bootstrap_max_rows, replace=False)
        y, p = y[keep], p[keep]
    n = len(y)
    order = np.argsort(p, kind="stable")
    y_s, p_s = y[order], p[order]
    starts = np.flatnonzero(np.r_[True, p_s[1:] != p_s[:-1]])  # groups of tied scores
    found: list[np.ndarray] = []
    for first in range(0, s.bootstrap, BOOTSTRAP_BATCH):
        k = min(BOOTSTRAP_BATCH, s.bootstrap - first)
        drawn = rng.integers(0, n, size=(k, n)) + n * np.arange(k)[:, None]
        weights = np.bincount(drawn.ravel(), minlength=k * n).reshape(k, n).astype(float)
        pos = np.add.reduceat(weights * y_s, starts, axis=1)
        neg = np.add.reduceat(weights * (1.0 - y_s), starts, axis=1)
        below = np.cumsum(neg, axis=1) - neg
        total_pos, total_neg = pos.sum(axis=1), neg.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            values = (pos * (below + 0.5 * neg)).sum(axis=1) / (total_pos * total_neg)
        found.append(values[(total_pos > 0) & (total_neg > 0)])
    aucs = np.concatenate(found)
    if len(aucs) == 0:
        return math.nan, math.nan
    tail = (1.0 - s.level) / 2.0
    low, high = np.quantile(aucs, [tail, 1.0 - tail])
    return float(low), float(high)


def _stage_quality(
    y: np.ndarray,
    p: np.ndarray,
    tier: np.ndarray,
    tiers: Sequence[str],
    s: MonitorConfig,
    seed: int,
) -> dict[str, Any]:
    """Predicted vs realised rate (and per tier), the gap in standard errors, ECE, ROC-AUC."""
    predicted, realised = float(p.mean()), float(y.mean())
    se = math.sqrt(max(predicted * (1 - predicted), 1e-12) / len(y))
    low, high = bootstrap_auc(y, p, s, seed)
    return {
        "n": len(y),
        "positives": int(y.sum()),
        "predicted": predicted,
        "realised": realised,
        "ratio": realised / predicted if predicted > 0 else math.nan,
        "z": (realised - predicted) / se,
        "ece": evaluate.expected_calibration_error(y, p),
        "roc_auc": auc(y, p),
        "roc_auc_low": low,
        "roc_auc_high": high,
        "tiers": {
            t: {
                "n": int((tier == t).sum()),
                "predicted": float(p[tier == t].mean()) if (tier == t).any() else None,
                "realised": float(y[tier == t].mean()) if (tier == t).any() else None,
            }
            for t in tiers
        },
    }


def _quality(
    joined: pd.DataFrame,
    cohorts: list[str],
    stages: Sequence[str],
    tiers: Sequence[str],
    s: MonitorConfig,
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Per cohort and stage, and pooled over the judged cohorts of each stage."""
    per: dict[str, dict[str, Any]] = {c: {} for c in cohorts}
    groups = dict(tuple(joined.groupby("cohort", sort=False))) if len(joined) else {}
    pooled: dict[str, dict[str, Any]] = {}
    for stage in stages:
        label, p_col = STAGE_LABEL[stage], f"p_{stage}"
        judged_rows = []
        for i, cohort in enumerate(cohorts):
            rows = groups.get(cohort)
            found = 0 if rows is None else len(rows)
            decided = (
                rows[label].notna().to_numpy()
                if rows is not None and label in rows
                else np.zeros(found, bool)
            )
            share = float(decided.mean()) if found else 0.0
            judged = share >= s.min_decided_share and int(decided.sum()) >= s.min_outcome_leads
            entry: dict[str, Any] = {
                "found": found,
                "decided": int(decided.sum()),
                "decided_share": share,
                "judged": judged,
            }
            if judged:
                part = rows[decided]
                judged_rows.append(part)
                entry |= _stage_quality(
                    part[label].to_numpy(float),
                    part[p_col].to_numpy(float),
                    part["tier"].astype(str).to_numpy(),
                    tiers,
                    s,
                    s.seed + i,
                )
            per[cohort][stage] = entry
        if judged_rows:
            part = pd.concat(judged_rows, ignore_index=True)
            judged_cohorts = [c for c in cohorts if per[c][stage]["judged"]]
            pooled[stage] = {"first": judged_cohorts[0], "last": judged_cohorts[-1]} | (
                _stage_quality(
                    part[label].to_numpy(float),
                    part[p_col].to_numpy(float),
                    part["tier"].astype(str).to_numpy(),
                    tiers,
                    s,
                    s.seed,
                )
            )
    return per, pooled


# --- the verdict ------------------------------------------------------------------------------


def _span(first: str, last: str) -> Text | str:
    """Weekly cohorts ``first`` to ``last`` (``2026-W40 to W44``)."""
    if first == last:
        return first
    same_year = first.split("-")[0] == last.split("-")[0]
    return Text(
        N_("{first} to {last}"), {"first": first, "last": last.split("-")[1] if same_year else last}
    )


def _level(value: float, warn: float, alarm: float) -> str:
    if not value == value:  # NaN
        return OK
    return ALARM if value >= alarm else WARN if value >= warn else OK


def _flagged(
    values: Mapping[str, float], warn: float, alarm: float
) -> tuple[str, list[str], float] | None:
    """Worst level, the cohorts at warn or above, and the worst value (None: all ok)."""
    hits = {c: v for c, v in values.items() if _level(v, warn, alarm) != OK}
    if not hits:
        return None
    worst = max(hits.values())
    return _level(worst, warn, alarm), list(hits), worst


def _pct(value: float) -> Callable[[], str]:
    """A share as the verdict lines show it: one decimal below 10 %, none above."""
    return partial(i18n.percent, value, 1 if abs(value) < 0.1 else 0)


def _num(value: float, decimals: int) -> Callable[[], str]:
    return partial(i18n.number, value, decimals)


def _level_word(level: str) -> Text:
    """``warn``/``alarm`` as the verdict lines say it (the codes stay in the JSON)."""
    return Text(LEVEL_WORDS[level])


def _pooled(per: Mapping[str, Mapping[str, float]], cohorts: Sequence[str], key: str) -> float:
    """A share over several cohorts, weighted by their leads."""
    leads = sum(per[c]["leads"] for c in cohorts)
    return sum(per[c][key] * per[c]["leads"] for c in cohorts) / leads if leads else math.nan


def drift_reasons(
    fields: Mapping[str, Mapping[str, Mapping[str, float]]],
    reference: Mapping[str, Any],
    score_psi: Mapping[str, float],
    tier_psi: Mapping[str, float],
    judged: Sequence[str],
    s: MonitorConfig,
) -> list[Reason]:
    """Reasons of the drift statistics, over the cohorts big enough to judge."""
    out: list[Reason] = []
    for name, per in fields.items():
        ref = reference["fields"][name]
        big = {c: v for c, v in per.items() if c in judged}
        found = _flagged(
            {c: abs(v["missing_change"]) for c, v in big.items()}, s.missing_warn, s.missing_alarm
        )
        if found:
            level, hit, _worst = found
            share = _pooled(big, hit, "missing")
            out.append(
                Reason(
                    level,
                    "missing",
                    name,
                    hit[0],
                    hit[-1],
                    share,
                    Text(
                        N_(
                            "{field}: missing in {share} of the leads from {span}, {before} at "
                            "training: missing-values {level}"
                        ),
                        {
                            "field": name,
                            "share": _pct(share),
                            "span": _span(hit[0], hit[-1]),
                            "before": _pct(ref["missing"]),
                            "level": _level_word(level),
                        },
                    ),
                )
            )
        if "unseen_change" in next(iter(big.values()), {}):
            found = _flagged(
                {c: v["unseen_change"] for c, v in big.items()}, s.unseen_warn, s.unseen_alarm
            )
            if found:
                level, hit, _worst = found
                share = _pooled(big, hit, "unseen")
                before = float(ref["shares"].get(schema.UNKNOWN, 0.0))
                out.append(
                    Reason(
                        level,
                        "unseen",
                        name,
                        hit[0],
                        hit[-1],
                        share,
                        Text(
                            N_(
                                "{field}: {share} of the values from {span} were never seen in "
                                "training ({before} at training): unseen-category {level}"
                            ),
                            {
                                "field": name,
                                "share": _pct(share),
                                "span": _span(hit[0], hit[-1]),
                                "before": _pct(before),
                                "level": _level_word(level),
                            },
                        ),
                    )
                )
        found = _flagged({c: v["psi"] for c, v in big.items()}, s.psi_warn, s.psi_alarm)
        if found:
            level, hit, worst = found
            out.append(
                Reason(
                    level,
                    "drift",
                    name,
                    hit[0],
                    hit[-1],
                    worst,
                    Text(
                        N_(
                            "{field}: its distribution moved in {span} (population stability "
                            "index up to {psi}, {level} from {threshold}): drift {level}"
                        ),
                        {
                            "field": name,
                            "span": _span(hit[0], hit[-1]),
                            "psi": _num(worst, 2),
                            "threshold": partial(
                                i18n.number, s.psi_warn if level == WARN else s.psi_alarm
                            ),
                            "level": _level_word(level),
                        },
                    ),
                )
            )
    for kind, message, values in (
        (
            "score",
            N_(
                "score: the distribution moved in {span} (population stability index up to "
                "{psi}): score drift {level}"
            ),
            score_psi,
        ),
        (
            "tier",
            N_(
                "tier shares: the distribution moved in {span} (population stability index up "
                "to {psi}): tier drift {level}"
            ),
            tier_psi,
        ),
    ):
        found = _flagged({c: v for c, v in values.items() if c in judged}, s.psi_warn, s.psi_alarm)
        if found:
            level, hit, worst = found
            out.append(
                Reason(
                    level,
                    kind,
                    None,
                    hit[0],
                    hit[-1],
                    worst,
                    Text(
                        message,
                        {
                            "span": _span(hit[0], hit[-1]),
                            "psi": _num(worst, 2),
                            "level": _level_word(level),
                        },
                    ),
                )
            )
    return out


def quality_reasons(
    per: Mapping[str, Mapping[str, Any]],
    pooled: Mapping[str, Mapping[str, Any]],
    reference: Mapping[str, Any] | None,
    s: MonitorConfig,
) -> list[Reason]:
    """Calibration (per cohort, else pooled) and ranking (pooled) reasons per stage."""
    calibration = {
        CLOSE: N_(
            "close rate of leads from {span} is {realised}, the model predicted {predicted}: "
            "calibration {level}"
        ),
        ACCEPT: N_(
            "accept rate of leads from {span} is {realised}, the model predicted {predicted}: "
            "calibration {level}"
        ),
    }
    ranking = {
        CLOSE: N_(
            "close ROC-AUC of leads from {span} is {auc} ({interval} interval {low}-{high}), "
            "the model's test figure {test}: ranking {level}"
        ),
        ACCEPT: N_(
            "accept ROC-AUC of leads from {span} is {auc} ({interval} interval {low}-{high}), "
            "the model's test figure {test}: ranking {level}"
        ),
    }
    out: list[Reason] = []
    for stage, all_judged in pooled.items():
        word = STAGE_WORD[stage]
        rows = {c: q[stage] for c, q in per.items() if q.get(stage, {}).get("judged")}
        z_min = float(norm.isf(s.calibration_alpha / (2 * max(len(rows), 1))))

        def off(q: Mapping[str, Any], z_min: float = z_min) -> float:
            ratio = q["ratio"]
            gap = max(ratio, 1 / ratio) if ratio and ratio == ratio else math.inf
            return gap if abs(q["z"]) >= z_min else 1.0

        hits = {c: q for c, q in rows.items() if off(q) >= s.calibration_warn}
        if not hits and off(all_judged) >= s.calibration_warn:
            hits = dict(rows)
        if hits:
            worst = max(hits.values(), key=off)
            up = worst["z"] > 0
            hits = {c: q for c, q in hits.items() if (q["z"] > 0) == up}
            n = sum(q["n"] for q in hits.values())
            realised = sum(q["realised"] * q["n"] for q in hits.values()) / n
            predicted = sum(q["predicted"] * q["n"] for q in hits.values()) / n
            level = ALARM if off(worst) >= s.calibration_alarm else WARN
            first, last = next(iter(hits)), list(hits)[-1]
            out.append(
                Reason(
                    level,
                    "calibration",
                    word,
                    first,
                    last,
                    realised,
                    Text(
                        calibration[stage],
                        {
                            "span": _span(first, last),
                            "realised": _num(realised, 2),
                            "predicted": _num(predicted, 2),
                            "level": _level_word(level),
                        },
                    ),
                )
            )
        test = ((reference or {}).get("quality") or {}).get(stage) or {}
        test_auc = test.get("roc_auc")
        high = all_judged.get("roc_auc_high")
        if test_auc is not None and high is not None and high == high:
            drop = test_auc - high
            level = _level(drop, s.auc_warn_drop, s.auc_alarm_drop) if drop > 0 else OK
            if level != OK:
                first, last = all_judged["first"], all_judged["last"]
                out.append(
                    Reason(
                        level,
                        "ranking",
                        word,
                        first,
                        last,
                        all_judged["roc_auc"],
                        Text(
                            ranking[stage],
                            {
                                "span": _span(first, last),
                                "auc": _num(all_judged["roc_auc"], 3),
                                "interval": partial(i18n.percent, s.level),
                                "low": _num(all_judged["roc_auc_low"], 3),
                                "high": _num(high, 3),
                                "test": _num(test_auc, 3),
                                "level": _level_word(level),
                            },
                        ),
                    )
                )
    return out


def verdict_of(reasons: Sequence[Reason]) -> str:
    return max((r.level for r in reasons), key=LEVELS.index, default=OK)


# --- the job -----------------------------------------------------------------------------------


def monitor(
    log: str | Path | None,
    outcomes: str | Path,
    *,
    mapping: Any = None,
    model_uri: str | None = None,
    out: str | Path | None = None,
    config: TrainConfig | str | Path | None = None,
    tracking: str | None = None,
    track: bool = True,
    progress: Callable[[str], None] | None = None,
) -> MonitorResult:
    """Monitor the logged scores of one model against outcomes; see the module docstring.

    ``log``: the log folder as ``--log`` gives it (:func:`leadmodel.predlog.log_dir`);
    ``model_uri``: default the registered version the newest logged score names;
    ``out``: the HTML page to write (None: none); ``track``: log an MLflow run.
    """
    say = progress or (lambda _msg: None)
    settings = (config if isinstance(config, TrainConfig) else load_config(config)).monitor
    folder = predlog.log_dir(log)
    if folder is None:
        raise MonitorError(_("--log: the prediction log is switched off (off): nothing to monitor"))
    try:
        con = predlog.connect(folder)
    except predlog.LogError as exc:
        raise MonitorError(str(exc)) from None
    try:
        con.execute("SET TimeZone = 'UTC'")
        return _run(con, folder, outcomes, mapping, model_uri, out, settings, tracking, track, say)
    finally:
        con.close()


def _run(
    con: Any,
    folder: Path,
    outcomes_path: str | Path,
    mapping: Any,
    model_uri: str | None,
    out: str | Path | None,
    s: MonitorConfig,
    tracking: str | None,
    track: bool,
    say: Callable[[str], None],
) -> MonitorResult:
    say(_("reading the outcomes"))
    labels, intake = read_outcomes(outcomes_path, mapping)  # a bad export fails first
    say(_("loading the model"))
    model, info, where = _load_model(model_uri, con, tracking)
    reference = drift.reference_of(model)
    notes: list[Text] = []
    logged = {r[0] for r in con.execute("DESCRIBE predictions").fetchall()}
    rows_logged = int(con.execute("SELECT count(*) FROM predictions").fetchone()[0])
    ours = int(con.execute(f"SELECT count(*) FROM predictions WHERE {where}").fetchone()[0])
    if ours == 0:
        raise MonitorError(
            _(
                "prediction log {folder}: no score of {name} version {version} among its "
                "{rows} rows"
            ).format(
                folder=folder,
                name=info.get("name"),
                version=info.get("version"),
                rows=i18n.number(rows_logged),
            )
        )
    if ours < rows_logged:
        notes.append(
            Text(
                N_(
                    "{other} of {rows} logged scores come from other model versions and are "
                    "not monitored here (--model picks one)"
                ),
                {
                    "other": partial(i18n.number, rows_logged - ours),
                    "rows": partial(i18n.number, rows_logged),
                },
            )
        )
    kinds = drift.field_kinds(model)
    fields = [f for f in kinds if f in logged]
    if len(fields) < len(kinds):
        gone = sorted(set(kinds) - set(fields))
        notes.append(
            Text(
                N_("the log has no column for {fields}: its drift is not measured"),
                {"fields": ", ".join(gone)},
            )
        )
    stages = [st for st in (ACCEPT, CLOSE) if st in model.stages]
    picked = ", ".join(_ident(c) for c in ["p_accept", "p_close", "score", "tier", *fields])
    say(_("reading the prediction log"))
    con.execute(
        "CREATE TEMP TABLE firsts AS SELECT strftime(scored_at, '%G-W%V') AS cohort, "
        f"lead_id, {picked} FROM predictions WHERE {where} "
        "QUALIFY row_number() OVER (PARTITION BY lead_id ORDER BY scored_at) = 1"
    )
    sizes = con.execute(
        "SELECT cohort, count(*) AS n FROM firsts GROUP BY cohort ORDER BY cohort"
    ).fetchall()
    cohorts = [str(c) for c, _n in sizes]
    size = {str(c): int(n) for c, n in sizes}
    leads = sum(size.values())
    big = [c for c in cohorts if size[c] >= s.min_cohort_leads]
    if len(big) < len(cohorts):
        notes.append(
            Text(
                N_(
                    "{small} of {cohorts} weekly cohorts have fewer than {leads} leads "
                    "(monitor.min_cohort_leads): shown, not judged"
                ),
                {
                    "small": len(cohorts) - len(big),
                    "cohorts": len(cohorts),
                    "leads": partial(i18n.number, s.min_cohort_leads),
                },
            )
        )
    field_drift: dict[str, dict[str, dict[str, float]]] = {}
    score_psi: dict[str, float] = {}
    tier_psi: dict[str, float] = {}
    tier_shares: dict[str, dict[str, float]] = {}
    if reference is None:
        notes.append(
            Text(
                N_(
                    "the model keeps no reference distributions (trained before leadmodel kept "
                    "them): input, score and tier drift are not measured; retrain it to measure "
                    "them"
                )
            )
        )
    else:
        say(_("measuring drift"))
        for name in fields:
            if name in reference["fields"]:
                field_drift[name] = _field_drift(
                    con, model, name, reference["fields"][name], cohorts, s
                )
        score_psi, tier_psi, tier_shares = _score_drift(con, reference, cohorts, s)
    quantiles = _score_quantiles(con)
    means = _cohort_means(con, stages)

    con.register("outcomes", labels)
    joined = con.execute(
        "SELECT f.cohort, f.lead_id, f.p_accept, f.p_close, f.tier, "
        + ", ".join(f"o.{_ident(c)}" for c in labels.columns if c != schema.LEAD_ID)
        + " FROM firsts f JOIN outcomes o USING (lead_id)"
    ).df()
    con.unregister("outcomes")
    intake |= {
        "leads_found": len(joined),
        "leads_not_found": leads - len(joined),
        "outcome_leads_not_logged": int(labels[schema.LEAD_ID].nunique() - len(joined)),
    }
    if intake["rows_rejected"]:
        notes.append(
            Text(
                N_(
                    "{rejected} of {rows} rows of the outcomes export were rejected "
                    "(`leadmodel validate --rejects` lists them)"
                ),
                {
                    "rejected": partial(i18n.number, intake["rows_rejected"]),
                    "rows": partial(i18n.number, intake["rows_in"]),
                },
            )
        )
    if leads - len(joined):
        notes.append(
            Text(
                N_(
                    "{missing} of {leads} logged leads are not in the outcomes export: they "
                    "count for drift, not for quality"
                ),
                {
                    "missing": partial(i18n.number, leads - len(joined)),
                    "leads": partial(i18n.number, leads),
                },
            )
        )
    say(_("measuring quality"))
    tiers = list(model.tier_thresholds)
    per, pooled = _quality(joined, cohorts, stages, tiers, s)
    if not pooled:
        notes.append(
            Text(
                N_(
                    "no weekly cohort is decided enough to judge quality yet "
                    "(monitor.min_decided_share {share}, monitor.min_outcome_leads {leads})"
                ),
                {
                    "share": partial(i18n.number, s.min_decided_share),
                    "leads": partial(i18n.number, s.min_outcome_leads),
                },
            )
        )

    reasons = quality_reasons(per, pooled, reference, s)
    if reference is not None:
        reasons = drift_reasons(field_drift, reference, score_psi, tier_psi, big, s) + reasons
    reasons.sort(key=lambda r: -LEVELS.index(r.level))
    table = []
    for c in cohorts:
        table.append(
            {
                "cohort": c,
                "leads": size[c],
                "judged_for_drift": c in big,
                "score_psi": score_psi.get(c),
                "tier_psi": tier_psi.get(c),
                "tier_shares": tier_shares.get(c),
                "score_quantiles": quantiles.get(c),
                "predicted": means.get(c),
                "fields": {f: v[c] for f, v in field_drift.items() if c in v},
                "quality": per[c],
            }
        )
    result = MonitorResult(
        verdict=verdict_of(reasons),
        reasons=reasons,
        notes=notes,
        model={"uri": info.get("uri"), "name": info.get("name"), "version": info.get("version")},
        log=str(folder),
        rows_logged=ours,
        leads=leads,
        cohorts=table,
        pooled=pooled,
        reference=reference,
        outcomes=intake,
    )
    if out is None and not track:
        return result
    with tempfile.TemporaryDirectory() as tmp:
        say(_("drawing the figures"))
        from leadmodel import monitor_page

        result.figures = monitor_page.plots(result, Path(tmp), s)
        if out is not None:
            result.html = str(monitor_page.write(result, out))
        if track:
            say(_("logging to MLflow"))
            result.run_id = _log_run(result, tracking, Path(tmp))
    return result


def _score_quantiles(con: Any) -> dict[str, list[float]]:
    qs = "[" + ", ".join(str(q) for q in SCORE_QUANTILES) + "]"
    rows = con.execute(
        f"SELECT cohort, quantile_cont(score, {qs}) FROM firsts GROUP BY cohort"
    ).fetchall()
    return {str(c): [float(v) for v in q] for c, q in rows}


def _cohort_means(con: Any, stages: Sequence[str]) -> dict[str, dict[str, float]]:
    """Mean predicted probability per cohort and stage, over every lead (decided or not)."""
    cols = ", ".join(f"avg(p_{stage})" for stage in stages)
    rows = con.execute(f"SELECT cohort, {cols} FROM firsts GROUP BY cohort").fetchall()
    return {str(r[0]): dict(zip(stages, map(float, r[1:]), strict=True)) for r in rows}


def _log_run(result: MonitorResult, tracking: str | None, tmp: Path) -> str:
    """One MLflow run tagged with the model: verdict, weekly figures as steps, the plots."""
    import mlflow
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    from leadmodel.tracking import start_experiment, use_tracking

    use_tracking(tracking, write=True)
    experiment_id = start_experiment(EXPERIMENT)
    tags = {
        "model_name": str(result.model.get("name")),
        "model_version": str(result.model.get("version")),
        "model_uri": str(result.model.get("uri")),
        "verdict": result.verdict,
    }
    with mlflow.start_run(experiment_id=experiment_id, tags=tags) as run:
        now = int(pd.Timestamp.now(tz="UTC").timestamp() * 1000)
        metrics = [Metric("rows_logged", result.rows_logged, now, 0)]
        metrics.append(Metric("leads", result.leads, now, 0))
        for step, row in enumerate(result.cohorts):
            values = {"leads_per_cohort": row["leads"], "score_psi": row["score_psi"]}
            for name, stats in row["fields"].items():  # the rest is in monitor.json
                values[f"psi_{name}"] = stats["psi"]
            for stage, q in row["quality"].items():
                if q.get("judged"):
                    values |= {f"{stage}_{k}": q[k] for k in ("predicted", "realised", "roc_auc")}
            metrics += [
                Metric(k, float(v), now, step)
                for k, v in values.items()
                if v is not None and v == v
            ]
        MlflowClient().log_batch(run.info.run_id, metrics=metrics)
        mlflow.log_dict(result.to_json(), "monitor.json")
        mlflow.log_text("\n".join(result.lines() or [_("ok: nothing moved")]), "verdict.txt")

        for path in result.figures.values():
            mlflow.log_artifact(str(path), "plots")
        if result.html:
            mlflow.log_artifact(result.html)
        return str(run.info.run_id)


def summary_json(result: MonitorResult) -> str:
    """The result as one JSON line (what ``--json`` prints)."""
    return json.dumps(result.to_json(), default=str)
