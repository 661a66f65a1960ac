"""Score history: each time a lead was scored, and why its score moved in between.

Everything comes from the prediction log (:mod:`leadmodel.predlog`): a logged row holds the
score, the top reasons (fields and their points) and the values of the model's input
fields. Between two consecutive scorings of a lead:

* a field among the reasons of either scoring changed by ``points_after - points_before``
  (a field that is not among one scoring's logged reasons counts as 0 points there: its
  contribution was smaller than the reasons kept, so the line says so);
* the values show what changed (``website visits 10 -> 2``); a field whose value changed
  but that is among neither scoring's reasons is listed after the point changes, without
  points.

:func:`lead_history` gives the history of one lead (``leadmodel history``);
:class:`PreviousScores` and :func:`change_columns` give ``score_change`` and
``change_reasons`` for a batch run against an earlier log or scores file
(``leadmodel score --previous``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa

from leadmodel import i18n, predlog, schema
from leadmodel.config import ExplainConfig
from leadmodel.explain.reasons import field_label, format_number, format_points
from leadmodel.i18n import N_, _

SCORE_CHANGE: Final = "score_change"
CHANGE_REASONS: Final = "change_reasons"
CHANGE_SEPARATOR: Final = "; "
#: A value the scoring did not have (translated when shown).
MISSING_TEXT: Final = N_("missing")
_VALUE_CHANGE: Final = N_("{field} {before} -> {after}")
_VALUE: Final = N_("{field} {value}")
_NEW_REASON: Final = N_("{change} (not a top reason before)")
_OLD_REASON: Final = N_("{change} (no longer a top reason)")
#: Columns of a logged row that are not input fields.
_NOT_INPUTS: Final = frozenset({*predlog.BASE_COLUMNS, predlog.DATE})


class HistoryError(Exception):
    """A history or a previous score cannot be given as asked (one clear line)."""


class _Unknown:
    """The value of a field in a scoring that kept no input values (a scores file)."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Final = _Unknown()


# --- one field's change ----------------------------------------------------------------


def _missing(value: Any) -> bool:
    if value is None or value is pd.NaT or value is pd.NA:
        return True
    return isinstance(value, float) and math.isnan(value)


def value_text(value: Any, decimals: int) -> str:
    """A logged input value as a user reads it in the current language (``10``, ``2.5``,
    ``webinar``, ``missing``; Danish ``2,5``, ``1.200``, ``mangler``)."""
    if _missing(value):
        return _(MISSING_TEXT)
    if isinstance(value, pd.Timestamp | np.datetime64):
        stamp = pd.Timestamp(value)
        if stamp == stamp.normalize():
            return i18n.date(stamp)
        return i18n.datetime(stamp, "short")
    if isinstance(value, float | np.floating | int | np.integer) and not isinstance(value, bool):
        return format_number(float(value), decimals)
    return str(value)


def _same(before: Any, after: Any) -> bool:
    if _missing(before) or _missing(after):
        return _missing(before) and _missing(after)
    return bool(before == after)


@dataclass(frozen=True)
class FieldChange:
    """How one field moved between two scorings of a lead.

    ``points`` is the change in score points, None for a field among neither scoring's
    reasons (shown for its value change only). ``before``/``after`` are the input values,
    :data:`UNKNOWN` when that scoring kept none. ``top_before``/``top_after``: the field
    was among that scoring's logged reasons. ``labels``: the user's own fields as they
    read them (:func:`leadmodel.explain.reasons.display_labels`); the text is written in
    the current language when it is asked for.
    """

    field: str
    points: float | None
    before: Any = UNKNOWN
    after: Any = UNKNOWN
    top_before: bool = False
    top_after: bool = False
    labels: Mapping[str, str] | None = field(default=None, compare=False, repr=False)

    @property
    def values_known(self) -> bool:
        return self.before is not UNKNOWN and self.after is not UNKNOWN

    @property
    def value_changed(self) -> bool:
        return self.values_known and not _same(self.before, self.after)

    def text(self, decimals: int = 1) -> str:
        """``-12 points: website visits 10 -> 2`` (one line, in the current language)."""
        label = field_label(self.field, self.labels)
        if self.value_changed:
            what = _(_VALUE_CHANGE).format(
                field=label,
                before=value_text(self.before, decimals),
                after=value_text(self.after, decimals),
            )
        elif self.after is not UNKNOWN:
            what = _(_VALUE).format(field=label, value=value_text(self.after, decimals))
        else:
            what = label
        if self.points is None:
            return what
        line = f"{format_points(self.points, decimals)}: {what}"
        if not self.top_before:
            return _(_NEW_REASON).format(change=line)
        if not self.top_after:
            return _(_OLD_REASON).format(change=line)
        return line

    def to_json(self, decimals: int = 1) -> dict[str, Any]:
        def plain(value: Any) -> Any:
            if value is UNKNOWN or _missing(value):
                return None
            if isinstance(value, pd.Timestamp):
                return value.isoformat()
            return value.item() if isinstance(value, np.generic) else value

        return {
            "field": self.field,
            "points": self.points,
            "before": plain(self.before),
            "after": plain(self.after),
            "text": self.text(decimals),
        }


