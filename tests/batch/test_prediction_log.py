"""`leadmodel score` writes the prediction log; `history` and `score --previous` read it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from leadmodel import batch, history, i18n, predlog
from leadmodel.cli import app
from leadmodel.explain import reasons
from leadmodel.io import write_table
from leadmodel.synthetic import generate
from leadmodel.tracking import load_funnel

ROWS = 400
SEED = 17
#: Columns of the export the model does not read: never in the log.
PERSONAL = {"email": "jane.doe@example.com", "phone": "+44 20 7946 0000"}
LEAD = "L0000007"


@pytest.fixture(scope="module")
def model(trained) -> tuple[Any, dict[str, Any]]:
    return load_funnel(f"models:/{trained.model_name}/1")


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_nights(tmp_path_factory.mktemp("nights"))


def write_nights(folder: Path) -> dict[str, Path]:
    """Two nights of the same leads: the second changes LEAD's visits and adds new leads."""
    first = generate(ROWS, seed=SEED, messy=True).export.astype(object).assign(**PERSONAL)
    lead = first["lead_id"] == LEAD
    assert lead.sum() == 1
    first.loc[lead, ["website_visits", "pages_viewed"]] = ["10", "8"]
    new = generate(ROWS + 50, seed=SEED + 1).export.tail(50).astype(object)
    new["lead_id"] = [f"N{i:07d}" for i in range(50)]
    second = pd.concat([first.drop_duplicates("lead_id"), new.assign(**PERSONAL)])
    second.loc[second["lead_id"] == LEAD, ["website_visits", "pages_viewed"]] = ["2", "1"]
    return {
        "first": write_table(first, folder / "night1.csv"),
        "second": write_table(second, folder / "night2.csv"),
    }


def _logged(folder: Path) -> list[Path]:
    return sorted(folder.glob("date=*/*.parquet"))


def test_score_logs_every_scored_lead_and_nothing_else(model, exports, tmp_path: Path) -> None:
    funnel, _ = model
    log, out = tmp_path / "log", tmp_path / "scores.parquet"
    summary = batch.score_file(exports["first"], out, model=model, log=log, chunk_rows=150)
    assert summary.rows_rejected > 0  # the messy rows are not logged: they are not scored
    assert summary.log == log and summary.log_rows == summary.rows_scored
    files = _logged(log)
    assert len(files) == 1 and files[0].name.startswith("batch-")
    assert pq.read_schema(files[0]).remove_metadata() == predlog.log_schema(funnel)

    rows = predlog.read(log)
    scores = pd.read_parquet(out)
    assert len(rows) == summary.rows_scored == len(scores)
    columns = set(rows.columns) - {predlog.DATE}
    assert columns == set(predlog.BASE_COLUMNS) | set(predlog.input_fields(funnel))
    assert not columns & {*PERSONAL, "accepted", "closed"}  # no personal data, no outcomes
    assert set(rows["origin"]) == {"batch"} and set(rows["model_version"]) == {"1"}
    assert set(rows["model_name"]) == {summary.model_uri.split("/")[1]}
    assert rows[predlog.SCORED_AT].nunique() == 1  # the run's time

    merged = rows.merge(scores, on="lead_id", suffixes=("", "_out"))
    assert len(merged) == len(scores)
    for column in ("p_accept", "p_close", "score"):
        np.testing.assert_allclose(merged[column], merged[f"{column}_out"], rtol=0, atol=1e-12)
    assert (merged["tier"] == merged["tier_out"]).all()

    # the reasons the log keeps are those of --reasons 3, and the values are the inputs
    k = funnel.explain_settings.reasons
    why = batch.score_frame(funnel, _valid(exports["first"], rows["lead_id"]), reasons=k)
    by_id = rows.set_index("lead_id")
    for _, lead in why.head(50).iterrows():
        logged = predlog.reasons_of(by_id.at[lead["lead_id"], "reasons"])
        expected = [lead[f"reason_{j}_field"] for j in range(1, k + 1)]
        assert [r["field"] for r in logged] == [f for f in expected if isinstance(f, str)]
        assert logged[0]["points"] == pytest.approx(lead["reason_1_points"], abs=1e-9)
    assert by_id.at[LEAD, "website_visits"] == 10


