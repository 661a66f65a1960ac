"""Batch scoring: counts, parity with the library, chunk boundaries, no half files, the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from leadmodel import batch, explain, i18n, ingest
from leadmodel.cli import app
from leadmodel.io import write_table
from leadmodel.synthetic import generate
from leadmodel.tracking import load_funnel
from tests.conftest import REPO_ROOT

MESSY_ROWS = 3_000
MESSY_SEED = 11
#: Small enough that the messy export spans many chunks (and duplicates cross them).
SMALL_CHUNK = 250
K = 3
TOLERANCE = 1e-12


@pytest.fixture(autouse=True)
def _no_prediction_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about the scores; the log has its own (test_prediction_log.py).

    Its reasons cost TreeSHAP on every chunk, which took this module from 45 s to 105 s.
    """
    from leadmodel import predlog

    monkeypatch.setenv(predlog.LOG_ENV, predlog.OFF)


@pytest.fixture(scope="module")
def model(trained) -> tuple[Any, dict[str, Any]]:
    """The session's trained model, loaded once as the batch job loads it."""
    return load_funnel(f"models:/{trained.model_name}/1")


@pytest.fixture(scope="module")
def messy(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A messy synthetic export as CSV and Parquet, with the bad rows it injected."""
    folder = tmp_path_factory.mktemp("messy")
    data = generate(MESSY_ROWS, seed=MESSY_SEED, messy=True)
    return {
        "csv": write_table(data.export, folder / "leads.csv"),
        "parquet": write_table(data.export, folder / "leads.parquet"),
        "injected": data.injected,
        "rows": len(data.export),
    }


def _read(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype={"lead_id": str, "model_version": str})
    return pd.read_parquet(path)


def _read_text(path: Path) -> pd.DataFrame:
    """A rejects file exactly as written: every value as text."""
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    return pd.read_parquet(path).astype(str)


def _clean_rows(n: int, seed: int = 1) -> pd.DataFrame:
    """A few valid synthetic leads as text, to edit into bad ones."""
    return generate(n, seed=seed).export.astype(object).astype(str).replace({"<NA>": ""})


def test_counts_add_up_on_a_messy_export(model, messy, tmp_path: Path) -> None:
    out, rejects = tmp_path / "scores.csv", tmp_path / "rejects.csv"
    summary = batch.score_file(messy["csv"], out, model=model, rejects=rejects)
    assert summary.rows_in == messy["rows"]
    assert summary.rows_scored + summary.rows_rejected == summary.rows_in
    assert summary.rows_rejected == sum(messy["injected"].values())  # each on its own row
    assert summary.reasons[batch.DUPLICATE_REASON] == messy["injected"]["duplicate_lead_id"]
    assert len(_read(out)) == summary.rows_scored
    rejected = _read_text(rejects)
    assert len(rejected) == summary.rows_rejected
    assert (rejected[ingest.REJECT_REASON] != "").all()
    assert summary.model_version == "1"


def test_same_numbers_as_predict_reasons_frame_and_the_service(model, messy, tmp_path) -> None:
    funnel, _ = model
    out = tmp_path / "scores.parquet"
    batch.score_file(messy["parquet"], out, model=model, reasons=K)
    got = _read(out)
    valid = ingest.read_leads(messy["parquet"]).valid
    expected = funnel.predict(valid)
    why = explain.reasons_frame(funnel, valid, k=K)
    assert list(got.columns) == batch.output_schema(funnel, K).names
    assert (got["lead_id"] == expected["lead_id"]).all()
    for column in funnel.output_columns:
        if column == "tier":
            assert (got[column] == expected[column]).all()
        else:
            np.testing.assert_allclose(got[column], expected[column], rtol=0, atol=TOLERANCE)
    pd.testing.assert_frame_equal(got[why.columns], why, check_dtype=False)
    assert (got[batch.MODEL_VERSION] == "1").all()
    # the service answers through explain_leads: same score and the same reason texts
    leads = explain.explain_leads(funnel, valid.head(50), k=K)
    for lead, (_, row) in zip(leads, got.head(50).iterrows(), strict=True):
        assert lead["score"] == pytest.approx(row["score"], abs=TOLERANCE)
        texts = explain.REASON_SEPARATOR.join(r["text"] for r in lead["reasons"])
        assert texts == row[batch.REASONS_TEXT]


@pytest.mark.parametrize(
    "source,out_name,rejects_name",
    [("csv", "scores.parquet", "rejects.csv"), ("parquet", "scores.csv", "rejects.parquet")],
)
def test_small_chunks_match_the_whole_file(
    model, messy, tmp_path: Path, source: str, out_name: str, rejects_name: str
) -> None:
    """Duplicates across chunk boundaries, row numbers and reasons as ingest gives them."""
    out, rejects = tmp_path / out_name, tmp_path / rejects_name
    summary = batch.score_file(
        messy[source], out, model=model, rejects=rejects, chunk_rows=SMALL_CHUNK
    )
    whole = ingest.read_leads(messy[source])
    assert summary.rows_rejected == whole.rows_rejected
    assert summary.reasons == dict(sorted(whole.reasons.items(), key=lambda kv: -kv[1]))
    expected = model[0].predict(whole.valid)
    got = _read(out)
    assert list(got["lead_id"]) == list(expected["lead_id"])
    np.testing.assert_allclose(got["score"], expected["score"], rtol=0, atol=TOLERANCE)
    want = whole.rejects.astype(str).reset_index(drop=True)
    pd.testing.assert_frame_equal(_read_text(rejects), want, check_dtype=False)


def test_row_number_ids_count_on_across_chunks(model, tmp_path: Path) -> None:
    rows = _clean_rows(9).drop(columns=["lead_id"])
    data = tmp_path / "no_ids.csv"
    rows.to_csv(data, index=False)
    out = tmp_path / "scores.csv"
    mapping = ingest.Mapping(row_number=["lead_id"])
    summary = batch.score_file(data, out, model=model, mapping=mapping, chunk_rows=2)
    assert summary.rows_scored == 9
    assert list(_read_text(out)["lead_id"]) == [str(i) for i in range(1, 10)]


def test_duplicate_ids_across_chunks_keep_the_first_row(model, tmp_path: Path) -> None:
    rows = _clean_rows(8)
    rows.loc[4, "lead_id"] = rows.loc[1, "lead_id"]  # row 5 repeats row 2 (another chunk)
    rows.loc[6, "lead_id"] = f" {rows.loc[1, 'lead_id']} "  # row 7: the same id, padded ...
    rows.loc[6, "website_visits"] = "-3"  # ... and a bad value: both reasons, in field order
    data = tmp_path / "leads.csv"
    rows.to_csv(data, index=False)
    out, rejects = tmp_path / "scores.csv", tmp_path / "rejects.csv"
    summary = batch.score_file(data, out, model=model, rejects=rejects, chunk_rows=2)
    assert (summary.rows_scored, summary.rows_rejected) == (6, 2)
    assert rows.loc[1, "lead_id"] in set(_read(out)["lead_id"])  # the first row is scored
    rejected = _read_text(rejects)
    assert list(rejected[ingest.REJECT_ROW]) == ["5", "7"]
    first_id = rows.loc[1, "lead_id"]
    assert rejected.loc[0, ingest.REJECT_REASON] == (
        f"lead_id: duplicate of row 2 (got '{first_id}')"
    )
    reason = rejected.loc[1, ingest.REJECT_REASON]
    assert reason.startswith(f"lead_id: duplicate of row 2 (got ' {first_id} '); website_visits")
    assert summary.reasons[batch.DUPLICATE_REASON] == 2
    # the same in Danish: the file's first row is found in the translated reason too
    with i18n.using("da"):
        dansk = tmp_path / "afviste.csv"
        batch.score_file(data, tmp_path / "scores.csv", model=model, rejects=dansk, chunk_rows=2)
        prefix = ingest.duplicate_prefix()
    assert "duplicate" not in prefix
    assert list(_read_text(dansk)[ingest.REJECT_REASON].str.startswith(f"{prefix}2 ")) == [
        True,
        True,
    ]


def test_seen_ids_find_first_rows_like_pandas() -> None:
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 3_000, size=10_000).astype(str).astype(object)
    ids[rng.random(len(ids)) < 0.01] = None
    seen = batch.SeenIds()
    got = np.concatenate(
        [
            seen.first_rows(ids[i : i + 37], np.arange(i + 1, min(i + 37, len(ids)) + 1))
            for i in range(0, len(ids), 37)
        ]
    )
    frame = pd.DataFrame({"id": ids, "row": np.arange(1, len(ids) + 1)})
    want = frame.groupby("id")["row"].transform("min").fillna(frame["row"]).to_numpy()
    np.testing.assert_array_equal(got, want)
    assert len(seen.runs) <= int(np.log2(len(ids))) + 1  # runs merge as they grow


def _only(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError])
def test_an_interrupted_run_leaves_no_file(model, messy, tmp_path: Path, error: type) -> None:
    out = tmp_path / "scores.parquet"
    out.write_text("yesterday's scores")  # an older output stays as it was
    rejects = tmp_path / "rejects.csv"
    calls: list[int] = []

    def stop_after_two_chunks(rows: int, done: int, total: int) -> None:
        calls.append(rows)
        if len(calls) == 2:
            raise error("stopped")

    with pytest.raises(error):
        batch.score_file(
            messy["csv"],
            out,
            model=model,
            rejects=rejects,
            chunk_rows=SMALL_CHUNK,
            progress=stop_after_two_chunks,
        )
    assert calls == [SMALL_CHUNK, 2 * SMALL_CHUNK]
    assert _only(tmp_path) == {"scores.parquet"}  # no temporary files, no rejects
    assert out.read_text() == "yesterday's scores"


def test_a_malformed_row_late_in_the_file_leaves_no_file(model, tmp_path: Path) -> None:
    """The reader fails after chunks were already written: nothing under the final name."""
    data = tmp_path / "leads.csv"
    rows = generate(16_000, seed=5).export  # more than one parser block
    write_table(rows, data)
    assert data.stat().st_size > batch.CSV_BLOCK_BYTES
    with data.open("a") as fh:
        fh.write("L-bad,2025-01-01,email,one,too,many,columns\n")
    out = tmp_path / "scores.csv"
    with pytest.raises(ingest.IngestError, match="malformed CSV"):
        batch.score_file(data, out, model=model, chunk_rows=5_000)
    assert _only(tmp_path) == {"leads.csv"}


def test_progress_reports_rows_and_reaches_the_total(model, messy, tmp_path: Path) -> None:
    for source in ("csv", "parquet"):
        seen: list[tuple[int, int, int]] = []
        batch.score_file(
            messy[source],
            tmp_path / f"{source}.parquet",
            model=model,
            chunk_rows=1_000,
            progress=lambda *a, seen=seen: seen.append(a),
        )
        rows = [r for r, _, _ in seen]
        assert rows == [1_000, 2_000, 3_000]
        done, total = seen[-1][1], seen[-1][2]
        size = messy[source].stat().st_size if source == "csv" else messy["rows"]
        assert total == size and done == total


# --- the command -------------------------------------------------------------------------


def test_cli_scores_with_reasons_and_prints_json(trained, messy, tmp_path: Path) -> None:
    out, rejects = tmp_path / "scores.csv", tmp_path / "rejects.csv"
    uri = f"models:/{trained.model_name}/1"
    args = ["score", "--data", str(messy["csv"]), "--out", str(out), "--model", uri]
    result = CliRunner().invoke(app, [*args, "--reasons", "2", "--rejects", str(rejects), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rows_scored"] + summary["rows_rejected"] == summary["rows_in"] == messy["rows"]
    assert summary["rows_per_second"] > 0
    got = _read(out)
    assert {"reason_1_field", "reason_2_points", "reasons"} <= set(got.columns)
    assert "reason_3_field" not in got.columns
    human = CliRunner().invoke(app, args)
    assert human.exit_code == 0, human.output
    assert "Scored" in human.stdout and "add --rejects PATH" in human.stdout


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--data", "{tmp}/nope.csv", "--out", "{tmp}/s.csv"], "nope.csv: file not found"),
        (["--data", "{data}", "--out", "{tmp}/s.xlsx"], "unknown table extension '.xlsx'"),
        (["--data", "{data}", "--out", "{tmp}/no/s.csv"], "does not exist"),
        (["--data", "{data}", "--out", "{data}"], "would overwrite the input"),
        (["--data", "{data}", "--out", "{tmp}/s.csv", "--model", "models:/nope/1"], "no model"),
        (["--data", "{data}", "--out", "{tmp}/s.csv", "--mapping", "{tmp}/m.yaml"], "m.yaml"),
        (["--data", "{data}", "--out", "{tmp}/s.csv", "--reasons", "-1"], "--reasons"),
        (["--data", "{data}", "--out", "{tmp}/s.csv", "--engine", "dask"], "--engine"),
        (["--data", "{tmp}/header.csv", "--out", "{tmp}/s.csv"], "no data rows"),
        (["--data", "{tmp}/nosource.csv", "--out", "{tmp}/s.csv"], "'source'"),
        (["--data", "{data}", "--out", "{tmp}/s.csv", "--master", "local[1]"], "--master"),
        (["--data", "{tmp}/nope.csv", "--out", "{tmp}/s.csv", "--engine", "spark"], "nope.csv"),
    ],
)
def test_cli_bad_input_gives_one_clear_line(
    trained, messy, tmp_path: Path, args: list[str], needle: str
) -> None:
    (tmp_path / "header.csv").write_text("lead_id,created_at,source\n")
    _clean_rows(3).drop(columns="source").to_csv(tmp_path / "nosource.csv", index=False)
    (tmp_path / "m.yaml").write_text("renames: {a: b}\n")
    filled = [a.format(tmp=tmp_path, data=messy["csv"]) for a in args]
    if "--model" not in filled:
        filled += ["--model", f"models:/{trained.model_name}/1"]
    result = CliRunner().invoke(app, ["score", *filled])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if "error:" in line]
    assert len(errors) == 1 and needle in errors[0], result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "s.csv").exists()


# --- a run that scores nothing, or too little, fails (issue 15) ---------------------------

MAX_REJECTS_ROWS = 10


def _bad_rows(n: int, bad: int) -> pd.DataFrame:
    """``n`` valid leads of which the first ``bad`` lose their lead_id."""
    rows = _clean_rows(n, seed=4)
    rows.loc[: bad - 1, "lead_id"] = ""
    return rows


def _errors(result: Any) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


@pytest.mark.parametrize("as_json", [False, True])
def test_cli_all_rejected_fails_and_writes_no_scores(
    trained, tmp_path: Path, as_json: bool
) -> None:
    data = tmp_path / "leads.csv"
    _bad_rows(120, 120).to_csv(data, index=False)
    out, rejects = tmp_path / "scores.csv", tmp_path / "rejects.csv"
    args = ["score", "--data", str(data), "--out", str(out), "--rejects", str(rejects)]
    args += ["--model", f"models:/{trained.model_name}/1"] + (["--json"] if as_json else [])
    before = signal.getsignal(signal.SIGTERM)
    result = CliRunner().invoke(app, args)
    assert signal.getsignal(signal.SIGTERM) == before  # the command's handler is gone
    assert result.exit_code == 1, result.output
    errors = _errors(result)
    assert len(errors) == 1, result.output
    assert "no lead scored: all 120 rows rejected (lead_id: missing 120)" in errors[0]
    assert str(rejects) in errors[0] and "Traceback" not in result.output
    assert not out.exists()  # no header-only file that looks like a night with no leads
    assert len(_read_text(rejects)) == 120  # why, row by row
    assert _only(tmp_path) == {"leads.csv", "rejects.csv"}
    if as_json:
        summary = json.loads(result.stdout)
        assert summary["ok"] is False and summary["error"] in errors[0]
        assert summary["out"] is None and summary["rows_scored"] == 0
        assert summary["rows_rejected"] == summary["rows_in"] == 120
    else:
        assert "Scores not written" in result.stdout


@pytest.mark.parametrize(
    "options,mapping_limit,code",
    [
        (["--max-reject-share", "0.3"], None, 1),  # 40 % rejected: above the limit
        (["--max-reject-share", "0.5"], 0.3, 0),  # the option wins over the mapping
    ],
)
def test_cli_reject_share_limit(
    trained, tmp_path: Path, options: list[str], mapping_limit: float | None, code: int
) -> None:
    data = tmp_path / "leads.csv"
    _bad_rows(MAX_REJECTS_ROWS, 4).to_csv(data, index=False)
    out, rejects = tmp_path / "scores.csv", tmp_path / "rejects.csv"
    args = ["score", "--data", str(data), "--out", str(out), "--rejects", str(rejects), "--json"]
    args += ["--model", f"models:/{trained.model_name}/1", *options]
    if mapping_limit is not None:
        (tmp_path / "m.yaml").write_text(f"max_reject_share: {mapping_limit}\n")
        args += ["--mapping", str(tmp_path / "m.yaml")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == code, result.output
    summary = json.loads(result.stdout)
    assert summary["ok"] is (code == 0)
    assert (summary["rows_scored"], summary["rows_rejected"]) == (6, 4)
    # scores and rejects are written either way: nothing the user gave is lost
    assert len(_read(out)) == 6 and len(_read_text(rejects)) == 4
    errors = _errors(result)
    if code:
        assert len(errors) == 1, result.output
        assert "4 of 10 rows rejected (40.0%), more than the limit of 30%" in errors[0]
        assert "lead_id: missing 4" in errors[0] and summary["error"] in errors[0]
    else:
        assert errors == [] and summary["error"] is None


@pytest.mark.parametrize(
    "limit,mapping_limit,fails",
    [
        (0.4, None, False),  # at the limit passes, as in validate
        (None, None, False),  # default: ingest.DEFAULT_MAX_REJECT_SHARE (50 %)
        (None, 0.3, True),  # the mapping's limit
        (0.0, None, True),  # no reject at all allowed
    ],
)
def test_reject_limit_like_validate(
    model, tmp_path: Path, limit: float | None, mapping_limit: float | None, fails: bool
) -> None:
    data = tmp_path / "leads.csv"
    _bad_rows(MAX_REJECTS_ROWS, 4).to_csv(data, index=False)
    out = tmp_path / "scores.csv"
    mapping = ingest.Mapping(max_reject_share=mapping_limit)
    kwargs = {"model": model, "mapping": mapping, "max_reject_share": limit}
    if fails:
        with pytest.raises(batch.RejectLimitError, match="4 of 10 rows rejected") as caught:
            batch.score_file(data, out, **kwargs)
        summary = caught.value.summary
    else:
        summary = batch.score_file(data, out, **kwargs)
    assert summary.ok is not fails and len(_read(out)) == summary.rows_scored == 6
    assert summary.max_reject_share == (limit if limit is not None else mapping_limit or 0.5)


def test_library_raises_with_the_summary(model, tmp_path: Path) -> None:
    data = tmp_path / "leads.parquet"
    write_table(_bad_rows(5, 5), data)
    with pytest.raises(batch.RejectLimitError, match="no lead scored") as caught:
        batch.score_file(data, tmp_path / "scores.parquet", model=model)
    assert caught.value.summary.out is None and not caught.value.summary.ok
    assert "add --rejects PATH" in str(caught.value)
    assert _only(tmp_path) == {"leads.parquet"}


# --- SIGTERM is handled like Ctrl-C --------------------------------------------------------

#: Enough leads, in small enough chunks, to be still scoring when SIGTERM arrives.
SIGTERM_ROWS = 40_000
SIGTERM_CHUNK = 500


def test_sigterm_leaves_no_temporary_file(trained, tmp_path: Path) -> None:
    data = write_table(generate(SIGTERM_ROWS, seed=9).export, tmp_path / "leads.csv")
    folder = tmp_path / "out"
    folder.mkdir()
    out, rejects = folder / "scores.csv", folder / "rejects.csv"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT / "src"), *filter(None, [env.get("PYTHONPATH")])]
    )
    command = [sys.executable, "-c", "from leadmodel.cli import app; app()", "score"]
    command += ["--data", str(data), "--out", str(out), "--rejects", str(rejects)]
    command += ["--model", f"models:/{trained.model_name}/1"]
    command += ["--chunk-rows", str(SIGTERM_CHUNK)]
    proc = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while not list(folder.glob(".*.tmp")):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no temporary file appeared"
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, (proc.returncode, stderr)
    errors = [line for line in stderr.splitlines() if "error:" in line]  # not MLflow's noise
    assert len(errors) == 1 and "interrupted (SIGTERM): nothing written" in errors[0], stderr
    assert "Traceback" not in stderr
    assert list(folder.iterdir()) == []  # no scores, no rejects, no hidden .tmp files
