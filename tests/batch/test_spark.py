"""Spark (local[2]) and `leadmodel score` give the same scores, reasons, rejects and log."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from leadmodel import batch, ingest, predlog
from leadmodel.cli import app
from leadmodel.io import write_table
from leadmodel.synthetic import generate

pytest.importorskip("pyspark", reason="the Spark test needs the 'spark' extra")
if shutil.which("java") is None:
    pytest.skip("Spark needs Java: run `make java-deps`", allow_module_level=True)

pytestmark = [pytest.mark.slow, pytest.mark.spark]

ROWS = 10_000
SEED = 21
K = 3
TOLERANCE = 1e-9


@pytest.fixture(scope="module")
def spark_stopped_after() -> Iterator[None]:
    """Stop the local session the command starts, so later tests do not share it."""
    yield
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()


def _parts(folder: Path) -> pd.DataFrame:
    """A folder of CSV part files (Spark's output) as one text frame."""
    files = sorted(folder.glob("part-*.csv"))
    assert files, f"no part files in {folder}"
    frames = [pd.read_csv(f, dtype=str, keep_default_na=False) for f in files]
    return pd.concat(frames, ignore_index=True)


def test_spark_and_leadmodel_score_agree(
    trained, tmp_path: Path, spark_stopped_after: None
) -> None:
    data = write_table(generate(ROWS, seed=SEED, messy=True).export, tmp_path / "leads.csv")
    uri = f"models:/{trained.model_name}/1"
    log = tmp_path / "log"  # both engines log into one folder
    common = ["--data", str(data), "--model", uri, "--reasons", str(K), "--json"]
    common += ["--log", str(log)]
    runner = CliRunner()

    local = runner.invoke(
        app,
        [
            "score",
            *common,
            "--out",
            str(tmp_path / "local.parquet"),
            "--rejects",
            str(tmp_path / "local_rejects.csv"),
        ],
    )
    assert local.exit_code == 0, local.output
    spark = runner.invoke(
        app,
        [
            "score",
            *common,
            "--engine",
            "spark",
            "--master",
            "local[2]",
            "--out",
            str(tmp_path / "spark.parquet"),
            "--rejects",
            str(tmp_path / "spark_rejects.csv"),
        ],
    )
    assert spark.exit_code == 0, spark.output

    local_summary, spark_summary = json.loads(local.stdout), json.loads(spark.stdout)
    for key in ("rows_in", "rows_scored", "rows_rejected", "reasons", "model_version"):
        assert spark_summary[key] == local_summary[key], key
    assert spark_summary["rows_in"] == ROWS
    assert spark_summary["engine"] == "spark"

    mine = pd.read_parquet(tmp_path / "local.parquet")
    theirs = pd.read_parquet(tmp_path / "spark.parquet")  # a folder of part files
    assert list(theirs.columns) == list(mine.columns)
    theirs = theirs.sort_values("lead_id", ignore_index=True)
    mine = mine.sort_values("lead_id", ignore_index=True)
    assert (theirs["lead_id"] == mine["lead_id"]).all()
    for column in ("p_accept", "p_close", "score"):
        np.testing.assert_allclose(theirs[column], mine[column], rtol=0, atol=TOLERANCE)
    text = ["tier", batch.MODEL_VERSION, batch.REASONS_TEXT] + [
        f"reason_{j}_field" for j in range(1, K + 1)
    ]
    pd.testing.assert_frame_equal(theirs[text], mine[text], check_dtype=False)
    for j in range(1, K + 1):
        points = f"reason_{j}_points"
        np.testing.assert_allclose(theirs[points], mine[points], rtol=0, atol=TOLERANCE)

    spark_rejects = _parts(tmp_path / "spark_rejects.csv")
    spark_rejects = spark_rejects.sort_values(
        ingest.REJECT_ROW, key=lambda rows: rows.astype(int), ignore_index=True
    )
    local_rejects = pd.read_csv(tmp_path / "local_rejects.csv", dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(spark_rejects, local_rejects)
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary folders left behind

    # one log, read together: the same rows, columns and types from both engines
    assert spark_summary["log_rows"] == local_summary["log_rows"] == local_summary["rows_scored"]
    assert not list(log.glob(".*"))  # Spark's staging folder is gone
    files = {
        origin: sorted(log.glob(f"date=*/{origin}-*.parquet")) for origin in ("batch", "spark")
    }
    assert len(files["batch"]) == 1 and files["spark"]
    types = {
        origin: [(f.name, f.type) for f in pq.read_schema(paths[0])]
        for origin, paths in files.items()
    }
    assert types["spark"] == types["batch"]
    logged = predlog.read(log)
    assert logged["origin"].value_counts().to_dict() == {
        "batch": local_summary["rows_scored"],
        "spark": local_summary["rows_scored"],
    }
    by_origin = {
        origin: rows.drop(columns=[predlog.SCORED_AT, "origin"]).sort_values("lead_id")
        for origin, rows in logged.groupby("origin")
    }
    mine, theirs = (
        by_origin["batch"].reset_index(drop=True),
        by_origin["spark"].reset_index(drop=True),
    )
    for column in ("p_accept", "p_close", "score"):
        np.testing.assert_allclose(theirs[column], mine[column], rtol=0, atol=TOLERANCE)
    plain = [c for c in mine.columns if c not in ("p_accept", "p_close", "score", "reasons")]
    pd.testing.assert_frame_equal(theirs[plain], mine[plain], check_dtype=False)
    fields = [[r["field"] for r in predlog.reasons_of(v)] for v in mine["reasons"]]
    assert fields == [[r["field"] for r in predlog.reasons_of(v)] for v in theirs["reasons"]]


def test_spark_all_rejected_fails_like_leadmodel_score(
    trained, tmp_path: Path, spark_stopped_after: None
) -> None:
    """The reject rule of the single-machine job (batch.finish); reuses the session above."""
    rows = generate(50, seed=SEED).export
    rows["lead_id"] = ""
    data = write_table(rows, tmp_path / "leads.csv")
    out, rejects = tmp_path / "scores.parquet", tmp_path / "rejects.csv"
    args = ["score", "--engine", "spark", "--data", str(data), "--out", str(out)]
    args += ["--rejects", str(rejects), "--model", f"models:/{trained.model_name}/1", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    summary = json.loads(result.stdout)
    assert summary["ok"] is False and summary["out"] is None and summary["engine"] == "spark"
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, result.output
    assert "no lead scored: all 50 rows rejected (lead_id: missing 50)" in errors[0]
    assert not out.exists()
    assert len(_parts(rejects)) == 50
    assert not list(tmp_path.glob(".*.tmp"))
