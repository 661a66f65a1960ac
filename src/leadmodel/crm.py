"""Write-back files: the scores in the shape a CRM imports as an update of its records.

``leadmodel score --format hubspot|salesforce|dynamics`` writes, per scored lead, the
system's record id (the export's, which the preset read as ``lead_id``) and four custom
fields: the 0-100 score, the tier, P(close) and the top reasons as one text. The field
names and how to create them in each CRM are in docs/crm.md; :data:`WRITE_BACKS` is the
one place that names them. The reasons text, in the language of the run (``--lang``,
``LEADMODEL_LANG``), is cut to whole reasons within the field's length limit, counted in
characters (:meth:`WriteBack.fit_text`).

The layer only maps the frame that :func:`leadmodel.batch.score_frame` produces (and its
Arrow schema); how leads are read, validated and scored does not change with the format.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa

from leadmodel import schema
from leadmodel.explain.reasons import REASON_SEPARATOR
from leadmodel.i18n import _

CANONICAL: Final = "canonical"
#: Decimals written: the score as the report shows it, P(close) as a fraction 0..1.
SCORE_DECIMALS: Final = 1
P_CLOSE_DECIMALS: Final = 4
#: What ends a reasons text that had to be cut inside its first reason.
ELLIPSIS: Final = "…"
#: File types every one of the three importers takes.
WRITE_BACK_SUFFIXES: Final[tuple[str, ...]] = (".csv",)


@dataclass(frozen=True)
class WriteBack:
    """One CRM's import-as-update file: its id column and the four custom fields."""

    system: str
    id_column: str
    score: str
    tier: str
    p_close: str
    reasons: str
    #: Longest reasons text the field takes (characters).
    reasons_max_chars: int

    @property
    def columns(self) -> list[str]:
        """The file's columns, in order."""
        return [self.id_column, self.score, self.tier, self.p_close, self.reasons]

    def arrow_schema(self) -> pa.Schema:
        """The Arrow schema of the file (numbers as floats, the rest as text)."""
        text = {self.id_column, self.tier, self.reasons}
        return pa.schema(
            [pa.field(c, pa.string() if c in text else pa.float64()) for c in self.columns]
        )

    def fit_text(self, text: str) -> str:
        """``text`` within :attr:`reasons_max_chars`: whole reasons only, else cut with "…"."""
        limit = self.reasons_max_chars
        if len(text) <= limit:
            return text
        kept = ""
        for reason in text.split(REASON_SEPARATOR):
            longer = reason if not kept else kept + REASON_SEPARATOR + reason
            if len(longer) > limit:
                break
            kept = longer
        return kept or text[: limit - len(ELLIPSIS)] + ELLIPSIS

    def frame(self, scores: pd.DataFrame) -> pd.DataFrame:
        """The write-back rows of a scores frame (``lead_id``, ``score``, ``tier``,
        ``p_close``, ``reasons``), in the same order."""
        reasons = scores.get("reasons")
        if reasons is None:
            reasons = pd.Series("", index=scores.index, dtype=object)
        text = reasons.astype(object).where(reasons.notna(), "").map(self.fit_text)
        out = {
            self.id_column: scores[schema.LEAD_ID].astype(object).to_numpy(),
            self.score: np.round(scores["score"].to_numpy(dtype=float), SCORE_DECIMALS),
            self.tier: scores["tier"].astype(object).to_numpy(),
            self.p_close: np.round(scores["p_close"].to_numpy(dtype=float), P_CLOSE_DECIMALS),
            self.reasons: text.to_numpy(dtype=object),
        }
        return pd.DataFrame(out, columns=self.columns)


#: The write-back file of each system (docs/crm.md: how to create the fields).
WRITE_BACKS: Final[dict[str, WriteBack]] = {
    # HubSpot: contacts import, "update existing records" matched on Record ID; a
    # single-line text property holds up to 65,536 characters.
    "hubspot": WriteBack(
        system="HubSpot",
        id_column="Record ID",
        score="leadmodel_score",
        tier="leadmodel_tier",
        p_close="leadmodel_p_close",
        reasons="leadmodel_reasons",
        reasons_max_chars=65_536,
    ),
    # Salesforce: Data Import Wizard or Data Loader "Update" matched on the Lead Id; the
    # reasons field is Text(255), the longest plain text field that can be filtered on.
    "salesforce": WriteBack(
        system="Salesforce",
        id_column="Id",
        score="Leadmodel_Score__c",
        tier="Leadmodel_Tier__c",
        p_close="Leadmodel_P_Close__c",
        reasons="Leadmodel_Reasons__c",
        reasons_max_chars=255,
    ),
    # Dynamics 365: data import of lead records matched on leadid; a single line of
    # text takes up to 4,000 characters, the default is 100: create it with 1,000.
    "dynamics": WriteBack(
        system="Dynamics 365",
        id_column="leadid",
        score="new_leadmodelscore",
        tier="new_leadmodeltier",
        p_close="new_leadmodelpclose",
        reasons="new_leadmodelreasons",
        reasons_max_chars=1_000,
    ),
}
#: ``--format`` values of ``leadmodel score``: the canonical scores file or a write-back.
SCORE_FORMATS: Final[tuple[str, ...]] = (CANONICAL, *WRITE_BACKS)


def write_back(name: str) -> WriteBack:
    """The write-back of one system by name.

    Raises
    ------
    ValueError
        If ``name`` is not a known system (the line lists them).
    """
    try:
        return WRITE_BACKS[name]
    except KeyError:
        raise ValueError(
            _("format: must be one of {formats}, got {value}").format(
                formats=", ".join(SCORE_FORMATS), value=repr(name)
            )
        ) from None
