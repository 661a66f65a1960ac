"""Reference distributions kept with a model, and the drift statistics measured against them.

At training, :func:`reference` summarises the **test slice** (the newest leads, held out
from fitting and calibration, the closest in time to what the model will score): per
input field the shares of quantile bins (numeric) or of the categories the model scores
(categorical, with ``unknown`` for values it never saw), and the missing share; the
shares of score bins and of tiers; and the model's own test-slice quality figures. It is
a small dict of numbers kept in the model's metadata (``metadata["reference"]``), so
monitoring needs no training data.

:func:`psi` is the population stability index of two share vectors. Computed directly
with numpy: the statistics are a few lines each, and they run on counts DuckDB
aggregates from the prediction log rather than on frames of raw rows (see
:mod:`leadmodel.monitor` on Evidently).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
import pandas as pd

from leadmodel import schema
from leadmodel.config import MonitorConfig
from leadmodel.i18n import N_

#: Version of the reference layout, kept with it.
REFERENCE_VERSION: Final = 1
#: Where the reference lives in :attr:`FunnelModel.metadata`.
REFERENCE_KEY: Final = "reference"
NUMERIC, CATEGORICAL = "numeric", "categorical"
#: What the reference is computed on (kept with it in English; the page translates it).
COMPUTED_ON: Final = N_("test slice (newest leads, held out at training)")


def field_kinds(model: Any) -> dict[str, str]:
    """Input fields the monitor follows and their kind (``created_at`` is time, not drift)."""
    from leadmodel.predlog import input_fields

    features = model.features
    kinds: dict[str, str] = {}
    for name in input_fields(model):
        if name in features.numeric_:
            kinds[name] = NUMERIC
        elif name in features.categories_:
            kinds[name] = CATEGORICAL
    return kinds


def numeric_cuts(values: np.ndarray, bins: int) -> list[float]:
    """Inner edges of up to ``bins`` quantile bins of the present ``values``.

    Bin ``j`` holds ``cuts[j-1] <= x < cuts[j]`` (:func:`numeric_bins`); tied values
    (counts that are mostly 0) make fewer bins.
    """
    present = values[~np.isnan(values)]
    if len(present) == 0:
        return []
    edges = np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)))
    return [float(e) for e in edges[1:-1]] if len(edges) > 2 else [float(edges[0])]


def numeric_bins(values: np.ndarray, cuts: Sequence[float]) -> np.ndarray:
    """Bin of each present value (as :func:`numeric_cuts` defines them); -1 when missing."""
    values = np.asarray(values, dtype=float)
    out = np.searchsorted(np.asarray(cuts, dtype=float), values, side="right")
    return np.where(np.isnan(values), -1, out)


def shares(counts: np.ndarray) -> list[float]:
    total = float(np.sum(counts))
    return [float(c) / total if total else 0.0 for c in counts]


def reference(
    model: Any,
    leads: pd.DataFrame,
    predictions: pd.DataFrame,
    quality: Mapping[str, Mapping[str, float]],
    settings: MonitorConfig,
) -> dict[str, Any]:
    """The reference distributions of ``leads`` (the test slice) and their ``predictions``.

    ``quality``: per stage the test-slice figures to compare realised quality with
    (``roc_auc``, ``roc_auc_low``, ``roc_auc_high``, ``ece``, ``rate``, ``mean_p``, ``n``).
    """
    fields: dict[str, Any] = {}
    for name, kind in field_kinds(model).items():
        raw = leads[name] if name in leads else pd.Series([None] * len(leads), dtype=object)
        if kind == NUMERIC:
            values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
            cuts = numeric_cuts(values, settings.bins)
            binned = numeric_bins(values, cuts)
            present = binned[binned >= 0]
            fields[name] = {
                "kind": NUMERIC,
                "cuts": cuts,
                "shares": shares(np.bincount(present, minlength=len(cuts) + 1)),
                "missing": float(np.mean(binned < 0)) if len(binned) else 0.0,
            }
        else:
            cats = model.features.category_of(name, raw.astype(object).where(raw.notna(), None))
            counts = pd.Series(cats).value_counts()
            missing = int(counts.pop("missing")) if "missing" in counts else 0
            fields[name] = {
                "kind": CATEGORICAL,
                "shares": {str(k): float(v) / max(int(counts.sum()), 1) for k, v in counts.items()},
                "missing": missing / max(len(cats), 1),
            }
    score = predictions["score"].to_numpy(dtype=float)
    score_cuts = numeric_cuts(score, settings.bins)
    tiers = pd.Series(predictions["tier"]).astype(str).value_counts(normalize=True)
    return {
        "version": REFERENCE_VERSION,
        "computed_on": COMPUTED_ON,
        "rows": len(leads),
        "created_from": _day(leads, "min"),
        "created_to": _day(leads, "max"),
        "fields": fields,
        "score": {
            "cuts": score_cuts,
            "shares": shares(
                np.bincount(numeric_bins(score, score_cuts), minlength=len(score_cuts) + 1)
            ),
        },
        "tiers": {t: float(tiers.get(t, 0.0)) for t in model.tier_thresholds},
        "quality": {stage: _clean(dict(q)) for stage, q in quality.items()},
    }


def _day(leads: pd.DataFrame, how: str) -> str | None:
    if schema.CREATED_AT not in leads or leads.empty:
        return None
    value = getattr(pd.to_datetime(leads[schema.CREATED_AT], errors="coerce"), how)()
    return None if pd.isna(value) else f"{value:%Y-%m-%d}"


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in values.items()}


def reference_of(model: Any) -> dict[str, Any] | None:
    """The model's reference distributions, or None for a model trained before they were kept."""
    found = (getattr(model, "metadata", None) or {}).get(REFERENCE_KEY)
    return found if isinstance(found, dict) and found.get("version") else None


def psi(expected: Sequence[float], actual: Sequence[float], floor: float) -> float:
    """Population stability index: sum of (actual - expected) * ln(actual / expected).

    Shares below ``floor`` count as ``floor`` (an empty bin would make it infinite).
    """
    e = np.maximum(np.asarray(expected, dtype=float), floor)
    a = np.maximum(np.asarray(actual, dtype=float), floor)
    return float(np.sum((a - e) * np.log(a / e)))
