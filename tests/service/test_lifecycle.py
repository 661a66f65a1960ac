"""The running service over its life: hot reload under load, a normal shutdown, a crash.

Two real servers (``leadmodel serve`` on an alias of their own, each logging to a folder
of its own), started at once. The first polls the registry every :data:`RELOAD_S`: the
alias moves under load (no failed request, later answers carry the new version), then
SIGTERM stops it (every answered lead is in the log, once, with the version and reasons
it was answered with). The second is killed with SIGKILL, server and worker, while it
answers, on two workers (only answers of the last flush interval may be missing from
the log). Each test
also holds when run alone.
"""

from __future__ import annotations

import itertools
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from leadmodel import predlog, tracking
from tests.conftest import Trained, free_port
from tests.service.conftest import (
    kill_tree,
    launch,
    leadmodel_bin,
    register_copies,
    service_env,
    stop,
    wait_ready,
)

pytestmark = [pytest.mark.server, pytest.mark.slow]

MODEL_NAME = "lead-scorer-lifecycle"
#: The service's settings in this test: the default flush interval, fast polling.
FLUSH_S = 1.0
RELOAD_S = 0.5
#: How long traffic runs before and after an event (an alias move, a kill).
TRAFFIC_S = 1.5
#: Time to see the moved alias served: polls, the load and the start check.
SWAP_TIMEOUT_S = 60
#: Beyond one flush interval, what a write in progress at the crash may take.
WRITE_SLACK_S = 0.5
SHUTDOWN_LEADS = 40
CLIENTS = 2
#: The crashing server runs one worker per core: each keeps a buffer of its own, and a
#: crash may cost each of them its last interval, no more.
CRASH_WORKERS = 2


@dataclass
class Answer:
    """One answered ``/score`` lead, as the client saw it."""

    lead_id: str
    version: str
    reasons: list[tuple[str, float]]
    sent: float
    received: float


@dataclass
class Live:
    """A server of this module and every lead it answered."""

    url: str
    log_dir: Path
    server_log: Path
    process: subprocess.Popen[bytes]
    versions: list[str]
    answers: dict[str, Answer] = field(default_factory=dict)
    ids: Iterator[int] = field(default_factory=itertools.count)


@pytest.fixture(scope="module")
def servers(
    trained: Trained, mlflow_store: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Live]]:
    """``reload`` and ``crash``: servers of ``models:/lead-scorer-lifecycle@champion``
    (two versions of the session model), started at once; stopped after the module."""
    versions = register_copies(trained.result.model_uri, MODEL_NAME, 2)
    tracking.promote(MODEL_NAME, versions[0])
    started: dict[str, Live] = {}
    try:
        for name, reload_s, workers in (("reload", RELOAD_S, 1), ("crash", 0, CRASH_WORKERS)):
            tmp = tmp_path_factory.mktemp(name)
            log_dir, server_log = tmp / "predictions", tmp / "server.log"
            command = [leadmodel_bin(), "serve", "--model", f"models:/{MODEL_NAME}@champion"]
            command += ["--port", str(free_port()), "--log", str(log_dir)]
            command += ["--workers", str(workers)]
            env = service_env(
                mlflow_store,
                tmp,
                LEADMODEL_RELOAD_SECONDS=str(reload_s),
                LEADMODEL_LOG_FLUSH_SECONDS=str(FLUSH_S),
            )
            process, url = launch(command, env, tmp, server_log)
            started[name] = Live(url, log_dir, server_log, process, versions)
        for live in started.values():
            wait_ready(live.process, live.url, live.server_log)
        yield started
    finally:
        for live in started.values():
            stop(live.process)


@pytest.fixture
def reloading(servers: dict[str, Live]) -> Live:
    return servers["reload"]


@pytest.fixture
def crashing(servers: dict[str, Live]) -> Live:
    return servers["crash"]


def score_one(client: httpx.Client, live: Live, prefix: str) -> Answer:
    """Score one new lead; raises on anything but 200."""
    lead_id = f"{prefix}-{next(live.ids)}"
    lead = {"lead_id": lead_id, "source": "organic_search", "website_visits": 3}
    sent = time.monotonic()
    response = client.post("/score", json={"leads": [lead]})
    received = time.monotonic()
    assert response.status_code == 200, response.text
    body = response.json()
    reasons = [(r["field"], r["points"]) for r in body["leads"][0]["reasons"]]
    answer = Answer(lead_id, body["model"]["version"], reasons, sent, received)
    live.answers[lead_id] = answer
    return answer


