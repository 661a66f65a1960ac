"""The service's log rows without a server: what ``/score`` and ``/explain`` answered, at
the time each answer was made; a failure to build rows is counted and the writer goes on."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from leadmodel import explain, predlog
from leadmodel.serving.api import ExplainRequest, ScoreRequest
from leadmodel.serving.scorelog import ServiceLog
from leadmodel.serving.scoring import Scorer
from tests.conftest import Trained


@pytest.fixture(scope="module")
def scorer(trained: Trained) -> Scorer:
    return Scorer.load(trained.result.model_uri)


def leads(prefix: str, n: int) -> list[dict[str, Any]]:
    return [
        {"lead_id": f"{prefix}{i}", "source": "organic_search", "website_visits": i}
        for i in range(n)
    ]


def test_rows_carry_what_each_answer_carried(scorer: Scorer, tmp_path: Path) -> None:
    log = ServiceLog(tmp_path, flush_seconds=60)  # written by close() alone here
    answers = []
    for k in (1, 3):
        request = ScoreRequest.model_validate({"leads": leads(f"k{k}-", 2), "k": k})
        answers.append((k, scorer.score(request, log)))
    scorer.explain(ExplainRequest.model_validate({"leads": leads("e-", 1)}), log)
    log.close()

    rows = predlog.read(tmp_path).set_index("lead_id")
    assert sorted(rows.index) == ["e-0", "k1-0", "k1-1", "k3-0", "k3-1"]
    assert (rows["origin"] == "service").all()
    assert (rows["model_version"] == (scorer.ref.version or "")).all()
    for k, body in answers:
        for lead in json.loads(body)["leads"]:
            row = rows.loc[lead["lead_id"]]
            assert len(row["reasons"]) == len(lead["reasons"]) <= k
            assert [r["field"] for r in row["reasons"]] == [r["field"] for r in lead["reasons"]]
            np.testing.assert_allclose(row["score"], lead["score"], atol=1e-12)
    # /explain's rows: the reasons /score gives by default (the model's reasons setting)
    expected = explain.reasons_frame(scorer.model, leads("e-", 1)).iloc[0]
    fields = [
        expected[f"reason_{j}_field"] for j in range(1, 10) if f"reason_{j}_field" in expected
    ]
    assert [r["field"] for r in rows.loc["e-0", "reasons"]] == [f for f in fields if f]
    assert len(rows.loc["e-0", "reasons"]) > 0
    # each answer keeps its own time, in the order answered
    assert rows.loc["k1-0", "scored_at"] < rows.loc["k3-0", "scored_at"]
    assert rows.loc["k3-0", "scored_at"] < rows.loc["e-0", "scored_at"]


def test_rows_of_one_write_go_to_the_date_each_was_scored(scorer: Scorer, tmp_path: Path) -> None:
    table = predlog.log_table(
        scorer.model,
        pd.DataFrame(leads("d", 2)),
        pd.DataFrame({"lead_id": ["d0", "d1"], "p_close": 0.1, "score": 10.0, "tier": "D"}),
        model_name="m",
        model_version="1",
        origin="service",
        scored_at=["2026-11-30T23:59:59.5", "2026-12-01T00:00:00.25Z"],
    )
    predlog.PredictionLog(tmp_path).write(table)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["date=2026-11-30", "date=2026-12-01"]
    with pytest.raises(ValueError, match="scored_at: 1 times for 2 rows"):
        predlog.log_table(
            scorer.model,
            pd.DataFrame(leads("d", 2)),
            pd.DataFrame({"lead_id": ["d0", "d1"], "p_close": 0.1, "score": 1.0, "tier": "D"}),
            model_name="m",
            model_version="1",
            origin="service",
            scored_at=["2026-12-01"],
        )


def test_a_failing_build_is_counted_and_the_writer_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def build(items: list[Any]) -> list[Any]:
        raise KeyError("a value that must not reach the log line")

    background = predlog.BackgroundLog(predlog.PredictionLog(tmp_path), 60, build=build)
    background.add("one request")
    with caplog.at_level(logging.ERROR, logger="leadmodel.predlog"):
        assert background.flush() == 0
    background.close()
    assert background.errors == 1 and background.rows_written == 0
    assert [r.getMessage() for r in caplog.records] == [
        "prediction log: 1 requests not logged (KeyError building the rows)"
    ]
