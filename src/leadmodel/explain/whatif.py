"""What-if: one lead scored as it is and with some of its fields changed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from leadmodel import schema
from leadmodel.explain.contributions import contributions, model_fields, to_points
from leadmodel.explain.reasons import json_value
from leadmodel.i18n import _
from leadmodel.model import CLOSE, FunnelModel


def _coerce(field: str, value: object, numeric: bool) -> object:
    """One value typed by the schema's parser; ValueError naming the field when it cannot be."""
    return schema.parse_value(field, value, numeric=numeric)


def _as_lead_row(model: FunnelModel, lead: Mapping[str, Any] | pd.Series) -> dict[str, Any]:
    """The lead's model fields typed (and checked) like ingest; other keys kept as given."""
    row = dict(lead.items())
    name = row.get(schema.LEAD_ID)
    for field in model_fields(model):
        if field in row:
            try:
                row[field] = _coerce(field, row[field], field in model.features.numeric_)
            except ValueError as exc:
                if name is None:
                    raise ValueError(_("lead: {problem}").format(problem=exc)) from None
                raise ValueError(
                    _("lead {name}: {problem}").format(name=repr(name), problem=exc)
                ) from None
    return row


def what_if(
    model: FunnelModel, lead: Mapping[str, Any] | pd.Series, changes: Mapping[str, object]
) -> dict[str, Any]:
    """Score one lead as it is and with ``changes``; report the score and points change.

    Values are typed like ingest ("1,200" is a number, ``prior_awareness`` must be one of
    the levels, empty = unknown). Returns ``{"lead_id", "old", "new", "changes",
    "points_change"}``; ``old``/``new`` hold ``p_accept`` (when the model has the stage),
    ``p_close``, ``score`` and ``tier``; ``points_change`` is per field, in score points,
    for every field whose contribution moved (other fields can move through interactions).

    Raises
    ------
    ValueError
        A field in ``changes`` the model does not use, or a value that is not valid.
    """
    fields = model_fields(model)
    for field in changes:
        if field not in fields:
            raise ValueError(
                _("{field}: not a field this model uses (it uses: {fields})").format(
                    field=field, fields=", ".join(fields)
                )
            )
    old = _as_lead_row(model, lead)
    new = dict(old)
    for field, value in changes.items():
        new[field] = _coerce(field, value, field in model.features.numeric_)
    both = pd.DataFrame([old, new], dtype=object)
    X = model.matrix(both)
    contrib = contributions(model, None, CLOSE, X=X)
    predictions = model.predict_columns(X, close_raw=contrib.raw)
    _base, points = to_points(model, contrib)
    delta = points[1] - points[0]
    state = [_outputs(model, {c: v[i] for c, v in predictions.items()}) for i in (0, 1)]
    return {
        schema.LEAD_ID: json_value(old.get(schema.LEAD_ID)),
        "old": state[0],
        "new": state[1],
        "changes": {f: {"from": json_value(old.get(f)), "to": json_value(new[f])} for f in changes},
        "points_change": {
            f: float(d) for f, d in zip(contrib.fields, delta, strict=True) if d != 0.0
        },
    }


def _outputs(model: FunnelModel, prediction: Mapping[str, Any]) -> dict[str, Any]:
    """``p_accept``, ``p_close``, ``score`` (floats) and ``tier`` of one scored lead."""
    return {
        c: str(prediction[c]) if c == "tier" else float(prediction[c]) for c in model.output_columns
    }
