"""Benchmark: close-stage quality of the leadmodel default next to plain models.

Usage: python benchmarks/bench_quality.py [--rows 50000] [--seed 1] [--only NAME ...]
       [--threads N] [--json PATH]

For every data set (real exports when their files are there, synthetic exports of
``--rows`` leads), three models are trained on the SAME fit window and scored on the
SAME test slice: the time split of :func:`leadmodel.train.time_split` with the default
config's shares (the newest leads are the test slice; the model learns from the rest),
close stage only (label ``closed``, decided leads only):

- **leadmodel**: :func:`leadmodel.train.train` with the default config, the whole job
  (reading, leakage guard, settings search on folds, calibration, baselines, evaluation,
  report, MLflow logging, registration) into a temporary MLflow store;
- **plain LightGBM**: ``lightgbm.LGBMClassifier()`` with its default parameters (only
  ``verbosity=-1``, the config's seed and the same thread count), on the canonical
  feature columns as they are: numbers as floats, every text column as a pandas
  category; no engineered features, no calibration;
- **logistic regression**: text columns one-hot (``OneHotEncoder(handle_unknown=
  "ignore")``, missing as its own value), numbers median-imputed and standardised,
  ``LogisticRegression(max_iter=2000)``.

The plain models' features are :func:`leadmodel.schema.feature_columns` minus the
config's and the mapping's excluded columns (and the ordering column when it is not
``created_at``): the columns the package itself considers. Metrics come from
:func:`leadmodel.evaluate.stage_metrics`; for synthetic data also the AUC of the true
close probabilities on the test slice and each model's AUC as a share of it. Beside each
other model, leadmodel's ROC-AUC gain over it with its 95 % paired bootstrap interval (the
resampling of the readiness verdict, on the same test leads). Seconds are
the fit call of each plain model and ``train()`` end to end for leadmodel, also as a
ratio to plain LightGBM's seconds in the same run. The table is printed in Markdown.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DATASETS_DIR = Path("/work/shared/datasets")
DEFAULT_ROWS = 50_000
DEFAULT_SEED = 1
CAMPAIGNS = 400
LEADMODEL, PLAIN_LGBM, LOGISTIC, TRUTH = (
    "leadmodel",
    "plain LightGBM",
    "logistic regression",
    "truth",
)


@dataclass
class DataSet:
    """A lead export to benchmark on: its file, its mapping and, for synthetic data, the truth."""

    name: str
    title: str
    path: Path
    mapping: Path | None
    truth: pd.DataFrame | None = None  # lead_id, p_close


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- data sets ----------------------------------------------------------------------------


def _real(name: str, title: str, csv: Path, mapping: Path) -> Callable[[Path], DataSet | str]:
    def load(_tmp: Path) -> DataSet | str:
        if not csv.is_file():
            return f"{csv} not found"
        if not mapping.is_file():
            return f"{mapping.relative_to(REPO)} not found (not written yet?)"
        return DataSet(name, title, csv, mapping)

    return load


def _synthetic(
    name: str, title: str, rows: int, seed: int, **options: Any
) -> Callable[[Path], DataSet | str]:
    def load(tmp: Path) -> DataSet | str:
        from leadmodel.io import write_table
        from leadmodel.synthetic import generate

        known = inspect.signature(generate).parameters
        missing = [k for k in options if k not in known]
        if missing:
            return f"leadmodel.synthetic.generate has no {', '.join(missing)}= yet"
        export = generate(rows, seed, **options)
        path = write_table(export.export, tmp / f"{name}.parquet")
        return DataSet(name, title, path, None, export.truth[["lead_id", "p_close"]])

    return load


def data_sets(rows: int, seed: int) -> dict[str, Callable[[Path], DataSet | str]]:
    """Name -> loader; a loader returns the data set, or why it is skipped."""
    mappings = REPO / "data" / "mappings"
    return {
        "x-education": _real(
            "x-education",
            "X Education",
            DATASETS_DIR / "x-education" / "Leads.csv",
            mappings / "x_education.yaml",
        ),
        "online-shoppers": _real(
            "online-shoppers",
            "online shoppers",
            DATASETS_DIR / "online-shoppers" / "online_shoppers_intention.csv",
            mappings / "online_shoppers.yaml",
        ),
        "synthetic": _synthetic("synthetic", "synthetic", rows, seed),
        "synthetic-drift": _synthetic(
            "synthetic-drift", "synthetic, drift", rows, seed, drift=True
        ),
        "synthetic-campaigns": _synthetic(
            "synthetic-campaigns",
            f"synthetic, {CAMPAIGNS} campaigns",
            rows,
            seed,
            campaigns=CAMPAIGNS,
        ),
    }


# --- the plain models ---------------------------------------------------------------------


def _is_number(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)


def lgbm_frames(
    fit: pd.DataFrame, test: pd.DataFrame, columns: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Numbers as floats, text as categories with the fit window's category list."""
    fit_out, test_out = {}, {}
    for col in columns:
        if _is_number(fit[col]):
            fit_out[col] = fit[col].astype(float)
            test_out[col] = test[col].astype(float)
        else:
            cats = fit[col].astype("category").cat.categories
            fit_out[col] = pd.Categorical(fit[col], categories=cats)
            seen = test[col].where(test[col].isin(cats))  # unseen values: missing
            test_out[col] = pd.Categorical(seen, categories=cats)
    return pd.DataFrame(fit_out, index=fit.index), pd.DataFrame(test_out, index=test.index)


