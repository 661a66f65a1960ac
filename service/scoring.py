"""From validated ``/score`` requests to response bodies: the work of a scoring call.

Free of BentoML and FastAPI, so the same functions run in the service's event loop and in
its scoring process (:mod:`service.model_process`): a request gets the same bytes either
way. The model work itself is :func:`leadmodel.explain.explain_leads`, what batch scoring
and the reports use.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pydantic_core
from pydantic import BaseModel, ValidationError

from leadmodel import explain, schema
from leadmodel.model import FunnelModel
from service.api import FieldWarning, Lead, ModelRef, ScoreRequest
from service.errors import Problem, RequestProblem

#: Unknown values quoted in a warning's message (all of them are in ``values``).
WARNING_QUOTED_VALUES = 5
#: One ``/score`` request as the scoring call takes it: its lead records and its ``k``.
ScoreCall = tuple[list[dict[str, Any]], int]
#: What :func:`answer_bodies` says of a request body: ``("ok", response body)``,
#: ``("refused", problems)`` (a 422 naming them) or ``("invalid", None)`` (the body is
#: not a valid request: FastAPI reads it again and reports why).
Answer = tuple[str, Any]
_NOT_A_NUMBER = "must be a finite number (the model reads this field as a number)"


def lead_records(leads: list[Lead]) -> list[dict[str, Any]]:
    """Validated request leads as plain records (canonical fields and extra fields)."""
    return [lead.model_dump() for lead in leads]


def _loc(where: str, index: int, field: str) -> str:
    return f"{where}.{field}" if where in ("lead", "changes") else f"{where}[{index}].{field}"


def check_batch(records: list[dict[str, Any]], model: FunnelModel, where: str = "leads") -> None:
    """Refuse what pydantic cannot see: duplicate ids, extra numeric features not numbers.

    Extra numeric features are typed in place (:func:`leadmodel.schema.parse_value`: a
    JSON number as it is, text such as ``"1,200"`` by ingest's rules, ``"2,5"`` refused),
    so only numbers reach the model.

    ``where`` names the rows in messages: ``leads`` (``leads[3].x``), or ``lead`` /
    ``changes`` for the single lead of a what-if (``changes.x``).
    """
    problems = []
    first: dict[Any, int] = {}
    for i, record in enumerate(records):
        at = first.setdefault(record.get(schema.LEAD_ID), i)
        if at != i:
            message = f"duplicate of {where}[{at}]"
            problems.append(Problem(f"{where}[{i}].{schema.LEAD_ID}", schema.LEAD_ID, i, message))
    for field in model.features.numeric_:
        if field in Lead.model_fields:
            continue  # canonical numbers are typed by the request model
        for i, record in enumerate(records):  # text becomes a number by the schema's parser
            if record.get(field) is None:
                continue
            try:
                record[field] = schema.parse_value(field, record[field], numeric=True)
            except schema.ValueProblem:
                problems.append(Problem(_loc(where, i, field), field, i, _NOT_A_NUMBER))
    if problems:
        raise RequestProblem(problems)


def response_body(model: type[BaseModel], content: dict[str, Any]) -> bytes:
    """``content`` checked against ``model`` and written by pydantic's own JSON writer.

    What FastAPI does with a route's ``response_model``, without the detour through
    Python objects and ``json.dumps`` (a third of the time of a 1,000-lead answer).
    """
    return model.model_validate(content).model_dump_json(exclude_unset=True).encode()


def field_warnings(records: list[dict[str, Any]], model: FunnelModel) -> list[FieldWarning]:
    """Values scored as unknown, and given fields the model does not read."""
    warnings = []
    for field, values in model.features.unknown_values(records).items():
        quoted = ", ".join(values[:WARNING_QUOTED_VALUES])
        hidden = len(values) - WARNING_QUOTED_VALUES
        more = f" (and {hidden} more)" if hidden > 0 else ""
        message = f"{field}: not seen in training, scored as unknown: {quoted}{more}"
        warnings.append(FieldWarning(field=field, values=values, message=message))
    used = set(model.features.feature_names_) | schema.NON_FEATURE_COLUMNS
    fields = dict.fromkeys(key for record in records for key in record)  # in request order
    given = {key for record in records for key, value in record.items() if value is not None}
    for field in (f for f in fields if f in given and f not in used):
        message = f"{field}: not a field this model reads; ignored"
        warnings.append(FieldWarning(field=field, values=[], message=message))
    return warnings


def score_body(ref: ModelRef, leads: list[dict[str, Any]], warnings: list[FieldWarning]) -> bytes:
    """The ``/score`` body :func:`response_body` writes for ``ScoreResponse``, 8x faster.

    The leads come from :func:`leadmodel.explain.explain_leads` with plain Python values,
    so pydantic's writer takes them as they are; the one value validation would change
    (a whole-number reason value, which ``ScoredLead`` reads as a float) is made a float
    here. Tests check the bytes are those of :func:`response_body`.
    """
    for lead in leads:
        for reason in lead["reasons"]:
            value = reason["value"]
            if type(value) is int:
                reason["value"] = float(value)
    return pydantic_core.to_json({"model": ref, "leads": leads, "warnings": warnings})


def score_requests(model: FunnelModel, ref: ModelRef, calls: Sequence[ScoreCall]) -> list[bytes]:
    """The ``/score`` response body of each request, their leads explained in one call.

    Requests are joined only when each lead is read on its own
    (:func:`leadmodel.explain.plain_records`), so a request's answer does not depend on
    the others. The call ranks the largest ``k`` of them; each request keeps its own
    first ``k`` reasons (the top ``k`` are the first ``k`` of any longer ranking).
    """
    records = [record for request, _ in calls for record in request]
    k = max((k for _, k in calls), default=0)
    keys = [schema.LEAD_ID, *model.output_columns, "reasons"]
    explained = explain.explain_leads(model, records, k=k, signed=False)
    bodies, start = [], 0
    for request, request_k in calls:
        end = start + len(request)
        leads = [{key: lead[key] for key in keys} for lead in explained[start:end]]
        start = end
        if request_k < k:
            leads = [lead | {"reasons": lead["reasons"][:request_k]} for lead in leads]
        bodies.append(score_body(ref, leads, field_warnings(request, model)))
    return bodies


def answer_bodies(model: FunnelModel, ref: ModelRef, bodies: Sequence[bytes]) -> list[Answer]:
    """What to answer to each raw ``/score`` body (see :data:`Answer`).

    Bodies are read as FastAPI's route would read them (``ScoreRequest``, then
    :func:`check_batch`); the leads of plain requests are explained in one call
    (:func:`score_requests`), any other request on its own.
    """
    answers: list[Answer | None] = [None] * len(bodies)
    joined: list[ScoreCall] = []
    joined_at: list[int] = []
    for i, body in enumerate(bodies):
        try:
            request = ScoreRequest.model_validate_json(body)
            records = lead_records(request.leads)
            check_batch(records, model)
        except ValidationError:
            answers[i] = ("invalid", None)
            continue
        except RequestProblem as exc:
            answers[i] = ("refused", exc.problems)
            continue
        if explain.plain_records(model, records):
            joined.append((records, request.k))
            joined_at.append(i)
        else:  # values pandas must read: this request's leads only, as they came
            answers[i] = ("ok", score_requests(model, ref, [(records, request.k)])[0])
    if joined:
        for i, body in zip(joined_at, score_requests(model, ref, joined), strict=True):
            answers[i] = ("ok", body)
    return [answer for answer in answers if answer is not None]
