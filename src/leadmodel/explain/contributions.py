"""Per-lead contributions: the booster's TreeSHAP values per field, and on the points scale.

Contributions are the booster's TreeSHAP values (those of ``pred_contrib=True``, with the
base value last), looked up in tables computed once per group of leaves
(:mod:`leadmodel.treeshap`) and checked against the booster's raw score on every call
(:meth:`StageModel.explain`).

**How points are computed** (see ``docs/explanations.md``). For one stage the booster's
raw log-odds are ``raw = base + sum_f c_f`` (TreeSHAP additivity). Calibration is the line
``logit = a * raw + b`` and the score is the line ``score = m * (logit - low)`` with
``m = model.points_per_logit``. Both are linear, so

    score = m * (a * base + b - low)  +  sum_f  m * a * c_f
          = base_points               +  sum_f  points_f

holds exactly for every lead (before the score is clipped to 0-100). The accept stage has
no 0-100 scale of its own: its points use the same ``m`` points per log-odds (one point is
the same odds ratio in both stages) and its total is ``m * calibrated accept log-odds``,
i.e. 0 at even odds of acceptance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd

from leadmodel import schema
from leadmodel.config import ExplainConfig
from leadmodel.features import LeadColumns, Leads, RecordColumns, as_columns
from leadmodel.i18n import _
from leadmodel.model import ACCEPT, CLOSE, SCORE_MIN, Features, FunnelModel, sigmoid

#: The explanation settings of a model trained without them (the config's defaults).
DEFAULTS: Final = ExplainConfig()


def settings_of(model: FunnelModel) -> ExplainConfig:
    """The explanation settings the model was trained with (defaults for older models)."""
    return getattr(model, "explain_settings", None) or DEFAULTS


@dataclass
class StageContributions:
    """Per-field contributions of one stage for a batch of leads (raw log-odds).

    Attributes
    ----------
    stage
        ``"accept"`` or ``"close"``.
    fields
        Canonical input fields (model features summed per field).
    values
        ``(n, len(fields))`` contributions in raw log-odds.
    base
        The booster's expected value (raw log-odds), the same for every lead.
    raw
        ``(n,)`` raw booster output (``booster.predict``); ``base + values.sum(1) == raw``.
    """

    stage: str
    fields: list[str]
    values: np.ndarray
    base: float
    raw: np.ndarray

    def calibrated_logit(self, model: FunnelModel) -> np.ndarray:
        """Calibrated log-odds of the stage (``a * raw + b``)."""
        return model.stages[self.stage].calibrated_logit(self.raw)

    def proba(self, model: FunnelModel) -> np.ndarray:
        """Calibrated probability of the stage."""
        return sigmoid(self.calibrated_logit(model))

    def column(self, field: str) -> np.ndarray:
        """Contributions of one field (zeros when the model does not use it)."""
        if field not in self.fields:
            return np.zeros(len(self.raw))
        return self.values[:, self.fields.index(field)]

    def frame(self) -> pd.DataFrame:
        """Contributions as a DataFrame, one column per field."""
        return pd.DataFrame(self.values, columns=self.fields)


def model_fields(model: FunnelModel) -> list[str]:
    """Canonical input fields the model reads, in feature order (each once)."""
    return model.features.input_fields


def _check_stage(model: FunnelModel, stage: str) -> None:
    if stage not in model.stages:
        known = ", ".join(model.stages)
        if stage == ACCEPT:
            text = _(
                "stage: '{stage}' is not a stage of this model (the training data had no "
                "acceptance decisions); use one of {known}"
            )
        else:
            text = _("stage: '{stage}' is not a stage of this model; use one of {known}")
        raise ValueError(text.format(stage=stage, known=known))


def contributions(
    model: FunnelModel,
    leads: Leads | None,
    stage: str = CLOSE,
    X: Features | None = None,
    raw: np.ndarray | None = None,
) -> StageContributions:
    """Per-field TreeSHAP contributions of ``stage`` for raw canonical ``leads``.

    ``X`` (the already transformed features of ``leads``: the matrix of
    :meth:`FunnelModel.matrix` or the frame of :meth:`FunnelModel.transform`) skips the
    transform; ``leads`` may then be None. ``raw``: the stage's raw booster score of
    those rows when already known (:meth:`StageModel.explain` does not predict it again).
    """
    _check_stage(model, stage)
    if X is None:
        if leads is None:
            raise ValueError(_("contributions need the leads or their features X"))
        X = model.matrix(leads)
    booster_stage = model.stages[stage]
    fields = model_fields(model)
    if len(X) == 0:  # the base value still comes from the booster
        empty_row = model.matrix(pd.DataFrame(index=range(1)))
        base = float(booster_stage.contributions(empty_row)[0, -1])
        return StageContributions(stage, fields, np.zeros((0, len(fields))), base, np.zeros(0))
    raw, contrib = booster_stage.explain(X, raw=raw)
    features = list(X.columns) if isinstance(X, pd.DataFrame) else model.features.feature_names_
    per_feature = contrib[:, :-1]
    if fields == features:
        values = per_feature
    else:  # several features per field: sum them
        mapping = model.features.feature_to_field
        to_field = np.zeros((len(features), len(fields)))
        to_field[np.arange(len(features)), [fields.index(mapping[f]) for f in features]] = 1.0
        values = per_feature @ to_field
    return StageContributions(stage, fields, values, float(contrib[0, -1]), raw)


def all_contributions(
    model: FunnelModel, leads: Leads, X: Features | None = None
) -> dict[str, StageContributions]:
    """Contributions of every stage of the model (the transform done once)."""
    X = model.matrix(leads) if X is None else X
    return {stage: contributions(model, None, stage, X=X) for stage in model.stages}


def to_points(model: FunnelModel, contrib: StageContributions) -> tuple[float, np.ndarray]:
    """``(base_points, points)``: contributions on the score's points scale.

    Close stage: ``base_points + points.sum(1)`` is the unclipped 0-100 score (the score
    itself is clipped to 0..100). Accept stage: the same points per log-odds; the total is
    ``points_per_logit * calibrated accept log-odds`` (0 = even odds of acceptance).
    """
    stage = model.stages[contrib.stage]
    per_logit = model.points_per_logit
    scale = per_logit * stage.calib_slope
    offset = model.score_low_logit if contrib.stage == CLOSE else 0.0
    base_points = SCORE_MIN + per_logit * (
        stage.calib_slope * contrib.base + stage.calib_intercept - offset
    )
    return float(base_points), scale * contrib.values


def lead_ids(leads: LeadColumns) -> np.ndarray:
    """``lead_id`` of every lead as text (its position when the leads have none)."""
    if schema.LEAD_ID not in leads:
        return np.arange(len(leads)).astype(str).astype(object)
    if isinstance(leads, RecordColumns):  # the records' values, not a Series of them
        values = leads.values(schema.LEAD_ID)
    else:
        values = leads[schema.LEAD_ID].tolist()
    out = np.empty(len(values), dtype=object)
    out[:] = [v if type(v) is str else str(v) for v in values]  # as astype(str) writes them
    return out


def full_contributions(model: FunnelModel, leads: Leads) -> list[dict[str, Any]]:
    """Every field's points per lead and stage (for ``POST /explain``).

    Each dict: ``lead_id`` and per stage ``{"base_points", "points": {field: points},
    "total_points"}``; for ``close`` the total is the unclipped score.
    """
    leads = as_columns(leads)
    ids = lead_ids(leads)
    per_stage: dict[str, tuple[float, list[str], np.ndarray]] = {}
    for stage, contrib in all_contributions(model, leads).items():
        base_points, points = to_points(model, contrib)
        per_stage[stage] = (base_points, contrib.fields, points)
    out = []
    for i in range(len(leads)):
        lead: dict[str, Any] = {schema.LEAD_ID: ids[i]}
        for stage, (base_points, fields, points) in per_stage.items():
            row = points[i]
            lead[stage] = {
                "base_points": base_points,
                "points": dict(zip(fields, row.tolist(), strict=True)),
                "total_points": base_points + float(row.sum()),
            }
        out.append(lead)
    return out
