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

import logging
import sys
import threading
import traceback
from typing import Any

import bentoml
import numpy as np
import pandas as pd
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from leadmodel import explain, schema, tracking
from leadmodel.features import to_numeric
from leadmodel.model import FunnelModel
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
from service.errors import Problem, RequestProblem, error_body, problems_from_pydantic
from service.guard import MAX_BODY_BYTES, RequestGuard, refusal

logger = logging.getLogger("leadmodel.service")

#: Seconds one request may take before BentoML answers 504.
REQUEST_TIMEOUT_S = 60
#: Unknown values quoted in a warning's message (all of them are in ``values``).
WARNING_QUOTED_VALUES = 5
_NOT_A_NUMBER = "must be a finite number (the model reads this field as a number)"

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


#: Route options shared by the POST endpoints: documented errors, p_accept only when present.
_ROUTE: dict[str, Any] = {"responses": _ERRORS, "response_model_exclude_unset": True}


def _problem_response(problems: list[Problem], status: int) -> JSONResponse:
    return JSONResponse(error_body(problems), status_code=status)


# --- the FastAPI app: routes are methods of the BentoML service class below -----------------
app = FastAPI(
    title="leadmodel scoring API",
    description="P(accept), P(close), a 0-100 score, a tier and the reasons, per CRM lead.",
    version="1",
    docs_url=None,
    redoc_url=None,
    openapi_url=None,
)


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
    logger.error("unexpected %s on %s\n%s", type(exc).__name__, request.url.path, frames)
    return refusal("service", "unexpected error; the request was not the cause", 500)


app.add_middleware(RequestGuard)


# --- from validated requests to the library's lead table ------------------------------------
def leads_frame(leads: list[Lead]) -> pd.DataFrame:
    """The canonical lead table of validated request leads (extra fields as columns)."""
    return pd.DataFrame([lead.model_dump() for lead in leads])


def _loc(where: str, index: int, field: str) -> str:
    return f"{where}.{field}" if where in ("lead", "changes") else f"{where}[{index}].{field}"


def check_batch(frame: pd.DataFrame, model: FunnelModel, where: str = "leads") -> None:
    """Refuse what pydantic cannot see: duplicate ids, extra numeric features not numbers.

    ``where`` names the rows in messages: ``leads`` (``leads[3].x``), or ``lead`` /
    ``changes`` for the single lead of a what-if (``changes.x``).
    """
    codes, _ = pd.factorize(frame[schema.LEAD_ID])
    _, first_at = np.unique(codes, return_index=True)
    first = first_at[codes]
    problems = [
        Problem(
            f"{where}[{i}].{schema.LEAD_ID}",
            schema.LEAD_ID,
            int(i),
            f"duplicate of {where}[{first[i]}]",
        )
        for i in np.flatnonzero(first != np.arange(len(codes)))
    ]
    for field in model.features.numeric_:
        if field in Lead.model_fields or field not in frame:
            continue  # canonical numbers are typed by the request model
        given = frame[field].notna().to_numpy()
        number = to_numeric(frame[field]).to_numpy(dtype=float)
        problems += [
            Problem(_loc(where, i, field), field, int(i), _NOT_A_NUMBER)
            for i in np.flatnonzero(given & ~np.isfinite(number))
        ]
    if problems:
        raise RequestProblem(problems)


def field_warnings(frame: pd.DataFrame, model: FunnelModel) -> list[FieldWarning]:
    """Values scored as unknown, and given fields the model does not read."""
    warnings = []
    for field, values in model.features.unknown_values(frame).items():
        quoted = ", ".join(values[:WARNING_QUOTED_VALUES])
        hidden = len(values) - WARNING_QUOTED_VALUES
        more = f" (and {hidden} more)" if hidden > 0 else ""
        message = f"{field}: not seen in training, scored as unknown: {quoted}{more}"
        warnings.append(FieldWarning(field=field, values=values, message=message))
    used = set(model.features.feature_names_) | schema.NON_FEATURE_COLUMNS
    unused = (c for c in frame.columns if c not in used)  # look only at these for values
    for field in (c for c in unused if frame[c].notna().any()):
        message = f"{field}: not a field this model reads; ignored"
        warnings.append(FieldWarning(field=field, values=[], message=message))
    return warnings


