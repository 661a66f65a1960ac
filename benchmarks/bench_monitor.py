"""Benchmark: ``leadmodel monitor``'s false-alarm rate on stable data, and its cost at scale.

Usage: python benchmarks/bench_monitor.py [--models 2] [--seeds 10] [--scenario-seeds 2]
       [--log-rows 10000000] [--scorings 10] [--skip-false-alarms] [--skip-scale]
       [--json PATH]

Standalone: trains ``--models`` models (the shipped config) on synthetic exports of
8,000 leads (company seeds 3, 4, ...) into a temporary MLflow store, then:

- **false alarms**: for each model, ``--seeds`` production periods of its own company
  with nothing changed (``tests/monitor/scenario.py``: an export dated 2026-10-31, the
  leads from 2026-05-04 on scored and logged on the day they arrived, their outcomes as
  of that date). The share of runs whose verdict is ``alarm`` is the false-alarm rate
  (target <= :data:`MAX_FALSE_ALARM_RATE`); warnings are counted too. Then each drift
  scenario for ``--scenario-seeds`` seeds: the share of runs that raise the scenario's
  own alarm naming its field (the detection rate).
- **scale**: one production log replicated with DuckDB into ``--log-rows`` logged scores
  (each lead scored ``--scorings`` times on consecutive days, distinct lead ids), and an
  outcomes export (Parquet) of those leads. ``leadmodel monitor --json`` runs on it in a
  child process: seconds and peak memory (``VmHWM``; target under a minute here). The
  baseline, in the same run: one DuckDB scan of the same log (``count``, ``avg(score)``
  per model version) in a child process, and ``leadmodel monitor`` on the small log; the
  ratios to both are printed.
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TRAIN_ROWS = 8_000
FIRST_COMPANY = 3
#: Seeds of the production periods start here (their leads, not their company).
FIRST_SEED = 100
MAX_FALSE_ALARM_RATE = 0.05
#: Alarm each scenario must raise: (kind, field).
EXPECTED = {
    "base_rate": ("calibration", "close"),
    "new_source": ("unseen", "source"),
    "tracking_break": ("missing", "website_visits"),
}
KIB = 1024


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / KIB
    return float("nan")


_TRAINED: dict[int, Any] = {}


def _train(company: int, folder: Path) -> Any:
    """The model of ``company`` (trained once per run)."""
    if company in _TRAINED:
        return _TRAINED[company]
    from leadmodel.io import write_table
    from leadmodel.synthetic import generate
    from leadmodel.train import train

    path = write_table(generate(TRAIN_ROWS, seed=company).export, folder / f"train-{company}.csv")
    _TRAINED[company] = train(path, experiment="bench-monitor", register_name=f"company-{company}")
    return _TRAINED[company]


def false_alarms(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    from tests.monitor.scenario import production_log

    from leadmodel.monitor import ALARM, WARN, monitor

    runs: list[dict[str, Any]] = []
    detections: dict[str, list[bool]] = {s: [] for s in EXPECTED}
    for m in range(args.models):
        company = FIRST_COMPANY + m
        started = time.perf_counter()
        trained = _train(company, folder)
        print(f"model {company}: trained in {time.perf_counter() - started:.0f} s", flush=True)
        jobs = [(None, FIRST_SEED + k) for k in range(args.seeds)]
        jobs += [(s, FIRST_SEED + k) for s in EXPECTED for k in range(args.scenario_seeds)]
        for scenario, seed in jobs:
            where = folder / f"c{company}-{scenario}-{seed}"
            where.mkdir()
            period = production_log(
                trained.model,
                trained.model_name,
                trained.model_version,
                where,
                seed=seed,
                scenario=scenario,
                world=company,
            )
            result = monitor(period.log, period.outcomes, track=False)
            alarms = [(r.kind, r.field) for r in result.reasons if r.level == ALARM]
            if scenario is None:
                runs.append(
                    {
                        "company": company,
                        "seed": seed,
                        "verdict": result.verdict,
                        "warn": any(r.level == WARN for r in result.reasons),
                        "alarms": [r.line for r in result.reasons if r.level == ALARM],
                    }
                )
                print(f"  stable seed {seed}: {result.verdict}", flush=True)
            else:
                detections[scenario].append(EXPECTED[scenario] in alarms)
                print(f"  {scenario} seed {seed}: {result.verdict} {alarms}", flush=True)
    n = len(runs)
    return {
        "runs": n,
        "false_alarms": sum(r["verdict"] == ALARM for r in runs),
        "false_alarm_rate": sum(r["verdict"] == ALARM for r in runs) / n if n else None,
        "runs_with_a_warning": sum(r["warn"] for r in runs),
        "alarm_lines": [line for r in runs for line in r["alarms"]],
        "detection_rate": {s: (sum(v) / len(v) if v else None) for s, v in detections.items()},
        "detection_runs": {s: len(v) for s, v in detections.items()},
    }


def _replicate(
    small: Path, small_outcomes: Path, big: Path, outcomes: Path, rows: int, scorings: int
) -> dict:
    """``rows`` logged scores from the small log: copies of its leads, each scored
    ``scorings`` times on consecutive days; and the outcomes of every copied lead."""
    import duckdb

    from leadmodel import predlog, schema

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    glob = predlog.files_glob(small)
    con.execute(
        f"CREATE VIEW small AS SELECT * EXCLUDE (date) FROM read_parquet('{glob}', "
        "hive_partitioning = true)"
    )
    n = con.execute("SELECT count(*) FROM small").fetchone()[0]
    copies = max(1, -(-rows // (n * scorings)))
    big.mkdir(parents=True)
    con.execute(
        f"COPY (SELECT * REPLACE (lead_id || '-' || c AS lead_id, "
        "scored_at + to_days(CAST(k AS INTEGER)) AS scored_at), "
        "strftime(scored_at + to_days(CAST(k AS INTEGER)), '%Y-%m-%d') AS date "
        f"FROM small, range({copies}) t(c), range({scorings}) s(k) LIMIT {rows}) "
        f"TO '{big}' (FORMAT parquet, PARTITION_BY (date), OVERWRITE_OR_IGNORE)"
    )
    export = small_outcomes
    con.execute(
        f"COPY (SELECT * REPLACE ({schema.LEAD_ID} || '-' || c AS {schema.LEAD_ID}) "
        f"FROM read_parquet('{export}'), range({copies}) t(c)) TO '{outcomes}' (FORMAT parquet)"
    )
    logged = con.execute(
        f"SELECT count(*), count(DISTINCT lead_id) FROM read_parquet('{predlog.files_glob(big)}')"
    ).fetchone()
    con.close()
    return {"rows": int(logged[0]), "leads": int(logged[1]), "copies": copies}


def _scan_child(log: str) -> int:
    import duckdb

    from leadmodel import predlog

    con = duckdb.connect()
    con.execute(
        "SELECT model_version, count(*), avg(score) FROM read_parquet("
        f"'{predlog.files_glob(log)}', hive_partitioning = true) GROUP BY ALL"
    ).fetchall()
    print(json.dumps({"peak_mb": _peak_mb()}))
    return 0


def _monitor_child(log: str, outcomes: str) -> int:
    from leadmodel.cli import app

    try:
        app(["monitor", "--log", log, "--outcomes", outcomes, "--json"], standalone_mode=False)
    finally:
        sys.stderr.write(json.dumps({"peak_mb": _peak_mb()}) + "\n")
    return 0


def scale(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    from tests.monitor.scenario import production_log

    trained = _train(FIRST_COMPANY, folder)
    small = folder / "small"
    small.mkdir()
    period = production_log(
        trained.model,
        trained.model_name,
        trained.model_version,
        small,
        seed=FIRST_SEED,
        world=FIRST_COMPANY,
    )
    period.outcomes.rename(small / "small_outcomes.parquet")
    big, outcomes = folder / "big" / "predictions", folder / "big_outcomes.parquet"
    started = time.perf_counter()
    made = _replicate(
        period.log, small / "small_outcomes.parquet", big, outcomes, args.log_rows, args.scorings
    )
    made["seconds_to_build"] = time.perf_counter() - started
    env = dict(os.environ, PYTHONPATH=f"{REPO / 'src'}{os.pathsep}{REPO}")
    me = [sys.executable, __file__]
    small_run = _child_run(
        me, env, "monitor", str(period.log), str(small / "small_outcomes.parquet")
    )
    scan = _child_run(me, env, "scan", str(big))
    big_run = _child_run(me, env, "monitor", str(big), str(outcomes))
    return {
        "log": made,
        "scan_seconds": scan["seconds"],
        "scan_peak_mb": scan["peak_mb"],
        "small_monitor_seconds": small_run["seconds"],
        "monitor_seconds": big_run["seconds"],
        "monitor_peak_mb": big_run["peak_mb"],
        "monitor_verdict": big_run["verdict"],
        "monitor_reasons": big_run["reasons"],
        "small_verdict": small_run["verdict"],
        "ratio_to_scan": big_run["seconds"] / scan["seconds"],
        "ratio_to_small_log": big_run["seconds"] / small_run["seconds"],
    }


def _child_run(me: list[str], env: dict[str, str], kind: str, *extra: str) -> dict[str, Any]:
    started = time.perf_counter()
    done = subprocess.run([*me, "--child", kind, *extra], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"child {kind} failed: {done.stderr.strip()[-800:]}")
    stats = [json.loads(x) for x in (done.stdout + done.stderr).splitlines() if '"peak_mb"' in x]
    verdict, reasons = None, []
    for line in done.stdout.splitlines():
        if '"verdict"' in line:
            found = json.loads(line)
            verdict, reasons = found["verdict"], found["reasons"]
    return {
        "seconds": seconds,
        "peak_mb": stats[-1]["peak_mb"],
        "verdict": verdict,
        "reasons": reasons,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--scenario-seeds", type=int, default=2)
    parser.add_argument("--log-rows", type=int, default=10_000_000)
    parser.add_argument("--scorings", type=int, default=10)
    parser.add_argument("--skip-false-alarms", action="store_true")
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--child", nargs="+", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        return _scan_child(*rest) if kind == "scan" else _monitor_child(*rest)
    os.environ.setdefault("LEADMODEL_THREADS", "1")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder / 'mlflow.db'}"
        if not args.skip_false_alarms:
            out["stable"] = found = false_alarms(args, folder)
            rate = found["false_alarm_rate"]
            print(
                f"false alarms: {found['false_alarms']} of {found['runs']} stable runs "
                f"({rate:.1%}; target <= {MAX_FALSE_ALARM_RATE:.0%}); "
                f"{found['runs_with_a_warning']} with a warning"
            )
            for line in found["alarm_lines"]:
                print(f"  {line}")
            for s, r in found["detection_rate"].items():
                print(f"detection {s}: {r:.0%} of {found['detection_runs'][s]} runs")
        if not args.skip_scale:
            out["scale"] = s = scale(args, folder)
            print(
                f"scale: {s['log']['rows']:,} logged scores of {s['log']['leads']:,} leads: "
                f"leadmodel monitor {s['monitor_seconds']:.1f} s, peak {s['monitor_peak_mb']:,.0f}"
                f" MiB (verdict {s['monitor_verdict']}); one DuckDB scan {s['scan_seconds']:.1f} s"
                f" (x{s['ratio_to_scan']:.1f}); monitor on the small log "
                f"{s['small_monitor_seconds']:.1f} s (x{s['ratio_to_small_log']:.1f}, verdict "
                f"{s['small_verdict']})"
            )
            for line in s["monitor_reasons"]:
                print(f"  {line}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
