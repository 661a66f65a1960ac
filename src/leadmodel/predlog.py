"""The prediction log: every score leadmodel hands out, in one Parquet dataset.

One folder, partitioned by the UTC date the score was handed out
(``DIR/date=2026-12-01/<origin>-<time>-<id>.parquet``, the Hive layout Spark's
``partitionBy("date")`` writes too), readable by DuckDB, pandas and Spark. Each row is one
score:

``lead_id``, ``scored_at`` (UTC), ``origin`` (``service``, ``batch`` or ``spark``),
``model_name``, ``model_version``, ``p_accept``, ``p_close``, ``score``, ``tier``,
``reasons`` (the top reasons as a list of ``{field, points}``), and then the values of
the model's input fields (:func:`input_fields`) under their canonical names, and no other
column: nothing about a lead is kept beyond what the model reads.

Every file is written whole under a hidden temporary name and renamed
(:class:`leadmodel.io.AtomicTableWriter`), so a reader never sees half a file. Where the
log goes: ``--log DIR``, else :data:`LOG_ENV`, else :func:`default_log_dir` (a
``predictions`` folder beside the embedded MLflow store); ``off`` switches it off.
:func:`connect` opens the dataset in DuckDB as the view ``predictions``.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa

from leadmodel import schema
from leadmodel.i18n import _
from leadmodel.io import AtomicTableWriter

#: Environment variable naming the log folder (or ``off``).
LOG_ENV: Final = "LEADMODEL_LOG_DIR"
#: The value of ``--log`` or :data:`LOG_ENV` that switches the log off.
OFF: Final = "off"
#: Folder name of the default log, beside the embedded MLflow store.
DEFAULT_FOLDER: Final = "predictions"
#: Partition column (a folder level, not a column of the files).
DATE: Final = "date"
SCORED_AT: Final = "scored_at"
ORIGINS: Final = ("service", "batch", "spark")
REASON_TYPE: Final = pa.list_(pa.struct([("field", pa.string()), ("points", pa.float64())]))
#: The columns every log file starts with, before the model's input fields.
BASE_SCHEMA: Final = pa.schema(
    [
        (schema.LEAD_ID, pa.string()),
        (SCORED_AT, pa.timestamp("us", tz="UTC")),
        ("origin", pa.string()),
        ("model_name", pa.string()),
        ("model_version", pa.string()),
        ("p_accept", pa.float64()),
        ("p_close", pa.float64()),
        ("score", pa.float64()),
        ("tier", pa.string()),
        ("reasons", REASON_TYPE),
    ]
)
BASE_COLUMNS: Final = tuple(BASE_SCHEMA.names)


class LogError(Exception):
    """The prediction log cannot be read or written as asked (one clear line)."""


# --- where the log lives --------------------------------------------------------------


def default_log_dir() -> Path:
    """``predictions/`` beside the embedded SQLite store, else in the working folder."""
    from leadmodel.tracking import sqlite_file, tracking_uri

    store = sqlite_file(tracking_uri())
    return (store.parent if store is not None else Path.cwd()) / DEFAULT_FOLDER


def log_dir(option: str | Path | None = None) -> Path | None:
    """The log folder in force: ``option``, else :data:`LOG_ENV`, else the default.

    ``None`` when switched off (``off`` given as the option or in the environment).
    """
    value = option if option not in (None, "") else os.environ.get(LOG_ENV) or None
    if value is None:
        return default_log_dir()
    if str(value).strip().lower() == OFF:
        return None
    return Path(value).expanduser().resolve()


# --- the rows -------------------------------------------------------------------------


def input_fields(model: Any) -> list[str]:
    """The raw canonical fields ``model`` (a :class:`~leadmodel.model.FunnelModel`) reads.

    :attr:`LeadFeatures.input_fields <leadmodel.features.LeadFeatures.input_fields>`:
    its features that are lead fields, and ``created_at`` when it derives time features.
    """
    return list(model.features.input_fields)


def field_type(model: Any, name: str) -> pa.DataType:
    """Arrow type of input field ``name`` in the log: numbers as float, dates, else text."""
    if name == schema.CREATED_AT:
        return pa.timestamp("us")
    if name in model.features.numeric_:
        return pa.float64()
    return pa.string()


def log_schema(model: Any) -> pa.Schema:
    """:data:`BASE_SCHEMA` and the model's input fields, in that order."""
    extra = [pa.field(name, field_type(model, name)) for name in input_fields(model)]
    return pa.schema([*BASE_SCHEMA, *extra])


