"""The service's prediction log: every score ``/score`` and ``/explain`` hand out.

Free of BentoML and FastAPI. A request only appends what it already has (its validated
records and its answers) to memory (:meth:`ServiceLog.scored`, :meth:`ServiceLog.explained`:
a list append, no disk, no table); :class:`leadmodel.predlog.BackgroundLog`'s thread turns
what gathered into log rows (:func:`leadmodel.predlog.log_table`, origin ``service``) and
writes them every ``flush_seconds``; :meth:`ServiceLog.close` (the service's shutdown hook)
writes the rest.

The rows of ``/score`` carry the reasons the answer carried (its ``k``). ``/explain`` hands
out each lead's score too, with every field's points rather than a reason list: its rows
carry the top reasons ``/score`` gives by default (the model's ``explain.reasons``,
ranked by ``|points|``), computed in the writer thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from leadmodel import explain, predlog, schema
from leadmodel.features import RecordColumns

if TYPE_CHECKING:
    from leadmodel.serving.scoring import Scorer

ORIGIN = "service"


@dataclass(frozen=True)
class _Answer:
    """One request's answer as the log needs it (gathered in the request, built later)."""

    scorer: Scorer
    records: list[dict[str, Any]]
    leads: list[dict[str, Any]]
    scored_at: pd.Timestamp
    explained: bool


def _reason_columns(leads: list[dict[str, Any]]) -> pd.DataFrame:
    """``reason_j_field`` / ``reason_j_points`` of answered leads' ``reasons`` lists."""
    k = max((len(lead["reasons"]) for lead in leads), default=0)
    columns: dict[str, list[Any]] = {}
    for j in range(k):
        columns[f"reason_{j + 1}_field"] = [
            lead["reasons"][j]["field"] if j < len(lead["reasons"]) else None for lead in leads
        ]
        columns[f"reason_{j + 1}_points"] = [
            lead["reasons"][j]["points"] if j < len(lead["reasons"]) else float("nan")
            for lead in leads
        ]
    return pd.DataFrame(columns, index=range(len(leads)))


def log_rows(answers: list[_Answer]) -> list[pa.Table]:
    """The log rows of gathered answers: one table per model and endpoint, in order."""
    groups: dict[tuple[int, bool], list[_Answer]] = {}
    for answer in answers:
        groups.setdefault((id(answer.scorer), answer.explained), []).append(answer)
    tables = []
    for group in groups.values():
        scorer = group[0].scorer
        records = [record for answer in group for record in answer.records]
        leads = [lead for answer in group for lead in answer.leads]
        stamps = [answer.scored_at for answer in group for _ in answer.leads]
        scores = pd.DataFrame(
            {
                schema.LEAD_ID: [lead[schema.LEAD_ID] for lead in leads],
                **{c: [lead[c] for lead in leads] for c in scorer.model.output_columns},
            }
        )
        if group[0].explained:
            reasons = explain.reasons_frame(scorer.model, records)
        else:
            reasons = _reason_columns(leads)
        tables.append(
            predlog.log_table(
                scorer.model,
                RecordColumns(records),
                scores,
                model_name=scorer.ref.name or "",
                model_version=scorer.ref.version or "",
                origin=ORIGIN,
                reasons=reasons,
                scored_at=stamps,
            )
        )
    return tables


class ServiceLog:
    """The prediction log of one service worker: gathered in requests, written behind."""

    def __init__(self, folder: Path, flush_seconds: float) -> None:
        self.folder = folder
        self.background = predlog.BackgroundLog(
            predlog.PredictionLog(folder), flush_seconds, build=log_rows
        )

    def scored(
        self, scorer: Scorer, records: list[dict[str, Any]], leads: list[dict[str, Any]]
    ) -> None:
        """Log a ``/score`` answer: its leads with their reasons (``field``, ``points``)."""
        now = pd.Timestamp.now(tz="UTC")
        self.background.add(_Answer(scorer, records, leads, now, explained=False))

    def explained(
        self, scorer: Scorer, records: list[dict[str, Any]], leads: list[dict[str, Any]]
    ) -> None:
        """Log an ``/explain`` answer's scores (reasons are ranked in the writer thread)."""
        now = pd.Timestamp.now(tz="UTC")
        self.background.add(_Answer(scorer, records, leads, now, explained=True))

    def flush(self) -> int:
        """Write what has gathered now; returns the rows written."""
        return self.background.flush()

    def close(self) -> None:
        """Write everything gathered and stop the writer (the service's shutdown)."""
        self.background.close()
