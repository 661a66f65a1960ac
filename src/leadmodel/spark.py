"""The batch scoring of :mod:`leadmodel.batch` on Apache Spark (optional extra ``spark``).

Spark reads the leads; ``mapInPandas`` runs the same library functions the single-machine
job runs on each chunk (:func:`leadmodel.batch.validate_chunk`, then
:func:`leadmodel.batch.score_frame`), so both give the same scores, reasons and rejects.
The fitted :class:`~leadmodel.model.FunnelModel` is loaded once on the driver and
shipped to the executors as a broadcast variable; executors need the ``leadmodel``
package installed (see ``docs/batch.md``).

File-wide row numbers and duplicate ids need a view across partitions: rows are numbered
in the order Spark reads the input (one small counting job), and the first row of every
``lead_id`` is found with a window over the id. As in the single-machine job, the first
row with an id is scored and later rows with the same id are rejected.

Nothing here imports pyspark at module import time except for type checking.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa

from leadmodel import batch, i18n, ingest, predlog, schema
from leadmodel.io import table_format

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

#: Master of the session :func:`spark_session` starts when none is configured.
DEFAULT_MASTER: Final = "local[2]"
#: Settings of a local session: loopback only, no UI, small shuffles, a small driver.
LOCAL_CONF: Final[dict[str, str]] = {
    "spark.ui.enabled": "false",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.sql.shuffle.partitions": "4",
    "spark.driver.memory": "1g",
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.showConsoleProgress": "false",
}
APP_NAME: Final = "leadmodel-score"
#: Rows per Arrow batch handed to ``mapInPandas`` (one chunk of the single-machine job).
ARROW_BATCH_ROWS: Final = 10_000
#: Bits of ``monotonically_increasing_id`` that count rows within a partition.
_ROW_BITS: Final = 33

_ROW, _FIRST, _KEY, _PART, _MONO = "__row", "__first_row", "__lead_key", "__part", "__mono"
_KIND, _COUNTS, _RAW, _LOG = "__kind", "__counts", "__raw__", "__log__"
#: Spark's type of the log's ``reasons`` (sent from the workers as JSON text).
_REASONS_DDL: Final = "array<struct<field:string,points:double>>"
_SCORE, _REJECT, _TALLY = "score", "reject", "counts"


class SparkUnavailable(RuntimeError):
    """pyspark (or Java) is missing (one clear line that says how to install it)."""


def _require_pyspark() -> None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise SparkUnavailable(
            i18n.gettext("pyspark is not installed: {command} (Spark needs Java 17+)").format(
                command="pip install 'leadmodel[spark]'"
            )
        ) from None


# --- the session -------------------------------------------------------------------------


def spark_session(master: str | None = None, app_name: str = APP_NAME) -> SparkSession:
    """The Spark session to score with.

    Under ``spark-submit`` (or when a session is already running) its configuration is
    used as it is. Otherwise ``master`` (default: ``$MASTER``, else ``local[2]``) with,
    for a local master, :data:`LOCAL_CONF`; workers run this Python interpreter.
    """
    _require_pyspark()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None and master is None:
        return active
    builder = SparkSession.builder.appName(app_name)
    if master is None and "PYSPARK_GATEWAY_PORT" in os.environ:
        return builder.getOrCreate()  # started by spark-submit: its --master and --conf
    master = master or os.environ.get("MASTER") or DEFAULT_MASTER
    builder = builder.master(master)
    if master.startswith("local"):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        os.environ.setdefault("SPARK_LOCAL_IP", LOCAL_CONF["spark.driver.host"])
        for key, value in LOCAL_CONF.items():
            builder = builder.config(key, value)
    try:
        return builder.getOrCreate()
    except Exception as exc:  # the JVM did not start (no Java, bad master)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SparkUnavailable(
            i18n.gettext(
                "cannot start Spark (master {master}): {problem}; is Java 17+ installed "
                "(`make java-deps`)?"
            ).format(master=master, problem=first[:200])
        ) from None


# --- reading -------------------------------------------------------------------------------


def read_leads(spark: SparkSession, path: str) -> DataFrame:
    """A CSV or Parquet lead file as a Spark DataFrame of text, read like ingest reads it.

    CSV: header row, every column a string, ``"`` quotes and escapes, newlines allowed in
    quoted values, the delimiter sniffed from a local file (``,`` for remote paths), and
    a malformed row stops the read (as in ingest) instead of becoming nulls.
    """
    from pyspark.sql import functions as F

    fmt = table_format(path)
    local = Path(path)
    if fmt == "csv":
        delimiter = ingest.DELIMITERS[0]
        if local.is_file():
            delimiter = ingest.TableReader(local).delimiter or delimiter
        df = spark.read.csv(
            path,
            header=True,
            sep=delimiter,
            inferSchema=False,
            multiLine=True,
            quote='"',
            escape='"',
            mode="FAILFAST",
            encoding="UTF-8",
        )
    else:
        df = spark.read.parquet(path)
    names = [c.lstrip("\ufeff").strip() for c in df.columns]
    pairs = zip(df.columns, names, strict=True)
    return df.select([F.col(f"`{old}`").cast("string").alias(new) for old, new in pairs])


# --- row numbers and first rows ------------------------------------------------------------


def _with_row_numbers(df: DataFrame) -> DataFrame:
    """``__row``: 1-based position of every row in the order Spark reads the input."""
    from pyspark.sql import functions as F

    spark = df.sparkSession
    tagged = df.withColumn(_PART, F.spark_partition_id()).withColumn(
        _MONO, F.monotonically_increasing_id()
    )
    sizes = {r[_PART]: r["count"] for r in tagged.groupBy(_PART).count().collect()}
    offsets, total = [], 0
    for part in sorted(sizes):
        offsets.append((part, total))
        total += sizes[part]
    offset_df = spark.createDataFrame(offsets or [(0, 0)], f"{_PART} int, __offset long")
    in_part = F.col(_MONO) - F.shiftleft(F.col(_PART).cast("long"), _ROW_BITS)
    return (
        tagged.join(F.broadcast(offset_df), on=_PART, how="left")
        .withColumn(_ROW, F.col("__offset") + in_part + F.lit(1))
        .drop(_PART, _MONO, "__offset")
    )


def _with_first_rows(df: DataFrame, mapping: ingest.Mapping) -> DataFrame:
    """``__first_row``: the row of the first row with the same ``lead_id`` (typed as ingest)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, StructField, StructType

    raw_columns = [c for c in df.columns if c != _ROW]

    def keys(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for frame in frames:
            ids = batch.lead_id_keys(frame[raw_columns].fillna(""), mapping)
            yield _for_spark(frame.assign(**{_KEY: pd.Series(ids, dtype=object)}))

    keyed_schema = StructType([*df.schema.fields, StructField(_KEY, StringType(), True)])
    keyed = df.mapInPandas(keys, keyed_schema)
    by_id = Window.partitionBy(_KEY)
    first = F.when(F.col(_KEY).isNull(), F.col(_ROW)).otherwise(F.min(_ROW).over(by_id))
    return keyed.withColumn(_FIRST, first).drop(_KEY)


def _for_spark(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns as plain object arrays (pyspark cannot take pandas 3's Arrow strings)."""
    text = [c for c, dtype in frame.dtypes.items() if pd.api.types.is_string_dtype(dtype)]
    if not text:
        return frame
    plain = {c: frame[c].astype(object).where(frame[c].notna(), None) for c in text}
    return frame.assign(**plain)


# --- scoring ---------------------------------------------------------------------------------


def _spark_type(arrow_type: pa.DataType) -> Any:
    from pyspark.sql import types as T

    if pa.types.is_floating(arrow_type):
        return T.DoubleType()
    if pa.types.is_integer(arrow_type):
        return T.LongType()
    if pa.types.is_timestamp(arrow_type):
        return T.TimestampType() if arrow_type.tz else T.TimestampNTZType()
    return T.StringType()


def spark_schema(arrow_schema: pa.Schema) -> Any:
    """The Spark ``StructType`` of an Arrow schema of strings, numbers and timestamps."""
    from pyspark.sql.types import StructField, StructType

    return StructType([StructField(f.name, _spark_type(f.type), True) for f in arrow_schema])


@dataclass
class SparkScoring:
    """Scores and rejects of one Spark scoring job, from one combined DataFrame.

    ``scores`` has the columns of :func:`leadmodel.batch.output_schema`; ``rejects`` the
    original columns (text), ``reject_row`` and ``reject_reason``. Both are lazy; persist
    ``combined`` (``persist=True``) to compute the job once for both and the counts.
    """

    combined: DataFrame
    output_columns: list[str]
    raw_columns: list[str]
    model_version: str
    model_uri: str | None = None
    model_name: str = ""
    #: The model's input fields the log keeps (empty: the job computed no log rows).
    log_fields: list[str] = dataclass_field(default_factory=list)
    #: Those of ``log_fields`` that are times (sent as text by the workers).
    log_times: list[str] = dataclass_field(default_factory=list)
    has_accept: bool = True

    def _log_input(self, name: str) -> Any:
        from pyspark.sql import functions as F

        column = F.col(f"`{_LOG}{name}`")
        if name in self.log_times:
            column = column.cast("timestamp_ntz")
        return column.alias(name)

    def log_rows(self, scored_at: pd.Timestamp) -> DataFrame:
        """The prediction log rows of the scored leads (:func:`leadmodel.predlog.log_schema`
        columns, origin ``spark``) and the ``date`` to partition them by."""
        from pyspark.sql import functions as F

        if not self.log_fields:
            raise ValueError("spark_scoring(log_reasons=0) computed no log rows")
        when = pd.Timestamp(scored_at).tz_convert("UTC")
        picked = self.combined.filter(F.col(_KIND) == _SCORE)
        p_accept = F.col("p_accept") if self.has_accept else F.lit(None).cast("double")
        columns = [
            F.col(schema.LEAD_ID),
            F.lit(when.to_pydatetime()).cast("timestamp").alias(predlog.SCORED_AT),
            F.lit("spark").alias("origin"),
            F.lit(self.model_name).alias("model_name"),
            F.lit(self.model_version).alias("model_version"),
            p_accept.alias("p_accept"),
            F.col("p_close"),
            F.col("score"),
            F.col("tier"),
            F.from_json(F.col(f"{_LOG}reasons"), _REASONS_DDL).alias("reasons"),
            *[self._log_input(name) for name in self.log_fields],
            F.lit(f"{when:%Y-%m-%d}").alias(predlog.DATE),
        ]
        return picked.select(columns)

    @property
    def scores(self) -> DataFrame:
        from pyspark.sql import functions as F

        picked = self.combined.filter(F.col(_KIND) == _SCORE)
        return picked.select([F.col(f"`{c}`") for c in self.output_columns])

    @property
    def rejects(self) -> DataFrame:
        from pyspark.sql import functions as F

        picked = self.combined.filter(F.col(_KIND) == _REJECT)
        raw = [F.col(f"`{_RAW}{c}`").alias(c) for c in self.raw_columns]
        reject = [F.col(ingest.REJECT_ROW), F.col(ingest.REJECT_REASON)]
        return picked.select(raw + reject).orderBy(ingest.REJECT_ROW)

    def counts(self) -> dict[str, Any]:
        """``rows_in``, ``rows_scored``, ``rows_rejected`` and the reject reason counts."""
        from pyspark.sql import functions as F

        tallies = self.combined.filter(F.col(_KIND) == _TALLY).select(_COUNTS).collect()
        out: dict[str, Any] = {"rows_in": 0, "rows_scored": 0, "rows_rejected": 0}
        reasons: dict[str, int] = {}
        for row in tallies:
            tally = json.loads(row[_COUNTS])
            for key in ("rows_in", "rows_scored", "rows_rejected"):
                out[key] += tally[key]
            for reason, n in tally["reasons"].items():
                reasons[reason] = reasons.get(reason, 0) + n
        out["reasons"] = dict(sorted(reasons.items(), key=lambda kv: -kv[1]))
        return out


def spark_scoring(
    df: DataFrame,
    model_uri: str | None = None,
    reasons: int = 0,
    mapping: ingest.Mapping | str | Path | None = None,
    persist: bool = False,
    delimiter: str | None = None,
    log_reasons: int | None = 0,
) -> SparkScoring:
    """Validate and score a Spark DataFrame of raw leads; scores and rejects together.

    Parameters
    ----------
    df
        The export as read (see :func:`read_leads`); other column types are cast to text.
    model_uri
        MLflow model URI (default: the champion, see :mod:`leadmodel.tracking`).
    reasons
        Top reasons per lead to add as columns (0 = none).
    mapping
        Column mapping (object or YAML path).
    persist
        Persist the combined result so scores, rejects and counts compute it once.
    delimiter
        The delimiter of the CSV ``df`` was read from (a comma in a number of a
        ``;``-separated file is not a thousands separator; see
        :meth:`leadmodel.ingest.Mapping.reading`).
    log_reasons
        Also compute the prediction log's rows (:meth:`SparkScoring.log_rows`) with this
        many reasons per lead; None: :func:`leadmodel.batch.log_reason_count`; 0: none.

    Sets ``spark.sql.execution.arrow.maxRecordsPerBatch`` of the session to
    :data:`ARROW_BATCH_ROWS` (the rows each ``mapInPandas`` call validates and scores).
    """
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, StructField, StructType

    from leadmodel.tracking import default_model_uri, load_funnel

    if reasons < 0:
        raise ValueError(
            i18n.gettext("reasons: must be 0 or more, got {reasons}").format(reasons=reasons)
        )
    if not isinstance(mapping, ingest.Mapping):
        mapping = ingest.load_mapping(mapping)
    names = [str(c).strip() for c in df.columns]
    ingest.validate(pd.DataFrame({n: pd.Series(dtype=str) for n in names}), mapping)  # columns
    model, info = load_funnel(model_uri or default_model_uri(mapping.model_name))
    version = batch.model_version_of(info)
    out_schema = batch.output_schema(model, reasons)
    now = batch.validation_time()
    if log_reasons is None:
        log_reasons = batch.log_reason_count(model, reasons)
    log_schema = predlog.log_schema(model)
    log_fields = predlog.input_fields(model) if log_reasons > 0 else []
    model_name = batch.model_name_of(info)

    spark = df.sparkSession
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(ARROW_BATCH_ROWS))
    pairs = zip(df.columns, names, strict=True)
    text = df.select([F.col(f"`{c}`").cast("string").alias(n) for c, n in pairs])
    prepared = _with_first_rows(_with_row_numbers(text), mapping)
    shipped = spark.sparkContext.broadcast(model)
    raw_columns = list(names)

    combined_fields = [
        StructField(_KIND, StringType(), False),
        *spark_schema(out_schema).fields,
        *spark_schema(batch.rejects_schema([])).fields,
        *[StructField(f"{_RAW}{c}", StringType(), True) for c in raw_columns],
        StructField(_COUNTS, StringType(), True),
    ]
    if log_fields:
        # times travel as text (a batch without a scored lead has no time to type them by)
        sent = [_sent_field(log_schema.field(name)) for name in log_fields]
        inputs = spark_schema(pa.schema(sent))
        combined_fields.append(StructField(f"{_LOG}reasons", StringType(), True))
        combined_fields += [StructField(f"{_LOG}{f.name}", f.dataType, True) for f in inputs]
    combined_names = [f.name for f in combined_fields]
    log_text = [
        f.name
        for f in combined_fields
        if f.name.startswith(_LOG) and isinstance(f.dataType, StringType)
    ]

    def score_partition(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        funnel = shipped.value
        for frame in frames:
            raw = frame[raw_columns].fillna("")
            result = batch.validate_chunk(
                raw,
                mapping,
                rows=frame[_ROW].to_numpy(dtype=np.int64),
                first_rows=frame[_FIRST].to_numpy(dtype=np.int64),
                now=now,
                delimiter=delimiter,
                numbers=funnel.features.numeric_,
            )
            scores, logged = batch.score_chunk(funnel, result.valid, reasons, version, log_reasons)
            if logged is not None and len(scores):
                scores = _with_log_columns(funnel, result.valid, scores, logged, log_fields)
            rejects = result.rejects.rename(columns={c: f"{_RAW}{c}" for c in raw_columns})
            tally = {
                "rows_in": len(raw),
                "rows_scored": len(scores),
                "rows_rejected": result.rows_rejected,
                "reasons": result.reasons,
            }
            parts = [
                scores.assign(**{_KIND: _SCORE}),
                rejects.assign(**{_KIND: _REJECT}),
                pd.DataFrame({_KIND: [_TALLY], _COUNTS: [json.dumps(tally)]}),
            ]
            out = pd.concat(parts, ignore_index=True).reindex(columns=combined_names)
            for column in log_text:  # all missing (no lead scored here) is NaN, not text
                if out[column].dtype != object:
                    out[column] = out[column].astype(object).where(out[column].notna(), None)
            yield _for_spark(out)

    combined = prepared.mapInPandas(score_partition, StructType(combined_fields))
    if persist:
        combined = combined.persist()
    return SparkScoring(
        combined,
        out_schema.names,
        raw_columns,
        version,
        info.get("uri"),
        model_name=model_name,
        log_fields=log_fields,
        log_times=[n for n in log_fields if pa.types.is_timestamp(log_schema.field(n).type)],
        has_accept=model.has_accept,
    )


def _sent_field(field: pa.Field) -> pa.Field:
    """How a log input field travels from the workers: a time as text, else as it is."""
    return field.with_type(pa.string()) if pa.types.is_timestamp(field.type) else field


def _with_log_columns(
    model: Any,
    leads: pd.DataFrame,
    scores: pd.DataFrame,
    logged: pd.DataFrame,
    fields: list[str],
) -> pd.DataFrame:
    """``scores`` with the log's reasons (JSON text) and input values as ``__log__`` columns.

    The values are typed by :func:`leadmodel.predlog.log_table`, as the single machine
    logs them.
    """
    table = predlog.log_table(
        model,
        leads.reset_index(drop=True),
        scores,
        model_name="",
        model_version="",
        origin="spark",
        reasons=logged,
    )
    extra = table.select(fields).to_pandas()
    for name in fields:
        if pa.types.is_timestamp(table.schema.field(name).type):
            text = extra[name].dt.strftime("%Y-%m-%d %H:%M:%S.%f")
            extra[name] = text.astype(object).where(extra[name].notna(), None)
    extra.columns = [f"{_LOG}{c}" for c in fields]
    extra[f"{_LOG}reasons"] = [json.dumps(r) for r in table.column("reasons").to_pylist()]
    return pd.concat([scores.reset_index(drop=True), extra], axis=1)


def score_spark(
    df: DataFrame,
    model_uri: str | None = None,
    reasons: int = 0,
    mapping: ingest.Mapping | str | Path | None = None,
) -> DataFrame:
    """Scores of the valid leads of ``df``: the columns of the single-machine job.

    Rows that fail validation are not in the result; use :func:`spark_scoring` to get
    them (``.rejects``) as well.
    """
    return spark_scoring(df, model_uri, reasons=reasons, mapping=mapping).scores


# --- the whole job -----------------------------------------------------------------------------


def _write_atomic(df: DataFrame, path: str) -> None:
    """Write ``df`` as a folder of CSV/Parquet part files at ``path``, or not at all.

    Spark writes into a hidden sibling folder, renamed to ``path`` (replacing an older
    output) through the Hadoop file system, so the same works on HDFS and object stores.
    """
    spark = df.sparkSession
    fmt = table_format(path)
    jvm = spark._jvm  # type: ignore[attr-defined]
    hadoop_path = jvm.org.apache.hadoop.fs.Path
    target = hadoop_path(path)
    fs = target.getFileSystem(spark._jsc.hadoopConfiguration())  # type: ignore[attr-defined]
    name = target.getName()
    tmp = hadoop_path(target.getParent(), f".{name}.{uuid.uuid4().hex}.tmp")
    try:
        writer = df.write.mode("error").format(fmt)
        if fmt == "csv":  # keep values as they are (Spark trims them by default)
            writer = writer.options(
                header=True, ignoreLeadingWhiteSpace=False, ignoreTrailingWhiteSpace=False
            )
        writer.save(tmp.toString())
        if fs.exists(target):
            fs.delete(target, True)
        if not fs.rename(tmp, target):
            raise OSError(
                i18n.gettext("{path}: cannot move the written output into place").format(path=path)
            )
    finally:
        if fs.exists(tmp):
            fs.delete(tmp, True)


def _write_log(rows: DataFrame, log: predlog.PredictionLog, write_scores: Any) -> None:
    """Write the log ``rows`` to a hidden folder of ``log``, then the scores, then move the
    log files into the log's date folders; a failure before the move logs nothing.

    The log folder is a path of the driver's file system (local, or a mount every node
    shares on a cluster); timestamps are written as Parquet microseconds, as pyarrow
    writes them.
    """
    import shutil

    spark = rows.sparkSession
    staged = log.staging("spark")
    key = "spark.sql.parquet.outputTimestampType"
    before = spark.conf.get(key, None)
    try:
        spark.conf.set(key, "TIMESTAMP_MICROS")
        try:
            rows.write.mode("error").partitionBy(predlog.DATE).parquet(staged.resolve().as_uri())
        finally:
            if before is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, before)
        write_scores()
        log.adopt(staged, "spark")
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def score_file_spark(
    data: str,
    out: str,
    model_uri: str | None = None,
    mapping: ingest.Mapping | str | Path | None = None,
    reasons: int = 0,
    rejects: str | None = None,
    master: str | None = None,
    max_reject_share: float | None = None,
    log: str | Path | None = None,
) -> batch.BatchSummary:
    """:func:`leadmodel.batch.score_file` on Spark: ``out`` (and ``rejects``) become folders.

    Each output is a folder of part files in the format of its extension (read it with
    ``pandas.read_parquet(out)`` or ``spark.read``); it appears only when complete. The
    reject rule and what is kept when it fails are those of :func:`leadmodel.batch.finish`
    (:class:`leadmodel.batch.RejectLimitError`). ``log`` as for ``score_file``: Spark
    writes the log rows with ``partitionBy("date")`` into a hidden folder of the log,
    whose files move into the log's date folders only with the scores (:func:`_write_log`).
    """
    import time

    started = time.perf_counter()
    scored_at = pd.Timestamp.now(tz="UTC")
    folder = predlog.log_dir(log)
    plog = predlog.PredictionLog(folder) if folder is not None else None
    if plog is not None:
        try:
            plog.check()
        except predlog.LogError as exc:
            raise ValueError(str(exc)) from None
    table_format(out)
    if rejects is not None:
        table_format(rejects)
        if rejects == out:
            raise ValueError(
                i18n.gettext("{path}: the rejects file must differ from --out").format(path=rejects)
            )
    if not isinstance(mapping, ingest.Mapping):
        mapping = ingest.load_mapping(mapping)
    limit = ingest.reject_limit(max_reject_share, mapping)
    delimiter = None
    if "://" not in data:  # the same lines as the single-machine job for local files
        delimiter = ingest.TableReader(data).delimiter
    spark = spark_session(master)
    job = spark_scoring(
        read_leads(spark, data),
        model_uri,
        reasons,
        mapping,
        persist=True,
        delimiter=delimiter,
        log_reasons=None if plog is not None else 0,
    )
    try:
        counts = job.counts()  # computes the persisted job once, before anything is written
        summary = batch.BatchSummary(
            rows_in=counts["rows_in"],
            rows_scored=counts["rows_scored"],
            rows_rejected=counts["rows_rejected"],
            reasons=counts["reasons"],
            out=Path(out),
            model_version=job.model_version,
            model_uri=job.model_uri,
            seconds=time.perf_counter() - started,
            rejects=Path(rejects) if rejects is not None else None,
            reasons_per_lead=reasons,
            engine="spark",
            max_reject_share=limit,
            log=folder,
            log_rows=counts["rows_scored"] if plog is not None else 0,
        )

        def write_scores() -> None:
            if plog is None:
                _write_atomic(job.scores, out)
                return
            _write_log(job.log_rows(scored_at), plog, lambda: _write_atomic(job.scores, out))

        return batch.finish(
            summary,
            started,
            write_scores,
            (lambda: _write_atomic(job.rejects, rejects)) if rejects is not None else None,
        )
    finally:
        job.combined.unpersist()
