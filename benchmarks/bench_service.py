"""Benchmark of the scoring service against no-op endpoints served the same way.

Run from the repository root::

    .venv/bin/python benchmarks/bench_service.py            # trains a small model first
    .venv/bin/python benchmarks/bench_service.py --model models:/lead-scorer@champion

It starts ``bentoml serve`` on this module (the real service plus two no-op routes and a
parse-only route on the same app, so all pass the same BentoML stack and middleware;
``/parse_only`` reads and validates the ``/score`` body and answers nothing, the floor a
single-lead ``/score`` would reach with a free model), then on
:class:`PlainNoop` (a plain BentoML service, ``@bentoml.api``, no model), drives each
with ``wrk`` (installed from Debian's packages when missing) at a fixed number of
connections, and prints throughput, p99 latency and the ratios the targets are set in.
Then it compares single-lead ``/score`` with the prediction log on and off: servers
started alternately with ``LEADMODEL_LOG_DIR`` a temporary folder and ``off``
(``--rounds`` each; ``--log-only`` runs just this comparison), and the CPU the log costs
in this process: single-lead ``Scorer.score`` calls with the log off and on, in
alternating blocks, the on blocks including the writes (less sensitive to other jobs on
the machine than throughput over HTTP). The method is described in
``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import bentoml
import httpx

from leadmodel import predlog
from leadmodel.predlog import LOG_ENV, OFF
from leadmodel.serving.api import ScoreRequest
from leadmodel.serving.service import REQUEST_TIMEOUT_S, LeadScorerService, app
from leadmodel.serving.settings import BENTOML_OVERRIDES_ENV, SERVICE_NAME

__all__ = ["LeadScorerService", "PlainNoop"]

REPO_ROOT = Path(__file__).resolve().parents[1]
SERVICE_TARGET = "benchmarks.bench_service:LeadScorerService"
PLAIN_TARGET = "benchmarks.bench_service:PlainNoop"
CONNECTIONS = 8
DURATION_S = 20
WARMUP_S = 3
REASONS = 3
BATCH = 1_000
TRAIN_ROWS = 8_000
TRAIN_SEED = 3
START_TIMEOUT_S = 120
#: Targets, as ratios to the no-op measured in the same run.
MIN_THROUGHPUT_RATIO = 0.7
MAX_P99_RATIO = 1.5
MIN_BATCH_SPEEDUP = 20.0
MIN_PLAIN_RATIO = 1.2
#: Single-lead throughput with the prediction log on / off (issue 13: logging costs <= 10 %).
MIN_LOG_RATIO = 0.9
LOG_ROUNDS = 2
#: Single-lead Scorer.score calls per block of the in-process CPU comparison, and blocks.
CPU_CALLS = 500
CPU_BLOCKS = 4
_WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open("{body}", "rb"))
wrk.body = f:read("*all")
f:close()
"""
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


@app.post("/noop", include_in_schema=False)
async def noop() -> dict[str, Any]:
    """The no-op the service is measured against: same app, same stack, same kind of
    route as ``/score`` (``async``, answered in the event loop), no work."""
    return {}


@app.post("/parse_only", include_in_schema=False)
async def parse_only(body: ScoreRequest) -> dict[str, Any]:
    """The typed contract and nothing else: the request read and validated as ``/score``
    reads it, no model. The most a single-lead ``/score`` could reach with a free model."""
    return {}


@app.post("/noop_sync", include_in_schema=False)
def noop_sync() -> dict[str, Any]:
    """A plain ``def`` no-op (FastAPI runs it in its threadpool), shown for comparison."""
    return {}


@bentoml.service(name="plain_noop", traffic={"timeout": REQUEST_TIMEOUT_S})
class PlainNoop:
    """A plain BentoML service with no model: ``/score`` takes the same body, does nothing.

    The floor of BentoML's own API path (its request parsing, ``@bentoml.api`` dispatch
    and answer), which single-lead ``/score`` must beat by :data:`MIN_PLAIN_RATIO`.
    """

    @bentoml.api
    async def score(self, leads: list[dict[str, Any]], k: int = REASONS) -> dict[str, Any]:
        """The async no-op: answered in the event loop, as the service's ``/score``."""
        return {}

    @bentoml.api
    def score_sync(self, leads: list[dict[str, Any]], k: int = REASONS) -> dict[str, Any]:
        """A plain ``def`` no-op (BentoML runs it in its threadpool), for comparison."""
        return {}


