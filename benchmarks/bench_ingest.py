"""Benchmark: validating a synthetic export vs a plain ``pandas.read_csv`` of the same file.

Usage: python benchmarks/bench_ingest.py [--rows 1000000] [--repeat 3] [--seed 0]

Writes a messy synthetic export to a temporary CSV, then times, in the same process and
alternating, ``pd.read_csv(path)`` and ``leadmodel.ingest.read_leads(path)`` (read, map,
type, check, split into valid and rejected rows). Reports the best time of each and the
ratio; the target is at most :data:`TARGET_RATIO` times the plain read.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

DEFAULT_ROWS = 1_000_000
DEFAULT_REPEAT = 3
DEFAULT_SEED = 0
TARGET_RATIO = 4.0


def best_time(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Best wall time of ``repeat`` calls, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS)
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    try:
        from leadmodel.synthetic import DEFAULT_AS_OF, generate
    except ImportError:
        print("skipped: leadmodel.synthetic is not available to generate the export")
        return 0
    from leadmodel.ingest import read_leads

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "export.csv"
        print(f"generating {args.rows:,} messy synthetic leads ...", flush=True)
        generate(args.rows, seed=args.seed, messy=True).export.to_csv(path, index=False)
        print(f"file: {path.stat().st_size / 1e6:,.0f} MB", flush=True)
        read_leads(path, now=DEFAULT_AS_OF)  # warm up imports and caches
        plain: list[float] = []
        ingest: list[float] = []
        result = None
        for _ in range(args.repeat):  # alternate, so both see the same machine load
            plain.append(best_time(lambda: pd.read_csv(path), 1)[0])
            seconds, result = best_time(lambda: read_leads(path, now=DEFAULT_AS_OF), 1)
            ingest.append(seconds)
    ratio = min(ingest) / min(plain)
    print(f"pandas.read_csv:     {min(plain):6.2f} s (best of {args.repeat})")
    print(f"ingest.read_leads:   {min(ingest):6.2f} s (best of {args.repeat})")
    print(f"ratio:               {ratio:6.2f}x (target <= {TARGET_RATIO:.0f}x)")
    print(f"rows valid/rejected: {result.rows_valid:,} / {result.rows_rejected:,}")
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
