"""Benchmark: the cost of `leadmodel train` end to end, next to its bare final LightGBM fits.

Usage: python benchmarks/bench_train.py [--sizes 100000,1000000] [--threads 1,0]
       [--seed 5] [--json PATH]

For every size (synthetic leads, written once as Parquet) and every thread setting (``1``:
``LEADMODEL_THREADS=1``; ``0``: unset, the config's ``num_threads: 0`` = all cores), one
case runs in a child process of its own (``--case``), so its peak memory is its own:

1. :func:`leadmodel.train.train` end to end (reading and validating the file, the
   leakage guard, the settings search on folds of the fit window, the final boosters,
   calibration, baselines, evaluation, plots, the report, MLflow logging and
   registration) into a fresh temporary MLflow store; wall time, and the child's peak
   resident memory (``VmHWM``) right after it;
2. the **bare fits**: in the same process, the final boosters' ``lgb.train`` calls alone,
   refitted with the settings and tree counts the search chose (read back from
   ``result.model.stages[s].selection`` and ``.best_iteration``; settings the job adds on
   its own, such as monotone constraints, from its booster) on the same feature rows,
   checked to give the same trees and scores as the job's boosters.

``train / bare`` is the whole job's cost over those fits; ``(train - search) / bare``
leaves the search out (the final fits and everything else the job does, over the fits):
the target of at most :data:`TARGET_RATIO` the job had before the search came in applies
to this one.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET_RATIO = 3.0
DEFAULT_SIZES = "100000,1000000"
DEFAULT_THREADS = "1,0"
DEFAULT_SEED = 5
THREADS_ENV = "LEADMODEL_THREADS"
#: What LightGBM itself adds to a booster's params (the tree count is passed as such).
LGB_OWN = frozenset({"num_iterations", "categorical_column"})
KIB = 1024


def _status_mb(key: str) -> float:
    """``VmHWM`` (peak) or ``VmRSS`` (now) of this process in MiB, from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / KIB  # kB
    raise RuntimeError(f"no {key} in /proc/self/status")


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- one case, in a child process ---------------------------------------------------------


def bare_fits(path: Path, result: Any, config: Any) -> dict[str, Any]:
    """Refit the job's final boosters alone: same rows, settings and tree counts; timed."""
    import lightgbm as lgb
    import numpy as np

    from leadmodel import ingest
    from leadmodel.model import STAGE_LABEL
    from leadmodel.train import time_split
    from leadmodel.tuning import SEARCHED, lgbm_params

    read = ingest.read_leads(path, require_labels=True)
    split = time_split(read.valid, read.order_by, config.split.test_share, config.split.valid_share)
    window = split.fit_window
    X = result.model.features.transform(window)
    seconds: dict[str, float] = {}
    max_diff = 0.0
    added: set[str] = set()
    for stage, fitted in result.model.stages.items():
        decided = window[STAGE_LABEL[stage]].notna().to_numpy()
        X_stage = X[decided].reset_index(drop=True)
        y = window.loc[decided, STAGE_LABEL[stage]].to_numpy(dtype=float)
        chosen = {SEARCHED[k]: v for k, v in fitted.selection["chosen"].items()}
        params = lgbm_params(config) | chosen
        # settings the job adds that are neither config nor searched (e.g. monotone
        # constraints), as its booster recorded them
        own = {k: v for k, v in fitted.booster.params.items() if k not in LGB_OWN}
        differ = [k for k in chosen if own.get(k) != chosen[k]]
        if differ:
            raise RuntimeError(f"{stage}: the booster's {differ} differ from the selection")
        added |= {k for k in own if k not in params}
        params |= {k: own[k] for k in own if k not in params}
        start = time.perf_counter()
        data = lgb.Dataset(X_stage, label=y, free_raw_data=False)
        booster = lgb.train(params, data, num_boost_round=fitted.best_iteration)
        seconds[stage] = time.perf_counter() - start
        if booster.num_trees() != fitted.booster.num_trees():
            raise RuntimeError(
                f"{stage}: bare fit has {booster.num_trees()} trees, "
                f"the job's booster {fitted.booster.num_trees()}"
            )
        sample = X_stage.iloc[:2000]
        diff = np.abs(
            booster.predict(sample, raw_score=True) - fitted.booster.predict(sample, raw_score=True)
        ).max()
        max_diff = max(max_diff, float(diff))
    return {
        "bare_seconds": seconds,
        "bare_max_raw_diff": max_diff,
        "bare_settings_from_booster": sorted(added),
    }


def run_case(path: Path) -> dict[str, Any]:
    """Train on ``path``, then refit the bare boosters; figures as a dict."""
    from leadmodel.config import load_config, training_threads
    from leadmodel.train import train

    config = load_config()  # read once: the job and the bare fits get the same settings
    threads = training_threads(config)
    rss_before = _status_mb("VmRSS")
    load_before = os.getloadavg()[0]
    say(f"case {path.name}, {threads} thread(s): train()")
    start = time.perf_counter()
    result = train(path, config=config, experiment="bench", register_name="bench", progress=say)
    seconds = time.perf_counter() - start
    peak = _status_mb("VmHWM")
    say(f"train() {seconds:.1f} s, peak {peak:.0f} MiB; bare fits")
    bare = bare_fits(path, result, config)
    stages = result.model.stages
    return {
        "threads": threads,
        "rows": result.data_summary["rows_valid"],
        "train_seconds": seconds,
        "search_seconds": {s: st.selection["seconds"] for s, st in stages.items()},
        "trials": {s: st.selection["trials"] for s, st in stages.items()},
        "timed_out": {s: st.selection["timed_out"] for s, st in stages.items()},
        "trees": {s: st.best_iteration for s, st in stages.items()},
        "chosen": {s: st.selection["chosen"] for s, st in stages.items()},
        "rss_after_imports_mb": rss_before,
        "train_peak_mb": peak,
        "case_peak_mb": _status_mb("VmHWM"),
        "load_average_start": load_before,
        "load_average_end": os.getloadavg()[0],
        "close_roc_auc": result.metrics["close"]["roc_auc"],
        "readiness": result.readiness.verdict,
        "warnings": result.warnings,
    } | bare


