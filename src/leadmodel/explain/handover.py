"""The hand-over rule: which score threshold passes leads to sales, for a capacity or a rate."""

from __future__ import annotations

import math
from typing import Any, Final

import numpy as np
import pandas as pd

from leadmodel import i18n
from leadmodel.explain.contributions import DEFAULTS
from leadmodel.i18n import _
from leadmodel.model import SCORE_MAX, SCORE_MIN

DAYS_PER_WEEK: Final = 7.0


def handover_curve(
    scores: Any,
    p_accept: Any,
    p_close: Any = None,
    y_close: Any = None,
    step: int = DEFAULTS.threshold_step,
) -> pd.DataFrame:
    """What passing every lead with ``score >= threshold`` to sales means, per threshold.

    Thresholds are every ``step`` points from 0 to 100 (default: every whole score).
    Columns: ``threshold``, ``leads_passed``, ``share_passed``, ``expected_accept_rate``
    (mean ``p_accept`` of the passed leads; NaN without ``p_accept``),
    ``share_of_expected_wins`` (share of the sum of ``p_close``;
    with ``p_close``), ``share_of_actual_wins`` (share of ``y_close == 1`` among decided
    leads; with ``y_close``) and ``share_of_wins`` (actual when given, else expected).
    """
    scores = np.asarray(scores, dtype=float)
    n = len(scores)
    order = np.argsort(-scores, kind="stable")
    ranked = scores[order]
    thresholds = np.arange(SCORE_MIN, SCORE_MAX + step, step)
    # leads passed at each threshold: the count of scores >= threshold (ranked descending)
    passed = n - np.searchsorted(ranked[::-1], thresholds, side="left")
    curve = pd.DataFrame(
        {
            "threshold": thresholds.astype(int),
            "leads_passed": passed,
            "share_passed": passed / n if n else np.nan,
        }
    )

    def cumulative(values: np.ndarray) -> np.ndarray:
        """Sum over the passed leads at each threshold."""
        sums = np.concatenate(([0.0], np.cumsum(values[order])))
        return sums[passed]

    if p_accept is not None:
        accepted = cumulative(np.asarray(p_accept, dtype=float))
        with np.errstate(invalid="ignore", divide="ignore"):
            curve["expected_accept_rate"] = np.where(passed > 0, accepted / passed, np.nan)
    else:
        curve["expected_accept_rate"] = np.nan
    if p_close is not None:
        p_close = np.asarray(p_close, dtype=float)
        total = p_close.sum()
        curve["share_of_expected_wins"] = cumulative(p_close) / total if total > 0 else np.nan
        curve["share_of_wins"] = curve["share_of_expected_wins"]
    if y_close is not None:
        y = np.asarray(pd.Series(y_close, dtype=float), dtype=float)
        wins = np.where(np.isnan(y), 0.0, y)
        total = wins.sum()
        curve["share_of_actual_wins"] = cumulative(wins) / total if total > 0 else np.nan
        curve["share_of_wins"] = curve["share_of_actual_wins"]
    return curve


def weeks_spanned(dates: Any) -> float:
    """Weeks covered by ``dates`` (first to last day, inclusive); NaN without dates."""
    stamps = pd.to_datetime(pd.Series(dates), errors="coerce").dropna()
    if stamps.empty:
        return math.nan
    days = (stamps.max().normalize() - stamps.min().normalize()).days + 1
    return days / DAYS_PER_WEEK