def fit_plain_lgbm(
    fit: pd.DataFrame,
    y: np.ndarray,
    test: pd.DataFrame,
    columns: list[str],
    seed: int,
    threads: int,
) -> tuple[np.ndarray, float]:
    import lightgbm as lgb

    X_fit, X_test = lgbm_frames(fit, test, columns)
    model = lgb.LGBMClassifier(verbosity=-1, random_state=seed, n_jobs=threads)
    start = time.perf_counter()
    model.fit(X_fit, y)
    seconds = time.perf_counter() - start
    return model.predict_proba(X_test)[:, 1], seconds


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns as plain objects, missing as its own value (one-hot needs no NaN)."""
    return frame.astype(object).where(frame.notna(), "__missing__").astype(str)


def fit_logistic(
    fit: pd.DataFrame, y: np.ndarray, test: pd.DataFrame, columns: list[str]
) -> tuple[np.ndarray, float]:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    numbers = [c for c in columns if _is_number(fit[c])]
    texts = [c for c in columns if c not in numbers]
    prepare = ColumnTransformer(
        [
            ("numbers", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numbers),
            (
                "texts",
                make_pipeline(
                    FunctionTransformer(_as_text), OneHotEncoder(handle_unknown="ignore")
                ),
                texts,
            ),
        ]
    )
    model = make_pipeline(prepare, LogisticRegression(max_iter=2000))
    X_fit = fit[columns].astype({c: float for c in numbers})
    X_test = test[columns].astype({c: float for c in numbers})
    start = time.perf_counter()
    model.fit(X_fit, y)
    seconds = time.perf_counter() - start
    return model.predict_proba(X_test)[:, 1], seconds


# --- one data set -------------------------------------------------------------------------


def _metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    from leadmodel.evaluate import stage_metrics

    m = stage_metrics(y, p)
    return {k: float(m[k]) for k in ("roc_auc", "pr_auc", "brier", "ece", "log_loss")}


def run_data_set(data: DataSet, experiment: str) -> dict[str, Any]:
    """Fit the three models on one data set; figures of each on the same test slice."""
    from leadmodel import ingest, schema
    from leadmodel.config import load_config, training_threads
    from leadmodel.evaluate import bootstrap_auc_intervals
    from leadmodel.train import time_split, train

    config = load_config(None)
    threads = training_threads(config)
    mapping = ingest.load_mapping(data.mapping)
    read = ingest.read_leads(data.path, mapping, require_labels=True)
    frame, order_by = read.valid, read.order_by
    exclude = set(config.features.exclude) | set(mapping.exclude_features)
    if order_by != schema.CREATED_AT:
        exclude.add(order_by)
    split = time_split(frame, order_by, config.split.test_share, config.split.valid_share)
    window, test = split.fit_window, split.test
    columns = schema.feature_columns(list(frame.columns), exclude)
    fit = window[window[schema.CLOSED].notna()].reset_index(drop=True)
    decided = test[schema.CLOSED].notna().to_numpy()
    scored = test[decided].reset_index(drop=True)
    y_fit = fit[schema.CLOSED].to_numpy(dtype=float)
    y_test = scored[schema.CLOSED].to_numpy(dtype=float)
    out: dict[str, Any] = {
        "name": data.name,
        "title": data.title,
        "rows": len(frame),
        "fit_leads": len(fit),
        "test_leads": len(scored),
        "fit_close_rate": float(y_fit.mean()),
        "test_close_rate": float(y_test.mean()),
        "features": columns,
        "threads": threads,
        "models": {},
    }
    say(f"{data.name}: {len(fit):,} fit / {len(scored):,} test leads, {len(columns)} columns")

    scores: dict[str, np.ndarray] = {}
    p, seconds = fit_plain_lgbm(fit, y_fit, scored, columns, config.seed, threads)
    scores[PLAIN_LGBM] = p
    out["models"][PLAIN_LGBM] = _metrics(y_test, p) | {"seconds": seconds}
    say(f"{data.name}: plain LightGBM {seconds:.1f} s")
    p, seconds = fit_logistic(fit, y_fit, scored, columns)
    scores[LOGISTIC] = p
    out["models"][LOGISTIC] = _metrics(y_test, p) | {"seconds": seconds}
    say(f"{data.name}: logistic regression {seconds:.1f} s")

    start = time.perf_counter()
    result = train(
        data.path,
        mapping=data.mapping,
        config=config,
        experiment=experiment,
        register_name=experiment,
        progress=lambda m: say(f"{data.name}: train: {m}"),
    )
    seconds = time.perf_counter() - start
    if not result.test[schema.LEAD_ID].astype(str).equals(test[schema.LEAD_ID].astype(str)):
        raise RuntimeError(f"{data.name}: train() tested on other leads than time_split's slice")
    p = result.test_predictions["p_close"].to_numpy()[decided]
    scores[LEADMODEL] = p
    figures = _metrics(y_test, p)
    own = result.evaluations["close"].metrics["lightgbm"]["roc_auc"]
    if abs(own - figures["roc_auc"]) > 1e-9:
        raise RuntimeError(f"{data.name}: train()'s close ROC-AUC {own} != {figures['roc_auc']}")
    close = result.model.stages["close"]
    out["models"][LEADMODEL] = figures | {
        "seconds": seconds,
        "search_seconds": sum(
            s.selection.get("seconds", 0.0) for s in result.model.stages.values()
        ),
        "close_trees": close.best_iteration,
        "close_chosen": close.selection.get("chosen"),
        "stages": list(result.model.stages),
        "readiness": result.readiness.verdict,
        "readiness_reasons": result.readiness.reasons,
        "warnings": result.warnings,
    }
    say(f"{data.name}: leadmodel {seconds:.1f} s, {result.readiness.line()}")

    if data.truth is not None:
        truth = data.truth.set_index(schema.LEAD_ID)["p_close"]
        p_truth = truth.reindex(scored[schema.LEAD_ID].astype(str)).to_numpy()
        if np.isnan(p_truth).any():
            raise RuntimeError(f"{data.name}: test leads without a true probability")
        scores[TRUTH] = p_truth
        out["models"][TRUTH] = _metrics(y_test, p_truth)
        for name in (LEADMODEL, PLAIN_LGBM, LOGISTIC):
            m = out["models"][name]
            m["auc_share_of_truth"] = m["roc_auc"] / out["models"][TRUTH]["roc_auc"]
    rule = config.readiness  # the paired bootstrap the readiness verdict uses
    for name in (PLAIN_LGBM, LOGISTIC, TRUTH):
        if name in scores:
            found = bootstrap_auc_intervals(
                y_test, scores[LEADMODEL], scores[name], rule.bootstrap, rule.level, config.seed
            )
            out["models"][name]["leadmodel_auc_gain"] = (
                figures["roc_auc"] - out["models"][name]["roc_auc"]
            )
            out["models"][name]["leadmodel_auc_gain_low"] = found["diff_low"]
            out["models"][name]["leadmodel_auc_gain_high"] = found["diff_high"]
    base = out["models"][PLAIN_LGBM]["seconds"]
    for name in (LEADMODEL, PLAIN_LGBM, LOGISTIC):
        out["models"][name]["seconds_vs_plain_lgbm"] = out["models"][name]["seconds"] / base
    return out


# --- output -------------------------------------------------------------------------------


def _f(value: float | None, digits: int = 3) -> str:
    return "" if value is None or np.isnan(value) else f"{value:.{digits}f}"


def markdown(results: list[dict[str, Any]]) -> str:
    """One Markdown table of every data set and model."""
    head = (
        "| data set | model | ROC-AUC | PR-AUC | Brier | ECE | AUC / truth "
        "| leadmodel's AUC gain over it (95 % paired bootstrap) "
        "| seconds | vs plain LightGBM | readiness |"
    )
    lines = [head, "|" + "---|" * 11]
    for res in results:
        label = (
            f"{res['title']} ({res['fit_leads']:,} fit / {res['test_leads']:,} test; "
            f"closed {res['fit_close_rate']:.1%} / {res['test_close_rate']:.1%})"
        )
        for name in (LEADMODEL, PLAIN_LGBM, LOGISTIC, TRUTH):
            m = res["models"].get(name)
            if m is None:
                continue
            seconds = m.get("seconds")
            gain = ""
            if "leadmodel_auc_gain" in m:
                gain = (
                    f"{m['leadmodel_auc_gain']:+.3f} ({m['leadmodel_auc_gain_low']:+.3f} to "
                    f"{m['leadmodel_auc_gain_high']:+.3f})"
                )
            lines.append(
                f"| {label} | {name} | {_f(m['roc_auc'])} | {_f(m['pr_auc'])} "
                f"| {_f(m['brier'], 4)} | {_f(m['ece'], 4)} | {_f(m.get('auc_share_of_truth'))} "
                f"| {gain} "
                f"| {_f(seconds, 1)} | {_f(m.get('seconds_vs_plain_lgbm'), 1)}"
                f"{'x' if seconds is not None else ''} | {m.get('readiness', '')} |"
            )
            label = ""
    return "\n".join(lines)


def _git(*args: str) -> str | None:
    """Output of a read-only git command in the repository (None: not a git checkout)."""
    env = os.environ | {"GIT_OPTIONAL_LOCKS": "0"}  # never take the index lock
    try:
        found = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, env=env)
    except OSError:
        return None
    return found.stdout.strip() if found.returncode == 0 else None


def provenance() -> dict[str, Any]:
    """When, on which commit, and a digest of the code run (src/ may have uncommitted edits)."""
    digest = hashlib.sha256()
    for path in sorted((REPO / "src" / "leadmodel").glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    status = _git("status", "--porcelain", "--", "src")
    return {
        "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": _git("rev-parse", "--short", "HEAD"),
        "src_uncommitted": None if status is None else bool(status),
        "src_digest": digest.hexdigest()[:12],
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
    }


def _code_line(meta: dict[str, Any]) -> str:
    commit = f"commit {meta['commit']}" if meta["commit"] else "not a git checkout"
    if meta["src_uncommitted"]:
        commit += " + uncommitted src/ changes"
    return f"{commit} (src/leadmodel digest {meta['src_digest']})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="synthetic leads")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="synthetic seed")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        help="data set name (repeatable): "
        "x-education, online-shoppers, synthetic, synthetic-drift, synthetic-campaigns",
    )
    parser.add_argument("--threads", type=int, help="training threads (sets LEADMODEL_THREADS)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if args.threads is not None:
        os.environ["LEADMODEL_THREADS"] = str(args.threads)
    loaders = data_sets(args.rows, args.seed)
    unknown = [n for n in args.only if n not in loaders]
    if unknown:
        parser.error(f"--only: unknown data set {', '.join(unknown)} (known: {', '.join(loaders)})")
    names = args.only or list(loaders)
    meta = provenance() | {"rows": args.rows, "seed": args.seed, "argv": sys.argv[1:]}
    results: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="bench_quality_") as tmp:
        os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{tmp}/mlflow.db")
        meta["tracking_uri"] = os.environ["MLFLOW_TRACKING_URI"]
        stamp = time.strftime("%Y%m%d-%H%M%S")  # a new registered model: no champion to load
        for name in names:
            loaded = loaders[name](Path(tmp))
            if isinstance(loaded, str):
                skipped[name] = loaded
                say(f"{name}: skipped: {loaded}")
                continue
            try:
                results.append(run_data_set(loaded, experiment=f"bench-quality-{name}-{stamp}"))
            except Exception as exc:  # one failing data set must not lose the others
                traceback.print_exc()
                skipped[name] = f"failed: {type(exc).__name__}: {exc}"
            if args.json:  # after every data set, so a long run keeps what it measured
                _write_json(args.json, meta, results, skipped)
    threads = results[0]["threads"] if results else "?"
    meta["load_average_end"] = os.getloadavg()
    print(
        f"{meta['date_utc']}, {_code_line(meta)}, "
        f"{meta['cpus']} CPUs, training threads {threads}, "
        f"synthetic {args.rows:,} leads seed {args.seed}\n"
    )
    print(markdown(results))
    for name, why in skipped.items():
        print(f"\nskipped {name}: {why}")
    for res in results:
        lm = res["models"][LEADMODEL]
        print(
            f"\n{res['name']}: leadmodel stages {', '.join(lm['stages'])}; search "
            f"{lm['search_seconds']:.1f} s of {lm['seconds']:.1f} s; close trees "
            f"{lm['close_trees']}, chosen {lm['close_chosen']}; readiness: "
            + "; ".join(lm["readiness_reasons"])
        )
        for warning in lm["warnings"]:
            print(f"  warning: {warning}")
    if args.json:
        _write_json(args.json, meta, results, skipped)
    return 0


def _write_json(
    path: Path, meta: dict[str, Any], results: list[dict[str, Any]], skipped: dict[str, str]
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"meta": meta, "results": results, "skipped": skipped}, indent=2))


if __name__ == "__main__":
    raise SystemExit(main())