# --- the parent: every case in a child ---------------------------------------------------


def run_child(path: Path, threads: int, store: Path, out: Path) -> dict[str, Any]:
    env = dict(os.environ)
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{store}"
    if threads:
        env[THREADS_ENV] = str(threads)
    else:
        env.pop(THREADS_ENV, None)
    command = [sys.executable, __file__, "--case", str(path), "--json", str(out)]
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True)
    figures = json.loads(out.read_text())
    figures["child_seconds"] = time.perf_counter() - start
    return figures


def summarise(case: dict[str, Any]) -> dict[str, float]:
    bare = sum(case["bare_seconds"].values())
    search = sum(case["search_seconds"].values())
    return {
        "bare": bare,
        "search": search,
        "ratio": case["train_seconds"] / bare,
        "ratio_without_search": (case["train_seconds"] - search) / bare,
    }


def markdown(cases: list[dict[str, Any]]) -> str:
    lines = [
        "| leads | threads | `train()` s | search s | bare fits s | train / bare "
        "| (train - search) / bare | peak RSS | trees accept / close | trials accept / close "
        "| close ROC-AUC |",
        "|" + "---|" * 11,
    ]
    for case in cases:
        s = summarise(case)
        trees = " / ".join(str(case["trees"].get(k, "-")) for k in ("accept", "close"))
        trials = " / ".join(
            f"{case['trials'][k]}{' (cut)' if case['timed_out'][k] else ''}"
            if k in case["trials"]
            else "-"
            for k in ("accept", "close")
        )
        lines.append(
            f"| {case['rows']:,} | {case['threads']} | {case['train_seconds']:,.1f} "
            f"| {s['search']:,.1f} | {s['bare']:,.1f} | {s['ratio']:.1f}x "
            f"| {s['ratio_without_search']:.2f}x | {case['train_peak_mb']:,.0f} MiB "
            f"| {trees} | {trials} | {case['close_roc_auc']:.4f} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help="synthetic leads, comma-separated")
    parser.add_argument(
        "--threads", default=DEFAULT_THREADS, help="LEADMODEL_THREADS per case; 0 = unset"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--case", type=Path, help=argparse.SUPPRESS)  # one case (child)
    args = parser.parse_args()
    if args.case is not None:
        figures = run_case(args.case)
        args.json.write_text(json.dumps(figures, indent=2))
        return 0

    from leadmodel.io import write_table
    from leadmodel.synthetic import generate

    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    thread_settings = [int(t) for t in args.threads.split(",") if t.strip()]
    cases: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench_train_") as tmp:
        for rows in sizes:
            say(f"writing {rows:,} synthetic leads (seed {args.seed})")
            path = write_table(generate(rows, seed=args.seed).export, Path(tmp) / f"{rows}.parquet")
            for threads in thread_settings:
                name = f"{rows}-{threads}"
                case = run_child(
                    path, threads, Path(tmp) / f"{name}.db", Path(tmp) / f"{name}.json"
                )
                cases.append(case)
                s = summarise(case)
                say(
                    f"{rows:,} leads, {case['threads']} thread(s): train "
                    f"{case['train_seconds']:.1f} s, bare {s['bare']:.1f} s "
                    f"({s['ratio']:.1f}x), peak {case['train_peak_mb']:.0f} MiB"
                )
    print(markdown(cases))
    for case in cases:
        s = summarise(case)
        print(
            f"\n{case['rows']:,} leads, {case['threads']} thread(s): search "
            + ", ".join(f"{k} {v:.1f} s" for k, v in case["search_seconds"].items())
            + "; bare fits "
            + ", ".join(f"{k} {v:.1f} s" for k, v in case["bare_seconds"].items())
            + f" (raw scores equal to the job's boosters within {case['bare_max_raw_diff']:.1e}"
            + (
                f"; {', '.join(case['bare_settings_from_booster'])} as the job's booster has it"
                if case["bare_settings_from_booster"]
                else ""
            )
            + ");"
            f" RSS after imports {case['rss_after_imports_mb']:.0f} MiB; load average "
            f"{case['load_average_start']:.1f} -> {case['load_average_end']:.1f}; "
            f"everything but search and final fits: {s['ratio_without_search']:.2f}x "
            f"(target <= {TARGET_RATIO:.0f}x "
            f"{'met' if s['ratio_without_search'] <= TARGET_RATIO else 'NOT met'})"
        )
        for warning in case["warnings"]:
            print(f"  warning: {warning}")
    by_rows: dict[int, dict[int, float]] = {}
    for case in cases:
        by_rows.setdefault(case["rows"], {})[case["threads"]] = case["train_seconds"]
    for rows, times in by_rows.items():
        if len(times) > 1:
            fewest, most = min(times), max(times)
            print(
                f"\n{rows:,} leads: {most} threads take {times[most] / times[fewest]:.2f}x "
                f"the time of {fewest}"
            )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"argv": sys.argv[1:], "cases": cases}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
