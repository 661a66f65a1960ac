"""End-to-end `leadmodel train` next to bare LightGBM fits of the same two stages.

Usage: .venv/bin/python benchmarks/bench_train.py [--rows 100000] [--seed 5]

Both are run in this one process on the same rows: the bare fits get the already
transformed feature frames in memory and the same LightGBM parameters, early stopping
and validation rows, so the ratio is the cost of everything else the job does (reading
and validating the file, the leakage guard, calibration, baselines, evaluation, plots,
the report, MLflow logging and registration). Target: ratio <= 3.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import lightgbm as lgb

from leadmodel import ingest
from leadmodel.config import load_config
from leadmodel.io import write_table
from leadmodel.model import STAGE_LABEL, STAGES, _lgbm_params
from leadmodel.synthetic import generate
from leadmodel.train import time_split, train

TARGET_RATIO = 3.0


def bare_fits(path: Path, seed: int) -> float:
    """Seconds for plain lgb.train of both stages on pre-built features (same split/params)."""
    from leadmodel.features import LeadFeatures

    config = load_config()
    result = ingest.read_leads(path)
    split = time_split(
        result.valid, result.order_by, config.split.test_share, config.split.valid_share
    )
    features = LeadFeatures().fit(split.train)
    X_train, X_valid = features.transform(split.train), features.transform(split.valid)
    params = _lgbm_params(config)
    start = time.perf_counter()
    for stage in STAGES:
        label = STAGE_LABEL[stage]
        tr, va = split.train[label].notna().to_numpy(), split.valid[label].notna().to_numpy()
        train_set = lgb.Dataset(X_train[tr], label=split.train.loc[tr, label].to_numpy(float))
        valid_set = lgb.Dataset(
            X_valid[va], label=split.valid.loc[va, label].to_numpy(float), reference=train_set
        )
        lgb.train(
            params,
            train_set,
            num_boost_round=config.lightgbm.n_estimators,
            valid_sets=[valid_set],
            callbacks=[lgb.early_stopping(config.lightgbm.early_stopping_rounds, verbose=False)],
        )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp}/mlflow.db"
        path = write_table(generate(args.rows, seed=args.seed).export, Path(tmp) / "leads.parquet")
        bare = bare_fits(path, args.seed)
        start = time.perf_counter()
        result = train(path, experiment="bench", register_name="bench")
        full = time.perf_counter() - start
    ratio = full / bare
    print(f"rows: {args.rows:,}")
    print(f"bare LightGBM fits (accept + close): {bare:8.2f} s")
    print(f"leadmodel train end to end:          {full:8.2f} s")
    print(
        f"overhead ratio: {ratio:.2f}x (target <= {TARGET_RATIO:.0f}x) "
        f"{'OK' if ratio <= TARGET_RATIO else 'ABOVE TARGET'}"
    )
    print(
        f"close test ROC-AUC {result.metrics['close']['roc_auc']:.4f}, "
        f"accept {result.metrics['accept']['roc_auc']:.4f}"
    )


if __name__ == "__main__":
    main()
