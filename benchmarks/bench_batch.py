"""Benchmark: batch scoring end to end vs the raw LightGBM prediction of the same rows.

Usage: python benchmarks/bench_batch.py [--rows 1000000] [--small-rows 250000]
       [--reason-rows 50000] [--train-rows 20000] [--chunk-rows 100000] [--log-pairs 2]
       [--log-only] [--json PATH]

Standalone: trains a model on a small synthetic export into a temporary MLflow store,
writes ``--rows`` fresh synthetic leads as Parquet and CSV, then measures, in one run:

- **raw**: ``booster.predict`` of every stage on the model features of all rows, already
  in memory, as one call and in slices of ``--chunk-rows`` (the faster is the reference);
- **Parquet -> Parquet** and **CSV -> CSV** with :func:`leadmodel.batch.score_file`, no
  reasons, each in a child process (read, validate, transform, predict, write, and the
  model load), reported as rows/s and as a ratio to raw (target >= :data:`TARGET_RATIO`);
- rows/s **with 3 reasons** on the first ``--reason-rows`` rows (TreeSHAP dominates);
- the **prediction log's cost**: Parquet -> Parquet with the log off and on (the default:
  3 reasons per lead and the input values written to the log), ``--log-pairs`` pairs of
  runs taken in turns, best of each; cost = 1 - on/off throughput (target at most
  :data:`LOG_MAX_COST`). Every other run has the log off. Each run's CPU time (all its
  threads) is reported beside its wall-clock time, with the load average, so a gain that
  is overlap on another core shows as such; ``--log-only`` measures only these pairs;
- **peak memory** (``VmHWM`` of the child) for ``--small-rows`` vs ``--rows``: flat when
  the big file needs at most :data:`FLAT_MEMORY_RATIO` times the small file's.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DEFAULT_ROWS = 1_000_000
DEFAULT_SMALL_ROWS = 250_000
DEFAULT_REASON_ROWS = 50_000
DEFAULT_TRAIN_ROWS = 20_000
TRAIN_SEED, SCORE_SEED = 7, 99
REASONS = 3
#: End-to-end Parquet -> Parquet throughput at least this share of the raw prediction's.
TARGET_RATIO = 0.5
#: The prediction log may cost at most this share of the Parquet -> Parquet throughput.
LOG_MAX_COST = 0.10
DEFAULT_LOG_PAIRS = 2
#: Peak memory of the big file at most this many times the small file's counts as flat.
FLAT_MEMORY_RATIO = 1.25
KIB = 1024
MIB = KIB * KIB


def _peak_mb() -> float:
    """Peak resident memory of this process in MiB.

    Linux's ``VmHWM`` belongs to this program alone; ``ru_maxrss`` would also count the
    parent's memory at the fork that started it.
    """
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / KIB  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / KIB  # KiB on Linux


def _child(args: argparse.Namespace) -> int:
    """Score one file (in a child process) and print seconds and peak RSS as JSON."""
    from leadmodel.batch import score_file

    cpu = time.process_time()  # every thread of this process: shows overlap vs less work
    summary = score_file(
        args.data,
        args.out,
        args.model,
        reasons=args.reasons,
        chunk_rows=args.chunk_rows,
        log=args.log,
    )
    cpu = time.process_time() - cpu
    result = {
        "rows": summary.rows_in,
        "seconds": summary.seconds,
        "cpu_seconds": cpu,
        "peak_mb": _peak_mb(),
        "log_rows": summary.log_rows,
    }
    print(json.dumps(result))
    return 0


def _run_child(
    data: Path, out: Path, model: str, reasons: int, chunk_rows: int, log: str = "off"
) -> dict:
    command = [
        sys.executable,
        __file__,
        "--child",
        "--data",
        str(data),
        "--out",
        str(out),
        "--model",
        model,
        "--reasons",
        str(reasons),
        "--chunk-rows",
        str(chunk_rows),
        "--log",
        log,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"child failed on {data.name}:\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["rows_per_s"] = result["rows"] / result["seconds"]
    print(
        f"  {data.name} -> {out.suffix[1:]}, reasons={reasons}, "
        f"log {'off' if log == 'off' else 'on'}: {result['rows']:,} rows in "
        f"{result['seconds']:.1f} s ({result['rows_per_s']:,.0f} rows/s, "
        f"CPU {result['cpu_seconds']:.1f} s), peak {result['peak_mb']:,.0f} MB",
        flush=True,
    )
    return result


def _raw_prediction(path: Path, model_uri: str, chunk_rows: int) -> dict[str, Any]:
    """Rows/s of ``booster.predict`` of every stage on features already in memory.

    Timed as one call on all rows and as calls on slices of ``chunk_rows`` rows (what the
    batch job does); the faster of the two is the reference.
    """
    from leadmodel.ingest import read_leads
    from leadmodel.model import LGBM_THREADS
    from leadmodel.tracking import load_funnel

    model, _ = load_funnel(model_uri)
    X = model.transform(read_leads(path).valid)
    boosters = [stage.booster for stage in model.stages.values()]
    timings = {}
    for name, step in (("one call", len(X)), (f"{chunk_rows:,}-row slices", chunk_rows)):
        started = time.perf_counter()
        for booster in boosters:
            for start in range(0, len(X), step):
                booster.predict(
                    X.iloc[start : start + step], raw_score=True, num_threads=LGBM_THREADS
                )
        timings[name] = time.perf_counter() - started
        print(
            f"  raw booster.predict, {name}: {len(X):,} rows in {timings[name]:.1f} s", flush=True
        )
    seconds = min(timings.values())
    trees = {name: stage.booster.num_trees() for name, stage in model.stages.items()}
    return {
        "rows": len(X),
        "seconds": seconds,
        "rows_per_s": len(X) / seconds,
        "trees": trees,
        "timings": timings,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS)
    parser.add_argument("--small-rows", type=int, default=DEFAULT_SMALL_ROWS)
    parser.add_argument("--reason-rows", type=int, default=DEFAULT_REASON_ROWS)
    parser.add_argument("--train-rows", type=int, default=DEFAULT_TRAIN_ROWS)
    parser.add_argument("--chunk-rows", type=int, default=None)
    parser.add_argument("--log-pairs", type=int, default=DEFAULT_LOG_PAIRS)
    parser.add_argument(
        "--log-only", action="store_true", help="Only the log on / off pairs (and their memory)."
    )
    parser.add_argument("--json", type=Path, default=None, help="Also write the figures here.")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--reasons", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--log", default="off", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    from leadmodel.batch import DEFAULT_CHUNK_ROWS

    args.chunk_rows = args.chunk_rows or DEFAULT_CHUNK_ROWS
    if args.child:
        return _child(args)

    from leadmodel.io import write_table
    from leadmodel.synthetic import generate
    from leadmodel.train import train

    figures: dict[str, Any] = {"rows": args.rows, "chunk_rows": args.chunk_rows}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp / 'mlflow.db'}"
        os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
        print(f"training on {args.train_rows:,} synthetic leads ...", flush=True)
        train_path = write_table(generate(args.train_rows, seed=TRAIN_SEED).export, tmp / "t.csv")
        result = train(train_path, experiment="bench", register_name="bench")
        model_uri = f"models:/bench/{result.model_version}"

        print(f"writing {args.rows:,} fresh synthetic leads ...", flush=True)
        export = generate(args.rows, seed=SCORE_SEED).export
        files = {"big.parquet": export}
        if not args.log_only:
            files["big.csv"] = export
            files["small.parquet"] = export.head(args.small_rows)
            files["reasons.parquet"] = export.head(args.reason_rows)
        paths = {name: write_table(frame, tmp / name) for name, frame in files.items()}
        del export, files
        figures["parquet_mb"] = paths["big.parquet"].stat().st_size / MIB
        if not args.log_only:
            figures["csv_mb"] = paths["big.csv"].stat().st_size / MIB

        print("measuring ...", flush=True)
        figures["load_average_before"] = os.getloadavg()

        def score(name: str, out: str, reasons: int = 0, log: str = "off") -> dict[str, Any]:
            return _run_child(paths[name], tmp / out, model_uri, reasons, args.chunk_rows, log)

        if not args.log_only:
            raw = _raw_prediction(paths["big.parquet"], model_uri, args.chunk_rows)
        parquet = score("big.parquet", "scores.parquet")
        if not args.log_only:
            csv = score("big.csv", "scores.csv")
            small = score("small.parquet", "small_scores.parquet")
            reasons = score("reasons.parquet", "reason_scores.parquet", REASONS)
        log_off, log_on = [parquet], []
        for pair in range(args.log_pairs):  # in turns, so load changes hit both alike
            log_on.append(score("big.parquet", "scores.parquet", log=str(tmp / f"log{pair}")))
            if pair + 1 < args.log_pairs:
                log_off.append(score("big.parquet", "scores.parquet"))
        if any(run["log_rows"] != run["rows"] for run in log_on):
            raise SystemExit("a run with the log on did not log every row")
        figures["load_average_after"] = os.getloadavg()

    if not args.log_only:
        figures |= {
            "raw_rows_per_s": raw["rows_per_s"],
            "raw_seconds": raw["timings"],
            "trees": raw["trees"],
            "parquet_rows_per_s": parquet["rows_per_s"],
            "parquet_ratio": parquet["rows_per_s"] / raw["rows_per_s"],
            "csv_rows_per_s": csv["rows_per_s"],
            "csv_ratio": csv["rows_per_s"] / raw["rows_per_s"],
            "reasons_rows_per_s": reasons["rows_per_s"],
            "reason_rows": args.reason_rows,
            "peak_mb_small": small["peak_mb"],
            "peak_mb_big": parquet["peak_mb"],
            "small_rows": args.small_rows,
        }
    figures |= {
        "log_off_rows_per_s": max(run["rows_per_s"] for run in log_off),
        "log_on_rows_per_s": max(run["rows_per_s"] for run in log_on),
        "log_runs": {
            "off": [run["rows_per_s"] for run in log_off],
            "on": [run["rows_per_s"] for run in log_on],
        },
        "log_cpu_seconds": {
            "off": [run["cpu_seconds"] for run in log_off],
            "on": [run["cpu_seconds"] for run in log_on],
        },
        "log_peak_mb": {
            "off": [run["peak_mb"] for run in log_off],
            "on": [run["peak_mb"] for run in log_on],
        },
        "cpu_count": os.cpu_count(),
        "threads_env": os.environ.get("LEADMODEL_THREADS"),
    }
    figures["log_ratio"] = figures["log_on_rows_per_s"] / figures["log_off_rows_per_s"]
    figures["log_cost"] = 1 - figures["log_ratio"]
    print()
    ok = flat = True
    if not args.log_only:
        flat = figures["peak_mb_big"] <= FLAT_MEMORY_RATIO * figures["peak_mb_small"]
        ok = figures["parquet_ratio"] >= TARGET_RATIO
        _print_throughput(figures, ok)
    log_ok = figures["log_cost"] <= LOG_MAX_COST
    print(
        f"prediction log on / off (Parquet): {figures['log_on_rows_per_s']:,.0f} / "
        f"{figures['log_off_rows_per_s']:,.0f} rows/s = {figures['log_ratio']:.3f} "
        f"(cost {figures['log_cost']:.1%}, target <= {LOG_MAX_COST:.0%}: "
        f"{'met' if log_ok else 'NOT met'}; best of {len(log_on)} on, {len(log_off)} off)"
    )
    cpu_on, cpu_off = (min(figures["log_cpu_seconds"][side]) for side in ("on", "off"))
    print(
        f"  CPU time on / off (least of each, all threads): {cpu_on:.1f} / {cpu_off:.1f} s "
        f"= {cpu_on / cpu_off:.2f}; peak memory on / off: "
        f"{max(figures['log_peak_mb']['on']):,.0f} / {max(figures['log_peak_mb']['off']):,.0f} MB"
    )
    load = ", ".join(
        "/".join(f"{v:.1f}" for v in figures[f"load_average_{when}"])
        for when in ("before", "after")
    )
    print(
        f"  {figures['cpu_count']} cores, LEADMODEL_THREADS={figures['threads_env']}, "
        f"load average (1/5/15 min) before, after: {load}"
    )
    if not args.log_only:
        print(
            f"peak memory: {figures['peak_mb_small']:,.0f} MB at {args.small_rows:,} rows, "
            f"{figures['peak_mb_big']:,.0f} MB at {args.rows:,} rows "
            f"({'flat' if flat else 'GROWS with the file'})"
        )
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if ok and flat and log_ok else 1


def _print_throughput(figures: dict[str, Any], ok: bool) -> None:
    print(
        f"raw booster.predict (in memory): {figures['raw_rows_per_s']:>10,.0f} rows/s (faster way)"
    )
    print(
        f"Parquet -> Parquet, end to end:  {figures['parquet_rows_per_s']:>10,.0f} rows/s "
        f"= {figures['parquet_ratio']:.2f}x raw (target >= {TARGET_RATIO}x: "
        f"{'met' if ok else 'NOT met'})"
    )
    print(
        f"CSV -> CSV, end to end:          {figures['csv_rows_per_s']:>10,.0f} rows/s "
        f"= {figures['csv_ratio']:.2f}x raw"
    )
    print(f"with {REASONS} reasons (Parquet):      {figures['reasons_rows_per_s']:>10,.0f} rows/s")


if __name__ == "__main__":
    sys.exit(main())
