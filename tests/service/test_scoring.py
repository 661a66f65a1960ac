"""The work of a ``/score`` call, in the worker and in the scoring process (no HTTP here).

The scoring process must answer byte for byte what the worker would, fail a call with the
exception's type and stack only, and be replaced when it dies; the fast body writer must
write what the response model writes.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from service.api import ModelRef, ScoreResponse
from service.model_process import ModelProcess, ModelProcessError, ModelProcessGone
from service.scoring import (
    answer_bodies,
    field_warnings,
    response_body,
    score_body,
    score_requests,
)

from leadmodel import explain, ingest, schema, tracking
from leadmodel.synthetic import generate
from service import model_process
from tests.conftest import Trained
from tests.service.test_service import records

MESSY_ROWS = 400
MESSY_SEED = 11
RESTART_WAIT_S = 120
EXIT_WAIT_S = 20


@pytest.fixture(scope="module")
def model(trained: Trained) -> Any:
    funnel, _ = tracking.load_funnel(trained.result.model_uri)
    return funnel


@pytest.fixture(scope="module")
def ref() -> ModelRef:
    return ModelRef(name="lead-scorer", version="7", uri="models:/lead-scorer/7")


@pytest.fixture(scope="module")
def leads(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """Valid messy leads as the service receives them, with unknown and extra values."""
    path = tmp_path_factory.mktemp("scoring") / "messy.csv"
    generate(MESSY_ROWS, seed=MESSY_SEED, messy=True).export.to_csv(path, index=False)
    frame = ingest.read_leads(path).valid
    frame = frame.drop(columns=[c for c in schema.LABEL_COLUMNS if c in frame])
    out = records(frame.drop_duplicates(schema.LEAD_ID).reset_index(drop=True))
    out[0][schema.SOURCE] = "carrier pigeon"  # unknown: scored as unknown, warned
    out[1]["favourite_colour"] = "teal"  # a field the model does not read
    return out


@pytest.fixture
def process(model: Any, ref: ModelRef) -> Iterator[ModelProcess]:
    child = ModelProcess(model, ref)
    child.start()
    yield child
    child.stop()


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


@pytest.mark.parametrize("k", [0, 1, 3, 20])
def test_fast_body_is_what_the_response_model_writes(
    model: Any, ref: ModelRef, leads: list[dict[str, Any]], k: int
) -> None:
    keys = [schema.LEAD_ID, *model.output_columns, "reasons"]
    explained = explain.explain_leads(model, leads, k=k, signed=False)
    scored = [{key: lead[key] for key in keys} for lead in explained]
    warnings = field_warnings(leads, model)
    assert {w.field for w in warnings} >= {schema.SOURCE, "favourite_colour"}
    content = {"model": ref, "leads": scored, "warnings": warnings}
    expected = response_body(ScoreResponse, content)
    assert score_body(ref, scored, warnings) == expected
    ScoreResponse.model_validate_json(expected)


def test_joined_requests_get_what_each_gets_alone(
    model: Any, ref: ModelRef, leads: list[dict[str, Any]]
) -> None:
    calls = [(leads[:1], 3), (leads[1:4], 1), (leads[4:9], 5), (leads[9:10], 0)]
    alone = [score_requests(model, ref, [call])[0] for call in calls]
    assert score_requests(model, ref, calls) == alone


def body(leads: list[dict[str, Any]], k: int = 3) -> bytes:
    return json.dumps({"leads": leads, "k": k}).encode()


def test_answers_to_raw_bodies(model: Any, ref: ModelRef, leads: list[dict[str, Any]]) -> None:
    """Read as the route reads them; plain requests joined, others alone, bad ones named."""
    frame_only = dict(leads[5], lead_id="frame-only", extra_flag=True)  # a bool: pandas reads it
    bodies = [
        body(leads[:1]),
        body(leads[1:4], k=1),
        b'{"leads": [{"lead_id": "a"}',  # malformed
        body([{"lead_id": "a", "website_visits": -1}]),  # invalid
        body([leads[0], leads[0]]),  # duplicate ids: refused after reading
        body([frame_only]),
    ]
    answers = answer_bodies(model, ref, bodies)
    assert [status for status, _ in answers] == ["ok", "ok", "invalid", "invalid", "refused", "ok"]
    assert answers[0][1] == score_requests(model, ref, [(leads[:1], 3)])[0]
    assert answers[1][1] == score_requests(model, ref, [(leads[1:4], 1)])[0]
    assert answers[4][1][0].loc == "leads[1].lead_id"
    assert json.loads(answers[5][1])["leads"][0]["lead_id"] == "frame-only"


def test_the_scoring_process_answers_what_the_worker_computes(
    process: ModelProcess, model: Any, ref: ModelRef, leads: list[dict[str, Any]]
) -> None:
    batches = [
        [body(leads[:1])],
        [body(leads[1:3]), body(leads[3:4], k=1), body(leads[4:12], k=20), b"{"],
        [body(leads)],
    ]

    async def answer_all() -> list[list[Any]]:
        return [await process(bodies) for bodies in batches]

    assert process.running and process.pid != os.getpid()
    for bodies, answers in zip(batches, run(answer_all()), strict=True):
        assert answers == answer_bodies(model, ref, bodies)


def test_concurrent_calls_are_answered_in_order(
    process: ModelProcess, model: Any, ref: ModelRef, leads: list[dict[str, Any]]
) -> None:
    calls = [[body(leads[i : i + 1])] for i in range(20)]

    async def answer_all() -> list[list[Any]]:
        return await asyncio.gather(*(process(c) for c in calls))

    assert run(answer_all()) == [answer_bodies(model, ref, c) for c in calls]


def test_a_failed_call_reports_its_type_and_stack_but_no_values(
    process: ModelProcess, leads: list[dict[str, Any]], model: Any, ref: ModelRef
) -> None:
    """Exception messages may quote lead values: only the type and the stack come back."""
    with pytest.raises(ModelProcessError) as raised:
        run(process(4711))  # type: ignore[arg-type]  # not a list of bodies
    assert str(raised.value) == "TypeError in the scoring process"  # not "... 'int' ..."
    assert "answer_bodies" in raised.value.frames and "4711" not in raised.value.frames
    # the process keeps serving
    assert run(process([body(leads[:1])])) == answer_bodies(model, ref, [body(leads[:1])])


def test_a_process_that_dies_fails_its_calls_and_is_started_again(
    process: ModelProcess,
    model: Any,
    ref: ModelRef,
    leads: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = process.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)

    async def after_kill() -> None:
        with pytest.raises(ModelProcessGone):
            await process([body(leads[:1])])

    run(after_kill())
    assert not process.running
    with pytest.raises(ModelProcessGone):
        run(process([body(leads[:1])]))

    monkeypatch.setattr(model_process, "RESTART_INTERVAL_S", 0)
    process.restart_later()
    deadline = time.monotonic() + RESTART_WAIT_S
    while not process.running and time.monotonic() < deadline:
        time.sleep(0.2)
    assert process.running and process.pid != first
    assert run(process([body(leads[:2])])) == answer_bodies(model, ref, [body(leads[:2])])


def test_the_process_exits_when_the_worker_closes_its_pipe(process: ModelProcess) -> None:
    child = process._child
    assert child is not None and process._down is not None
    process._down.close()  # what the worker's exit does, whatever killed it
    assert child.wait(timeout=EXIT_WAIT_S) == 0


def test_a_model_that_cannot_load_is_reported_at_start(ref: ModelRef) -> None:
    broken = ModelProcess(pd.DataFrame({"not": ["a model"]}), ref)  # type: ignore[arg-type]
    with pytest.raises(ModelProcessGone, match="could not load the model"):
        broken.start()
    assert not broken.running


@pytest.mark.parametrize(
    ("value", "expected"), [("on", True), ("1", True), ("off", False), ("false", False)]
)
def test_scoring_process_setting(value: str, expected: bool) -> None:
    assert model_process.wanted(value) is expected


def test_scoring_process_setting_auto_and_invalid() -> None:
    assert model_process.wanted("auto") is (len(os.sched_getaffinity(0)) > 1)
    with pytest.raises(ValueError, match="LEADMODEL_SCORING_PROCESS='sometimes'"):
        model_process.wanted("sometimes")


@pytest.mark.parametrize(
    ("sizes", "expected"),
    [
        ([1, 1, 1], 3),  # small calls stay with the process
        ([400], 1),  # one request: nothing to share
        ([400, 400], 1),
        ([120, 1, 1, 120], 2),  # the process takes about half the bytes, first requests
        ([40, 40, 40, 40], 2),
        ([360, 20, 20], 1),
        ([4, 4, 200], 2),
    ],
)
def test_worker_share(sizes: list[int], expected: int) -> None:
    from service.service import worker_share

    kib = 1024
    assert worker_share([b"x" * (size * kib) for size in sizes]) == expected
