"""Benchmark: validating an export whose every row is rejected (the reject reasons' cost).

Usage: python benchmarks/bench_reject_reasons.py [--rows 200000] [--repeat 3]
                                                 [--baseline OLD/src/leadmodel/ingest.py]

Times, in one process and alternating, :func:`leadmodel.ingest.validate` of a frame where
every row has a bad value (so every row gets a reason sentence), in English and in
Danish. With ``--baseline``, an ``ingest.py`` of another checkout (e.g. before the
reasons went through the catalogue) is loaded beside it and timed on the same frame:
the ratios are against that baseline, else against English.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd

DEFAULT_ROWS = 200_000
DEFAULT_REPEAT = 3
NOW = "2024-12-31"


def bad_rows(rows: int) -> pd.DataFrame:
    """Leads with one bad value each: not a number, negative, not a date, in turn."""
    i = np.arange(rows)
    visits = np.where(i % 3 == 0, "2,5", np.where(i % 3 == 1, "-3", "4"))
    dates = np.where(i % 3 == 2, "yesterday", "2024-05-05")
    return pd.DataFrame(
        {
            "lead_id": [f"L{n}" for n in i],
            "created_at": dates,
            "source": "webinar",
            "website_visits": visits,
        }
    )


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("leadmodel._baseline_ingest", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS)
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT)
    parser.add_argument("--baseline", type=Path, default=None)
    args = parser.parse_args(argv)
    from leadmodel import i18n, ingest

    raw = bad_rows(args.rows)
    runs = {"en": ("en", ingest), "da": ("da", ingest)}
    if args.baseline is not None:
        runs = {"baseline (en)": ("en", load(args.baseline))} | runs
    best = dict.fromkeys(runs, float("inf"))
    for lang, module in runs.values():  # warm up imports and caches
        with i18n.using(lang):
            assert module.validate(raw, now=NOW).rows_rejected == args.rows
    for _round in range(args.repeat):
        for name, (lang, module) in runs.items():
            with i18n.using(lang):
                start = time.perf_counter()
                module.validate(raw, now=NOW)
                best[name] = min(best[name], time.perf_counter() - start)
    first = next(iter(best.values()))
    print(f"{args.rows:,} rows, every one rejected (best of {args.repeat}, alternating)")
    for name, seconds in best.items():
        print(f"{name:>14}: {seconds:6.2f} s   ratio {seconds / first:5.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