def _points_of(reasons: Any) -> dict[str, float]:
    return {str(r["field"]): float(r["points"]) for r in predlog.reasons_of(reasons)}


def field_changes(
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    settings: ExplainConfig | None = None,
    fields: Iterable[str] | None = None,
    labels: Mapping[str, str] | None = None,
) -> list[FieldChange]:
    """The changes between two scorings of a lead, biggest point change first.

    ``before``/``after`` are logged rows (``reasons`` and the input fields; a row without
    an input field's value counts it as :data:`UNKNOWN`). Point changes smaller than the
    settings' ``min_reason_points`` are left out; value-only changes follow the point
    changes, in ``fields`` order (default: the input fields of ``after``). ``labels``: see
    :class:`FieldChange`.
    """
    settings = settings or ExplainConfig()
    was, now = _points_of(before.get("reasons")), _points_of(after.get("reasons"))
    if fields is None:
        fields = [c for c in after if c not in _NOT_INPUTS]
    fields = list(fields)
    scored = list(dict.fromkeys([*now, *was]))
    changes = []
    for name in scored:
        delta = now.get(name, 0.0) - was.get(name, 0.0)
        if abs(delta) < settings.min_reason_points:
            continue
        changes.append(
            FieldChange(
                name,
                delta,
                before.get(name, UNKNOWN),
                after.get(name, UNKNOWN),
                top_before=name in was,
                top_after=name in now,
                labels=labels,
            )
        )
    changes.sort(key=lambda c: -abs(c.points or 0.0))
    for name in fields:
        if name in was or name in now:
            continue
        change = FieldChange(
            name, None, before.get(name, UNKNOWN), after.get(name, UNKNOWN), labels=labels
        )
        if change.value_changed:
            changes.append(change)
    return changes


# --- one lead's history ----------------------------------------------------------------


@dataclass
class Scoring:
    """One logged scoring of a lead, with what changed since the one before."""

    scored_at: pd.Timestamp
    origin: str
    model_name: str
    model_version: str
    score: float
    tier: str
    p_close: float
    p_accept: float | None
    score_change: float | None = None
    changes: list[FieldChange] = field(default_factory=list)

    def to_json(self, decimals: int = 1) -> dict[str, Any]:
        return {
            "scored_at": self.scored_at.isoformat(),
            "origin": self.origin,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "score": self.score,
            "tier": self.tier,
            "p_close": self.p_close,
            "p_accept": self.p_accept,
            "score_change": self.score_change,
            "changes": [c.to_json(decimals) for c in self.changes],
        }


def _number(value: Any) -> float | None:
    return None if _missing(value) else float(value)


def lead_history(
    folder: str | Path,
    lead_id: str,
    settings: ExplainConfig | None = None,
    labels: Mapping[str, str] | None = None,
) -> list[Scoring]:
    """Every logged scoring of ``lead_id``, oldest first, each with its changes.

    ``labels``: the user's own fields as they read them (see :class:`FieldChange`).
    Raises :class:`HistoryError` for a lead the log has never scored, and
    :class:`leadmodel.predlog.LogError` when the folder holds no log.
    """
    settings = settings or ExplainConfig()
    rows = predlog.read(folder, lead_ids=[str(lead_id)])
    if rows.empty:
        raise HistoryError(
            _("lead_id {lead_id}: never scored in the prediction log {folder}").format(
                lead_id=repr(lead_id), folder=folder
            )
        )
    records = rows.drop(columns=[predlog.DATE], errors="ignore").to_dict("records")
    history: list[Scoring] = []
    for i, row in enumerate(records):
        scoring = Scoring(
            scored_at=pd.Timestamp(row[predlog.SCORED_AT]),
            origin=str(row["origin"]),
            model_name=str(row["model_name"] or ""),
            model_version=str(row["model_version"]),
            score=float(row["score"]),
            tier=str(row["tier"]),
            p_close=float(row["p_close"]),
            p_accept=_number(row.get("p_accept")),
        )
        if i:
            before = records[i - 1]
            scoring.score_change = scoring.score - float(before["score"])
            scoring.changes = field_changes(before, row, settings, labels=labels)
        history.append(scoring)
    return history


# --- score_change and change_reasons for a batch run -----------------------------------


