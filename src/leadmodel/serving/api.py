"""The HTTP contract of the scoring service: pydantic request and response models.

Every field has a description and the models carry examples, so the OpenAPI page
(``/docs.json``, rendered at ``/``) documents the API by itself. ``Lead`` is generated
from the canonical field table (:data:`leadmodel.schema.FIELDS`: types, ``>= 0``, finite
numbers, allowed awareness levels); the service turns a failed validation into a 4xx that
names the field and the lead's index.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from leadmodel.schema import EXAMPLE_LEAD, ExtraValue, Lead

#: Leads per ``/score`` or ``/explain`` request.
MAX_LEADS = 1_000
#: Reasons per lead returned by ``/score`` unless the request sets ``k``.
DEFAULT_REASONS = 3
#: Upper bound of ``k`` (more reasons than this are a report, not a reason list).
MAX_REASONS = 20
#: Languages a request may ask for (those of :data:`leadmodel.i18n.LANGUAGES`).
Language = Literal["en", "da"]
LANG_DESCRIPTION = (
    "Language of the texts in the answer (reasons, warnings, error lines): `en` or `da`; "
    "default: the server's `LEADMODEL_LANG`, else English. Field names, codes and tier "
    "letters do not change with the language."
)


class ScoreRequest(BaseModel):
    """Leads to score, and how many reasons to return per lead."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"leads": [EXAMPLE_LEAD], "k": 3}]}
    )

    leads: list[Lead] = Field(
        min_length=1,
        max_length=MAX_LEADS,
        description=f"1 to {MAX_LEADS:,} leads; `lead_id` must be unique within the request.",
    )
    k: int = Field(
        DEFAULT_REASONS,
        ge=0,
        le=MAX_REASONS,
        strict=True,
        description="Reasons per lead: the fields that moved the score most.",
    )
    lang: Language | None = Field(None, description=LANG_DESCRIPTION)


class ExplainRequest(BaseModel):
    """Leads whose full per-field contributions are wanted."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"leads": [EXAMPLE_LEAD]}]}
    )

    leads: list[Lead] = Field(
        min_length=1,
        max_length=MAX_LEADS,
        description=f"1 to {MAX_LEADS:,} leads; `lead_id` must be unique within the request.",
    )
    lang: Language | None = Field(None, description=LANG_DESCRIPTION)


class WhatIfRequest(BaseModel):
    """One lead and the field values to try instead."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"lead": EXAMPLE_LEAD, "changes": {"prior_awareness": "high"}}]
        },
    )

    lead: Lead = Field(description="The lead as it is now.")
    changes: dict[str, ExtraValue] = Field(
        min_length=1,
        description=(
            "Field -> new value (null = unknown). Fields are canonical lead fields or "
            "features of the model; values obey the same rules as in `lead`."
        ),
    )


__all__ = ["EXAMPLE_LEAD", "ExtraValue", "Lead"]  # re-exported: the request models' parts


# --- responses ---------------------------------------------------------------------------
class ModelRef(BaseModel):
    """Which model answered."""

    name: str | None = Field(description="Registered model name (null for a run URI).")
    version: str | None = Field(description="Registered model version.")
    uri: str = Field(description="The MLflow model URI the service loaded.")


class Reason(BaseModel):
    """One field that moved the lead's score."""

    field: str = Field(description="Input field.")
    value: str | float | bool | None = Field(description="The lead's value of the field.")
    direction: str = Field(description="Whether the field raised or lowered the score.")
    points: float = Field(description="Score points this field added (negative: removed).")
    text: str = Field(description="The reason in words, for the sales rep.")


class ScoredLead(BaseModel):
    """Scores of one lead."""

    lead_id: str = Field(description="CRM id, as sent.")
    p_accept: float | None = Field(
        None, description="P(sales accepts the lead); absent when the model has no accept stage."
    )
    p_close: float = Field(description="P(the deal is won), calibrated.")
    score: float = Field(description="0-100 score; every point is the same odds ratio.")
    tier: str = Field(description="Tier letter, A best.")
    reasons: list[Reason] = Field(description="The `k` fields that moved the score most.")