def reason_lists(reasons: pd.DataFrame | None, rows: int) -> list[list[dict[str, Any]]]:
    """``reason_j_field``/``reason_j_points`` columns as one list of ``{field, points}``."""
    if reasons is None:
        return [[] for _ in range(rows)]
    pairs = []
    j = 1
    while f"reason_{j}_field" in reasons:
        pairs.append((reasons[f"reason_{j}_field"].to_numpy(), reasons[f"reason_{j}_points"]))
        j += 1
    out: list[list[dict[str, Any]]] = []
    points = [np.asarray(p, dtype=float) for _, p in pairs]
    for i in range(rows):
        out.append(
            [
                {"field": str(f[i]), "points": float(p[i])}
                for (f, _), p in zip(pairs, points, strict=True)
                if isinstance(f[i], str) and f[i] != ""
            ]
        )
    return out


def reason_array(reasons: pd.DataFrame | None, rows: int) -> pa.Array:
    """:func:`reason_lists` as an Arrow array of :data:`REASON_TYPE`, built column-wise."""
    if reasons is None or "reason_1_field" not in reasons:
        return pa.array([[] for _ in range(rows)], REASON_TYPE)
    k = 1
    while f"reason_{k + 1}_field" in reasons:
        k += 1
    fields = np.column_stack(
        [reasons[f"reason_{j}_field"].to_numpy(dtype=object) for j in range(1, k + 1)]
    )
    points = np.column_stack(
        [np.asarray(reasons[f"reason_{j}_points"], dtype=float) for j in range(1, k + 1)]
    )
    kept = pd.notna(fields) & (fields != "")
    offsets = np.zeros(rows + 1, dtype=np.int32)
    np.cumsum(kept.sum(axis=1), out=offsets[1:])
    items = pa.StructArray.from_arrays(
        [_text_array(fields[kept]), pa.array(points[kept], pa.float64())],
        names=["field", "points"],
    )
    return pa.ListArray.from_arrays(pa.array(offsets), items).cast(REASON_TYPE)


