"""The training job: read, guard against leakage, split by time, fit, evaluate, track, register.

``leadmodel train`` and ``training/train.py`` both call :func:`train`; nothing else holds
training logic.
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from leadmodel import baselines, drift, evaluate, i18n, ingest, schema
from leadmodel.config import TrainConfig, load_config
from leadmodel.explain.reasons import DISPLAY_KEY
from leadmodel.i18n import N_, _, pgettext
from leadmodel.leakage import LeakageError, LeakageReport, check_leakage
from leadmodel.model import STAGE_LABEL, FunnelModel, fit_funnel
from leadmodel.report import log_run_report
from leadmodel.tracking import (
    CHAMPION,
    Registration,
    get_alias_version,
    input_example,
    load_funnel,
    log_model,
    promote,
    register,
    start_experiment,
    use_tracking,
)

HASH_CHUNK_BYTES = 1 << 20


@dataclass
class Split:
    """Time-ordered slices: the fit window (``train``, then the newer ``valid`` that
    calibrates), and the newest leads for testing."""

    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame

    @property
    def fit_window(self) -> pd.DataFrame:
        """Every lead the model learns from: ``train`` and then the newer ``valid``."""
        return pd.concat([self.train, self.valid], ignore_index=True)


def time_split(frame: pd.DataFrame, order_by: str, test_share: float, valid_share: float) -> Split:
    """Newest ``test_share`` is the test slice; newest ``valid_share`` of the rest validates."""
    ordered = frame.sort_values(order_by, kind="stable").reset_index(drop=True)
    n = len(ordered)
    n_test = math.ceil(n * test_share)
    n_rest = n - n_test
    n_valid = math.ceil(n_rest * valid_share)
    n_train = n_rest - n_valid
    if n_train < 1 or n_valid < 1 or n_test < 1:
        raise ValueError(
            _("too few valid leads to split by time ({leads}); need at least a few hundred").format(
                leads=i18n.number(n)
            )
        )
    return Split(
        train=ordered.iloc[:n_train].reset_index(drop=True),
        valid=ordered.iloc[n_train:n_rest].reset_index(drop=True),
        test=ordered.iloc[n_rest:].reset_index(drop=True),
    )


def newest_window(
    frame: pd.DataFrame, order_by: str, days: int
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The leads of the ``days`` days up to the export's newest lead, and what that left out.

    The window ends at the newest lead, not today: an export pulled a week ago still
    gives a full window.
    """
    order = frame[order_by]
    if not pd.api.types.is_datetime64_any_dtype(order):
        raise ValueError(
            _(
                "retrain.window_days: the export is ordered by '{column}', which is not a "
                "date, so a window of days cannot be cut; set retrain.window_days: null in the "
                "config to learn from the whole export"
            ).format(column=order_by)
        )
    end = order.max()
    keep = (order > end - pd.Timedelta(days=days)).to_numpy()
    window = frame.loc[keep].reset_index(drop=True)
    found = {
        "window_days": days,
        "window_start": str(window[order_by].min()),
        "window_end": str(end),
        "rows_window": int(keep.sum()),
        "rows_before_window": int((~keep).sum()),
    }
    return window, found


