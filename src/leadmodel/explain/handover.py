"""The hand-over rule: which score threshold passes leads to sales, for a capacity or a rate."""

from __future__ import annotations

import math
from typing import Any, Final

import numpy as np
import pandas as pd

from leadmodel import i18n
from leadmodel.explain.contributions import DEFAULTS
from leadmodel.i18n import _, ngettext
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
        ``leads_per_week_passed``, ``expected_accept_rate``, ``share_of_wins``, ``rule``
        and ``reasoning`` (a sentence for people).
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
    rule = _rule(leads_per_week, target_accept_rate)
    wins_col = "share_of_wins" if "share_of_wins" in curve else None
    if not ok.any():
        top = curve.iloc[-1]
        facts = {
            "rule": rule,
            "threshold": int(top["threshold"]),
            "passed": i18n.number(int(top["leads_passed"])),
        }
        if weeks:
            text = _(
                "No score threshold meets {rule}: even a threshold of {threshold} passes "
                "{passed} leads ({per_week} per week); pass only the highest-scored leads by "
                "hand, or revisit the target."
            ).format(per_week=i18n.number(weekly[-1], 1), **facts)
        else:
            text = _(
                "No score threshold meets {rule}: even a threshold of {threshold} passes "
                "{passed} leads; pass only the highest-scored leads by hand, or revisit the "
                "target."
            ).format(**facts)
        return {
            "threshold": None,
            "leads_passed": 0,
            "share_passed": 0.0,
            "leads_per_week_passed": 0.0,
            "expected_accept_rate": math.nan,
            "share_of_wins": 0.0 if wins_col else math.nan,
            "rule": rule,
            "reasoning": text,
        }
    best = curve.iloc[int(np.flatnonzero(ok)[0])]
    passed = int(best["leads_passed"])
    per_week = passed / weeks if weeks else math.nan
    share_of_wins = float(best[wins_col]) if wins_col else math.nan
    accept_rate = float(best["expected_accept_rate"])
    facts = {
        "passed": i18n.number(passed),
        "total": i18n.number(int(curve["leads_passed"].iloc[0])),
        "share": i18n.percent(float(best["share_passed"])),
    }
    sentences = [
        _(
            "Pass leads scoring {threshold} or more to sales: the lowest threshold that keeps "
            "{rule}."
        ).format(threshold=int(best["threshold"]), rule=rule)
    ]
    if weeks:
        sentences.append(
            _(
                "That is {passed} of {total} leads ({share}), {per_week} per week over "
                "{weeks} weeks."
            ).format(per_week=i18n.number(per_week, 1), weeks=i18n.number(weeks, 1), **facts)
        )
    else:
        sentences.append(_("That is {passed} of {total} leads ({share}).").format(**facts))
    if not math.isnan(accept_rate):
        sentences.append(
            _("Sales should accept about {rate} of them.").format(rate=i18n.percent(accept_rate))
        )
    if not math.isnan(share_of_wins):
        sentences.append(
            _("They hold {share} of the wins.").format(share=i18n.percent(share_of_wins))
        )
    text = " ".join(sentences)
    return {
        "threshold": int(best["threshold"]),
        "leads_passed": passed,
        "share_passed": float(best["share_passed"]),
        "leads_per_week_passed": per_week,
        "expected_accept_rate": accept_rate,
        "share_of_wins": share_of_wins,
        "rule": rule,
        "reasoning": text,
    }


def _rule(leads_per_week: float | None, target_accept_rate: float | None) -> str:
    """The hand-over rule in words: a capacity, a target accept rate, or both."""
    if leads_per_week is None:
        return _("an expected accept rate of at least {rate}").format(
            rate=i18n.percent(target_accept_rate or 0.0)
        )
    capacity = {"count": i18n.number(leads_per_week, 0)}
    n = int(round(leads_per_week))
    if target_accept_rate is None:
        return ngettext(
            "at most {count} lead per week", "at most {count} leads per week", n
        ).format(**capacity)
    return ngettext(
        "at most {count} lead per week and an expected accept rate of at least {rate}",
        "at most {count} leads per week and an expected accept rate of at least {rate}",
        n,
    ).format(rate=i18n.percent(target_accept_rate), **capacity)
