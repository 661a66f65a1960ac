"""Monitoring scenarios for tests and benchmarks: a synthetic production period, scored
and logged as if each lead had been scored the day it arrived.

The log is written through :mod:`leadmodel.predlog` (``log_table`` + ``PredictionLog``);
the outcomes are the same export's labels as they stand at its ``as_of`` date, so recent
leads are still open (label delay).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa

from leadmodel import predlog, schema
from leadmodel.io import write_table
from leadmodel.synthetic import generate

#: The production period: an export dated AS_OF, of which the leads created from
#: PERIOD_FROM on were scored (and logged) on the day they arrived.
AS_OF = "2026-10-31"
PERIOD_FROM = "2026-05-04"
SCENARIO_FROM = "2026-07-06"
#: Leads generated over the synthetic history; about a quarter fall in the period.
ROWS = 40_000
#: Hours after its creation a lead is scored (a timestamp inside its day).
SCORED_AFTER = pd.Timedelta(hours=9)


@dataclass
class ProductionLog:
    log: Path
    outcomes: Path
    leads: pd.DataFrame


def production_log(
    model: object,
    model_name: str,
    model_version: str,
    folder: Path,
    seed: int,
    scenario: str | None = None,
    rows: int = ROWS,
    world: int | None = None,
) -> ProductionLog:
    """Generate, score and log one production period; write its outcomes export.

    ``world``: the company of the training export (its business units), see
    :func:`leadmodel.synthetic.generate`.
    """
    data = generate(
        rows, seed=seed, as_of=AS_OF, scenario=scenario, scenario_from=SCENARIO_FROM, world=world
    )
    export = data.export
    leads = export[export[schema.CREATED_AT] >= pd.Timestamp(PERIOD_FROM)].reset_index(drop=True)
    scores = model.predict(leads)  # type: ignore[attr-defined]
    table = predlog.log_table(
        model,
        leads,
        scores,
        model_name=model_name,
        model_version=model_version,
        origin="batch",
    )
    when = pd.to_datetime(leads[schema.CREATED_AT]).dt.tz_localize("UTC") + SCORED_AFTER
    at = table.schema.get_field_index(predlog.SCORED_AT)
    table = table.set_column(
        at, predlog.SCORED_AT, pa.array(when, predlog.BASE_SCHEMA.field(predlog.SCORED_AT).type)
    )
    log = folder / "predictions"
    predlog.PredictionLog(log).write(table)
    outcomes = write_table(leads, folder / "outcomes.parquet")
    return ProductionLog(log=log, outcomes=Path(outcomes), leads=leads)