class PreviousScores:
    """The latest score of each lead before a run, from a prediction log or a scores file.

    ``source`` is a log folder (``date=*/*.parquet``: the latest row per lead scored
    before ``before``, with its reasons and input values) or a scores file (CSV or
    Parquet, or a Spark folder of Parquet parts) written by ``leadmodel score``: its
    ``lead_id`` and ``score``, and its reasons when it has ``reason_j_field`` columns (no
    input values: a change then names the field without its values).
    """

    def __init__(self, source: str | Path, before: pd.Timestamp) -> None:
        self.source = Path(source)
        self.before = before
        self._con: Any = None
        self._frame: pd.DataFrame | None = None
        if not self.source.exists():
            raise HistoryError(_("--previous {path}: no such file or folder").format(path=source))
        if self.source.is_dir() and any(self.source.glob(f"{predlog.DATE}=*")):
            self.kind = "log"
            try:
                self._con = predlog.connect(self.source)
            except predlog.LogError as exc:
                raise HistoryError(_("--previous {problem}").format(problem=exc)) from None
        else:
            self.kind = "file"
            self._frame = _scores_file(self.source)

    def lookup(self, lead_ids: Sequence[str]) -> pd.DataFrame:
        """Rows of the leads among ``lead_ids`` that have an earlier score (one per lead)."""
        if self._frame is not None:
            return self._frame[self._frame[schema.LEAD_ID].isin(set(lead_ids))]
        ids = pa.table({"wanted": pa.array([str(v) for v in lead_ids], pa.string())})
        self._con.register("wanted_ids", ids)
        try:
            return self._con.execute(
                f"SELECT p.* EXCLUDE ({predlog.DATE}) FROM predictions p "
                f"JOIN wanted_ids w ON p.{schema.LEAD_ID} = w.wanted "
                f"WHERE p.{predlog.SCORED_AT} < ? QUALIFY row_number() OVER ("
                f"PARTITION BY p.{schema.LEAD_ID} ORDER BY p.{predlog.SCORED_AT} DESC) = 1",
                [self.before.to_pydatetime()],
            ).df()
        finally:
            self._con.unregister("wanted_ids")

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None


def _scores_file(path: Path) -> pd.DataFrame:
    """``lead_id``, ``score`` and ``reasons`` (as logged) of an earlier scores file."""
    from leadmodel.io import table_format

    try:
        if path.is_dir():
            frame = pd.read_parquet(path)
        elif table_format(path) == "csv":
            frame = pd.read_csv(path, dtype={schema.LEAD_ID: str}, keep_default_na=True)
        else:
            frame = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise HistoryError(
            _("--previous {path}: cannot read it ({problem})").format(path=path, problem=exc)
        ) from None
    for column in (schema.LEAD_ID, "score"):
        if column not in frame:
            raise HistoryError(
                _(
                    "--previous {path}: no {column} column (give a prediction log folder "
                    "or a file written by `leadmodel score`)"
                ).format(path=path, column=repr(column))
            )
    out = pd.DataFrame(
        {
            schema.LEAD_ID: frame[schema.LEAD_ID].astype(str),
            "score": pd.to_numeric(frame["score"], errors="coerce"),
        }
    )
    out["reasons"] = predlog.reason_lists(frame, len(frame)) if "reason_1_field" in frame else None
    return out.drop_duplicates(schema.LEAD_ID, keep="last")


def change_columns(
    current: pd.DataFrame,
    previous: pd.DataFrame,
    settings: ExplainConfig | None = None,
    labels: Mapping[str, str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``score_change`` and ``change_reasons`` of every ``current`` row (logged rows).

    ``previous`` holds the earlier row of the leads that have one (see
    :class:`PreviousScores`); the others get NaN and None. ``change_reasons`` is the
    settings' ``reasons`` biggest changes (:func:`field_changes`) as ``"; "``-joined lines,
    in the current language; ``labels``: see :class:`FieldChange`.
    """
    settings = settings or ExplainConfig()
    n = len(current)
    score_change = np.full(n, np.nan)
    texts = np.full(n, None, dtype=object)
    if n == 0 or previous.empty:
        return score_change, texts
    earlier = {str(r[schema.LEAD_ID]): r for r in previous.to_dict("records")}
    fields = [c for c in current.columns if c not in _NOT_INPUTS]
    for i, row in enumerate(current.to_dict("records")):
        before = earlier.get(str(row[schema.LEAD_ID]))
        if before is None:
            continue
        score_change[i] = float(row["score"]) - float(before["score"])
        changes = field_changes(before, row, settings, fields, labels)[: settings.reasons]
        texts[i] = CHANGE_SEPARATOR.join(c.text(settings.text_decimals) for c in changes)
    return score_change, texts