def ensure_wrk() -> str:
    """Path of ``wrk``; installs the Debian package when it is missing."""
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk not found: installing it with apt-get", file=sys.stderr)
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env)
    return shutil.which("wrk") or "wrk"


def train_small_model(workdir: Path) -> str:
    """Train a small model on synthetic leads into a temporary store; return its URI."""
    from leadmodel.io import write_table
    from leadmodel.synthetic import generate
    from leadmodel.train import train

    data = write_table(generate(TRAIN_ROWS, seed=TRAIN_SEED).export, workdir / "leads.csv")
    result = train(data, experiment="bench-service", register_name="bench-scorer")
    return str(result.model_uri)


def sample_leads(rows: int) -> list[dict[str, Any]]:
    """Synthetic leads as the CRM sends them (no labels), JSON-ready."""
    from leadmodel import schema
    from leadmodel.synthetic import generate

    export = generate(rows, seed=TRAIN_SEED + 1).export
    export = export.drop(columns=[c for c in schema.LABEL_COLUMNS if c in export])
    return json.loads(export.to_json(orient="records", date_format="iso"))


def start_server(
    port: int, env: dict[str, str], log: Path, target: str = SERVICE_TARGET
) -> subprocess.Popen[bytes]:
    """``bentoml serve`` a service of this module on 127.0.0.1:port; waits for ``/readyz``."""
    bentoml = Path(sys.executable).with_name("bentoml")
    command = [str(bentoml), "serve", target, "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    stop_server(process)
    raise RuntimeError(f"server not ready in {START_TIMEOUT_S} s: {log.read_text()[-2000:]}")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL when it does not stop."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _millis(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def parse_wrk(output: str) -> dict[str, float]:
    """Requests/s, p50/p99 latency (ms) and error counts from ``wrk --latency`` output."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _millis(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    p99 = _millis(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return {
        "requests_per_s": rps,
        "p50_ms": p50,
        "p99_ms": p99,
        "non_2xx": float(non2xx.group(1)) if non2xx else 0.0,
        "socket_errors": float(sum(int(g) for g in errors.groups())) if errors else 0.0,
    }


def run_wrk(
    wrk: str, url: str, body: Path, seconds: int, connections: int, workdir: Path
) -> dict[str, float]:
    """Drive ``url`` with POSTs of ``body`` for ``seconds`` at ``connections``."""
    script = workdir / f"{body.stem}.lua"
    script.write_text(_WRK_SCRIPT.format(body=body))
    command = [
        wrk,
        "--threads",
        "1",
        "--connections",
        str(connections),
        "--duration",
        f"{seconds}s",
        "--timeout",
        "30s",
        "--latency",
        "--script",
        str(script),
        url,
    ]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return parse_wrk(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="Model URI to serve (default: train a small one).")
    parser.add_argument("--duration", type=int, default=DURATION_S, help="Seconds per run.")
    parser.add_argument("--connections", type=int, default=CONNECTIONS)
    parser.add_argument("--port", type=int, default=0, help="Port (default: a free one).")
    parser.add_argument("--json-out", type=Path, help="Also write the results here.")
    parser.add_argument(
        "--rounds", type=int, default=LOG_ROUNDS, help="Log off/on servers, each (alternate)."
    )
    parser.add_argument(
        "--log-only", action="store_true", help="Only compare the prediction log on and off."
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="Worker processes of every server measured (leadmodel serve --workers).",
    )
    args = parser.parse_args(argv)

    wrk = ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="bench-service-") as tmp:
        workdir = Path(tmp)
        env = dict(os.environ)
        if args.model:
            model_uri = args.model
        else:
            env["MLFLOW_TRACKING_URI"] = os.environ["MLFLOW_TRACKING_URI"] = (
                f"sqlite:///{workdir / 'mlflow.db'}"
            )
            print("training a small model in a temporary MLflow store...", file=sys.stderr)
            model_uri = train_small_model(workdir)
        env["LEADMODEL_MODEL_URI"] = model_uri
        env.pop("LEADMODEL_API_TOKEN", None)
        overrides = {name: {"workers": args.workers} for name in (SERVICE_NAME, "plain_noop")}
        env[BENTOML_OVERRIDES_ENV] = json.dumps({"services": overrides})

        leads = sample_leads(BATCH)
        single = workdir / "single.json"
        single.write_text(json.dumps({"leads": leads[:1], "k": REASONS}))
        batch = workdir / "batch.json"
        batch.write_text(json.dumps({"leads": leads, "k": REASONS}))

        port = args.port or _free_port()
        base = f"http://127.0.0.1:{port}"
        runs: dict[str, dict[str, float]] = {}

        def measure(name: str, path: str, body: Path) -> None:
            run_wrk(wrk, base + path, body, WARMUP_S, args.connections, workdir)
            runs[name] = run_wrk(wrk, base + path, body, args.duration, args.connections, workdir)
            print(f"{name}: {runs[name]}", file=sys.stderr)

        log_dir = workdir / "predictions"
        env[LOG_ENV] = str(log_dir)  # never the log beside a store given with --model
        if not args.log_only:
            process = start_server(port, env, workdir / "server.log")
            try:
                for path, body in (("/score", single), ("/score", batch), ("/noop", single)):
                    response = httpx.post(
                        base + path,
                        content=body.read_bytes(),
                        headers={"Content-Type": "application/json"},
                        timeout=60,
                    )
                    response.raise_for_status()
                plan = (("noop", "/noop", single), ("noop_sync", "/noop_sync", single))
                plan += (("parse_only", "/parse_only", single),)
                plan += (("score_1", "/score", single), ("score_1000", "/score", batch))
                for name, path, body in plan:
                    measure(name, path, body)
            finally:
                stop_server(process)
            process = start_server(port, env, workdir / "plain.log", target=PLAIN_TARGET)
            try:
                measure("plain_noop", "/score", single)
                measure("plain_noop_sync", "/score_sync", single)
            finally:
                stop_server(process)
        logged: list[int] = []
        for i in range(args.rounds):  # off, on, off, on ...: drift of the machine cancels
            for mode in ("off", "on"):
                if mode == "on":
                    shutil.rmtree(log_dir, ignore_errors=True)
                mode_env = env | {LOG_ENV: OFF if mode == "off" else str(log_dir)}
                process = start_server(port, mode_env, workdir / f"log_{mode}_{i}.log")
                try:
                    measure(f"score_1_log_{mode}_{i}", "/score", single)
                finally:
                    stop_server(process)  # SIGTERM: the log is written whole
                if mode == "on":
                    logged.append(_rows_logged(log_dir))

        cpu = log_cpu(model_uri, leads, workdir / "cpu-predictions")
        print(f"log cpu: {cpu}", file=sys.stderr)

    results = summarise(runs, args.connections, args.duration, model_uri, logged)
    results.setdefault("prediction_log", {})["cpu_in_process"] = cpu
    print(json.dumps(results, indent=2))
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


def log_cpu(model_uri: str, leads: list[dict[str, Any]], folder: Path) -> dict[str, Any]:
    """CPU seconds per single-lead ``Scorer.score`` with the log off and on (writes included).

    Blocks of :data:`CPU_CALLS` calls alternate off/on; each on block ends with the log
    closed, so every row it gathered is built and written within the block's CPU time.
    """
    from leadmodel.serving.api import ScoreRequest
    from leadmodel.serving.scorelog import ServiceLog
    from leadmodel.serving.scoring import Scorer

    scorer = Scorer.load(model_uri)
    requests = [
        ScoreRequest.model_validate({"leads": [leads[i % len(leads)] | {"lead_id": f"c{i}"}]})
        for i in range(CPU_CALLS)
    ]
    for request in requests[:50]:  # warm-up
        scorer.score(request)
    cpu: dict[str, list[float]] = {"off": [], "on": []}
    rows = 0
    for block in range(CPU_BLOCKS):
        for mode in ("off", "on"):
            log = ServiceLog(folder / f"{block}", flush_seconds=1.0) if mode == "on" else None
            start = time.process_time()
            for request in requests:
                scorer.score(request, log)
            if log is not None:
                log.close()
                rows += log.background.rows_written
            cpu[mode].append((time.process_time() - start) / CPU_CALLS)
    ratio = statistics.median(cpu["on"]) / statistics.median(cpu["off"])
    return {
        "cpu_ms_per_request_off": [round(1e3 * v, 3) for v in cpu["off"]],
        "cpu_ms_per_request_on": [round(1e3 * v, 3) for v in cpu["on"]],
        "rows_logged": rows,
        "cpu_on_vs_off": ratio,
    }


def log_ratio(runs: dict[str, dict[str, float]], logged: list[int]) -> dict[str, Any]:
    """Single-lead throughput with the prediction log on / off, from alternating rounds."""
    on = [r["requests_per_s"] for n, r in runs.items() if n.startswith("score_1_log_on_")]
    off = [r["requests_per_s"] for n, r in runs.items() if n.startswith("score_1_log_off_")]
    ratio = statistics.median(on) / statistics.median(off)
    return {
        "requests_per_s_on": on,
        "requests_per_s_off": off,
        "rows_logged_per_on_run": logged,
        "throughput_log_on_vs_off": {"value": ratio, "target_min": MIN_LOG_RATIO},
        "target_met": ratio >= MIN_LOG_RATIO,
    }


def summarise(
    runs: dict[str, dict[str, float]],
    connections: int,
    seconds: int,
    model_uri: str,
    logged: list[int],
) -> dict[str, Any]:
    """Ratios to the no-op and to single-lead requests, next to the targets."""
    setup = {
        "connections": connections,
        "seconds": seconds,
        "reasons": REASONS,
        "batch": BATCH,
        "model": model_uri,
    }
    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count()}, "setup": setup}
    if logged:
        results["prediction_log"] = log_ratio(runs, logged)
    if "noop" not in runs:  # --log-only
        return results | {"runs": runs}
    noop, one, many = runs["noop"], runs["score_1"], runs["score_1000"]
    throughput = one["requests_per_s"] / noop["requests_per_s"]
    p99 = one["p99_ms"] / noop["p99_ms"]
    sync, parse = runs["noop_sync"], runs["parse_only"]
    speedup = many["requests_per_s"] * BATCH / one["requests_per_s"]
    plain = one["requests_per_s"] / runs["plain_noop"]["requests_per_s"]
    return results | {
        "runs": runs,
        "leads_per_s": {
            "single": one["requests_per_s"],
            "batch_1000": many["requests_per_s"] * BATCH,
        },
        "ratios": {
            "throughput_vs_noop": {"value": throughput, "target_min": MIN_THROUGHPUT_RATIO},
            "p99_vs_noop": {"value": p99, "target_max": MAX_P99_RATIO},
            "batch_leads_per_s_vs_single": {"value": speedup, "target_min": MIN_BATCH_SPEEDUP},
            "throughput_vs_plain_bentoml_noop": {"value": plain, "target_min": MIN_PLAIN_RATIO},
            "throughput_vs_plain_bentoml_sync_noop": (
                one["requests_per_s"] / runs["plain_noop_sync"]["requests_per_s"]
            ),
            "throughput_vs_threadpool_noop": one["requests_per_s"] / sync["requests_per_s"],
            "parse_only_vs_noop": parse["requests_per_s"] / noop["requests_per_s"],
            "throughput_vs_parse_only": one["requests_per_s"] / parse["requests_per_s"],
            "p99_vs_threadpool_noop": one["p99_ms"] / sync["p99_ms"],
        },
        "targets_met": {
            "throughput": throughput >= MIN_THROUGHPUT_RATIO,
            "p99": p99 <= MAX_P99_RATIO,
            "batch": speedup >= MIN_BATCH_SPEEDUP,
            "plain_bentoml": plain >= MIN_PLAIN_RATIO,
        },
    }


def _rows_logged(folder: Path) -> int:
    """Rows in the prediction log at ``folder`` (0 when none was written)."""
    try:
        con = predlog.connect(folder)
    except predlog.LogError:
        return 0
    try:
        return int(con.execute("SELECT count(*) FROM predictions").fetchone()[0])
    finally:
        con.close()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


if __name__ == "__main__":
    sys.exit(main())