class FieldWarning(BaseModel):
    """Values the model has not learned: scored as unknown, never an error."""

    field: str = Field(description="Input field.")
    values: list[str] = Field(description="Values of this field scored as unknown.")
    message: str = Field(description="The warning in words.")


class ScoreResponse(BaseModel):
    """Scores, reasons and warnings for the leads of a request, in request order."""

    model: ModelRef
    leads: list[ScoredLead]
    warnings: list[FieldWarning] = Field(description="Unknown values scored as unknown.")


class StageContributions(BaseModel):
    """Per-field contributions to one stage, in score points (they add up exactly)."""

    base_points: float = Field(description="Points of a lead before any field is known.")
    points: dict[str, float] = Field(description="Field -> points it added (negative: removed).")
    total_points: float = Field(
        description="base_points + the sum of points: the unclipped score for `close`."
    )


class ExplainedLead(BaseModel):
    """Scores and full per-field contributions of one lead."""

    lead_id: str = Field(description="CRM id, as sent.")
    p_accept: float | None = Field(None, description="P(accept), when the model has the stage.")
    p_close: float = Field(description="P(the deal is won), calibrated.")
    score: float = Field(description="0-100 score.")
    tier: str = Field(description="Tier letter, A best.")
    contributions: dict[str, StageContributions] = Field(
        description="Stage (`accept`, `close`) -> its contributions."
    )


class ExplainResponse(BaseModel):
    """Full explanations for the leads of a request, in request order."""

    model: ModelRef
    leads: list[ExplainedLead]
    warnings: list[FieldWarning]


class Scores(BaseModel):
    """A lead's scores."""

    p_accept: float | None = None
    p_close: float
    score: float
    tier: str


class Change(BaseModel):
    """One field's value before and after."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    from_: ExtraValue = Field(alias="from", description="The lead's value (null = unknown).")
    to: ExtraValue = Field(description="The value tried (null = unknown).")


class WhatIfResponse(BaseModel):
    """Old and new scores of a lead when some of its fields change."""

    model: ModelRef
    lead_id: str
    old: Scores
    new: Scores
    changes: dict[str, Change] = Field(description="Field -> its value before and after.")
    points_change: dict[str, float] = Field(
        description="Field -> change of its score points (the changes and their interactions)."
    )
    warnings: list[FieldWarning]


class ModelInfo(BaseModel):
    """The model the service loaded at start-up."""

    name: str | None
    version: str | None
    alias: str | None
    uri: str
    trained_at: str | None = Field(description="When the model was trained (UTC, ISO 8601).")
    metrics: dict[str, dict[str, float | None]] = Field(
        description="Stage -> headline metrics on the newest (test) leads."
    )
    features: list[str] = Field(description="Input fields the model reads.")
    stages: list[str] = Field(description="Funnel stages the model predicts.")
    tiers: dict[str, float] = Field(description="Tier -> lowest score of the tier.")
    readiness: str | None = Field(
        None,
        description=(
            "The training run's verdict: `ready`, `weak` (a baseline ranks clearly better) or "
            "`not ready` (not clearly better than chance); null for models trained before it."
        ),
    )
    readiness_reasons: list[str] = Field(
        default_factory=list, description="Why, one sentence each."
    )


class ErrorDetail(BaseModel):
    """One problem with a request."""

    loc: str = Field(description="Where: `leads[3].website_visits`, `k`, `body`.")
    field: str | None = Field(description="The field at fault.")
    index: int | None = Field(description="Index (0-based) of the lead at fault.")
    message: str = Field(description="What is wrong, in words.")


class ErrorResponse(BaseModel):
    """A refused request: one line, and each problem found."""

    error: str = Field(description="The first problem in one line.")
    errors: list[ErrorDetail] = Field(description="Every problem found (capped).")