def _valid(path: Path, ids: pd.Series) -> pd.DataFrame:
    """The export's canonical rows of the logged leads, in log order."""
    from leadmodel.ingest import read_leads

    valid = read_leads(path, max_reject_share=1.0).valid.set_index("lead_id", drop=False)
    return valid.loc[list(ids)].reset_index(drop=True)


def test_log_off_and_runs_that_write_no_scores_log_nothing(
    model, exports, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "log"
    monkeypatch.setenv(predlog.LOG_ENV, str(log))  # the default when --log is not given
    summary = batch.score_file(exports["first"], tmp_path / "a.csv", model=model, log="off")
    assert summary.log is None and summary.log_rows == 0 and not log.exists()

    def interrupt(rows: int, done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        batch.score_file(
            exports["first"], tmp_path / "b.csv", model=model, chunk_rows=100, progress=interrupt
        )
    assert list(log.iterdir()) == []  # no log file, no temporary file, no date folder

    bad = generate(20, seed=3).export
    bad.loc[:14, "website_visits"] = -1  # 15 of 20 rejected: above the limit
    data = write_table(bad, tmp_path / "bad.csv")
    with pytest.raises(batch.RejectLimitError) as caught:
        batch.score_file(data, tmp_path / "c.csv", model=model)
    assert caught.value.summary.out is not None  # the 5 scores are written, so logged
    assert len(predlog.read(log)) == caught.value.summary.log_rows == 5


def test_history_names_the_fields_that_moved_the_score(
    trained, model, exports, tmp_path: Path
) -> None:
    log = tmp_path / "log"
    for night in ("first", "second"):
        batch.score_file(exports[night], tmp_path / f"{night}.csv", model=model, log=log)
    scorings = history.lead_history(log, LEAD)
    assert len(scorings) == 2 and scorings[0].changes == []
    before, after = predlog.read(log, lead_ids=[LEAD]).to_dict("records")
    assert scorings[1].score_change == pytest.approx(after["score"] - before["score"])
    visits = next(c for c in scorings[1].changes if c.field == "website_visits")
    assert "website visits 10 -> 2" in visits.text()
    with i18n.using("da"):
        assert "besøg på hjemmesiden 10 -> 2" in visits.text()
    points = {
        side: {r["field"]: r["points"] for r in predlog.reasons_of(row["reasons"])}
        for side, row in (("before", before), ("after", after))
    }
    if visits.points is None:  # among neither scoring's reasons: the value change only
        assert "website_visits" not in points["before"] | points["after"]
        assert visits.text() == "website visits 10 -> 2"
    else:
        delta = points["after"].get("website_visits", 0) - points["before"].get("website_visits", 0)
        assert visits.points == pytest.approx(delta)
        assert visits.text().startswith(reasons.format_points(delta, 1) + ": website visits")
    assert any(c.field == "pages_viewed" for c in scorings[1].changes)

    runner = CliRunner()
    shown = runner.invoke(app, ["history", LEAD, "--log", str(log)])
    assert shown.exit_code == 0, shown.output
    assert f"Lead {LEAD}: scored 2 times" in shown.stdout
    assert visits.text() in shown.stdout
    as_json = json.loads(runner.invoke(app, ["history", LEAD, "--log", str(log), "--json"]).stdout)
    assert [s["score"] for s in as_json["scorings"]] == [before["score"], after["score"]]
    unknown = runner.invoke(app, ["history", "nobody", "--log", str(log)])
    assert unknown.exit_code == 1
    assert unknown.stderr.strip().splitlines() == [
        f"error: lead_id 'nobody': never scored in the prediction log {log}"
    ]


def test_previous_from_a_log_and_from_a_scores_file(trained, model, exports, tmp_path) -> None:
    log, first = tmp_path / "log", tmp_path / "first.parquet"
    batch.score_file(exports["first"], first, model=model, log=log, reasons=3)
    from_log = tmp_path / "from_log.csv"
    summary = batch.score_file(exports["second"], from_log, model=model, log=log, previous=log)
    got = pd.read_csv(from_log, dtype={"lead_id": str})
    assert list(got.columns[-2:]) == [history.SCORE_CHANGE, history.CHANGE_REASONS]
    old = pd.read_parquet(first).set_index("lead_id")["score"]
    seen = got["lead_id"].isin(old.index)
    assert summary.rows_with_previous == seen.sum() == summary.rows_scored - 50
    expected = got.loc[seen, "score"].to_numpy() - old.loc[got.loc[seen, "lead_id"]].to_numpy()
    np.testing.assert_allclose(got.loc[seen, history.SCORE_CHANGE], expected, atol=1e-9)
    assert got.loc[~seen, [history.SCORE_CHANGE, history.CHANGE_REASONS]].isna().all().all()
    lead = got.set_index("lead_id").loc[LEAD]
    lines = [c.text() for c in history.lead_history(log, LEAD)[-1].changes[:3]]
    assert lead[history.CHANGE_REASONS] == "; ".join(lines)

    # an earlier scores file (no log): the same score changes; values only from this run
    from_file = tmp_path / "from_file.parquet"
    args = ["score", "--data", str(exports["second"]), "--out", str(from_file), "--json"]
    args += ["--model", f"models:/{trained.model_name}/1", "--log", "off", "--previous"]
    result = CliRunner().invoke(app, [*args, str(first)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rows_with_previous"] == summary.rows_with_previous
    again = pd.read_parquet(from_file)
    np.testing.assert_allclose(again[history.SCORE_CHANGE], got[history.SCORE_CHANGE], atol=1e-9)
    texts = again.loc[seen.to_numpy(), history.CHANGE_REASONS]
    assert texts.notna().all() and not texts.str.contains("->").any()

    missing = CliRunner().invoke(app, [*args, str(tmp_path / "nope.csv")])
    assert (
        missing.exit_code == 2
        and "--previous" in missing.stderr
        and "Traceback" not in (missing.output)
    )


def test_a_log_write_that_fails_in_its_thread_fails_the_run(
    trained, exports, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The log is written beside the scoring: its error is the run's, and nothing is kept.

    Tests run as root, so no folder refuses a write; the disk fills instead, at the file
    writer, for the log's thread only (the scores are written by the run's own thread).
    """
    import errno
    import threading

    real_write = pq.ParquetWriter.write_table
    calls: list[str] = []

    def disk_full_on_second_log_chunk(self: Any, table: Any, *args: Any, **kwargs: Any) -> None:
        name = threading.current_thread().name
        calls.append(name)
        if name.startswith("prediction-log") and calls.count(name) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(self, table, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetWriter, "write_table", disk_full_on_second_log_chunk)
    log, out = tmp_path / "log", tmp_path / "scores.parquet"
    args = ["score", "--data", str(exports["first"]), "--out", str(out), "--log", str(log)]
    args += ["--model", f"models:/{trained.model_name}/1", "--chunk-rows", "100"]
    result = CliRunner().invoke(app, args)

    log_threads = {name for name in calls if name.startswith("prediction-log")}
    assert len(log_threads) == 1 and calls.count(log_threads.pop()) == 2  # stopped there
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.strip().splitlines() == [
        f"error: prediction log {log}: cannot write this run's rows "
        "([Errno 28] No space left on device); no scores written, nothing logged"
    ]
    assert list(log.iterdir()) == []  # no log file, no temporary file, no date folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log"]  # no scores file either


@pytest.mark.parametrize("lang", ["en", "da"])
def test_change_lines_round_points_as_the_reasons_do(lang: str) -> None:
    """A score-change line and a reason show the same number of points for the same value,
    also where Python's ``round`` and numpy's differ (4.35 at one decimal: 4.3 vs 4.4)."""
    values = np.array([4.35, -4.35, 0.25, -0.04, 1.0, -1.0, 12.25, 1234.55])
    with i18n.using(lang):
        reason_texts = reasons._format_points(values, 1).tolist()
        lines = [
            history.FieldChange("website_visits", float(v), before=10, after=2).text()
            for v in values
        ]
    for value, reason, line in zip(values, reason_texts, lines, strict=True):
        assert line.startswith(f"{reason}: "), (value, reason, line)
    assert reason_texts[0] == ("+4,4 point" if lang == "da" else "+4.4 points")  # numpy's round
