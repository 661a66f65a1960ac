"""Global and segment views: which fields matter overall, and how segments of leads differ.

The views' tables keep the data's own values (``none``, ``webinar``, ``unknown``) as keys;
:func:`segment_labels` gives the names people read, in the current language.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from leadmodel import schema
from leadmodel.explain.contributions import StageContributions, all_contributions, to_points
from leadmodel.explain.reasons import text_values
from leadmodel.features import to_numeric
from leadmodel.i18n import _, pgettext
from leadmodel.model import ACCEPT, CLOSE, FunnelModel


def global_importance(
    model: FunnelModel,
    leads: pd.DataFrame,
    contribs: Mapping[str, StageContributions] | None = None,
) -> pd.DataFrame:
    """Mean ``|contribution|`` per stage and field, in log-odds and in points.

    Columns: ``stage``, ``field``, ``mean_abs_logodds``, ``mean_abs_points``, ``mean_points``,
    ``share`` (of the stage's total mean |points|); strongest first within each stage.
    """
    contribs = contribs or all_contributions(model, leads)
    frames = []
    for stage, contrib in contribs.items():
        _base, points = to_points(model, contrib)
        mean_abs = np.abs(points).mean(axis=0) if len(points) else np.zeros(len(contrib.fields))
        total = mean_abs.sum()
        frame = pd.DataFrame(
            {
                "stage": stage,
                "field": contrib.fields,
                "mean_abs_logodds": (
                    np.abs(contrib.values).mean(axis=0) if len(points) else mean_abs
                ),
                "mean_abs_points": mean_abs,
                "mean_points": points.mean(axis=0) if len(points) else mean_abs,
                "share": mean_abs / total if total > 0 else np.nan,
            }
        )
        frames.append(frame.sort_values("mean_abs_points", ascending=False, kind="stable"))
    return pd.concat(frames, ignore_index=True)


def segment_labels(by: str, keys: Sequence[str]) -> list[str]:
    """How segments of ``by`` are named on the pages, in the current language.

    Prior-awareness levels and ``unknown`` are translated; other values (sources, as the
    export names them) are shown as they are.
    """
    names = {schema.UNKNOWN: pgettext("segment", "unknown")}
    if by == schema.PRIOR_AWARENESS:
        names |= {
            "none": pgettext("prior awareness", "none"),
            "low": pgettext("prior awareness", "low"),
            "high": pgettext("prior awareness", "high"),
        }
    return [names.get(str(key), str(key)) for key in keys]


def segment_keys(leads: pd.DataFrame, by: str) -> pd.Series:
    """The segment of every lead by ``by`` (sources normalised; missing -> ``unknown``)."""
    if by not in leads:
        raise ValueError(
            _("{field}: no such column in the leads (columns: {columns})").format(
                field=by, columns=", ".join(leads.columns)
            )
        )

    text = text_values(by, leads[by].reset_index(drop=True))
    return text.where(text.notna(), schema.UNKNOWN).astype(str)


def segment_view(
    model: FunnelModel,
    leads: pd.DataFrame,
    by: str,
    contribs: Mapping[str, StageContributions] | None = None,
    predictions: pd.DataFrame | None = None,
    rows: np.ndarray | None = None,
) -> pd.DataFrame:
    """Quality per segment of ``by`` (e.g. ``source``, ``prior_awareness``).

    Columns: ``by``, ``n``, ``accept_decided``, ``accept_rate``, ``close_decided``,
    ``close_rate`` (rates over decided leads; NaN without labels), ``mean_p_accept``,
    ``mean_p_close``, ``mean_score``, ``mean_points`` (the mean close-score points of the
    field ``by`` itself) and ``mean_accept_points``. ``prior_awareness`` comes in level
    order, other fields by volume.

    ``contribs`` and ``predictions`` may be passed when already computed; ``rows`` says
    which positions of ``leads`` the contributions cover (a sample; default: all), and
    the mean points are then over those leads only.
    """
    keys = segment_keys(leads, by)
    if contribs is None:
        sample = leads if rows is None else leads.iloc[rows]
        contribs = all_contributions(model, sample)
    if predictions is None:
        predictions = model.predict(leads)
    frame = pd.DataFrame({by: keys.to_numpy()})
    for label in (schema.ACCEPTED, schema.CLOSED):
        y = (
            to_numeric(leads[label].reset_index(drop=True))
            if label in leads
            else pd.Series(np.nan, index=frame.index)
        )
        frame[f"{label}_y"] = y.to_numpy()
        frame[f"{label}_decided"] = y.notna().to_numpy()
    for column in ("p_accept", "p_close", "score"):
        frame[column] = predictions[column].to_numpy() if column in predictions else np.nan
    at = np.arange(len(frame)) if rows is None else np.asarray(rows)
    for stage, column in ((CLOSE, "points"), (ACCEPT, "accept_points")):
        frame[column] = np.nan
        if stage in contribs and by in contribs[stage].fields:
            _base, points = to_points(model, contribs[stage])
            frame.loc[at, column] = points[:, contribs[stage].fields.index(by)]
    grouped = frame.groupby(by, sort=False)
    table = grouped.agg(
        n=(by, "size"),
        accept_decided=(f"{schema.ACCEPTED}_decided", "sum"),
        accept_rate=(f"{schema.ACCEPTED}_y", "mean"),
        close_decided=(f"{schema.CLOSED}_decided", "sum"),
        close_rate=(f"{schema.CLOSED}_y", "mean"),
        mean_p_accept=("p_accept", "mean"),
        mean_p_close=("p_close", "mean"),
        mean_score=("score", "mean"),
        mean_points=("points", "mean"),
        mean_accept_points=("accept_points", "mean"),
    ).reset_index()
    if by == schema.PRIOR_AWARENESS:
        order = {level: i for i, level in enumerate(schema.AWARENESS_LEVELS)}
        rank = table[by].map(order).fillna(len(order))
        return table.iloc[np.argsort(rank.to_numpy(), kind="stable")].reset_index(drop=True)
    return table.sort_values("n", ascending=False, kind="stable").reset_index(drop=True)