def _text_array(values: Any) -> pa.Array:
    """Text values (None for missing) as an Arrow string array."""
    series = pd.Series(values).reset_index(drop=True)
    try:
        return pa.array(series.astype(object), pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # not all text: write each as text
        text = series.astype(object).where(series.notna(), None)
        return pa.array([None if v is None else str(v) for v in text], pa.string())


def _input_values(model: Any, name: str, values: Any, rows: int) -> pa.Array:
    kind = field_type(model, name)
    if values is None:
        return pa.nulls(rows, kind)
    series = pd.Series(
        np.asarray(values, dtype=object) if not isinstance(values, pd.Series) else values
    ).reset_index(drop=True)
    if kind == pa.float64():
        return pa.array(
            pd.to_numeric(series, errors="coerce").to_numpy(float), kind, from_pandas=True
        )
    if pa.types.is_timestamp(kind):
        from leadmodel.features import timestamps

        stamps = timestamps(series)
        return pa.array(
            stamps.dt.tz_localize(None) if stamps.dt.tz is not None else stamps,
            kind,
            from_pandas=True,
        )
    return _text_array(series)


def _micros(scored_at: pd.Timestamp | Sequence[Any] | None, rows: int) -> np.ndarray:
    """Microseconds since the epoch (UTC) of every row: one time for all, or one each."""
    if scored_at is None or isinstance(scored_at, str | datetime | np.datetime64):
        when = pd.Timestamp.now(tz="UTC") if scored_at is None else pd.Timestamp(scored_at)
        when = when.tz_localize("UTC") if when.tzinfo is None else when.tz_convert("UTC")
        return np.full(rows, when.value // 1000, dtype=np.int64)
    stamps = pd.DatetimeIndex(pd.to_datetime(list(scored_at), utc=True, format="ISO8601"))
    if len(stamps) != rows:
        raise ValueError(f"scored_at: {len(stamps)} times for {rows} rows")
    return stamps.as_unit("us").asi8


def log_table(
    model: Any,
    leads: Any,
    scores: pd.DataFrame,
    *,
    model_name: str,
    model_version: str,
    origin: str,
    reasons: pd.DataFrame | None = None,
    scored_at: pd.Timestamp | Sequence[Any] | None = None,
) -> pa.Table:
    """The log rows of one scoring call, as an Arrow table of :func:`log_schema`.

    ``leads``: the canonical rows scored (a frame or
    :class:`~leadmodel.features.RecordColumns`, same order as ``scores``); ``scores``:
    :meth:`FunnelModel.predict <leadmodel.model.FunnelModel.predict>`'s output (with
    ``lead_id``); ``reasons``: ``reason_j_field``/``reason_j_points`` columns, if any;
    ``scored_at``: one time for every row (default now), or one per row (naive = UTC).
    """
    if origin not in ORIGINS:
        raise ValueError(f"origin: must be one of {', '.join(ORIGINS)}, got {origin!r}")
    rows = len(scores)
    ids = scores[schema.LEAD_ID] if schema.LEAD_ID in scores else leads[schema.LEAD_ID]
    columns: dict[str, Any] = {
        schema.LEAD_ID: _text_array(ids),
        SCORED_AT: pa.array(_micros(scored_at, rows), pa.int64()).cast(
            BASE_SCHEMA.field(SCORED_AT).type
        ),
        "origin": pa.array([origin] * rows, pa.string()),
        "model_name": pa.array([model_name] * rows, pa.string()),
        "model_version": pa.array([str(model_version)] * rows, pa.string()),
    }
    for name in ("p_accept", "p_close", "score"):
        values = scores[name].to_numpy(float) if name in scores else np.full(rows, np.nan)
        columns[name] = pa.array(values, pa.float64(), from_pandas=True)
    columns["tier"] = _text_array(scores["tier"])
    columns["reasons"] = reason_array(reasons, rows)
    for name in input_fields(model):
        values = leads[name] if name in leads else None
        columns[name] = _input_values(model, name, values, rows)
    return pa.table(columns, schema=log_schema(model))


# --- writing --------------------------------------------------------------------------


class PredictionLog:
    """Append log rows to the dataset in ``folder``, one file per date and write."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def check(self) -> None:
        """Make the folder if need be; :class:`LogError` when it cannot be written."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LogError(
                _("prediction log {folder}: cannot create it ({problem})").format(
                    folder=self.folder, problem=exc
                )
            ) from exc
        if not os.access(self.folder, os.W_OK):
            raise LogError(
                _("prediction log {folder}: folder is not writable").format(folder=self.folder)
            )

    def file_for(self, day: str, origin: str) -> Path:
        """A new file name in the partition of ``day`` (``YYYY-MM-DD``)."""
        name = f"{origin}-{pd.Timestamp.now(tz='UTC'):%H%M%S%f}-{uuid.uuid4().hex[:12]}"
        return self.folder / f"{DATE}={day}" / f"{name}.parquet"

    def write(self, table: pa.Table, origin: str = "batch") -> list[Path]:
        """Write ``table`` (rows of :func:`log_table`) whole; returns the files written."""
        if table.num_rows == 0:
            return []
        self.check()
        stamps = table.column(SCORED_AT).to_pandas()
        dates = stamps.dt.strftime("%Y-%m-%d").to_numpy()
        written = []
        for day in sorted(set(dates)):
            part = table.filter(pa.array(dates == day)) if len(set(dates)) > 1 else table
            path = self.file_for(day, origin)
            path.parent.mkdir(exist_ok=True)
            with AtomicTableWriter(path) as out:
                import pyarrow.parquet as pq

                pq.write_table(part, out.tmp)
                written.append(out.commit())
        return written

    def writer(
        self, log_schema: pa.Schema, scored_at: pd.Timestamp, origin: str = "batch"
    ) -> AtomicTableWriter:
        """One file of rows scored at ``scored_at``, appended chunk by chunk.

        Its temporary file is hidden in the log's own folder, out of every date folder, so
        nothing is in the log before :meth:`~leadmodel.io.AtomicTableWriter.commit` (a
        batch run commits it with its scores). Use as a context manager.
        """
        self.check()
        day = pd.Timestamp(scored_at).tz_convert("UTC").strftime("%Y-%m-%d")
        return AtomicTableWriter(self.file_for(day, origin), log_schema, tmp_dir=self.folder)

    def staging(self, origin: str) -> Path:
        """A hidden folder in the log for a writer of its own (Spark's ``partitionBy``)."""
        self.check()
        return self.folder / f".{origin}-{uuid.uuid4().hex}.tmp"

    def adopt(self, staged: Path, origin: str) -> list[Path]:
        """Move the ``date=*/*.parquet`` files of ``staged`` into the log; returns them."""
        moved = []
        for part in sorted(Path(staged).glob(f"{DATE}=*/*.parquet")):
            target = self.file_for(part.parent.name.removeprefix(f"{DATE}="), origin)
            target.parent.mkdir(exist_ok=True)
            os.replace(part, target)
            moved.append(target)
        return moved


class BackgroundLog:
    """A prediction log the service writes without making a request wait for disk.

    :meth:`add` puts a table in memory; a thread writes what has gathered every
    ``flush_seconds`` (so a crash loses at most that long's scores) and :meth:`close`
    writes the rest (a normal shutdown loses nothing). Rows are grouped per write, so
    one file holds up to ``flush_seconds`` of scores rather than one request.

    ``build``, when given, turns what :meth:`add` gathered (anything, e.g. a request's
    records and answers) into tables in the writer thread, so the work of making the rows
    is not done while a request waits, and is done once per write rather than per request.
    """

    def __init__(
        self,
        log: PredictionLog,
        flush_seconds: float = 1.0,
        build: Callable[[list[Any]], list[pa.Table]] | None = None,
    ) -> None:
        self.log = log
        self.flush_seconds = flush_seconds
        self.build = build
        self._pending: list[Any] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self.rows_written = 0
        self.errors = 0
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def add(self, item: Any) -> None:
        """Gather a table (or, with ``build``, what it takes) for the next write."""
        if not isinstance(item, pa.Table) or item.num_rows:
            with self._lock:
                self._pending.append(item)

    def flush(self) -> int:
        """Write what has gathered now; returns the rows written."""
        import logging

        with self._write_lock:  # the writer thread and close() never write the same rows
            with self._lock:
                pending, self._pending = self._pending, []
            if not pending:
                return 0
            try:
                tables = self.build(pending) if self.build is not None else pending
            except Exception as exc:  # a bug in build must not stop the writer: say so
                self.errors += 1
                logging.getLogger(__name__).error(
                    "prediction log: %s requests not logged (%s building the rows)",
                    len(pending),
                    type(exc).__name__,
                )
                return 0
            tables = [t for t in tables if t.num_rows]
            if not tables:
                return 0
            table = pa.concat_tables(tables, promote_options="default")
            try:
                self.log.write(table, origin="service")
            except (OSError, LogError) as exc:  # keep serving; say so once per failed write
                self.errors += 1
                logging.getLogger(__name__).error(
                    "prediction log: %s rows not written (%s)", table.num_rows, exc
                )
                return 0
            self.rows_written += table.num_rows
            return table.num_rows

    def _run(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            self.flush()

    def close(self) -> None:
        """Stop the writer thread and write what is left."""
        self._stop.set()
        self._thread.join(timeout=max(5.0, 2 * self.flush_seconds))
        self.flush()


# --- reading --------------------------------------------------------------------------


def files_glob(folder: str | Path) -> str:
    return str(Path(folder) / f"{DATE}=*" / "*.parquet")


def connect(folder: str | Path, database: str = ":memory:") -> Any:
    """A DuckDB connection with the log of ``folder`` as the view ``predictions``.

    Raises :class:`LogError` when the folder holds no logged score.
    """
    import duckdb

    folder = Path(folder)
    if not any(folder.glob(f"{DATE}=*/*.parquet")):
        raise LogError(_("prediction log {folder}: no logged score there").format(folder=folder))
    con = duckdb.connect(database)
    glob = files_glob(folder).replace("'", "''")
    con.execute(
        "CREATE VIEW predictions AS SELECT * FROM read_parquet("
        f"'{glob}', hive_partitioning = true, union_by_name = true)"
    )
    return con


def read(
    folder: str | Path, lead_ids: Sequence[str] | None = None, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """Logged scores as a frame, oldest first (optionally only some leads or columns)."""
    con = connect(folder)
    try:
        picked = "*" if not columns else ", ".join(f'"{c}"' for c in columns)
        sql = f"SELECT {picked} FROM predictions"
        params: list[Any] = []
        if lead_ids is not None:
            sql += f" WHERE {schema.LEAD_ID} IN (SELECT unnest(?))"
            params.append([str(v) for v in lead_ids])
        sql += f" ORDER BY {SCORED_AT}"
        return con.execute(sql, params).df()
    finally:
        con.close()


def reasons_of(value: Any) -> list[Mapping[str, Any]]:
    """The reasons of one logged row as a list of ``{field, points}`` (empty when none)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    return [dict(r) for r in value]
