"""Explanations: booster contributions -> score points -> readable reasons; global views.

One module per concern, each readable on its own:

- :mod:`~leadmodel.explain.contributions`: per-lead contributions, per field and in points;
- :mod:`~leadmodel.explain.reasons`: the strongest contributions as sentences;
- :mod:`~leadmodel.explain.whatif`: one lead scored with some fields changed;
- :mod:`~leadmodel.explain.segments`: global importance and segment views;
- :mod:`~leadmodel.explain.handover`: the score threshold that passes leads to sales.

Their settings are one :class:`leadmodel.config.ExplainConfig`, which a trained model
carries (``FunnelModel.explain_settings``); the constants below are its defaults, for
callers that have no model at hand.
"""

from __future__ import annotations

from typing import Final

from leadmodel.explain.contributions import (
    DEFAULTS,
    StageContributions,
    all_contributions,
    contributions,
    full_contributions,
    model_fields,
    settings_of,
    to_points,
)
from leadmodel.explain.handover import handover_curve, recommend_threshold, weeks_spanned
from leadmodel.explain.reasons import (
    REASON_SEPARATOR,
    explain_leads,
    field_values,
    reason_points,
    reason_text,
    reasons_frame,
)
from leadmodel.explain.segments import global_importance, segment_keys, segment_view
from leadmodel.explain.whatif import what_if

#: Reasons shown per lead by default.
DEFAULT_K: Final = DEFAULTS.reasons
#: Contributions smaller than this (in points) are not reasons: they would print as 0.
MIN_REASON_POINTS: Final = DEFAULTS.min_reason_points
#: Segments with fewer (decided) leads than this are not compared.
MIN_SEGMENT_LEADS: Final = DEFAULTS.segment_min_leads

__all__ = [
    "DEFAULT_K",
    "DEFAULTS",
    "MIN_REASON_POINTS",
    "MIN_SEGMENT_LEADS",
    "REASON_SEPARATOR",
    "StageContributions",
    "all_contributions",
    "contributions",
    "explain_leads",
    "field_values",
    "full_contributions",
    "global_importance",
    "handover_curve",
    "model_fields",
    "reason_points",
    "reason_text",
    "reasons_frame",
    "recommend_threshold",
    "segment_keys",
    "segment_view",
    "settings_of",
    "to_points",
    "weeks_spanned",
    "what_if",
]
