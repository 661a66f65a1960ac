"""Scoring in a process of its own, next to the BentoML worker that answers HTTP.

A BentoML worker is one Python process: the HTTP stack (about a millisecond of CPU a
request here) takes turns on one core with the work of each request. :class:`ModelProcess`
moves the work of ``/score`` (reading the request, explaining its leads, writing the
answer) to a child process, so the two run side by side: the worker keeps taking the next
requests while the child answers the current ones, and a 1,000-lead request no longer
holds the event loop for the 50 ms its model work takes. What BentoML's runners did, for
the one call that is most of the load, without a second HTTP hop: raw request bodies go
down a pipe in batches (see :class:`service.service.Coalescer`) and answers come back.

The child is started with the model the worker loaded (pickled down the pipe, so both
serve the very same model) and computes exactly what the worker would
(:func:`service.scoring.answer_bodies`). If it dies, calls in flight and the next ones
are scored in the worker, and it is started again in the background.

Run by the service only (``python -m service.model_process READ_FD WRITE_FD``).
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from leadmodel.model import FunnelModel
from service.api import ModelRef
from service.scoring import Answer, answer_bodies

logger = logging.getLogger("leadmodel.service")

#: Seconds the child may take to load the model and build its tables.
START_TIMEOUT_S = 120
#: Seconds between two attempts to start a child that went away.
RESTART_INTERVAL_S = 30
#: Seconds a stopped child gets to exit before it is killed.
STOP_TIMEOUT_S = 5
#: Where ``service`` is importable from (the child runs ``-m service.model_process``).
_IMPORT_ROOT = Path(__file__).resolve().parents[1]
#: ``LEADMODEL_SCORING_PROCESS`` values.
_ON, _OFF, _AUTO = ("1", "true", "on", "yes"), ("0", "false", "off", "no"), ("", "auto")


class ModelProcessGone(RuntimeError):
    """The child is not running (never started, exited, or the pipe broke)."""


class ModelProcessError(RuntimeError):
    """A scoring call failed in the child: its exception type and stack, never its values."""

    def __init__(self, kind: str, frames: str) -> None:
        super().__init__(f"{kind} in the scoring process")
        self.frames = frames


def wanted(value: str | None = None) -> bool:
    """Whether to score in a child: ``LEADMODEL_SCORING_PROCESS`` on/off, else auto.

    Auto: when this process may run on more than one CPU (on one CPU the child would only
    add its pipe to the same core's work).
    """
    text = os.environ.get("LEADMODEL_SCORING_PROCESS", "") if value is None else value
    text = text.strip().lower()
    if text in _ON:
        return True
    if text in _OFF:
        return False
    if text in _AUTO:
        cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
        return (len(cpus) if cpus is not None else os.cpu_count() or 1) > 1
    raise ValueError(
        f"LEADMODEL_SCORING_PROCESS={text!r}: use auto, on or off (or 1/0, true/false)"
    )


class ModelProcess:
    """A child process that answers ``/score`` bodies (:func:`service.scoring.answer_bodies`).

    :meth:`start` (blocking) spawns it; ``await process(bodies)`` sends one call and waits
    for its answers without blocking the event loop (the answer pipe is watched
    by the loop). Calls are answered in order, one at a time.
    """

    def __init__(self, model: FunnelModel, ref: ModelRef) -> None:
        self._payload = pickle.dumps((model, ref), protocol=pickle.HIGHEST_PROTOCOL)
        self._lock = threading.Lock()
        self._child: subprocess.Popen[bytes] | None = None
        self._down: Connection | None = None
        self._up: Connection | None = None
        self._watched: tuple[asyncio.AbstractEventLoop, int] | None = None
        self._calls: dict[int, asyncio.Future[list[Answer]]] = {}
        self._ids = itertools.count()
        self._restarting = False
        self._last_start = 0.0

    @property
    def running(self) -> bool:
        return self._up is not None

    @property
    def pid(self) -> int | None:
        return None if self._child is None else self._child.pid

    def start(self, timeout: float = START_TIMEOUT_S) -> None:
        """Spawn the child, hand it the model, wait until it is ready to score.

        Raises :class:`ModelProcessGone` (with the reason) when it does not get there.
        """
        self._last_start = time.monotonic()
        down_read, down_write = os.pipe()
        up_read, up_write = os.pipe()
        path = os.pathsep.join(p for p in (str(_IMPORT_ROOT), os.environ.get("PYTHONPATH")) if p)
        try:
            child = subprocess.Popen(
                [sys.executable, "-m", "service.model_process", str(down_read), str(up_write)],
                pass_fds=(down_read, up_write),
                stdin=subprocess.DEVNULL,
                env=os.environ | {"PYTHONPATH": path},
            )
        finally:
            os.close(down_read)
            os.close(up_write)
        down = Connection(down_write, readable=False)
        up = Connection(up_read, writable=False)
        try:
            down.send_bytes(self._payload)
            if not up.poll(timeout):
                raise ModelProcessGone(f"not ready after {timeout:g} s")
            status, detail = up.recv()
            if status != "ready":
                raise ModelProcessGone(f"could not load the model ({detail})")
        except (OSError, EOFError, ModelProcessGone) as exc:
            down.close()
            up.close()
            _stop(child)
            if isinstance(exc, ModelProcessGone):
                raise
            raise ModelProcessGone(f"exited while starting (exit code {child.poll()})") from None
        with self._lock:
            self._child, self._down, self._up = child, down, up

    async def __call__(self, bodies: list[bytes]) -> list[Answer]:
        """The answers to ``/score`` bodies (see :func:`~service.scoring.answer_bodies`)."""
        return await self.submit(bodies)

    def submit(self, bodies: list[bytes]) -> asyncio.Future[list[Answer]]:
        """Send ``bodies`` now; the future gets their answers.

        Raises :class:`ModelProcessGone` when the child is not running.
        """
        loop = asyncio.get_running_loop()
        down, up = self._down, self._up
        if down is None or up is None:
            raise ModelProcessGone("not running")
        if self._watched != (loop, up.fileno()):
            loop.add_reader(up.fileno(), self._answered)
            self._watched = (loop, up.fileno())
        call = next(self._ids)
        done: asyncio.Future[list[Answer]] = loop.create_future()
        self._calls[call] = done
        try:
            down.send((call, bodies))
        except OSError:
            self._gone("the pipe to it broke")
        return done

    def _answered(self) -> None:
        """The loop's callback when answers are waiting: resolve their calls."""
        up = self._up
        try:
            while up is not None and up.poll():
                call, status, result = up.recv()
                done = self._calls.pop(call, None)
                if done is None or done.done():
                    continue
                if status == "ok":
                    done.set_result(result)
                else:
                    done.set_exception(ModelProcessError(*result))
        except (EOFError, OSError):
            child = self._child
            self._gone(f"it exited (exit code {None if child is None else child.poll()})")

    def _detach(self) -> tuple[subprocess.Popen[bytes] | None, Any]:
        """Forget the child and close its pipes; the child and the loop watching them."""
        with self._lock:
            child, down, up, watched = self._child, self._down, self._up, self._watched
            self._child = self._down = self._up = self._watched = None
        for connection in (down, up):
            if connection is not None:
                connection.close()
        return child, watched

    def _gone(self, why: str) -> None:
        """Forget the child; every call in flight fails with :class:`ModelProcessGone`."""
        child, watched = self._detach()
        if child is not None:
            logger.error("scoring process stopped: %s; the worker scores until a new one runs", why)
        if watched is not None:
            watched[0].remove_reader(watched[1])
        if child is not None:  # reaped in the background: this runs in the event loop
            threading.Thread(target=_stop, args=(child,), name="scoring-process-stop").start()
        calls, self._calls = self._calls, {}
        for done in calls.values():
            if not done.done():
                done.set_exception(ModelProcessGone(why))

    def restart_later(self) -> None:
        """Start the child again in a background thread (at most every 30 s)."""
        with self._lock:
            if self._restarting or self.running:
                return
            if time.monotonic() - self._last_start < RESTART_INTERVAL_S:
                return
            self._restarting = True
        threading.Thread(target=self._restart, name="scoring-process-start", daemon=True).start()

    def _restart(self) -> None:
        try:
            self.start()
            logger.info("scoring process started again (pid %s)", self.pid)
        except ModelProcessGone as exc:
            logger.error("scoring process did not start again: %s", exc)
        finally:
            self._restarting = False

    def stop(self) -> None:
        """Close the pipes (the child exits when it reads the end) and reap the child."""
        child, _ = self._detach()
        if child is not None:
            _stop(child)


def _stop(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is not None:
        return
    child.terminate()
    try:
        child.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


# --- the child ------------------------------------------------------------------------------
def serve(down: Connection, up: Connection) -> int:
    """Load the model handed down the pipe, then answer calls until the pipe closes."""
    try:
        model, ref = pickle.loads(down.recv_bytes())
        for stage in model.stages.values():  # now, not in the first call
            stage.contribution_tables()
    except EOFError:
        return 0
    except Exception as exc:  # the worker logs it and scores itself
        up.send(("failed", f"{type(exc).__name__}: {exc}"))
        return 1
    gc.collect()
    gc.freeze()  # the model's heap, out of the garbage collector's sight
    up.send(("ready", os.getpid()))
    while True:
        try:
            call, bodies = down.recv()
        except EOFError:
            return 0  # the worker closed the pipe or went away
        try:
            answer: tuple[Any, ...] = (call, "ok", answer_bodies(model, ref, bodies))
        except Exception as exc:  # type and stack only: a message may quote lead values
            frames = "".join(traceback.format_tb(exc.__traceback__))
            answer = (call, "error", (type(exc).__name__, frames))
        up.send(answer)


def main(argv: list[str]) -> int:
    # Ctrl-C in a terminal reaches the whole process group: the worker stops this process.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    down = Connection(int(argv[0]), writable=False)
    up = Connection(int(argv[1]), readable=False)
    try:
        return serve(down, up)
    except (BrokenPipeError, ConnectionResetError):
        return 0  # the worker went away while an answer was on its way


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