def _version(value: Any) -> str | None:
    return None if value is None else str(value)


def _whatif_problem(problem: Problem, changes: dict[str, Any]) -> Problem:
    """Locate a problem of the changed lead: in ``changes`` when a change caused it."""
    if problem.field in changes:
        return Problem(f"changes.{problem.field}", problem.field, None, problem.message)
    return Problem(f"lead.{problem.loc}", problem.field, None, problem.message)


# --- the BentoML service -------------------------------------------------------------------
@bentoml.service(name="lead_scorer", traffic={"timeout": REQUEST_TIMEOUT_S})
@bentoml.asgi_app(app, path="/")
class LeadScorerService:
    """Scores CRM leads with the model loaded once at start-up from the MLflow registry."""

    @bentoml.on_deployment
    def check_model() -> None:
        """Before any worker starts: the model must load, else one clear line and exit 1."""
        try:
            tracking.load_funnel(tracking.default_model_uri())
        except tracking.ModelNotFound as exc:
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
        # One model call at a time per worker: concurrent calls only fight over the GIL
        # and LightGBM's threads, and make every request slow instead of some waiting.
        self.busy = threading.Lock()
        self.ref = ModelRef(
            name=info.get("name"), version=_version(info.get("version")), uri=info["uri"]
        )
        logger.info("serving %s (name %s, version %s)", uri, self.ref.name, self.ref.version)

    def _frame(self, leads: list[Lead]) -> pd.DataFrame:
        frame = leads_frame(leads)
        check_batch(frame, self.model)
        return frame

    def _warnings(self, frame: pd.DataFrame) -> list[FieldWarning]:
        return field_warnings(frame, self.model)

    @app.post("/score", operation_id="score", response_model=ScoreResponse, **_ROUTE)
    def score(self, body: ScoreRequest) -> dict[str, Any]:
        """Score 1 to 1,000 leads: P(accept), P(close), score, tier and the top-k reasons."""
        frame = self._frame(body.leads)
        keys = [schema.LEAD_ID, *self.model.output_columns, "reasons"]
        with self.busy:
            explained = explain.explain_leads(self.model, frame, k=body.k)
        leads = [{key: lead[key] for key in keys} for lead in explained]
        return {"model": self.ref, "leads": leads, "warnings": self._warnings(frame)}

    @app.post("/explain", operation_id="explain", response_model=ExplainResponse, **_ROUTE)
    def explain_contributions(self, body: ExplainRequest) -> dict[str, Any]:
        """Every field's contribution, in score points, to both stages of every lead."""
        frame = self._frame(body.leads)
        with self.busy:
            predictions = self.model.predict(frame).to_dict(orient="records")
            contributions = explain.full_contributions(self.model, frame)
        leads = [
            prediction | {"contributions": {stage: contrib[stage] for stage in self.model.stages}}
            for prediction, contrib in zip(predictions, contributions, strict=True)
        ]
        return {"model": self.ref, "leads": leads, "warnings": self._warnings(frame)}

    @app.post("/whatif", operation_id="whatif", response_model=WhatIfResponse, **_ROUTE)
    def whatif(self, body: WhatIfRequest) -> dict[str, Any]:
        """Score one lead as it is and with some fields changed; per-field points change."""
        lead, changes = body.lead.model_dump(), dict(body.changes)
        try:  # the changed lead obeys the same rules as any lead
            changed = Lead.model_validate(lead | changes).model_dump()
        except ValidationError as exc:
            raise RequestProblem(
                [_whatif_problem(p, changes) for p in problems_from_pydantic(exc.errors())]
            ) from None
        frame = pd.DataFrame([lead, changed])
        check_batch(frame.iloc[:1], self.model, where="lead")
        check_batch(frame.iloc[1:].reset_index(drop=True), self.model, where="changes")
        try:
            with self.busy:
                result = explain.what_if(self.model, lead, {f: changed[f] for f in changes})
        except ValueError as exc:
            field, _, text = str(exc).partition(": ")
            where = f"changes.{field}" if field in changes else "lead"
            raise RequestProblem([Problem(where, field, None, text or str(exc))]) from None
        return result | {"model": self.ref, "warnings": self._warnings(frame)}

    @app.get(
        "/model", operation_id="model", response_model=ModelInfo, responses={401: _ERRORS[401]}
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
        )
