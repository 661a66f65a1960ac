"""Two fixes to the serving stack: the request timeout (504 in time, no timer left behind)
and the service instance found without a threadpool hop."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from service.timeout import RequestTimeout, install
from starlette.responses import JSONResponse

SCOPE = {"type": "http", "method": "GET", "path": "/", "headers": []}


def _app(delay: float, fail: bool = False) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(delay)
        if fail:
            raise RuntimeError("boom")
        await JSONResponse({"ok": True})(scope, receive, send)

    return app


async def _call(middleware: RequestTimeout) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await middleware(dict(SCOPE), receive, send)
    return sent


def test_bentoml_builds_this_timeout() -> None:
    from bentoml._internal.server.http import traffic

    assert install()
    assert traffic.TimeoutMiddleware is RequestTimeout


def test_answered_requests_leave_no_timer() -> None:
    async def run() -> tuple[int, int, list[dict[str, Any]]]:
        loop = asyncio.get_running_loop()
        before = len(loop._scheduled)  # CPython's heap of timers (asyncio.BaseEventLoop)
        middleware = RequestTimeout(_app(0), timeout=60)
        for _ in range(200):
            sent = await _call(middleware)
        await asyncio.sleep(0)
        live = [h for h in loop._scheduled if not h.cancelled()]
        return before, len(live), sent

    before, live, sent = asyncio.run(run())
    assert live <= before  # BentoML's own middleware leaves 200 here
    assert sent[0]["status"] == 200


def test_no_answer_in_time_is_a_504_in_the_service_error_format() -> None:
    sent = asyncio.run(_call(RequestTimeout(_app(5), timeout=0.05)))
    assert sent[0]["status"] == 504
    body = json.loads(sent[1]["body"])
    assert body["error"] == "request: not answered within 0.05 s"


def test_an_app_error_still_propagates() -> None:
    with pytest.raises(RuntimeError, match="boom"):
        asyncio.run(_call(RequestTimeout(_app(0, fail=True), timeout=60)))


def test_the_service_instance_is_found_without_a_thread() -> None:
    """BentoML's ``self`` dependency is overridden by an async one (no threadpool hop)."""
    import inspect

    import bentoml
    from service.service import LeadScorerService, app

    assert LeadScorerService is not None
    routes = [r for r in app.routes[0].original_router.routes if getattr(r, "endpoint", None)]
    assert routes
    for route in routes:
        self_param = inspect.signature(route.endpoint).parameters["self"]
        dependency = self_param.default.dependency
        assert dependency is bentoml.get_current_service
        assert inspect.iscoroutinefunction(app.dependency_overrides[dependency])


def test_body_routes_call_their_endpoint_directly() -> None:
    """Routes that take only a JSON body and ``self`` skip FastAPI's dependency solving.

    The effective routes (those FastAPI serves after BentoML's class views are included)
    are checked; ``/model`` takes no body and keeps FastAPI's path.
    """
    from service.service import LeadScorerService, _direct_call, _effective_route, app

    assert LeadScorerService is not None
    included = app.routes[0]
    candidates = included.effective_candidates
    contexts = candidates() if callable(candidates) else candidates
    served = {c.path: c for c in contexts if getattr(c, "path", None)}
    assert {"/score", "/explain", "/whatif", "/model"} <= set(served)
    for path in ("/score", "/explain", "/whatif"):
        route = _effective_route(served[path].original_route)
        assert route is served[path].original_route  # outside FastAPI's build context
        assert _direct_call(served[path]) is not None, path
        assert [d.name for d in served[path].dependant.dependencies] == ["self"]
    assert _direct_call(served["/model"]) is None
