"""Benchmark: the fixed cost of one ``Scorer.score`` call, in process, vs a bare predict.

Run from the repository root::

    .venv/bin/python benchmarks/bench_score_call.py            # trains a small model first
    .venv/bin/python benchmarks/bench_score_call.py --model models:/lead-scorer@champion

The model is the one :mod:`bench_service` trains (or ``--model``). For 1, 8 and 1,000
leads per request (synthetic leads as the CRM sends them) it times, in this process and in
alternating blocks, CPU time per call of:

- **score**: ``Scorer.score`` of a validated ``ScoreRequest`` (3 reasons), the whole
  ``/score`` answer without HTTP: records, features, both boosters, contributions, reasons,
  warnings and the JSON body;
- **predict**: a bare ``booster.predict`` (raw scores) of every stage on the same rows'
  float matrix, already built: the floor any scoring path has;
- **explain**: ``StageModel.explain`` of the close stage on that matrix (its raw score and
  contributions, from the contribution tables or LightGBM's ``pred_contrib``).

It prints milliseconds per call (medians over blocks), ``score / predict`` (the median of
the blocks' ratios), and the same without the contributions: ``score - (explain - close
predict)``, the cost of the rest of the path.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_service import REASONS, sample_leads, train_small_model

from leadmodel.model import CLOSE, LGBM_THREADS
from leadmodel.serving.api import ScoreRequest
from leadmodel.serving.scoring import Scorer

#: Leads per request, and the calls timed per block for each.
SIZES: dict[int, int] = {1: 300, 8: 100, 1_000: 1}
BLOCKS = 5
WARMUP_CALLS = 30
SAMPLE_LEADS = 1_000


def _cpu_per_call(calls: list[Callable[[], Any]]) -> float:
    """CPU seconds per call of ``calls``, run once each (less sensitive to other jobs)."""
    start = time.process_time()
    for call in calls:
        call()
    return (time.process_time() - start) / len(calls)


def measure(scorer: Scorer, leads: list[dict[str, Any]], size: int, calls: int) -> dict[str, Any]:
    """Milliseconds per call of score, bare predict and close explain for ``size`` leads."""
    requests = [
        ScoreRequest.model_validate(
            {
                "leads": [
                    leads[(i * size + j) % len(leads)] | {"lead_id": f"c{i}-{j}"}
                    for j in range(size)
                ],
                "k": REASONS,
            }
        )
        for i in range(calls)
    ]
    model = scorer.model
    matrices = [model.matrix(scorer.records(r.leads)) for r in requests]
    boosters = [stage.booster for stage in model.stages.values()]
    close = model.stages[CLOSE]

    def predict(X: Any) -> None:
        for booster in boosters:
            booster.predict(X, raw_score=True, num_threads=LGBM_THREADS)

    plans = {
        "score": [lambda r=r: scorer.score(r) for r in requests],
        "predict": [lambda X=X: predict(X) for X in matrices],
        "close_predict": [
            lambda X=X: close.booster.predict(X, raw_score=True, num_threads=LGBM_THREADS)
            for X in matrices
        ],
        "explain": [lambda X=X: close.explain(X) for X in matrices],
    }
    for plan in plans.values():  # warm-up: caches filled, code paths run once
        for call in plan[:WARMUP_CALLS]:
            call()
    blocks: dict[str, list[float]] = {name: [] for name in plans}
    for _ in range(BLOCKS):
        for name, plan in plans.items():
            blocks[name].append(_cpu_per_call(plan))
    rest = [
        s - (e - c)
        for s, e, c in zip(blocks["score"], blocks["explain"], blocks["close_predict"], strict=True)
    ]
    ms = {name: 1e3 * statistics.median(values) for name, values in blocks.items()}
    bare = blocks["predict"]
    return {
        "leads": size,
        "ms_per_call": {name: round(value, 3) for name, value in ms.items()},
        "ms_without_contributions": round(1e3 * statistics.median(rest), 3),
        "score_vs_predict": _median_ratio(blocks["score"], bare),
        "without_contributions_vs_predict": _median_ratio(rest, bare),
    }


def _median_ratio(values: list[float], baseline: list[float]) -> float:
    """Median over blocks of ``values / baseline`` (each block against its own baseline)."""
    return round(statistics.median(v / b for v, b in zip(values, baseline, strict=True)), 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="Model URI (default: train bench_service's model).")
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=list(SIZES), help="Leads per request."
    )
    parser.add_argument("--json-out", type=Path, help="Also write the results here.")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-score-call-") as tmp:
        if args.model:
            model_uri = args.model
        else:
            os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
            print("training a small model in a temporary MLflow store...", file=sys.stderr)
            model_uri = train_small_model(Path(tmp))
        scorer = Scorer.load(model_uri)
        leads = sample_leads(SAMPLE_LEADS)
        results = []
        for size in args.sizes:
            r = measure(scorer, leads, size, SIZES.get(size, 1))
            results.append(r)
            ms = r["ms_per_call"]
            print(
                f"{size:>5} leads: score {ms['score']:.3f} ms, bare predict {ms['predict']:.3f} "
                f"ms ({r['score_vs_predict']:.2f}x); without contributions "
                f"{r['ms_without_contributions']:.3f} ms "
                f"({r['without_contributions_vs_predict']:.2f}x); close explain "
                f"{ms['explain']:.3f} ms",
                file=sys.stderr,
                flush=True,
            )
    out = {"model": model_uri, "results": results}
    print(json.dumps(out, indent=2))
    if args.json_out:
        args.json_out.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
