"""The prediction endpoint the CRM calls: a BentoML service around :mod:`leadmodel`.

Thin by design: requests are validated by the pydantic models of :mod:`service.api`,
then handed to the same library functions batch scoring uses (``FunnelModel.predict``
through :func:`leadmodel.explain.explain_leads`), so serving and training cannot drift.

The endpoints are a FastAPI app mounted on the BentoML service (BentoML's own
``/healthz``, ``/livez``, ``/readyz``, ``/metrics`` and the OpenAPI page ``/docs.json``
stay as they are). FastAPI gives full control of refused requests: every 4xx names the
field and the lead's index, and no bad input ends in a 500.

Start it with ``leadmodel serve``, ``make serve`` or ``bentoml serve`` in the repository.
Configuration comes from the environment, read at start-up (never at import):

``LEADMODEL_MODEL_URI``
    MLflow model to serve (default ``models:/lead-scorer@champion``).
``MLFLOW_TRACKING_URI``
    Where the registry lives (default ``sqlite:///mlflow.db``).
``LEADMODEL_API_TOKEN``
    When set, every API endpoint requires ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import sys
import traceback
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import anyio
import bentoml
import fastapi.routing
import pandas as pd
from fastapi import FastAPI, Request
from fastapi.datastructures import DefaultPlaceholder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute, serialize_response
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from leadmodel import explain, tracking
from service import model_process
from service.api import (
    ErrorResponse,
    ExplainRequest,
    ExplainResponse,
    FieldWarning,
    Lead,
    ModelInfo,
    ModelRef,
    ScoreRequest,
    ScoreResponse,
    WhatIfRequest,
    WhatIfResponse,
)
from service.document import BEARER_SECURITY, DocumentedService
from service.errors import Problem, RequestProblem, error_body, problems_from_pydantic
from service.guard import (
    MAX_BODY_BYTES,
    NO_TOKEN,
    RequestGuard,
    TokenError,
    api_token,
    refusal,
)
from service.model_process import ModelProcess, ModelProcessError, ModelProcessGone
from service.scoring import (
    Answer,
    answer_bodies,
    check_batch,
    field_warnings,
    lead_records,
    score_requests,
)
from service.timeout import install as install_request_timeout

logger = logging.getLogger("leadmodel.service")
install_request_timeout()  # BentoML's own leaves a live timer per answered request

#: Seconds one request may take before BentoML answers 504.
REQUEST_TIMEOUT_S = 60
#: ``/explain`` requests (and ``/score`` requests whose leads need pandas) with up to this
#: many leads are answered in the event loop, larger ones in a worker thread; plain
#: ``/score`` requests always go through the :class:`Coalescer`.
INLINE_LEADS = 16
T = TypeVar("T")
#: Bytes of concurrent ``/score`` bodies answered in one call at most (about 1,000 leads;
#: see :class:`Coalescer`); twice that with a scoring process, which shares such calls
#: with the worker.
COALESCE_BYTES = 512 * 1024
#: Calls of this many bytes (about 200 leads) in several requests are shared (see
#: :func:`worker_share`).
SHARED_CALL_BYTES = 96 * 1024

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": description}
    for code, description in {
        400: "Malformed JSON.",
        401: "Missing or wrong bearer token (when the service requires one).",
        413: f"Body larger than {MAX_BODY_BYTES // 1024 // 1024} MiB.",
        415: "Body is not JSON.",
        422: "A field is not valid; the error names the field and the lead's index.",
        500: "A bug in the service (never caused by the request's content).",
    }.items()
}


#: Route options shared by the POST endpoints: documented errors, p_accept only when present,
#: the bearer token (in the OpenAPI document; :class:`RequestGuard` enforces it).
_ROUTE: dict[str, Any] = {
    "responses": _ERRORS,
    "response_model_exclude_unset": True,
    "openapi_extra": {"security": BEARER_SECURITY},
}


def _problem_response(problems: list[Problem], status: int) -> JSONResponse:
    return JSONResponse(error_body(problems), status_code=status)


# --- the FastAPI app: routes are methods of the BentoML service class below -----------------
class _JSONBodyRequest(Request):
    """A request whose JSON body pydantic parses and validates in one pass (in Rust).

    FastAPI reads a body with ``json.loads`` and then validates the Python objects: for a
    1,000-lead request that is a fifth of the work. Here :meth:`json` returns the body
    already validated as the route's body model (FastAPI passes a model instance through
    unchanged). A body that fails is read with ``json.loads`` instead, so FastAPI validates
    and reports it exactly as it always does.
    """

    def __init__(self, scope: Any, receive: Any, body_model: type[BaseModel]) -> None:
        super().__init__(scope, receive)
        self._body_model = body_model

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = self._body_model.model_validate_json(body)
            except ValidationError:
                self._json = json.loads(body)
        return self._json


def answers_raw_body(method: str) -> Callable[[T], T]:
    """Mark an endpoint whose JSON body the service method ``method`` reads itself.

    :class:`JSONBodyRoute` hands that method the raw bytes of a JSON body first; it
    returns the response, or None to leave the body to the endpoint (FastAPI's reading
    and validation, its 4xx for invalid bodies).
    """

    def mark(endpoint: T) -> T:
        endpoint.__raw_body__ = method  # type: ignore[attr-defined]
        return endpoint

    return mark


class JSONBodyRoute(APIRoute):
    """A route whose body model (when it has one) pydantic reads from the JSON bytes.

    A route whose only inputs are that body and the service instance (``self`` of a
    BentoML class view) is called directly with them once the body is valid: what
    FastAPI would do, without its per-request dependency solving (a fifth of the CPU time
    of a single-lead ``/score``, with the HTTP stack's own part of it). Everything else
    (other parameters, a body that is not valid JSON for the model, a body that is not
    ``application/json``) takes FastAPI's own path through :class:`_JSONBodyRequest`, so
    refusals are exactly FastAPI's.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        route = _effective_route(self)
        annotation = getattr(getattr(route.body_field, "field_info", None), "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return handler
        body_model = annotation
        direct = _direct_call(route)

        raw = getattr(route.dependant.call, "__raw_body__", None) if direct else None

        async def read_body_with_pydantic(request: Request) -> Response:
            request = _JSONBodyRequest(request.scope, request.receive, body_model)
            if direct is not None and _is_json(_content_type(request.scope)):
                data = await request.body()  # (kept by the request for FastAPI's path below)
                if raw is not None:
                    answer = await getattr(bentoml.get_current_service(), raw)(data)
                    if answer is not None:
                        return answer
                try:
                    body = body_model.model_validate_json(data)
                except ValidationError:
                    pass  # FastAPI reads it again and reports it as it always does
                else:
                    return await direct(body)
            return await handler(request)

        return read_body_with_pydantic


def _effective_route(route: APIRoute) -> Any:
    """The route as FastAPI serves it: the route itself, or (FastAPI >= 0.165, routes of an
    included router, which BentoML's class views are) the context FastAPI builds the
    route's handler in, with the dependencies the inclusion added."""
    context = getattr(fastapi.routing, "_effective_route_context_var", None)
    effective = context.get(None) if context is not None else None
    if effective is not None and getattr(effective, "original_route", None) is route:
        return effective
    return route


def _direct_call(route: Any) -> Callable[[BaseModel], Coroutine[Any, Any, Response]] | None:
    """The endpoint called with a valid body, or None when it needs more than that."""
    dependant, call = route.dependant, route.dependant.call
    services = [d.name for d in dependant.dependencies if _is_service_lookup(d)]
    if (
        not asyncio.iscoroutinefunction(call)
        or len(dependant.body_params) != 1
        or getattr(route, "_embed_body_fields", True)
        or len(services) != len(dependant.dependencies)
        or dependant.path_params
        or dependant.query_params
        or dependant.header_params
        or dependant.cookie_params
        or dependant.request_param_name
        or dependant.response_param_name
        or dependant.background_tasks_param_name
        or dependant.http_connection_param_name
        or route.status_code not in (None, 200)
        or not isinstance(route.response_class, DefaultPlaceholder)
    ):
        return None
    body_name = dependant.body_params[0].name
    field = route.response_field

    async def direct(body: BaseModel) -> Response:
        values: dict[str, Any] = {body_name: body}
        for name in services:
            values[name] = bentoml.get_current_service()
        raw = await call(**values)
        if isinstance(raw, Response):
            return raw
        content = await serialize_response(
            field=field,
            response_content=raw,
            include=route.response_model_include,
            exclude=route.response_model_exclude,
            by_alias=route.response_model_by_alias,
            exclude_unset=route.response_model_exclude_unset,
            exclude_defaults=route.response_model_exclude_defaults,
            exclude_none=route.response_model_exclude_none,
            dump_json=field is not None,
        )
        if field is None:
            return JSONResponse(content)
        return Response(content, media_type="application/json")

    return direct


def _content_type(scope: Any) -> str | None:
    """The Content-Type header, read off the raw headers (no ``Headers`` object built)."""
    for name, value in scope["headers"]:
        if name.lower() == b"content-type":
            return str(value.decode("latin-1"))
    return None


def _is_json(content_type: str | None) -> bool:
    """Whether FastAPI reads a body of this content type as JSON (``application/*json``)."""
    if not content_type:
        return False
    kind = content_type.partition(";")[0].strip().lower()
    main, _, sub = kind.partition("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))


def _is_service_lookup(dependant: Any) -> bool:
    """A dependency that gives the BentoML service instance, needing nothing itself."""
    return (
        dependant.call in (bentoml.get_current_service, _service_instance)
        and not dependant.dependencies
        and not dependant.body_params
        and not dependant.query_params
    )


#: What the OpenAPI document says of the API (``/docs.json``, rendered at ``/``).
API_DESCRIPTION = """\
leadmodel's lead-scoring API: for every CRM lead, P(close/won), P(accept by sales) when \
the model has that stage, a 0-100 score, a tier (A best) and the fields that moved the \
score, from the model in the MLflow registry (the same scores as `leadmodel score` in \
batch). `/explain` gives every field's points, `/whatif` the change when fields change, \
`/model` the model in service.

**Authentication**: when the service runs with `LEADMODEL_API_TOKEN` set, `/score`, \
`/explain`, `/whatif` and `/model` require `Authorization: Bearer <token>` (401 \
otherwise). The health endpoints, `/metrics` and this document stay open.

**Refused requests** get a 4xx whose `error` is one line naming the field and the lead's \
index (`leads[3].website_visits: must be >= 0`); `errors` lists every problem found.
"""

app = FastAPI(
    title="leadmodel scoring API",
    description=API_DESCRIPTION,
    version="1",
    docs_url=None,
    redoc_url=None,
    openapi_url=None,
)
app.router.route_class = JSONBodyRoute


async def _service_instance() -> Any:
    """:func:`bentoml.get_current_service` as an ``async`` dependency."""
    return bentoml.get_current_service()


# BentoML hands ``self`` to the route methods below through
# ``Depends(bentoml.get_current_service)``, a plain function, which FastAPI runs in its
# threadpool: a thread hop per request, a third of a single-lead /score. The same look-up
# as an async dependency runs in the event loop.
app.dependency_overrides[bentoml.get_current_service] = _service_instance


@app.exception_handler(RequestValidationError)
async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return refusal("body", "malformed JSON", 400)
    return _problem_response(problems_from_pydantic(errors, strip=1), 422)


@app.exception_handler(RequestProblem)
async def _refused(request: Request, exc: RequestProblem) -> JSONResponse:
    return _problem_response(exc.problems, exc.status)


@app.exception_handler(StarletteHTTPException)
async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    where = "path" if exc.status_code in (404, 405) else "request"
    return refusal(where, str(exc.detail).lower(), exc.status_code)


@app.exception_handler(Exception)
async def _bug(request: Request, exc: Exception) -> JSONResponse:
    # The message may quote request values (personal data): log the type and the code path.
    frames = "".join(traceback.format_tb(exc.__traceback__))
    if isinstance(exc, ModelProcessError):
        frames += f"in the scoring process:\n{exc.frames}"
    logger.error("unexpected %s on %s\n%s", type(exc).__name__, request.url.path, frames)
    return refusal("service", "unexpected error; the request was not the cause", 500)


app.add_middleware(RequestGuard)


def _version(value: Any) -> str | None:
    return None if value is None else str(value)


def _whatif_problem(problem: Problem, changes: dict[str, Any]) -> Problem:
    """Locate a problem of the changed lead: in ``changes`` when a change caused it."""
    if problem.field in changes:
        return Problem(f"changes.{problem.field}", problem.field, None, problem.message)
    return Problem(f"lead.{problem.loc}", problem.field, None, problem.message)


# --- scoring requests together ---------------------------------------------------------------
AnswerBodies = Callable[[list[bytes]], Awaitable[list[Answer]]]


def worker_share(bodies: list[bytes]) -> int:
    """Where the requests the worker scores itself start (``len(bodies)``: none of them).

    Only calls of at least :data:`SHARED_CALL_BYTES` in more than one request are
    shared; the scoring process takes the first requests, up to about half the bytes
    (it also reads them from the pipe), and the worker the rest, at a request boundary.
    """
    sizes = [len(body) for body in bodies]
    total = sum(sizes)
    if len(bodies) < 2 or total < SHARED_CALL_BYTES:
        return len(bodies)
    theirs = 0
    for i, size in enumerate(sizes[:-1]):
        theirs += size
        if theirs >= total / 2:
            return i + 1
    return len(bodies) - 1


class Coalescer:
    """Answer the ``/score`` requests that arrive while the model is busy in one call.

    Per call, explaining costs a fixed part (about half a millisecond of Python) plus a
    part per lead; single-lead requests arriving together share the fixed part. A request
    never waits for a batch to fill: when the model is free it goes at once, and whatever
    arrives meanwhile goes in the next call (up to ``max_bytes`` of request bodies).
    Requests travel as their raw JSON bodies: reading them is part of the call
    (:func:`service.scoring.answer_bodies`), which gives each request its own answer.

    ``answer`` is the scoring process (:class:`service.model_process.ModelProcess`), with
    the worker taking part of large calls (:func:`worker_share`), or without a process
    the same work done in the event loop. Either way the loop is held for at most about
    :data:`COALESCE_BYTES` of requests (1,000 leads, about 50 ms of model work here). In a
    worker thread that cost a fifth of the throughput of 1,000-lead requests: the thread
    and the loop, parsing the next requests, only take turns on the GIL.
    """

    def __init__(self, answer: AnswerBodies, max_bytes: int = COALESCE_BYTES) -> None:
        self.answer = answer
        self.max_bytes = max_bytes
        self.pending: list[tuple[bytes, asyncio.Future[Answer]]] = []
        self.draining: asyncio.Task[None] | None = None

    async def __call__(self, body: bytes) -> Answer:
        """The answer to one request body."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Answer] = loop.create_future()
        self.pending.append((body, done))
        if self.draining is None:
            self.draining = loop.create_task(self._drain())
        return await done

    async def _drain(self) -> None:
        try:
            while self.pending:
                await asyncio.sleep(0)  # requests already read join this call
                batch, size = [], 0
                while self.pending and (
                    not batch or size + len(self.pending[0][0]) <= self.max_bytes
                ):
                    batch.append(self.pending.pop(0))
                    size += len(batch[-1][0])
                await self._answer_batch(batch)
        finally:
            self.draining = None

    async def _answer_batch(self, batch: list[tuple[bytes, asyncio.Future[Answer]]]) -> None:
        try:
            answers = await self.answer([body for body, _ in batch])
        except Exception as exc:  # every request of the call gets the error
            for _, done in batch:
                if not done.done():
                    done.set_exception(exc)
            return
        for (_, done), answer in zip(batch, answers, strict=True):
            if not done.done():  # the client may have gone away
                done.set_result(answer)


# --- the BentoML service -------------------------------------------------------------------
@bentoml.service(
    name="lead_scorer",
    description=API_DESCRIPTION,
    service_class=DocumentedService,
    traffic={"timeout": REQUEST_TIMEOUT_S},
)
@bentoml.asgi_app(app, path="/")
class LeadScorerService:
    """Scores CRM leads with the model loaded once at start-up from the MLflow registry."""

    @bentoml.on_deployment
    def check_start() -> None:
        """Before any worker starts: the token setting is usable and the model loads.

        Else one clear line and exit 1. Without a token the API is open: one warning says
        so (here, once per server, not once per worker).
        """
        try:
            if api_token() is None:
                logger.warning("%s", NO_TOKEN)
            tracking.load_funnel(tracking.default_model_uri())
        except (TokenError, tracking.ModelNotFound) as exc:
            sys.stderr.write(f"error: {exc}\n")
            sys.stderr.flush()
            raise SystemExit(1) from None

    def __init__(self) -> None:
        uri = tracking.default_model_uri()
        try:
            self.model, info = tracking.load_funnel(uri)
        except tracking.ModelNotFound as exc:
            logger.error("%s", exc)
            raise SystemExit(1) from None
        self.info = info
        for stage in self.model.stages.values():  # now, not in the first request
            stage.contribution_tables()
        # The model, MLflow and pandas leave a large heap behind: move it out of the
        # garbage collector's sight, or every full collection while a request builds its
        # answer walks all of it again.
        gc.collect()
        gc.freeze()
        # One large batch at a time in a thread: concurrent ones only fight over the GIL
        # and make every request slow instead of some waiting.
        self.limiter = anyio.CapacityLimiter(1)
        self.ref = ModelRef(
            name=info.get("name"), version=_version(info.get("version")), uri=info["uri"]
        )
        self.process = self._start_scoring_process()
        shared = 2 if self.process is not None else 1  # see worker_share
        self.scorer = Coalescer(self._answer_bodies, max_bytes=COALESCE_BYTES * shared)
        logger.info("serving %s (name %s, version %s)", uri, self.ref.name, self.ref.version)

    def _start_scoring_process(self) -> ModelProcess | None:
        """The child that explains ``/score`` leads (see :mod:`service.model_process`)."""
        try:
            if not model_process.wanted():
                return None
        except ValueError as exc:
            logger.error("%s", exc)
            raise SystemExit(1) from None
        process = ModelProcess(self.model, self.ref)
        try:
            process.start()
        except ModelProcessGone as exc:
            logger.warning("scoring process: %s; scoring in the worker", exc)
            return None
        logger.info("scoring in a process of its own (pid %s)", process.pid)
        return process

    @bentoml.on_shutdown
    def stop_scoring_process(self) -> None:
        """Stop the scoring process with the worker."""
        if self.process is not None:
            self.process.stop()

    async def _answer_bodies(self, bodies: list[bytes]) -> list[Answer]:
        """Answers to ``/score`` bodies: by the scoring process when it runs.

        Of a call of many bytes in several requests, the worker answers the last requests
        itself while the process answers the others (:func:`worker_share`): with large
        requests the worker would otherwise mostly wait.
        """
        process = self.process
        if process is not None and process.running:
            start = worker_share(bodies)
            try:
                theirs = process.submit(bodies[:start])
                mine = answer_bodies(self.model, self.ref, bodies[start:]) if bodies[start:] else []
                return [*(await theirs), *mine]
            except ModelProcessGone:  # (logged by the process) answered here instead
                process.restart_later()
        elif process is not None:  # gone: being started again, or soon
            process.restart_later()
        return answer_bodies(self.model, self.ref, bodies)

    async def _run(self, leads: int, work: Callable[[], T]) -> T:
        """Run model work: in the event loop for a few leads, else in a worker thread.

        A few leads take about a millisecond: handing them to a thread would cost more than
        the work, and threads only fight over the GIL. Larger batches go to one thread at a
        time, so the loop keeps answering (health checks, small requests) meanwhile.
        """
        if leads <= INLINE_LEADS:
            return work()
        return await anyio.to_thread.run_sync(work, limiter=self.limiter)

    def _records(self, leads: list[Lead]) -> list[dict[str, Any]]:
        records = lead_records(leads)
        check_batch(records, self.model)
        return records

    def _warnings(self, records: list[dict[str, Any]]) -> list[FieldWarning]:
        return field_warnings(records, self.model)

    @app.post("/score", operation_id="score", response_model=ScoreResponse, **_ROUTE)
    @answers_raw_body("score_json")
    async def score(self, body: ScoreRequest) -> Response:
        """Score 1 to 1,000 leads: P(accept), P(close), score, tier and the top-k reasons."""
        # Only reached when score_json leaves a body to FastAPI (see JSONBodyRoute).
        records = self._records(body.leads)
        work = lambda: score_requests(self.model, self.ref, [(records, body.k)])[0]  # noqa: E731
        return Response(await self._run(len(records), work), media_type="application/json")

    async def score_json(self, body: bytes) -> Response | None:
        """``/score`` from its raw JSON body, read where the model work is done.

        None for a body that is not a valid request: FastAPI reads it again and refuses it
        as it refuses any invalid body (the same 4xx).
        """
        status, result = await self.scorer(body)
        if status == "ok":
            return Response(result, media_type="application/json")
        if status == "refused":
            raise RequestProblem(result)
        return None

    @app.post("/explain", operation_id="explain", response_model=ExplainResponse, **_ROUTE)
    async def explain_contributions(self, body: ExplainRequest) -> dict[str, Any]:
        """Every field's contribution, in score points, to both stages of every lead."""
        records = self._records(body.leads)

        def work() -> dict[str, Any]:
            frame = pd.DataFrame.from_records(records)
            predictions = self.model.predict(frame).to_dict(orient="records")
            contributions = explain.full_contributions(self.model, frame)
            leads = [
                prediction
                | {"contributions": {stage: contrib[stage] for stage in self.model.stages}}
                for prediction, contrib in zip(predictions, contributions, strict=True)
            ]
            return {"model": self.ref, "leads": leads, "warnings": self._warnings(records)}

        return await self._run(len(records), work)

    @app.post("/whatif", operation_id="whatif", response_model=WhatIfResponse, **_ROUTE)
    async def whatif(self, body: WhatIfRequest) -> dict[str, Any]:
        """Score one lead as it is and with some fields changed; per-field points change."""
        lead, changes = body.lead.model_dump(), dict(body.changes)
        try:  # the changed lead obeys the same rules as any lead
            changed = Lead.model_validate(lead | changes).model_dump()
        except ValidationError as exc:
            raise RequestProblem(
                [_whatif_problem(p, changes) for p in problems_from_pydantic(exc.errors())]
            ) from None
        check_batch([lead], self.model, where="lead")
        check_batch([changed], self.model, where="changes")
        try:
            result = explain.what_if(self.model, lead, {f: changed[f] for f in changes})
        except ValueError as exc:
            field, _, text = str(exc).partition(": ")
            where = f"changes.{field}" if field in changes else "lead"
            raise RequestProblem([Problem(where, field, None, text or str(exc))]) from None
        return result | {"model": self.ref, "warnings": self._warnings([lead, changed])}

    @app.get(
        "/model",
        operation_id="model",
        response_model=ModelInfo,
        responses={401: _ERRORS[401]},
        openapi_extra={"security": BEARER_SECURITY},
    )
    def model_info(self) -> ModelInfo:
        """The model in service: name, version, alias, training date, metrics, features."""
        metadata = self.model.metadata
        metrics = {
            stage: {
                name: float(value) if value is not None else None
                for name, value in values.items()
                if value is None or isinstance(value, int | float)
            }
            for stage, values in (metadata.get("metrics") or {}).items()
        }
        return ModelInfo(
            name=self.info.get("name"),
            version=_version(self.info.get("version")),
            alias=self.info.get("alias"),
            uri=self.info["uri"],
            trained_at=metadata.get("trained_at"),
            metrics=metrics,
            features=explain.model_fields(self.model),
            stages=list(self.model.stages),
            tiers=dict(self.model.tier_thresholds),
            readiness=(metadata.get("readiness") or {}).get("verdict"),
            readiness_reasons=(metadata.get("readiness") or {}).get("reasons") or [],
        )
