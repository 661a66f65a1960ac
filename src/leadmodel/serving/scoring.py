"""From validated requests to answers: what each endpoint asks of the library.

Free of BentoML and FastAPI: :class:`Scorer` holds the model loaded once at start-up and
answers ``/score``, ``/explain``, ``/whatif`` and ``/model`` with the functions batch
scoring and the reports use (:func:`leadmodel.explain.explain_leads`,
:func:`~leadmodel.explain.full_contributions`, :func:`~leadmodel.explain.what_if`,
:meth:`FunnelModel.predict <leadmodel.model.FunnelModel.predict>`). It adds no model logic:
only the checks pydantic cannot make (duplicate ids, extra numeric fields), the warnings
and the response bodies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
import pydantic_core
from mlflow import MlflowClient
from pydantic import BaseModel, ValidationError

from leadmodel import explain, i18n, schema, tracking
from leadmodel.features import RecordColumns, as_columns
from leadmodel.i18n import N_, _
from leadmodel.model import FunnelModel
from leadmodel.serving.api import (
    ExplainRequest,
    FieldWarning,
    Lead,
    ModelInfo,
    ModelRef,
    ScoreRequest,
    WhatIfRequest,
)
from leadmodel.serving.errors import Problem, RequestProblem, problems_from_pydantic

if TYPE_CHECKING:
    from leadmodel.serving.scorelog import ServiceLog

#: Unknown values quoted in a warning's message (all of them are in ``values``).
WARNING_QUOTED_VALUES = 5
_NOT_A_NUMBER = N_("must be a finite number (the model reads this field as a number)")
#: The lead a freshly loaded model scores before it serves (every field unknown).
CHECK_LEAD_ID = "start-check"


def alias_of(uri: str) -> tuple[str, str] | None:
    """``(name, alias)`` of a ``models:/NAME@ALIAS`` URI, else None (a fixed version)."""
    if not uri.startswith("models:/") or "@" not in uri:
        return None
    name, _, alias = uri[len("models:/") :].partition("@")
    return name, alias


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
            message = _("duplicate of {row}").format(row=f"{where}[{at}]")
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
                problems.append(Problem(_loc(where, i, field), field, i, _(_NOT_A_NUMBER)))
    if problems:
        raise RequestProblem(problems)


def response_body(model: type[BaseModel], content: dict[str, Any]) -> bytes:
    """``content`` checked against ``model`` and written by pydantic's own JSON writer.

    What FastAPI does with a route's ``response_model``; the reference
    :func:`score_body` is tested against.
    """
    return model.model_validate(content).model_dump_json(exclude_unset=True).encode()


def field_warnings(
    records: list[dict[str, Any]], model: FunnelModel, columns: RecordColumns | None = None
) -> list[FieldWarning]:
    """Values scored as unknown, and given fields the model does not read.

    ``columns``: the records already read by column for scoring (saves reading them again).
    """
    warnings = []
    unknown = model.features.unknown_values(columns if columns is not None else records)
    for field, values in unknown.items():
        quoted = ", ".join(values[:WARNING_QUOTED_VALUES])
        hidden = len(values) - WARNING_QUOTED_VALUES
        more = _(" (and {count} more)").format(count=i18n.number(hidden)) if hidden > 0 else ""
        message = _("{field}: not seen in training, scored as unknown: {values}{more}").format(
            field=field, values=quoted, more=more
        )
        warnings.append(FieldWarning(field=field, values=values, message=message))
    used = set(model.features.feature_names_) | schema.NON_FEATURE_COLUMNS
    fields = dict.fromkeys(key for record in records for key in record)  # in request order
    given = {key for record in records for key, value in record.items() if value is not None}
    for field in (f for f in fields if f in given and f not in used):
        message = _("{field}: not a field this model reads; ignored").format(field=field)
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


def _version(value: Any) -> str | None:
    return None if value is None else str(value)


def _whatif_problem(problem: Problem, changes: dict[str, Any]) -> Problem:
    """Locate a problem of the changed lead: in ``changes`` when a change caused it."""
    if problem.field in changes:
        return Problem(f"changes.{problem.field}", problem.field, None, problem.message)
    return Problem(f"lead.{problem.loc}", problem.field, None, problem.message)


class Scorer:
    """The model in service and the answers it gives; one per worker, built at start-up."""

    def __init__(self, model: FunnelModel, info: dict[str, Any]) -> None:
        self.model = model
        self.info = info
        self.ref = ModelRef(
            name=info.get("name"), version=_version(info.get("version")), uri=info["uri"]
        )

    @classmethod
    def load(cls, uri: str, version: str | None = None) -> Scorer:
        """The model at ``uri`` (raises :class:`leadmodel.tracking.ModelNotFound`).

        For an alias (``models:/NAME@ALIAS``) the version it points to is read first
        (or ``version`` given) and that version is loaded, so the version the answers
        carry is the one loaded even when the alias moves meanwhile.
        """
        alias = alias_of(uri)
        if alias is not None and version is None:
            tracking.use_tracking()
            found = tracking.get_alias_version(MlflowClient(), *alias)
            version = None if found is None else str(found)
        if alias is not None and version is not None:
            model, info = tracking.load_funnel(f"models:/{alias[0]}/{version}")
            info = info | {"uri": uri, "alias": alias[1]}
        else:  # a fixed URI, or an alias that is not set (load_funnel says so)
            model, info = tracking.load_funnel(uri)
        for stage in model.stages.values():  # now, not in the first request
            stage.contribution_tables()
        return cls(model, info)

    def check(self) -> None:
        """Score one lead with every field unknown, as a request would (raises if not)."""
        request = ScoreRequest(leads=[Lead(lead_id=CHECK_LEAD_ID)])
        self.score(request)

    def records(self, leads: list[Lead], where: str = "leads") -> list[dict[str, Any]]:
        """Validated request leads as plain records, refused as :func:`check_batch` says."""
        records = lead_records(leads)
        check_batch(records, self.model, where=where)
        return records

    def score(self, request: ScoreRequest, log: ServiceLog | None = None) -> bytes:
        """The ``/score`` response body: scores and the top ``k`` reasons of every lead.

        ``log``: the prediction log the answer is recorded in (in memory; written later).
        """
        records = self.records(request.leads)
        keys = [schema.LEAD_ID, *self.model.output_columns, "reasons"]
        columns = as_columns(records)  # read once: the scores and the warnings share it
        explained = explain.explain_leads(self.model, columns, k=request.k, signed=False)
        leads = [{key: lead[key] for key in keys} for lead in explained]
        body = score_body(self.ref, leads, field_warnings(records, self.model, columns))
        if log is not None:
            log.scored(self, records, leads)
        return body

    def explain(self, request: ExplainRequest, log: ServiceLog | None = None) -> dict[str, Any]:
        """Every field's contribution, in score points, to every stage of every lead.

        ``log``: the prediction log the scores are recorded in (in memory; written later).
        """
        records = self.records(request.leads)
        frame = pd.DataFrame.from_records(records)
        predictions = self.model.predict(frame).to_dict(orient="records")
        if log is not None:
            log.explained(self, records, predictions)
        contributions = explain.full_contributions(self.model, frame)
        leads = [
            prediction | {"contributions": {stage: contrib[stage] for stage in self.model.stages}}
            for prediction, contrib in zip(predictions, contributions, strict=True)
        ]
        return {"model": self.ref, "leads": leads, "warnings": field_warnings(records, self.model)}

    def what_if(self, request: WhatIfRequest) -> dict[str, Any]:
        """Old and new scores of one lead when some of its fields change."""
        lead, changes = request.lead.model_dump(), dict(request.changes)
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
        warnings = field_warnings([lead, changed], self.model)
        return result | {"model": self.ref, "warnings": warnings}

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
        readiness = metadata.get("readiness") or {}
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
            readiness=readiness.get("verdict"),
            readiness_reasons=readiness.get("reasons") or [],
        )