def file_sha256(path: str | Path) -> str:
    """Content hash of the input file (logged so runs can be tied to their data)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(HASH_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class StageEvaluation:
    """Test-slice metrics of one stage for the model and the baselines."""

    metrics: dict[str, dict[str, float]]  # model name -> metrics
    tiers: pd.DataFrame
    segments: dict[str, pd.DataFrame]
    curves: dict[str, tuple[np.ndarray, np.ndarray]]


READY, WEAK, NOT_READY = "ready", "weak", "not ready"


def verdict_word(verdict: str) -> str:
    """A readiness verdict as a person reads it (the codes stay in JSON and MLflow tags)."""
    words = {
        READY: pgettext("readiness", "ready"),
        WEAK: pgettext("readiness", "weak"),
        NOT_READY: pgettext("readiness", "not ready"),
    }
    return words.get(verdict, verdict)


@dataclass
class Readiness:
    """Whether the model is fit to serve, as one word and the reasons for it.

    On the test slice (the newest leads), for the close stage:

    - ``ready``: the ROC-AUC interval lies clearly above 0.5 (its low end reaches
      ``readiness.min_auc_low``) and no baseline ranks clearly better: the paired
      bootstrap interval of LightGBM's AUC minus the best baseline's reaches
      ``-readiness.max_baseline_gap`` or above. A baseline that is ahead by no more than
      the noise of the test slice does not stop a model that is also calibrated and
      explained; the run still says plainly that it is ahead.
    - ``weak``: clearly better than chance, but a baseline ranks clearly better.
    - ``not ready``: not clearly better than chance, or the test slice cannot say.

    Only a ready model becomes champion.
    """

    verdict: str
    reasons: list[str]
    auc: float
    auc_low: float
    auc_high: float
    best_baseline: str
    best_baseline_auc: float
    diff_low: float
    diff_high: float

    def line(self) -> str:
        """The verdict and its reasons, in the current language."""
        return f"{verdict_word(self.verdict)}: " + "; ".join(self.reasons)

    def to_dict(self) -> dict[str, Any]:
        return _clean(
            {
                "verdict": self.verdict,
                "reasons": self.reasons,
                "close_roc_auc": self.auc,
                "close_roc_auc_low": self.auc_low,
                "close_roc_auc_high": self.auc_high,
                "best_baseline": self.best_baseline,
                "best_baseline_roc_auc": self.best_baseline_auc,
                "auc_gain_low": self.diff_low,
                "auc_gain_high": self.diff_high,
            }
        )


#: Baseline names in evaluation metrics -> their curve keys and their names in sentences.
BASELINES = {
    "logistic": ("logistic", N_("logistic regression")),
    "rule_points": ("rule points", N_("the rule points score")),
}


def too_little_data(frame: pd.DataFrame, config: TrainConfig) -> list[str]:
    """Why ``frame`` (the decided leads of an export) is too small to serve from, if it is.

    The commercial tools' rules, in the settings (``readiness.min_*``): Salesforce
    Einstein asks for 1,000 leads and 120 conversions, Dynamics 365 for 40 of each outcome.
    """
    rule = config.readiness
    closed = frame[schema.CLOSED].dropna()
    wins = int(closed.sum())
    counts = [
        (
            _("{n} decided leads (need {need}, readiness.{key})"),
            len(closed),
            rule.min_leads,
            "min_leads",
        ),
        (
            _("{n} won leads (need {need}, readiness.{key})"),
            wins,
            max(rule.min_wins, rule.min_per_outcome),
            "min_wins",
        ),
        (
            _("{n} lost leads (need {need}, readiness.{key})"),
            len(closed) - wins,
            rule.min_per_outcome,
            "min_per_outcome",
        ),
    ]
    if schema.ACCEPTED in frame:
        accepted = frame[schema.ACCEPTED].dropna()
        n_acc = int(accepted.sum())
        per_outcome = rule.min_per_outcome
        counts.append(
            (
                _("{n} accepted leads (need {need}, readiness.{key})"),
                n_acc,
                per_outcome,
                "min_per_outcome",
            )
        )
        counts.append(
            (
                _("{n} rejected leads (need {need}, readiness.{key})"),
                len(accepted) - n_acc,
                per_outcome,
                "min_per_outcome",
            )
        )
    short = [
        text.format(n=i18n.number(n), need=i18n.number(need), key=key)
        for text, n, need, key in counts
        if n < need
    ]
    if not short:
        return []
    return [_("too little data to serve from: {shortfall}").format(shortfall=", ".join(short))]


def check_labels(frame: pd.DataFrame, where: str) -> None:
    """One line naming the label column when its decided leads have a single outcome."""
    for label in (schema.CLOSED, schema.ACCEPTED):
        if label not in frame:
            continue
        decided = frame[label].dropna()
        values = sorted(set(decided.astype(int).tolist()))
        if len(values) == 1:
            if label == schema.ACCEPTED:
                text = _(
                    "{label}: all {n} decided leads {where} have {label} = {value}; a model "
                    "needs leads of both outcomes (0 and 1) (or drop the column in the mapping)"
                )
            else:
                text = _(
                    "{label}: all {n} decided leads {where} have {label} = {value}; a model "
                    "needs leads of both outcomes (0 and 1)"
                )
            raise ValueError(
                text.format(label=label, n=i18n.number(len(decided)), where=where, value=values[0])
            )


def readiness(
    evaluation: StageEvaluation, config: TrainConfig, shortfall: list[str] | None = None
) -> Readiness:
    """The readiness verdict of the close stage from its test-slice evaluation.

    ``shortfall`` (from :func:`too_little_data`) makes any verdict ``not ready``.
    """
    rule = config.readiness
    y, p = evaluation.curves["lightgbm"]
    auc = evaluation.metrics["lightgbm"]["roc_auc"]
    scored = {k: evaluation.metrics[k]["roc_auc"] for k in BASELINES if k in evaluation.metrics}
    best = max(scored, key=lambda k: -1.0 if _isnan(scored[k]) else scored[k])
    best_auc = scored[best]
    curve, named = BASELINES[best]
    said = i18n.gettext(named)
    found = evaluate.bootstrap_auc_intervals(
        y, p, evaluation.curves[curve][1], rule.bootstrap, rule.level, config.seed
    )
    low, high = found["auc_low"], found["auc_high"]
    diff_low, diff_high = found["diff_low"], found["diff_high"]
    shortfall = list(shortfall or [])
    if _isnan(auc) or _isnan(low):
        reasons = shortfall + [
            _("the test slice has only one close outcome, so its ROC-AUC says nothing")
        ]
        return Readiness(NOT_READY, reasons, auc, low, high, best, best_auc, diff_low, diff_high)
    shown = {
        "auc": _auc(auc),
        "baseline": said,
        "baseline_auc": _auc(best_auc),
        "gain_low": _signed(diff_low),
        "gain_high": _signed(diff_high),
    }
    reasons = [
        _("close ROC-AUC {auc} on the newest leads ({level} interval {low}-{high})").format(
            auc=shown["auc"], level=i18n.percent(rule.level), low=_auc(low), high=_auc(high)
        )
    ]
    clear = low >= rule.min_auc_low
    beaten = diff_high < -rule.max_baseline_gap
    if not clear:
        reasons.append(
            _("the interval reaches below {limit}: not clearly better than chance").format(
                limit=i18n.number(rule.min_auc_low)
            )
        )
    if beaten:
        reasons.append(
            _(
                "{baseline} ranks the newest leads clearly better than LightGBM "
                "({baseline_auc} vs {auc}; gain interval {gain_low} to {gain_high})"
            ).format(**shown)
        )
    elif best_auc > auc:
        reasons.append(
            _(
                "{baseline} ranks the newest leads slightly better ({baseline_auc} vs {auc}), "
                "within the test slice's noise (gain interval {gain_low} to {gain_high})"
            ).format(**shown)
        )
    else:
        reasons.append(_("ahead of the best baseline, {baseline} ({baseline_auc})").format(**shown))
    verdict = READY if clear and not beaten else (WEAK if clear else NOT_READY)
    if shortfall:
        verdict, reasons = NOT_READY, shortfall + reasons
    return Readiness(verdict, reasons, auc, low, high, best, best_auc, diff_low, diff_high)


#: Decimals of a ROC-AUC (and its gain) in the sentences of the readiness verdict.
AUC_DECIMALS = 3


def _auc(value: float) -> str:
    return i18n.number(value, AUC_DECIMALS)


def _signed(value: float) -> str:
    """A gain with its sign always shown (``+0.012``, ``-0,004`` in Danish)."""
    return ("-" if value < 0 else "+") + i18n.number(abs(value), AUC_DECIMALS)


@dataclass
class TrainResult:
    """Everything a caller (CLI, tests, benchmark) wants back from a training run."""

    model: FunnelModel
    run_id: str
    model_uri: str
    model_version: str | None
    promoted: bool | None
    promotion_reason: str
    evaluations: dict[str, StageEvaluation]
    leakage: LeakageReport
    data_summary: dict[str, Any]
    test: pd.DataFrame
    test_predictions: pd.DataFrame
    readiness: Readiness
    model_name: str = ""
    warnings: list[str] = field(default_factory=list)
    champion_before: str | None = None

    @property
    def metrics(self) -> dict[str, dict[str, float]]:
        """Headline metrics of the LightGBM model per stage."""
        return {stage: ev.metrics["lightgbm"] for stage, ev in self.evaluations.items()}

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "model_uri": self.model_uri,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "promoted": self.promoted,
            "promotion_reason": self.promotion_reason,
            "champion_before": self.champion_before,
            "readiness": self.readiness.verdict,
            "readiness_reasons": self.readiness.reasons,
            "readiness_detail": self.readiness.to_dict(),
            "selection": {s: st.selection for s, st in self.model.stages.items()},
            "features": list(self.model.features.feature_names_),
            "dropped_features": dict(self.model.features.dropped_),
            **{stage: _clean(m) for stage, m in self.metrics.items()},
            "baselines": {
                stage: {k: _clean(v) for k, v in ev.metrics.items() if k != "lightgbm"}
                for stage, ev in self.evaluations.items()
            },
            "data": self.data_summary,
            "leakage_warnings": [f.sentence() for f in self.leakage.warnings],
        }


def _clean(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in metrics.items()}


def _unit_range(score: np.ndarray) -> np.ndarray:
    """A score that is not a probability (the rule points) rescaled to 0..1, order kept."""
    span = score.max() - score.min()
    return (score - score.min()) / span if span > 0 else np.full_like(score, 0.5)


def _rank_metrics(y: np.ndarray, scaled: np.ndarray) -> dict[str, float]:
    """Ranking metrics only (no Brier, log loss, ECE) for a 0..1 score that is no probability."""
    full = evaluate.stage_metrics(y, scaled)
    keep = ("n", "positives", "rate", "roc_auc", "pr_auc")
    return {k: v for k, v in full.items() if k in keep or k.startswith(("lift_", "capture_"))}


def evaluate_stages(
    model: FunnelModel, split: Split, config: TrainConfig
) -> tuple[dict[str, StageEvaluation], pd.DataFrame]:
    """Test-slice evaluation of every stage against the logistic and rule-points baselines.

    The logistic baseline is fitted on the whole fit window, as the model is.
    """
    window = split.fit_window
    X_train = model.transform(window)
    X_test = model.transform(split.test)
    predictions = model.predict_features(X_test, split.test)
    rules = baselines.rule_points(split.test, config.rule_points)
    out: dict[str, StageEvaluation] = {}
    for stage in model.stages:
        label = STAGE_LABEL[stage]
        p_col = f"p_{stage}"
        tr = window[label].notna().to_numpy()
        te = split.test[label].notna().to_numpy()
        y_test = split.test.loc[te, label].to_numpy(dtype=float)
        p_model = predictions.loc[te, p_col].to_numpy()
        logistic = baselines.fit_logistic(
            model.features,
            X_train[tr],
            window.loc[tr, label].to_numpy(dtype=float),
            config.seed,
        )
        p_logistic = baselines.predict_logistic(logistic, model.features, X_test[te])
        rules_scaled = _unit_range(rules[te])
        metrics = {
            "lightgbm": evaluate.stage_metrics(y_test, p_model),
            "logistic": evaluate.stage_metrics(y_test, p_logistic),
            "rule_points": _rank_metrics(y_test, rules_scaled),
        }
        frame = split.test.loc[te].reset_index(drop=True)
        frame[p_col] = p_model
        segments = {
            by: evaluate.segment_table(
                frame, by, label, p_col, min_count=config.explain.segment_min_leads
            )
            for by in (schema.SOURCE, schema.PRIOR_AWARENESS)
            if by in frame
        }
        tiers = evaluate.tier_table(
            y_test, predictions.loc[te, "tier"].to_numpy(), order=tuple(model.tier_thresholds)
        )
        curves = {
            "lightgbm": (y_test, p_model),
            "logistic": (y_test, p_logistic),
            "rule points": (y_test, rules_scaled),
        }
        out[stage] = StageEvaluation(metrics, tiers, segments, curves)
    return out, predictions


def _reference_quality(
    evaluations: dict[str, StageEvaluation], ready: Readiness, config: TrainConfig
) -> dict[str, dict[str, float]]:
    """Per stage the test-slice figures the monitor compares realised quality with."""
    out: dict[str, dict[str, float]] = {}
    for stage, ev in evaluations.items():
        m = ev.metrics["lightgbm"]
        if stage == "close":
            low, high = ready.auc_low, ready.auc_high
        else:
            y, p = ev.curves["lightgbm"]
            rule = config.readiness
            found = evaluate.bootstrap_auc_intervals(
                y, p, None, rule.bootstrap, rule.level, config.seed
            )
            low, high = found["auc_low"], found["auc_high"]
        out[stage] = {
            "n": float(m["n"]),
            "rate": m["rate"],
            "mean_p": m["mean_p"],
            "roc_auc": m["roc_auc"],
            "roc_auc_low": low,
            "roc_auc_high": high,
            "ece": m["ece"],
        }
    return out


def _data_summary(frame: pd.DataFrame, result: ingest.IngestResult, path: Path) -> dict[str, Any]:
    order = frame[result.order_by]
    summary: dict[str, Any] = {
        "path": str(path),
        "sha256": file_sha256(path),
        "rows_in": result.rows_in,
        "rows_valid": result.rows_valid,
        "rows_rejected": result.rows_rejected,
        "reject_reasons": result.reasons,
        "dropped": list(result.dropped),
        "label_sources": list(result.label_sources),
        "order_by": result.order_by,
        "order_min": str(order.min()),
        "order_max": str(order.max()),
    }
    for label in (schema.ACCEPTED, schema.CLOSED):
        if label in frame:
            decided = frame[label].dropna()
            summary[f"{label}_decided"] = int(len(decided))
            summary[f"{label}_rate"] = float(decided.mean()) if len(decided) else None
    return summary


def _gate(
    name: str,
    new_version: str,
    new_metrics: dict[str, float],
    split: Split,
    config: TrainConfig,
    ready: Readiness,
    fields: list[str],
    job: str = "train",
) -> Registration:
    """Move ``champion`` to a ready new version when the config's rule says it is as good.

    A champion that reads other input ``fields`` was trained on other data: the two are
    not compared, and the champion stays. A move is recorded on the version, ``by`` the
    ``job`` (train or retrain), with the verdict line as its reason.
    """
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    current = get_alias_version(client, name, CHAMPION)
    if ready.verdict != READY:
        if current:
            kept = _("not promoted (champion stays v{version}): model is {verdict}")
        else:
            kept = _("not promoted (no champion set): model is {verdict}")
        return Registration(
            new_version, False, kept.format(version=current, verdict=ready.line()), current
        )
    if current is None:
        first = _("promoted: the first ready version is champion")
        promote(name, new_version, by=job, reason=first)
        return Registration(new_version, True, first, None)
    champion, _uri = load_funnel(f"models:/{name}@{CHAMPION}", tracking=mlflow.get_tracking_uri())
    theirs = champion.features.input_fields
    if sorted(theirs) != sorted(fields):
        only_new = sorted(set(fields) - set(theirs))[:3]
        only_old = sorted(set(theirs) - set(fields))[:3]
        return Registration(
            new_version,
            False,
            _(
                "not promoted (champion stays v{version}): the champion reads other fields "
                "(only the new model: {only_new}; only the champion: {only_old}), so it was "
                "trained on other data; register models of another data set under a name of "
                "their own (--register)"
            ).format(
                version=current,
                only_new=", ".join(only_new) or "-",
                only_old=", ".join(only_old) or "-",
            ),
            current,
        )
    test = split.test[split.test[schema.CLOSED].notna()]
    y = test[schema.CLOSED].to_numpy(dtype=float)
    old = evaluate.stage_metrics(y, champion.predict(test)["p_close"].to_numpy())
    new = new_metrics
    rule = config.registry
    auc_ok = new["roc_auc"] >= old["roc_auc"] - rule.max_auc_drop
    brier_ok = new["brier"] <= old["brier"] + rule.max_brier_increase
    mlflow.log_metrics(
        {"champion_close_roc_auc": old["roc_auc"], "champion_close_brier": old["brier"]}
    )
    compared = {
        "auc": i18n.number(new["roc_auc"], GATE_DECIMALS),
        "version": current,
        "champion_auc": i18n.number(old["roc_auc"], GATE_DECIMALS),
        "max_drop": i18n.number(rule.max_auc_drop),
        "brier": i18n.number(new["brier"], GATE_DECIMALS),
        "champion_brier": i18n.number(old["brier"], GATE_DECIMALS),
        "max_increase": i18n.number(rule.max_brier_increase),
    }
    if auc_ok and brier_ok:
        reason = _(
            "promoted: new close ROC-AUC {auc} vs champion v{version} {champion_auc} (max drop "
            "{max_drop}), Brier {brier} vs {champion_brier} (max increase {max_increase})"
        ).format(**compared)
        promote(name, new_version, by=job, reason=reason)
        return Registration(new_version, True, reason, current)
    reason = _(
        "kept champion: new close ROC-AUC {auc} vs champion v{version} {champion_auc} (max "
        "drop {max_drop}), Brier {brier} vs {champion_brier} (max increase {max_increase})"
    ).format(**compared)
    return Registration(new_version, False, reason, current)


#: Decimals of the metrics the registry gate compares, in its reason line.
GATE_DECIMALS = 4


def _log_evaluation(evaluations: dict[str, StageEvaluation], out_dir: Path) -> None:
    for stage, ev in evaluations.items():
        for model_name, metrics in ev.metrics.items():
            prefix = stage if model_name == "lightgbm" else f"{stage}_{model_name}"
            mlflow.log_metrics(
                {f"{prefix}_{k}": float(v) for k, v in metrics.items() if not _isnan(v)}
            )
        lgbm = ev.metrics["lightgbm"]
        for base in ("logistic", "rule_points"):
            mlflow.log_metric(
                f"{stage}_auc_gain_vs_{base}", lgbm["roc_auc"] - ev.metrics[base]["roc_auc"]
            )
        plots = out_dir / "plots"
        plots.mkdir(parents=True, exist_ok=True)
        title = f"{stage} stage (test slice)"
        evaluate.plot_roc(ev.curves, plots / f"{stage}_roc.png", f"ROC, {title}")
        reliab = {k: v for k, v in ev.curves.items() if k != "rule points"}
        evaluate.plot_reliability(
            reliab, plots / f"{stage}_reliability.png", f"Reliability, {title}"
        )
        evaluate.plot_gains(ev.curves, plots / f"{stage}_gains.png", f"Cumulative gains, {title}")
        evaluate.plot_tiers(ev.tiers, plots / f"{stage}_tiers.png", f"Rate per tier, {title}")
        tables = out_dir / "tables"
        tables.mkdir(parents=True, exist_ok=True)
        ev.tiers.to_csv(tables / f"{stage}_tiers.csv", index=False)
        for by, table in ev.segments.items():
            table.to_csv(tables / f"{stage}_by_{by}.csv", index=False)
    mlflow.log_artifacts(str(out_dir / "plots"), "plots")
    mlflow.log_artifacts(str(out_dir / "tables"), "tables")


def _isnan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


def model_name(register_name: str | None, mapping: ingest.Mapping, config: TrainConfig) -> str:
    """The registered model a run goes to: one per data set, so that models of
    different exports never compete for one ``champion``.

    ``--register`` first, then ``registry.name`` when a config sets it, then the mapping's
    ``model_name`` (default: the mapping file's name), else ``lead-scorer`` (the canonical
    lead table without a mapping).
    """
    if register_name:
        return register_name
    if "name" in config.registry.model_fields_set:
        return config.registry.name
    return mapping.model_name or config.registry.name


def train(
    data: str | Path,
    mapping: str | Path | ingest.Mapping | None = None,
    config: TrainConfig | str | Path | None = None,
    experiment: str | None = None,
    register_name: str | None = None,
    tracking: str | None = None,
    progress: Callable[[str], None] | None = None,
    window_days: int | None = None,
    job: str = "train",
) -> TrainResult:
    """Run the whole training job; see the module docstring and the README.

    ``window_days`` learns from the newest days of the export only (:func:`newest_window`;
    what retrain does). ``job`` (``train`` or ``retrain``) tags the run and is recorded
    with every alias it moves.
    """
    say = progress or (lambda _msg: None)
    cfg = config if isinstance(config, TrainConfig) else load_config(config)
    mapping_obj = mapping if isinstance(mapping, ingest.Mapping) else ingest.load_mapping(mapping)
    name = model_name(register_name, mapping_obj, cfg)
    path = Path(data)
    say(_("opening the MLflow store"))
    use_tracking(tracking, write=True)  # before the work: a store we cannot use fails now
    experiment_id = start_experiment(experiment or cfg.experiment)

    say(_("reading and validating leads"))
    result = ingest.read_leads(path, mapping_obj, require_labels=True)
    frame = result.valid
    order_by = result.order_by
    # where: a place in the sentences of check_labels and the line below ("no lead {where}")
    where, window = _("in the export"), {}
    if window_days is not None:
        frame, window = newest_window(frame, order_by, window_days)
        where = _("in the window (the newest {days} days, retrain.window_days)").format(
            days=i18n.number(window_days)
        )
    if frame[schema.CLOSED].notna().sum() == 0:
        raise ValueError(
            _("no lead {where} has a decided 'closed' outcome: nothing to learn from").format(
                where=where
            )
        )
    check_labels(frame, where)
    exclude = set(cfg.features.exclude) | set(mapping_obj.exclude_features)
    if order_by != schema.CREATED_AT:
        exclude.add(order_by)  # a sequence number is time, not a lead attribute
    cfg = cfg.model_copy(deep=True)
    cfg.features.exclude = sorted(exclude)

    split = time_split(frame, order_by, cfg.split.test_share, cfg.split.valid_share)
    check_labels(split.fit_window, _("of the fit window (all but the newest leads)"))

    say(_("checking for leakage"))
    candidates = schema.feature_columns(list(frame.columns), exclude)
    labels = [lab for lab in (schema.CLOSED, schema.ACCEPTED) if lab in frame]
    history = split.fit_window
    leakage = check_leakage(
        history, candidates, labels, cfg.leakage, set(mapping_obj.allow_features), cfg.seed
    )
    if leakage.stops:
        raise LeakageError(leakage)

    say(_("choosing the model on folds of the fit window"))
    model = fit_funnel(split.train, split.valid, cfg, say=say)
    say(_("evaluating on the newest leads"))
    evaluations, predictions = evaluate_stages(model, split, cfg)
    ready = readiness(evaluations["close"], cfg, too_little_data(frame, cfg))
    summary = _data_summary(frame, result, path) | window
    model.metadata = {
        "trained_at": pd.Timestamp.now(tz="UTC").isoformat(),
        "data_sha256": summary["sha256"],
        "metrics": {stage: _clean(ev.metrics["lightgbm"]) for stage, ev in evaluations.items()},
        "features": list(model.features.feature_names_),
        "order_by": order_by,
        "readiness": ready.to_dict(),
        DISPLAY_KEY: mapping_obj.display_names(list(frame.columns)),
        drift.REFERENCE_KEY: drift.reference(
            model, split.test, predictions, _reference_quality(evaluations, ready, cfg), cfg.monitor
        ),
    }
    warnings = [f.sentence() for f in leakage.warnings]
    for stage, st in model.stages.items():
        if st.selection.get("timed_out"):
            warnings.append(
                _(
                    "{stage}: the settings search hit tuning.timeout_s after {done} of "
                    "{trials} trials; another machine may choose differently"
                ).format(
                    stage=stage,
                    done=i18n.number(st.selection["trials"]),
                    trials=i18n.number(cfg.tuning.trials),
                )
            )

    say(_("logging to MLflow"))
    with mlflow.start_run(experiment_id=experiment_id) as run, tempfile.TemporaryDirectory() as tmp:
        mlflow.log_params(
            {k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in cfg.flat().items()}
        )
        mlflow.log_dict(mapping_obj.model_dump(), "mapping.json")
        mlflow.log_dict(summary, "data_summary.json")
        mlflow.log_metrics(
            {
                "rows_in": result.rows_in,
                "rows_valid": result.rows_valid,
                "rows_rejected": result.rows_rejected,
                "rows_train": len(split.train),
                "rows_valid_split": len(split.valid),
                "rows_test": len(split.test),
            }
        )
        mlflow.log_dict(
            {
                "findings": [f.__dict__ for f in leakage.findings],
                "all_columns_auc": leakage.all_columns_auc,
                "single_auc": leakage.single_auc,
            },
            "leakage.json",
        )
        mlflow.log_dict(
            {
                "tier_thresholds": model.tier_thresholds,
                "score_low_logit": model.score_low_logit,
                "score_high_logit": model.score_high_logit,
            },
            "scoring.json",
        )
        for stage, st in model.stages.items():
            mlflow.log_metric(f"{stage}_best_iteration", st.best_iteration)
            mlflow.log_metrics(
                {
                    f"{stage}_cv_logloss": st.selection["cv_logloss"],
                    f"{stage}_cv_roc_auc": st.selection["cv_auc"],
                    f"{stage}_search_seconds": st.selection["seconds"],
                }
            )
            mlflow.log_dict(st.selection, f"selection/{stage}.json")
        mlflow.log_dict(ready.to_dict(), "readiness.json")
        mlflow.set_tags({"readiness": ready.verdict, "job": job})
        mlflow.log_metrics(
            {
                "close_roc_auc_low": ready.auc_low,
                "close_roc_auc_high": ready.auc_high,
            }
        )
        _log_evaluation(evaluations, Path(tmp))
        say(_("explaining the test slice"))
        log_run_report(
            model, split.test, Path(tmp) / "report", cfg.report
        )  # report.html, explain/*
        example = input_example(split.train, model)
        info = log_model(model, example)
        model_uri = info.model_uri
        reg: Registration | None = None
        say(_("registering the model as '{name}'").format(name=name))
        version = register(info, name, by=job)
        reg = _gate(
            name,
            version,
            evaluations["close"].metrics["lightgbm"],
            split,
            cfg,
            ready,
            model.features.input_fields,
            job,
        )
        mlflow.set_tags(
            {
                "registered_model": name,
                "model_version": version,
                "promoted": str(reg.promoted),
                "promotion_reason": reg.reason,
            }
        )
        mlflow.log_metric("promoted", float(reg.promoted))
        run_id = run.info.run_id

    return TrainResult(
        model=model,
        run_id=run_id,
        model_uri=model_uri,
        model_version=reg.version if reg else None,
        promoted=reg.promoted if reg else None,
        promotion_reason=reg.reason if reg else _("not registered"),
        evaluations=evaluations,
        leakage=leakage,
        data_summary=summary,
        test=split.test,
        test_predictions=predictions,
        readiness=ready,
        model_name=name,
        warnings=warnings,
        champion_before=reg.champion_before if reg else None,
    )
