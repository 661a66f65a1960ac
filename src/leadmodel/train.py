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

from leadmodel import baselines, evaluate, ingest, schema
from leadmodel.config import TrainConfig, load_config
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
    use_tracking,
)

#: Segment tables report AUC only for segments with at least this many test leads.
SEGMENT_MIN_COUNT = 30
HASH_CHUNK_BYTES = 1 << 20


@dataclass
class Split:
    """Time-ordered slices: oldest for fitting, then validation, newest for testing."""

    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame


def time_split(frame: pd.DataFrame, order_by: str, test_share: float, valid_share: float) -> Split:
    """Newest ``test_share`` is the test slice; newest ``valid_share`` of the rest validates."""
    ordered = frame.sort_values(order_by, kind="stable").reset_index(drop=True)
    n = len(ordered)
    n_test = math.ceil(n * test_share)
    n_rest = n - n_test
    n_valid = math.ceil(n_rest * valid_share)
    n_train = n_rest - n_valid
    if n_train < 1 or n_valid < 1 or n_test < 1:
        raise ValueError(f"too few valid leads to split by time ({n}); need at least a few hundred")
    return Split(
        train=ordered.iloc[:n_train].reset_index(drop=True),
        valid=ordered.iloc[n_train:n_rest].reset_index(drop=True),
        test=ordered.iloc[n_rest:].reset_index(drop=True),
    )


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
    warnings: list[str] = field(default_factory=list)

    @property
    def metrics(self) -> dict[str, dict[str, float]]:
        """Headline metrics of the LightGBM model per stage."""
        return {stage: ev.metrics["lightgbm"] for stage, ev in self.evaluations.items()}

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "model_uri": self.model_uri,
            "model_version": self.model_version,
            "promoted": self.promoted,
            "promotion_reason": self.promotion_reason,
            **{stage: _clean(m) for stage, m in self.metrics.items()},
            "baselines": {
                stage: {k: _clean(v) for k, v in ev.metrics.items() if k != "lightgbm"}
                for stage, ev in self.evaluations.items()
            },
            "data": self.data_summary,
            "leakage_warnings": [f.sentence() for f in self.leakage.warnings],
        }


