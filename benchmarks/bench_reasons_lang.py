"""Benchmark: reasons in Danish against reasons in English, for a batch and for one lead.

``reasons_frame`` (top-3 reasons of 100,000 leads) and ``explain_leads`` of a single lead
(what ``/score`` does per request) are timed in English and in Danish, interleaved round by
round in this one process, best of ``--repeats`` each; the bare booster contributions of
the batch (``pred_contrib``) are timed beside them as the machine's baseline, so runs of
two versions of the code (e.g. before and after a change) compare as ratios to it. Target:
Danish within 1.10x English on CPU time.

    .venv/bin/python benchmarks/bench_reasons_lang.py [--rows 100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from leadmodel import i18n
from leadmodel.explain import explain_leads, reasons_frame
from leadmodel.model import CLOSE, LGBM_THREADS
from leadmodel.synthetic import generate

try:  # run from the repository root or from benchmarks/
    from benchmarks.bench_explain import SCORE_SEED, TRAIN_ROWS, fit_model
except ImportError:
    from bench_explain import SCORE_SEED, TRAIN_ROWS, fit_model

ROWS = 100_000
REPEATS = 3
K = 3
#: Single-lead calls per timing (one call is too short to time alone).
SINGLE_CALLS = 200
TARGET_RATIO = 1.10


def timed(run: Callable[[], object]) -> tuple[float, float]:
    """(wall, CPU) seconds of one run."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def in_language(lang: str, run: Callable[[], object]) -> Callable[[], object]:
    def call() -> object:
        with i18n.using(lang):
            return run()

    return call


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--train-rows", type=int, default=TRAIN_ROWS)
    parser.add_argument("--repeats", type=int, default=REPEATS)
    args = parser.parse_args(argv)

    model = fit_model(args.train_rows)
    booster = model.stages[CLOSE].booster
    leads = generate(args.rows, seed=SCORE_SEED).export
    one = leads.head(1).to_dict("records")
    X = model.transform(leads)

    def single() -> None:
        for _call in range(SINGLE_CALLS):
            explain_leads(model, one, k=K, signed=False)

    runs = {
        "raw pred_contrib": lambda: booster.predict(X, pred_contrib=True, num_threads=LGBM_THREADS)
    }
    for lang in ("en", "da"):
        runs[f"reasons_frame {lang}"] = in_language(lang, lambda: reasons_frame(model, leads, k=K))
        runs[f"single lead {lang}"] = in_language(lang, single)
    for run in runs.values():  # warm-up: tables, catalogues, caches
        run()
    best = {name: (float("inf"), float("inf")) for name in runs}
    for _round in range(args.repeats):
        for name, run in runs.items():
            wall, cpu = timed(run)
            best[name] = (min(best[name][0], wall), min(best[name][1], cpu))

    print(
        f"close booster: {booster.num_trees()} trees; {args.rows:,} leads; single lead x "
        f"{SINGLE_CALLS}; best of {args.repeats}; {LGBM_THREADS} LightGBM threads"
    )
    raw_cpu = best["raw pred_contrib"][1]
    for name, (wall, cpu) in best.items():
        print(f"{name:>20}: wall {wall:8.3f} s  cpu {cpu:8.3f} s  cpu/raw {cpu / raw_cpu:6.3f}x")
    ok = True
    for what in ("reasons_frame", "single lead"):
        ratio = best[f"{what} da"][1] / best[f"{what} en"][1]
        ok &= ratio <= TARGET_RATIO
        print(f"{what + ' da/en':>20}: cpu {ratio:6.3f}x (target <= {TARGET_RATIO}x)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
