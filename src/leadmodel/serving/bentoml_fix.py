"""A workaround for a measured BentoML bug: its request timeout leaks a timer per request.

BentoML (1.4, still in 1.4.40) enforces ``traffic.timeout`` with a middleware that arms a
timer per request (``loop.call_later``) and never cancels it: every answered request
leaves its timer, and with it the request's context (tracing span and all), in the event
loop for the whole timeout. At 1,000 requests a second and the 60 s timeout that is 60,000
live timers and some 150 MB, and the loop and the garbage collector slow down as they pile
up (measured: single-lead throughput fell by a quarter within a minute of load). The
timeout cannot be switched off through BentoML's configuration (it must be > 0).

:func:`install` makes BentoML build :class:`RequestTimeout` instead: the same 504 when no
answer has started within the timeout, with its timer cancelled as soon as one has. It is
the one place where the service touches a BentoML internal, and it only does so on the
versions it was measured on (:data:`FIXED_VERSIONS`); ``tests/service/test_bentoml_fix.py``
fails when BentoML's own middleware stops leaking or moves.
"""

from __future__ import annotations

import asyncio
import logging
from importlib import metadata

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leadmodel import i18n
from leadmodel.i18n import _
from leadmodel.serving.guard import refusal

logger = logging.getLogger("leadmodel.service")

#: BentoML versions measured to leak (first, last as ``(major, minor, patch)``).
FIXED_VERSIONS = ((1, 4, 0), (1, 4, 40))
#: BentoML's own middleware, once :func:`install` has replaced it (for the test that
#: checks it still leaks).
replaced: type | None = None


class RequestTimeout:
    """504 when a request has not started its answer within ``timeout`` seconds."""

    def __init__(self, app: ASGIApp, timeout: float) -> None:
        self.app = app
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        answering = asyncio.Event()

        async def send_and_note(message: Message) -> None:
            answering.set()
            await send(message)

        handling = asyncio.ensure_future(self.app(scope, receive, send_and_note))
        try:  # wait_for cancels its timer when the answer starts (or the app ends)
            await asyncio.wait_for(_first(answering, handling), self.timeout)
        except TimeoutError:
            if handling.cancel():
                message = _("not answered within {seconds} s").format(
                    seconds=i18n.number(self.timeout)
                )
                await refusal("request", message, 504)(scope, receive, send)
                return
        await handling


async def _first(answering: asyncio.Event, handling: asyncio.Future[None]) -> None:
    """Return when the answer has started or the app has finished (even without one)."""
    started = asyncio.ensure_future(answering.wait())
    try:
        await asyncio.wait({started, handling}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        started.cancel()


def bentoml_version() -> tuple[int, ...]:
    """The installed BentoML's release as numbers (``1.4.40`` -> ``(1, 4, 40)``)."""
    release = metadata.version("bentoml").split("+")[0].split(".")
    return tuple(int(part) for part in release[:3] if part.isdigit())


def install() -> bool:
    """Make BentoML build :class:`RequestTimeout` instead of its own timeout middleware.

    Only on :data:`FIXED_VERSIONS`; returns whether the swap is in place (on any other
    version, or when the hook is gone, nothing changes and the service runs with
    BentoML's own middleware).
    """
    first, last = FIXED_VERSIONS
    if not first <= bentoml_version() <= last:
        logger.info("BentoML %s: its own request timeout is used", metadata.version("bentoml"))
        return False
    try:
        from bentoml._internal.server.http import traffic
    except ImportError:
        return False
    if not hasattr(traffic, "TimeoutMiddleware"):
        return False
    global replaced
    if traffic.TimeoutMiddleware is not RequestTimeout:
        replaced = traffic.TimeoutMiddleware
        traffic.TimeoutMiddleware = RequestTimeout
    return True