def _clean(metrics: dict[str, float]) -> dict[str, float | None]:
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
    """Test-slice evaluation of every stage against the logistic and rule-points baselines."""
    X_train = model.transform(split.train)
    X_test = model.transform(split.test)
    predictions = model.predict_features(X_test, split.test)
    rules = baselines.rule_points(split.test, config.rule_points)
    out: dict[str, StageEvaluation] = {}
    for stage in model.stages:
        label = STAGE_LABEL[stage]
        p_col = f"p_{stage}"
        tr = split.train[label].notna().to_numpy()
        te = split.test[label].notna().to_numpy()
        y_test = split.test.loc[te, label].to_numpy(dtype=float)
        p_model = predictions.loc[te, p_col].to_numpy()
        logistic = baselines.fit_logistic(
            model.features,
            X_train[tr],
            split.train.loc[tr, label].to_numpy(dtype=float),
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
            by: evaluate.segment_table(frame, by, label, p_col, min_count=SEGMENT_MIN_COUNT)
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


def _data_summary(frame: pd.DataFrame, result: ingest.IngestResult, path: Path) -> dict[str, Any]:
    order = frame[result.order_by]
    summary: dict[str, Any] = {
        "path": str(path),
        "sha256": file_sha256(path),
        "rows_in": result.rows_in,
        "rows_valid": result.rows_valid,
        "rows_rejected": result.rows_rejected,
        "reject_reasons": result.reasons,
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
    name: str, new_version: str, new_metrics: dict[str, float], split: Split, config: TrainConfig
) -> Registration:
    """Move ``champion`` to the new version when the rule in the config says it is as good."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    current = get_alias_version(client, name, CHAMPION)
    if current is None:
        promote(name, new_version)
        return Registration(new_version, True, "no champion yet", None)
    champion, _ = load_funnel(f"models:/{name}@{CHAMPION}", tracking=mlflow.get_tracking_uri())
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
    verdict = (
        f"new close ROC-AUC {new['roc_auc']:.4f} vs champion v{current} {old['roc_auc']:.4f} "
        f"(max drop {rule.max_auc_drop}), Brier {new['brier']:.4f} vs {old['brier']:.4f} "
        f"(max increase {rule.max_brier_increase})"
    )
    if auc_ok and brier_ok:
        promote(name, new_version)
        return Registration(new_version, True, "promoted: " + verdict, current)
    return Registration(new_version, False, "kept champion: " + verdict, current)


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


def train(
    data: str | Path,
    mapping: str | Path | ingest.Mapping | None = None,
    config: TrainConfig | str | Path | None = None,
    experiment: str | None = None,
    register_name: str | None = None,
    tracking: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> TrainResult:
    """Run the whole training job; see the module docstring and the README."""
    say = progress or (lambda _msg: None)
    cfg = config if isinstance(config, TrainConfig) else load_config(config)
    mapping_obj = mapping if isinstance(mapping, ingest.Mapping) else ingest.load_mapping(mapping)
    path = Path(data)

    say("reading and validating leads")
    result = ingest.read_leads(path, mapping_obj, require_labels=True)
    frame = result.valid
    if frame[schema.CLOSED].notna().sum() == 0:
        raise ValueError("no lead has a decided 'closed' outcome: nothing to learn from")
    order_by = result.order_by
    exclude = set(cfg.features.exclude) | set(mapping_obj.exclude_features)
    if order_by != schema.CREATED_AT:
        exclude.add(order_by)  # a sequence number is time, not a lead attribute
    cfg = cfg.model_copy(deep=True)
    cfg.features.exclude = sorted(exclude)

    split = time_split(frame, order_by, cfg.split.test_share, cfg.split.valid_share)

    say("checking for leakage")
    candidates = schema.feature_columns(list(frame.columns), exclude)
    labels = [lab for lab in (schema.CLOSED, schema.ACCEPTED) if lab in frame]
    history = pd.concat([split.train, split.valid], ignore_index=True)
    leakage = check_leakage(
        history, candidates, labels, cfg.leakage, set(mapping_obj.allow_features), cfg.seed
    )
    if leakage.stops:
        raise LeakageError(leakage)

    say("fitting the funnel model")
    model = fit_funnel(split.train, split.valid, cfg)
    say("evaluating on the newest leads")
    evaluations, predictions = evaluate_stages(model, split, cfg)
    summary = _data_summary(frame, result, path)
    model.metadata = {
        "trained_at": pd.Timestamp.now(tz="UTC").isoformat(),
        "data_sha256": summary["sha256"],
        "metrics": {stage: _clean(ev.metrics["lightgbm"]) for stage, ev in evaluations.items()},
        "features": list(model.features.feature_names_),
        "order_by": order_by,
    }

    say("logging to MLflow")
    use_tracking(tracking)
    mlflow.set_experiment(experiment or cfg.experiment)
    with mlflow.start_run() as run, tempfile.TemporaryDirectory() as tmp:
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
        _log_evaluation(evaluations, Path(tmp))
        say("explaining the test slice")
        log_run_report(model, split.test, Path(tmp) / "report")  # report.html, explain/*
        example = input_example(split.train, model)
        info = log_model(model, example)
        model_uri = info.model_uri
        reg: Registration | None = None
        name = register_name or cfg.registry.name
        say("registering the model")
        version = register(model_uri, name)
        reg = _gate(name, version, evaluations["close"].metrics["lightgbm"], split, cfg)
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
        promotion_reason=reg.reason if reg else "not registered",
        evaluations=evaluations,
        leakage=leakage,
        data_summary=summary,
        test=split.test,
        test_predictions=predictions,
        warnings=[f.sentence() for f in leakage.warnings],
    )
