"""A real scoring server for the session: `leadmodel serve` on 127.0.0.1, stopped after."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import Trained, free_port

START_TIMEOUT_S = 90
STOP_TIMEOUT_S = 20
LOG_TAIL_CHARS = 3_000


@dataclass
class Server:
    """A running service and what it was started with."""

    url: str
    token: str
    model_uri: str
    log: Path
    process: subprocess.Popen[bytes]

    def client(self) -> httpx.Client:
        """An HTTP client that sends the bearer token."""
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def leadmodel_bin() -> str:
    return str(Path(sys.executable).with_name("leadmodel"))


def service_env(mlflow_store: str, tmp: Path, **extra: str) -> dict[str, str]:
    """The environment of a server process: the session's store, a private BentoML home."""
    env = dict(os.environ)
    env.update(
        {
            "MLFLOW_TRACKING_URI": mlflow_store,
            "BENTOML_HOME": str(tmp / "bentoml"),
            "BENTOML_DO_NOT_TRACK": "True",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.pop("LEADMODEL_API_TOKEN", None)
    env.update(extra)
    return env


def process_tree(pid: int) -> list[int]:
    """``pid`` and every process below it, from Linux's ``/proc``.

    BentoML starts each worker in a session of its own, so a signal to the server's
    process group does not reach them: a SIGKILL to the group leaves them serving.
    """
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # ended meanwhile
            continue
        parent = int(text[text.rindex(")") + 2 :].split()[1])
        children.setdefault(parent, []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        tree.append(todo.pop())
        todo.extend(children.get(tree[-1], []))
    return tree


def kill_tree(process: subprocess.Popen[bytes]) -> list[int]:
    """SIGKILL the server and every process below it (its workers too); the pids killed."""
    tree = process_tree(process.pid)
    for pid in tree:  # parents first: a dead server cannot start a worker again
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait()
    return tree


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate (the server stops its workers), wait; else kill it and its workers."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            kill_tree(process)


def launch(
    command: list[str], env: dict[str, str], cwd: Path, log: Path
) -> tuple[subprocess.Popen[bytes], str]:
    """Start a server (``--port`` in ``command``) in its own process group, so a test can
    signal the server and its workers at once; returns it and its URL (not yet ready)."""
    port = command[command.index("--port") + 1]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    return process, f"http://127.0.0.1:{port}"


def start(
    command: list[str], env: dict[str, str], cwd: Path, log: Path
) -> tuple[subprocess.Popen[bytes], str]:
    """:func:`launch` and :func:`wait_ready` (stopped again if it never gets ready)."""
    process, url = launch(command, env, cwd, log)
    try:
        wait_ready(process, url, log)
    except BaseException:
        stop(process)
        raise
    return process, url


def wait_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    """Wait until ``url/readyz`` answers 200 (fail with the output if the server exits)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            pytest.fail(
                f"the service exited with {process.returncode} at start-up:\n"
                + log.read_text(errors="replace")[-LOG_TAIL_CHARS:]
            )
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(
                f"the service was not ready after {START_TIMEOUT_S} s:\n"
                + log.read_text(errors="replace")[-LOG_TAIL_CHARS:]
            )
        time.sleep(0.5)


@pytest.fixture(scope="session")
def server(
    trained: Trained, mlflow_store: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """The service on a free port, serving the session model's champion, token required."""
    tmp = tmp_path_factory.mktemp("service")
    port, token = free_port(), secrets.token_urlsafe(24)
    model_uri = f"models:/{trained.model_name}@champion"
    log = tmp / "server.log"
    command = [leadmodel_bin(), "serve", "--model", model_uri, "--port", str(port)]
    env = service_env(mlflow_store, tmp, LEADMODEL_API_TOKEN=token)
    process, url = start(command, env, tmp, log)
    try:
        yield Server(url=url, token=token, model_uri=model_uri, log=log, process=process)
    finally:
        stop(process)


@pytest.fixture(scope="session")
def api(server: Server) -> Iterator[httpx.Client]:
    """A client that sends the token."""
    with server.client() as client:
        yield client


def register_copies(model_uri: str, name: str, copies: int) -> list[str]:
    """Register the logged model at ``model_uri`` ``copies`` times under ``name``.

    Versions of one model: a test moves an alias between them without training again.
    """
    import mlflow

    return [str(mlflow.register_model(model_uri, name).version) for _ in range(copies)]