def recommend_threshold(
    curve: pd.DataFrame,
    leads_per_week: float | None = None,
    weeks: float | None = None,
    target_accept_rate: float | None = None,
) -> dict[str, Any]:
    """The lowest score threshold that fits a sales capacity and/or a target accept rate.

    Parameters
    ----------
    curve
        A :func:`handover_curve` of the leads the capacity refers to.
    leads_per_week
        Sales capacity: the recommended threshold never passes more leads per week than
        this; the weekly volume is ``leads_passed / weeks``.
    weeks
        Weeks the curve's leads cover (see :func:`weeks_spanned`); needed with capacity.
    target_accept_rate
        Pass only as many leads as keep the expected accept rate at or above this.

    Returns
    -------
    dict
        ``threshold`` (None when no threshold fits), ``leads_passed``, ``share_passed``,
        ``leads_per_week_passed``, ``expected_accept_rate``, ``share_of_wins``, the rule's
        ``leads_per_week``, ``target_accept_rate`` and ``weeks``, ``leads_total``, and
        ``reasoning``: :func:`reasoning`, a sentence in the current language.
    """
    if leads_per_week is None and target_accept_rate is None:
        raise ValueError(_("give leads_per_week (sales capacity) or target_accept_rate"))
    if leads_per_week is not None:
        if not leads_per_week > 0:
            raise ValueError(
                _("leads_per_week: must be > 0, got {value}").format(value=repr(leads_per_week))
            )
        if weeks is None or not weeks > 0:
            raise ValueError(
                _(
                    "weeks: the weeks the leads cover must be > 0 with a capacity, got {value}"
                ).format(value=repr(weeks))
            )
    if target_accept_rate is not None and not 0 < target_accept_rate <= 1:
        raise ValueError(
            _("target_accept_rate: must be in (0, 1], got {value}").format(
                value=repr(target_accept_rate)
            )
        )
    ok = np.ones(len(curve), dtype=bool)
    weekly = curve["leads_passed"].to_numpy() / weeks if weeks else np.full(len(curve), np.nan)
    if leads_per_week is not None:
        ok &= weekly <= leads_per_week
    if target_accept_rate is not None:
        rate = curve["expected_accept_rate"].to_numpy()
        ok &= rate >= target_accept_rate
    wins_col = "share_of_wins" if "share_of_wins" in curve else None
    rule = {
        "leads_per_week": leads_per_week,
        "target_accept_rate": target_accept_rate,
        "weeks": weeks if weeks else None,
        "leads_total": int(curve["leads_passed"].iloc[0]),
    }
    if not ok.any():
        top = curve.iloc[-1]
        found = rule | {
            "threshold": None,
            "leads_passed": 0,
            "share_passed": 0.0,
            "leads_per_week_passed": 0.0,
            "expected_accept_rate": math.nan,
            "share_of_wins": 0.0 if wins_col else math.nan,
            "top_threshold": int(top["threshold"]),
            "top_leads_passed": int(top["leads_passed"]),
            "top_per_week": float(weekly[-1]) if weeks else math.nan,
        }
        return found | {"reasoning": reasoning(found)}
    best = curve.iloc[int(np.flatnonzero(ok)[0])]
    passed = int(best["leads_passed"])
    found = rule | {
        "threshold": int(best["threshold"]),
        "leads_passed": passed,
        "share_passed": float(best["share_passed"]),
        "leads_per_week_passed": passed / weeks if weeks else math.nan,
        "expected_accept_rate": float(best["expected_accept_rate"]),
        "share_of_wins": float(best[wins_col]) if wins_col else math.nan,
    }
    return found | {"reasoning": reasoning(found)}


def _known(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def reasoning(found: dict[str, Any]) -> str:
    """The sentence for people behind a :func:`recommend_threshold` result, in the current
    language (whole sentences per case: the word order differs between languages)."""
    capacity, target = found.get("leads_per_week"), found.get("target_accept_rate")
    values = {
        "capacity": i18n.number(capacity, 0) if _known(capacity) else "",
        "target": i18n.percent(target) if _known(target) else "",
    }
    if _known(capacity) and _known(target):
        rule = _(
            "at most {capacity} leads per week and an expected accept rate of at least {target}"
        )
    elif _known(capacity):
        rule = _("at most {capacity} leads per week")
    else:
        rule = _("an expected accept rate of at least {target}")
    rule = rule.format(**values)
    if found.get("threshold") is None:
        top = {
            "rule": rule,
            "threshold": found["top_threshold"],
            "leads": i18n.number(found["top_leads_passed"]),
            "per_week": i18n.number(found["top_per_week"], 1) if found.get("weeks") else "",
        }
        if found.get("weeks"):
            text = _(
                "No score threshold meets {rule}: even a threshold of {threshold} passes {leads} "
                "leads ({per_week} per week); pass only the highest-scored leads by hand, or "
                "revisit the target."
            )
        else:
            text = _(
                "No score threshold meets {rule}: even a threshold of {threshold} passes {leads} "
                "leads; pass only the highest-scored leads by hand, or revisit the target."
            )
        return text.format(**top)
    parts = [
        _(
            "Pass leads scoring {threshold} or more to sales: the lowest threshold that keeps "
            "{rule}."
        ).format(threshold=found["threshold"], rule=rule)
    ]
    passed = {
        "passed": i18n.number(found["leads_passed"]),
        "total": i18n.number(found["leads_total"]),
        "share": i18n.percent(found["share_passed"]),
    }
    if found.get("weeks"):
        parts.append(
            _(
                "That is {passed} of {total} leads ({share}), {per_week} per week over {weeks} "
                "weeks."
            ).format(
                **passed,
                per_week=i18n.number(found["leads_per_week_passed"], 1),
                weeks=i18n.number(found["weeks"], 1),
            )
        )
    else:
        parts.append(_("That is {passed} of {total} leads ({share}).").format(**passed))
    if _known(found.get("expected_accept_rate")):
        parts.append(
            _("Sales should accept about {rate} of them.").format(
                rate=i18n.percent(found["expected_accept_rate"])
            )
        )
    if _known(found.get("share_of_wins")):
        parts.append(
            _("They hold {share} of the wins.").format(share=i18n.percent(found["share_of_wins"]))
        )
    return " ".join(parts)
