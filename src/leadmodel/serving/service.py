"""The prediction endpoint the CRM calls: a BentoML service around :mod:`leadmodel`.

Thin by design. A request is read and validated by FastAPI with the pydantic models of
:mod:`leadmodel.serving.api`; its route hands it to the :class:`~.scoring.Scorer` the
service loaded at start-up, which calls the same library functions batch scoring uses, so
serving and training cannot drift.

The endpoints are plain routes of a FastAPI app mounted on the BentoML service
(``@bentoml.asgi_app``); BentoML's own ``/healthz``, ``/livez``, ``/readyz``, ``/metrics``
and the OpenAPI page ``/docs.json`` stay as they are. FastAPI gives full control of
refused requests: every 4xx names the field and the lead's index, and no bad input ends
in a 500.

Start it with ``leadmodel serve`` (from any folder), ``make serve``, or
``bentoml serve leadmodel.serving.service:LeadScorerService``. Configuration comes from
the environment, read at start-up (never at import):

``LEADMODEL_MODEL_URI``
    MLflow model to serve (default ``models:/lead-scorer@champion``).
``MLFLOW_TRACKING_URI``
    Where the registry lives (default ``sqlite:///mlflow.db``).
``LEADMODEL_API_TOKEN``
    When set, every API endpoint requires ``Authorization: Bearer <token>``.
``LEADMODEL_LOG_DIR``
    The prediction log's folder (``leadmodel serve --log``), ``off`` to switch it off.
``LEADMODEL_LOG_FLUSH_SECONDS``, ``LEADMODEL_RELOAD_SECONDS``
    How often the log is written (default 1) and the registry polled (default 10; 0 = off).
``LEADMODEL_LANG``
    Language of the answers' texts (``en`` or ``da``) when a request gives no ``lang``.

A ``/score`` or ``/explain`` request is answered in its ``lang`` (reasons, warnings, the
error lines of a refused request): the route runs the scoring inside
:func:`leadmodel.i18n.using`, so concurrent requests each keep their own language.

Every score ``/score`` and ``/explain`` hand out is recorded in the prediction log
(:mod:`.scorelog`: in memory during the request, written by a thread every
``flush_seconds``; the shutdown hook writes the rest). When the service serves an alias,
:class:`~.reload.ModelWatcher` follows it and swaps a moved model in without a restart.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import bentoml
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from leadmodel import i18n, predlog, tracking
from leadmodel.i18n import _
from leadmodel.serving import bentoml_fix
from leadmodel.serving.api import (
    ErrorResponse,
    ExplainRequest,
    ExplainResponse,
    ModelInfo,
    ScoreRequest,
    ScoreResponse,
    WhatIfRequest,
    WhatIfResponse,
)
from leadmodel.serving.document import BEARER_SECURITY, DocumentedService
from leadmodel.serving.errors import Problem, RequestProblem, error_body, problems_from_pydantic
from leadmodel.serving.guard import MAX_BODY_BYTES, RequestGuard, refusal
from leadmodel.serving.reload import ModelWatcher
from leadmodel.serving.scorelog import ServiceLog
from leadmodel.serving.scoring import Scorer, alias_of
from leadmodel.serving.settings import (
    NO_TOKEN,
    REQUEST_TIMEOUT_S,
    SERVICE_NAME,
    ServiceSettings,
    SettingsError,
    service_settings,
)

logger = logging.getLogger("leadmodel.service")
bentoml_fix.install()  # BentoML's own request timeout leaves a live timer per request

T = TypeVar("T")

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
app.add_middleware(RequestGuard)


# --- refused requests: one line naming the field and the lead --------------------------------
def _problem_response(problems: list[Problem], status: int) -> JSONResponse:
    return JSONResponse(error_body(problems), status_code=status)


@app.exception_handler(RequestValidationError)
async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = list(exc.errors())
    with i18n.using(_asked_language(exc.body)):
        if any(e.get("type") == "json_invalid" for e in errors):
            return refusal("body", _("malformed JSON"), 400)
        return _problem_response(problems_from_pydantic(errors, strip=1), 422)


def _asked_language(body: Any) -> str | None:
    """The ``lang`` of a refused request's body when it is one the service has, else None
    (the server's language): a request with a wrong ``lang`` is answered in the default."""
    lang = body.get("lang") if isinstance(body, dict) else None
    return lang if lang in i18n.LANGUAGES else None


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
    logger.error("unexpected %s on %s\n%s", type(exc).__name__, request.url.path, frames)
    return refusal("service", _("unexpected error; the request was not the cause"), 500)


# --- the routes: each hands its validated request to the service's Scorer --------------------
def _service() -> LeadScorerService:
    """The service instance of this worker (BentoML builds it before serving)."""
    return bentoml.get_current_service()  # type: ignore[no-any-return]


@app.post("/score", operation_id="score", response_model=ScoreResponse, **_ROUTE)
async def score(body: ScoreRequest) -> Response:
    """Score 1 to 1,000 leads: P(accept), P(close), score, tier and the top-k reasons."""
    service = _service()

    def work() -> bytes:
        with i18n.using(body.lang):
            return service.scorer.score(body, service.log)

    answer = await service.run(len(body.leads), work)
    return Response(answer, media_type="application/json")


@app.post("/explain", operation_id="explain", response_model=ExplainResponse, **_ROUTE)
async def explain_contributions(body: ExplainRequest) -> dict[str, Any]:
    """Every field's contribution, in score points, to both stages of every lead."""
    service = _service()

    def work() -> dict[str, Any]:
        with i18n.using(body.lang):
            return service.scorer.explain(body, service.log)

    return await service.run(len(body.leads), work)


@app.post("/whatif", operation_id="whatif", response_model=WhatIfResponse, **_ROUTE)
async def whatif(body: WhatIfRequest) -> dict[str, Any]:
    """Score one lead as it is and with some fields changed; per-field points change."""
    return _service().scorer.what_if(body)


@app.get(
    "/model",
    operation_id="model",
    response_model=ModelInfo,
    responses={401: _ERRORS[401]},
    openapi_extra={"security": BEARER_SECURITY},
)
async def model_info() -> ModelInfo:
    """The model in service: name, version, alias, training date, metrics, features."""
    return _service().scorer.model_info()


# --- the BentoML service -------------------------------------------------------------------
@bentoml.service(
    name=SERVICE_NAME,
    description=API_DESCRIPTION,
    service_class=DocumentedService,
    traffic={"timeout": REQUEST_TIMEOUT_S},
)
@bentoml.asgi_app(app, path="/")
class LeadScorerService:
    """Scores CRM leads with the model loaded once at start-up from the MLflow registry."""

    @bentoml.on_deployment
    def check_start() -> None:
        """Before any worker starts: the settings are usable (``LEADMODEL_LANG`` a language
        the service has), the log folder is writable and the model loads.

        Else one clear line and exit 1. Without a token the API is open: one warning says
        so (here, once per server, not once per worker).
        """
        try:
            settings = service_settings()
            i18n.resolve(None)  # LEADMODEL_LANG, if set, is a language with a catalogue
            if settings.api_token is None:
                logger.warning("%s", NO_TOKEN)
            _check_log_dir(settings)
            tracking.load_funnel(settings.model_uri)
        except (
            SettingsError,
            i18n.LanguageError,
            predlog.LogError,
            tracking.ModelNotFound,
        ) as exc:
            sys.stderr.write(f"error: {exc}\n")
            sys.stderr.flush()
            raise SystemExit(1) from None

    def __init__(self) -> None:
        self.settings = service_settings()
        uri = self.settings.model_uri
        try:
            self.scorer = Scorer.load(uri)
        except tracking.ModelNotFound as exc:
            logger.error("%s", exc)
            raise SystemExit(1) from None
        _freeze_heap()
        # One large request at a time in a thread: concurrent ones only fight over the GIL
        # and make every request slow instead of some waiting.
        self.limiter = anyio.CapacityLimiter(1)
        folder = self.settings.log_dir
        self.log = None if folder is None else ServiceLog(folder, self.settings.flush_seconds)
        self.watcher = None
        if alias_of(uri) is not None and self.settings.reload_seconds > 0:
            self.watcher = ModelWatcher(
                uri, self.settings.reload_seconds, lambda: self.scorer, self._swap
            ).start()
        ref = self.scorer.ref
        logger.info("serving %s (name %s, version %s)", uri, ref.name, ref.version)
        logger.info(
            "prediction log: %s",
            "off"
            if folder is None
            else f"{folder} (written every {self.settings.flush_seconds:g} s)",
        )

    def _swap(self, scorer: Scorer) -> None:
        """Put ``scorer`` in service: requests already running finish with the old one."""
        self.scorer = scorer
        _freeze_heap(again=True)

    @bentoml.on_shutdown
    def shutdown(self) -> None:
        """Stop following the registry and write every logged score not yet written."""
        if self.watcher is not None:
            self.watcher.close()
        if self.log is not None:
            self.log.close()
            logger.info("prediction log: written, %s rows", self.log.background.rows_written)

    async def run(self, leads: int, work: Callable[[], T]) -> T:
        """Run model work: in the event loop for a few leads, else in a worker thread."""
        if leads <= self.settings.inline_leads:
            return work()
        return await anyio.to_thread.run_sync(work, limiter=self.limiter)


def _check_log_dir(settings: ServiceSettings) -> None:
    """The prediction log's folder exists (made if need be) and is writable."""
    folder = settings.log_dir
    if folder is None:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise predlog.LogError(
            _("prediction log {folder}: cannot create it ({problem})").format(
                folder=folder, problem=exc
            )
        ) from None
    if not os.access(folder, os.W_OK):
        raise predlog.LogError(
            _("prediction log {folder}: folder is not writable").format(folder=folder)
        )


def _freeze_heap(again: bool = False) -> None:
    """Move the model's heap out of the garbage collector's sight.

    The model, MLflow and pandas leave a large heap behind: frozen, it is not walked again
    by every full collection while a request builds its answer. ``again`` (after a swap):
    unfreeze first, so the model swapped out can be collected.
    """
    if again:
        gc.unfreeze()
    gc.collect()
    gc.freeze()