class Traffic:
    """``CLIENTS`` threads scoring one lead after another until stopped; counts failures."""

    def __init__(self, live: Live, prefix: str) -> None:
        self.live, self.prefix = live, prefix
        self.answers: list[Answer] = []
        self.failures: list[str] = []
        self.stopped = threading.Event()
        self.threads = [threading.Thread(target=self._run) for _ in range(CLIENTS)]

    def _run(self) -> None:
        with httpx.Client(base_url=self.live.url, timeout=60) as client:
            while not self.stopped.is_set():
                try:
                    self.answers.append(score_one(client, self.live, self.prefix))
                except (AssertionError, httpx.HTTPError) as exc:
                    if not self.stopped.is_set():
                        self.failures.append(f"{type(exc).__name__}: {str(exc)[:200]}")
                    return

    def __enter__(self) -> Traffic:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        for thread in self.threads:
            thread.join(timeout=60)


def served_version(live: Live) -> str:
    return str(httpx.get(f"{live.url}/model", timeout=60).json()["version"])


def logged(live: Live) -> dict[str, Any]:
    """The log's rows by lead id (a lead logged twice fails the test)."""
    rows = predlog.read(live.log_dir)
    counts = rows["lead_id"].value_counts()
    assert (counts == 1).all(), counts[counts > 1]
    return {row["lead_id"]: row for _, row in rows.iterrows()}


# --- the alias moves under load -----------------------------------------------------------
def test_moved_alias_is_served_without_a_failed_request(reloading: Live) -> None:
    live = reloading
    before = served_version(live)
    after = next(v for v in live.versions if v != before)
    with Traffic(live, "reload") as traffic:
        time.sleep(TRAFFIC_S)
        tracking.promote(MODEL_NAME, after)
        moved = time.monotonic()
        deadline = moved + SWAP_TIMEOUT_S
        while not any(a.version == after for a in traffic.answers) and not traffic.failures:
            assert time.monotonic() < deadline, f"still serving {before}: {live.server_log}"
            time.sleep(0.1)
        swapped = min(a.received for a in traffic.answers if a.version == after)
        time.sleep(TRAFFIC_S)
    assert traffic.failures == []
    answers = traffic.answers
    assert {a.version for a in answers} == {before, after}
    assert all(a.version == before for a in answers if a.received < moved)
    assert all(a.version == after for a in answers if a.sent > swapped)
    assert sum(a.sent > swapped for a in answers) > 0
    assert served_version(live) == after


# --- a normal shutdown loses nothing ---------------------------------------------------------
def test_sigterm_writes_every_answered_lead(reloading: Live) -> None:
    live = reloading
    with httpx.Client(base_url=live.url, timeout=60) as client:
        answered = [score_one(client, live, "term") for _ in range(SHUTDOWN_LEADS)]
        explained = client.post(
            "/explain", json={"leads": [{"lead_id": "term-explain", "website_visits": 5}]}
        )
    assert explained.status_code == 200, explained.text
    live.process.send_signal(signal.SIGTERM)
    assert live.process.wait(timeout=60) == 0
    rows = logged(live)
    assert {a.lead_id for a in answered} <= rows.keys()
    # every lead answered in this module's tests, with what the client was answered
    assert rows.keys() == set(live.answers) | {"term-explain"}
    for lead_id, answer in live.answers.items():
        row = rows[lead_id]
        assert row["origin"] == "service" and row["model_name"] == MODEL_NAME
        assert row["model_version"] == answer.version
        assert [r["field"] for r in row["reasons"]] == [f for f, _ in answer.reasons]
        np.testing.assert_allclose(
            [r["points"] for r in row["reasons"]], [p for _, p in answer.reasons], atol=1e-12
        )
        assert row["website_visits"] == 3
    lead = explained.json()["leads"][0]
    row = rows["term-explain"]
    assert row["score"] == pytest.approx(lead["score"], abs=1e-12)
    points = lead["contributions"]["close"]["points"]
    strongest = max(points, key=lambda f: abs(points[f]))
    assert row["reasons"][0]["field"] == strongest


# --- a crash loses at most the last flush interval -------------------------------------------
def test_crash_loses_at_most_the_last_flush_interval(crashing: Live) -> None:
    live = crashing
    with Traffic(live, "crash") as traffic:
        time.sleep(TRAFFIC_S + FLUSH_S)
        killed = time.monotonic()
        tree = kill_tree(live.process)  # the server and its workers, at once
    assert len(tree) >= 1 + CRASH_WORKERS, tree
    with pytest.raises(httpx.ConnectError):  # no worker is left answering on the port
        httpx.get(f"{live.url}/readyz", timeout=5)
    rows = logged(live)
    sent = next(live.ids)  # leads 0..sent-1 were sent; only those can be logged
    assert all(int(i.removeprefix("crash-")) < sent for i in rows)
    window = killed - FLUSH_S - WRITE_SLACK_S
    early = [a for a in traffic.answers if a.received < window]
    assert len(early) > 0
    lost = [a for a in traffic.answers if a.lead_id not in rows]
    assert all(a.received > window for a in lost), [round(killed - a.received, 3) for a in lost]
