"""The one workaround of a framework bug (BentoML's request timer leak), and the routes
on public API only."""

from __future__ import annotations

import asyncio
import gc
import inspect
import json
from typing import Any

import pytest
from starlette.responses import JSONResponse

from leadmodel.serving import bentoml_fix
from leadmodel.serving.bentoml_fix import RequestTimeout, install

SCOPE = {"type": "http", "method": "GET", "path": "/", "headers": []}
REQUESTS = 200


def _app(delay: float, fail: bool = False) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(delay)
        if fail:
            raise RuntimeError("boom")
        await JSONResponse({"ok": True})(scope, receive, send)

    return app


async def _call(middleware: Any) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await middleware(dict(SCOPE), receive, send)
    return sent


def _live_timers_after_requests(middleware_class: Any) -> int:
    """Timers still armed after ``REQUESTS`` answered requests (found by the collector)."""

    def armed() -> int:
        return sum(
            1 for o in gc.get_objects() if isinstance(o, asyncio.TimerHandle) and not o.cancelled()
        )

    async def run() -> int:
        before = armed()
        middleware = middleware_class(_app(0), timeout=60)
        for _ in range(REQUESTS):
            sent = await _call(middleware)
            assert sent[0]["status"] == 200
        await asyncio.sleep(0)
        return armed() - before

    return asyncio.run(run())


def test_bentoml_builds_this_timeout() -> None:
    """The hook is where it was: BentoML's server builds the middleware from it."""
    from bentoml._internal.server.http import traffic

    assert install()
    assert traffic.TimeoutMiddleware is RequestTimeout
    assert bentoml_fix.replaced is not None and bentoml_fix.replaced is not RequestTimeout


def test_bentoml_own_timeout_still_leaks_a_timer_per_request() -> None:
    """Fails once BentoML fixes its middleware: then delete bentoml_fix."""
    install()
    assert _live_timers_after_requests(bentoml_fix.replaced) >= REQUESTS


def test_answered_requests_leave_no_timer() -> None:
    assert _live_timers_after_requests(RequestTimeout) <= 0


def test_other_bentoml_versions_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    from bentoml._internal.server.http import traffic

    install()
    monkeypatch.setattr(traffic, "TimeoutMiddleware", bentoml_fix.replaced)
    for version in ((1, 3, 9), (1, 4, 41), (1, 5, 0)):
        monkeypatch.setattr(bentoml_fix, "bentoml_version", lambda v=version: v)
        assert not install()
        assert traffic.TimeoutMiddleware is bentoml_fix.replaced


def test_no_answer_in_time_is_a_504_in_the_service_error_format() -> None:
    sent = asyncio.run(_call(RequestTimeout(_app(5), timeout=0.05)))
    assert sent[0]["status"] == 504
    body = json.loads(sent[1]["body"])
    assert body["error"] == "request: not answered within 0.05 s"


def test_an_app_error_still_propagates() -> None:
    with pytest.raises(RuntimeError, match="boom"):
        asyncio.run(_call(RequestTimeout(_app(0, fail=True), timeout=60)))


def test_routes_are_async_and_take_only_their_body() -> None:
    """Answered in the event loop: no threadpool hop for a dependency or the endpoint."""
    from fastapi.routing import APIRoute

    from leadmodel.serving.service import app

    routes = {r.path: r for r in app.routes if isinstance(r, APIRoute)}
    assert set(routes) == {"/score", "/explain", "/whatif", "/model"}
    for path, route in routes.items():
        assert inspect.iscoroutinefunction(route.endpoint), path
        params = list(inspect.signature(route.endpoint).parameters)
        assert params == ([] if path == "/model" else ["body"]), path
