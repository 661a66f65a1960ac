"""The request timeout, with its timer cancelled when the request is answered.

BentoML (1.4) enforces ``traffic.timeout`` with a middleware that arms a timer per request
(``loop.call_later``) and never cancels it: every answered request leaves its timer, and
with it the request's context (tracing span and all), in the event loop for the whole
timeout. At 1,000 requests a second and the 60 s timeout that is 60,000 live timers and
some 150 MB, and the loop and the garbage collector slow down as they pile up (measured:
single-lead throughput fell by a quarter within a minute of load, 1,000-lead requests by
a third). :func:`install` swaps in :class:`RequestTimeout`, which behaves the same (504 when
no answer has started within the timeout) and cancels its timer as soon as one has.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.guard import refusal

logger = logging.getLogger("leadmodel.service")


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
                message = f"not answered within {self.timeout:g} s"
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


def install() -> bool:
    """Make BentoML build :class:`RequestTimeout` instead of its own timeout middleware.

    Returns False (and changes nothing) when BentoML no longer has that middleware where
    it had it; the service then runs with BentoML's.
    """
    try:
        from bentoml._internal.server.http import traffic
    except ImportError:
        return False
    if not hasattr(traffic, "TimeoutMiddleware"):
        return False
    if traffic.TimeoutMiddleware is not RequestTimeout:
        traffic.TimeoutMiddleware = RequestTimeout
    return True
