"""Batch scoring for the nightly CRM sync: a lead file in, a scores file out, in chunks.

The flow, top to bottom:

1. :meth:`leadmodel.ingest.TableReader.chunks` reads a CSV or Parquet file in chunks of
   ``chunk_rows`` rows, as text, exactly as ingest reads the whole file (one reader: same
   parser, same delimiter sniffing, same error lines). Memory stays flat as the file grows.
2. :func:`validate_chunk` runs :func:`leadmodel.ingest.validate` on each chunk and makes
   its row numbers and duplicate checks file-wide: a ``lead_id`` seen in an earlier chunk
   is a duplicate too. As in ingest, the **first** row with an id is scored and every
   later row with the same id is rejected as ``duplicate of row N``.
3. :func:`score_frame` turns the valid rows of a chunk into output rows. Spark's
   ``mapInPandas`` (:mod:`leadmodel.spark`) calls the same two functions, so the single
   machine and Spark cannot drift apart.
4. :class:`leadmodel.io.AtomicTableWriter` appends chunks to a hidden temporary file in the target
   folder and renames it at the end; an interrupted run leaves no file under the final
   name (and no temporary file).
   The prediction log's rows of a chunk (its reasons' contributions too, unless the run
   computed them for ``--reasons``) are made and appended to the log's own hidden file
   by a :class:`LogThread` while the next chunk is scored.
5. :func:`finish` commits the outputs and applies the reject rule both engines share: a
   run that scores no lead, or rejects more than ``max_reject_share`` of the rows, ends
   with :class:`RejectLimitError`.

``rows_scored + rows_rejected == rows_in`` always. Seen ids are kept as 64-bit hashes
with the row of their first occurrence (16 bytes a lead), not as strings.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections import deque
from collections.abc import Callable, Collection
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from leadmodel import i18n, ingest, predlog, schema
from leadmodel.explain.reasons import display_labels
from leadmodel.history import CHANGE_REASONS, SCORE_CHANGE, PreviousScores, change_columns
from leadmodel.io import AtomicTableWriter, check_writable
from leadmodel.model import CLOSE, FunnelModel

#: Rows validated, scored and written at a time (memory grows with this, not the file).
DEFAULT_CHUNK_ROWS: Final = 100_000
#: Bytes the CSV reader parses at a time (its batches are regrouped into chunks).
CSV_BLOCK_BYTES: Final = 1024 * 1024
MODEL_VERSION: Final = "model_version"
REASONS_TEXT: Final = "reasons"
#: Key of the reject-reason counts for duplicates found across chunks (as ingest names it).
DUPLICATE_REASON: Final = f"{schema.LEAD_ID}: {schema.CHECK_DUPLICATE}"
#: Placeholder for one duplicate message while its row number is rewritten.
_MARK: Final = "\x00"

#: ``progress(rows_read, done, total)`` after every chunk; ``done``/``total`` are bytes for
#: CSV and rows for Parquet.
ProgressFn = Callable[[int, int, int], None]


# --- the output table -----------------------------------------------------------------


def reason_columns(k: int) -> list[str]:
    """``reason_1_field``, ``reason_1_points``, ..., ``reasons`` for ``k`` reasons (none for 0)."""
    if k <= 0:
        return []
    pairs = [(f"reason_{j}_field", f"reason_{j}_points") for j in range(1, k + 1)]
    return [c for pair in pairs for c in pair] + [REASONS_TEXT]


def output_schema(model: FunnelModel, reasons: int = 0, previous: bool = False) -> pa.Schema:
    """The Arrow schema of the scores table, in column order.

    ``lead_id``, ``p_accept`` (when the model has that stage), ``p_close``, ``score``,
    ``tier``, ``model_version``, for ``reasons`` > 0 the reason columns and, with
    ``previous``, ``score_change`` and ``change_reasons`` (:mod:`leadmodel.history`).
    """
    fields = [pa.field(schema.LEAD_ID, pa.string())]
    for column in model.output_columns:
        fields.append(pa.field(column, pa.string() if column == "tier" else pa.float64()))
    fields.append(pa.field(MODEL_VERSION, pa.string()))
    for column in reason_columns(reasons):
        fields.append(pa.field(column, pa.float64() if column.endswith("_points") else pa.string()))
    if previous:
        fields.append(pa.field(SCORE_CHANGE, pa.float64()))
        fields.append(pa.field(CHANGE_REASONS, pa.string()))
    return pa.schema(fields)


def score_frame(
    model: FunnelModel, leads: pd.DataFrame, reasons: int = 0, model_version: str = ""
) -> pd.DataFrame:
    """Output rows for validated canonical ``leads`` (same order), one chunk at a time.

    The numbers are those of :meth:`FunnelModel.predict`; the reasons those of
    :func:`leadmodel.explain.reasons_frame` (top ``reasons`` by |points|).
    """
    return score_chunk(model, leads, reasons, model_version)[0]


def score_chunk(
    model: FunnelModel,
    leads: pd.DataFrame,
    reasons: int = 0,
    model_version: str = "",
    log_reasons: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """:func:`score_frame`'s rows, and the top ``log_reasons`` fields and points per lead.

    The second item (``reason_j_field``/``reason_j_points`` columns, see
    :func:`leadmodel.explain.reason_points`; None when ``log_reasons`` is 0) is what the
    prediction log keeps. The close stage's contributions are computed once for both,
    and give its raw score too, so reasons cost no second prediction.
    """
    if len(leads) == 0:
        return score_rows(model, leads, reasons, model_version)[0], (
            None if log_reasons <= 0 else pd.DataFrame()
        )
    out, why = score_rows(
        model, leads, reasons, model_version, log=log_reasons > 0, explain_now=True
    )
    return out, (why.points(log_reasons) if why is not None else None)


@dataclass(frozen=True)
class LogReasons:
    """What the log's reasons of one scored chunk come from (made by :func:`score_rows`).

    The close stage's contributions when the scoring computed them (``--reasons``), else
    the chunk's feature matrix ``X`` and the close stage's raw score ``raw``, from which
    :meth:`points` computes them (without predicting again): the batch job calls it in
    its log thread, off the scoring path.
    """

    model: FunnelModel
    X: Any
    raw: np.ndarray | None = None
    contrib: Any = None

    def points(self, k: int) -> pd.DataFrame:
        """The top ``k`` ``reason_j_field``/``reason_j_points`` per lead (no texts)."""
        from leadmodel.explain import contributions, reason_points

        contrib = self.contrib
        if contrib is None:
            contrib = contributions(self.model, None, CLOSE, X=self.X, raw=self.raw)
        return reason_points(self.model, contrib, k=k)


def score_rows(
    model: FunnelModel,
    leads: pd.DataFrame,
    reasons: int = 0,
    model_version: str = "",
    log: bool = False,
    explain_now: bool = False,
) -> tuple[pd.DataFrame, LogReasons | None]:
    """:func:`score_frame`'s rows, and with ``log`` what the log's reasons come from.

    Without ``--reasons`` the close stage's contributions are left to
    :meth:`LogReasons.points` (the log thread calls it), unless ``explain_now``. Either
    way the close stage is predicted once. None for no leads or without ``log``.
    """
    columns = output_schema(model, reasons).names
    if len(leads) == 0:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns}), None
    from leadmodel.features import as_columns

    rows = as_columns(leads.reset_index(drop=True))
    X = model.matrix(rows)
    contrib = None
    if reasons > 0 or (log and explain_now):
        from leadmodel.explain import contributions

        contrib = contributions(model, None, CLOSE, X=X)
        raw = contrib.raw
    else:
        raw = model.stages[CLOSE].raw(X)
    out = _predict_with(model, X, rows, raw)
    out[MODEL_VERSION] = model_version
    if contrib is not None and reasons > 0:
        from leadmodel.explain import reasons_frame

        texts = reasons_frame(model, rows, k=reasons, contrib=contrib)
        out = pd.concat([out, texts.drop(columns=schema.LEAD_ID)], axis=1)
    return out.reindex(columns=columns), (LogReasons(model, X, raw, contrib) if log else None)


def _predict_with(model: FunnelModel, X: Any, leads: Any, close_raw: np.ndarray) -> pd.DataFrame:
    """:meth:`FunnelModel.predict_features` with the close stage's raw score already known."""
    out: dict[str, Any] = {}
    if schema.LEAD_ID in leads:
        out[schema.LEAD_ID] = leads[schema.LEAD_ID].astype(str).to_numpy()
    out |= model.predict_columns(X, close_raw=close_raw)
    return pd.DataFrame(out, index=range(len(close_raw)))


def model_version_of(info: dict[str, Any]) -> str:
    """The ``model_version`` value: the registered version, or the URI when not registered."""
    version = info.get("version")
    return str(version) if version is not None else str(info.get("uri", ""))


def model_name_of(info: dict[str, Any]) -> str:
    """The ``model_name`` the prediction log keeps: the registered name, else empty."""
    return str(info.get("name") or "")


def log_reason_count(model: FunnelModel, reasons: int = 0) -> int:
    """Reasons per lead the prediction log keeps: the model's default (``explain.reasons``,
    3 unless trained otherwise), or more when the run asks for more."""
    return max(reasons, _settings(model).reasons)


# --- file-wide duplicate lead ids --------------------------------------------------------


def lead_id_keys(raw: pd.DataFrame, mapping: ingest.Mapping) -> np.ndarray:
    """The ``lead_id`` of every raw row as ingest types it (trimmed, mapped; None = missing)."""
    column = _id_column(raw, mapping)
    if column is None:
        return np.full(len(raw), None, dtype=object)
    text = pc.utf8_trim_whitespace(pa.array(raw[column].astype(object), type=pa.string()))
    lookup = mapping.values.get(schema.LEAD_ID)
    if lookup:
        keys = pa.array([k.strip().lower() for k in lookup], type=pa.string())
        position = pc.index_in(pc.utf8_lower(text), value_set=keys)
        mapped = pc.take(pa.array(list(lookup.values()), type=pa.string()), position)
        text = pc.if_else(pc.is_valid(position), mapped, text)
    missing = pc.equal(text, "")
    if mapping.na_values:
        na = pa.array([v.strip() for v in mapping.na_values], type=pa.string())
        missing = pc.or_(missing, pc.is_in(text, value_set=na))
    return pc.if_else(pc.fill_null(missing, True), None, text).to_numpy(zero_copy_only=False)


@dataclass
class SeenIds:
    """Hashes of the lead ids seen so far, with the file row of each first occurrence.

    Kept as sorted runs that merge like a binary counter, so lookups and inserts stay
    O(log n) per id however long the file.
    """

    runs: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """The first row of each key seen before, or -1."""
        found = np.full(len(keys), -1, dtype=np.int64)
        for hashes, rows in self.runs:
            at = np.searchsorted(hashes, keys).clip(max=len(hashes) - 1)
            hit = hashes[at] == keys
            found[hit] = rows[at[hit]]
        return found

    def add(self, keys: np.ndarray, rows: np.ndarray) -> None:
        """Remember new (not yet seen, distinct) keys and their first rows."""
        if not len(keys):
            return
        order = np.argsort(keys, kind="stable")
        self.runs.append((keys[order], rows[order]))
        while len(self.runs) > 1 and len(self.runs[-2][0]) <= len(self.runs[-1][0]):
            (newer, newer_rows), (older, older_rows) = self.runs.pop(), self.runs.pop()
            at = np.searchsorted(older, newer)  # merge two sorted runs without a full sort
            self.runs.append((np.insert(older, at, newer), np.insert(older_rows, at, newer_rows)))

    def first_rows(self, ids: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """File row of the first row with each id (``rows`` itself for a first or missing id).

        ``ids`` are this chunk's lead ids in file order (None = missing), ``rows`` their
        1-based file rows; the chunk's new ids are remembered.
        """
        first = rows.astype(np.int64, copy=True)
        present = np.flatnonzero(pd.notna(ids))
        if not len(present):
            return first
        keys = pd.util.hash_array(ids[present].astype(object))
        codes, distinct = pd.factorize(keys)  # codes in order of first appearance
        first_pos = present[np.unique(codes, return_index=True)[1]]
        earlier = self.lookup(np.asarray(distinct, dtype=np.uint64))
        per_code = np.where(earlier >= 0, earlier, rows[first_pos])
        first[present] = per_code[codes]
        new = earlier < 0
        self.add(np.asarray(distinct, dtype=np.uint64)[new], rows[first_pos[new]])
        return first


def validate_chunk(
    raw: pd.DataFrame,
    mapping: ingest.Mapping,
    *,
    rows: np.ndarray,
    first_rows: np.ndarray,
    now: pd.Timestamp,
    delimiter: str | None = None,
    numbers: Collection[str] = (),
) -> ingest.IngestResult:
    """:func:`leadmodel.ingest.validate` on one chunk of a bigger file, made file-wide.

    Parameters
    ----------
    raw
        The chunk as read (text).
    rows
        The 1-based file row of every raw row; ``reject_row`` uses these.
    first_rows
        The file row of the first row with the same ``lead_id`` (equal to ``rows`` for a
        first occurrence or a missing id). A row with ``first_rows < rows`` is rejected as
        ``lead_id: duplicate of row N``, as ingest rejects it in a whole file.
    now
        The time after which ``created_at`` is in the future (one value for all chunks).
    delimiter
        The file's delimiter (:attr:`leadmodel.ingest.TableReader.delimiter`), which
        decides how a comma in a number is read.
    numbers
        The model's numeric features: a value there that is not a number is rejected.
    """
    result = ingest.validate(raw, mapping, now=now, rows=rows, delimiter=delimiter, numbers=numbers)
    rejects = result.rejects
    local = rejects[ingest.REJECT_ROW].to_numpy(dtype=np.int64) - 1
    duplicate = np.asarray(first_rows) < np.asarray(rows)
    reasons = dict(result.reasons)
    text = rejects[ingest.REJECT_REASON].to_numpy(dtype=object, copy=True)

    # ingest named the first row of a duplicate within the chunk: name it in the file
    prefix = ingest.duplicate_prefix()  # in the current language
    named = pd.Series(text, dtype=object).str.contains(prefix, regex=False).to_numpy()
    if named.any():
        parts = pd.Series(text[named], dtype=object).str.replace(
            re.escape(prefix) + r"\d+", _MARK, n=1, regex=True
        )
        head_tail = parts.str.partition(_MARK)
        first = pd.Series(first_rows[local[named]]).astype(str).to_numpy(dtype=object)
        text[named] = (
            head_tail[0].to_numpy(dtype=object)
            + prefix
            + first
            + head_tail[2].to_numpy(dtype=object)
        )
    # rejected for another reason and a duplicate of an earlier chunk: say both
    id_column = _id_column(raw, mapping)
    also = duplicate[local] & ~named
    if also.any():
        text[also] = _duplicate_reasons(raw, id_column, local[also], first_rows) + "; " + text[also]
        reasons[DUPLICATE_REASON] = reasons.get(DUPLICATE_REASON, 0) + int(also.sum())

    # valid rows whose id came in an earlier chunk
    keep = np.ones(len(raw), dtype=bool)
    keep[local] = False
    valid_pos = np.flatnonzero(keep)
    late = duplicate[valid_pos]
    valid = result.valid
    new_rejects = rejects.iloc[0:0]
    if late.any():
        positions = valid_pos[late]
        new_rejects = raw.iloc[positions].reset_index(drop=True)
        new_rejects[ingest.REJECT_ROW] = positions + 1
        new_rejects[ingest.REJECT_REASON] = _duplicate_reasons(
            raw, id_column, positions, first_rows
        )
        valid = valid[~late].reset_index(drop=True)
        reasons[DUPLICATE_REASON] = reasons.get(DUPLICATE_REASON, 0) + int(late.sum())

    rejects = rejects.assign(**{ingest.REJECT_REASON: pd.Series(text, dtype=object)})
    if len(new_rejects):
        rejects = pd.concat([rejects, new_rejects], ignore_index=True)
        rejects = rejects.sort_values(ingest.REJECT_ROW, kind="stable", ignore_index=True)
    local_rows = rejects[ingest.REJECT_ROW].to_numpy(dtype=np.int64) - 1
    rejects[ingest.REJECT_ROW] = np.asarray(rows, dtype=np.int64)[local_rows]
    return dataclasses.replace(result, valid=valid, rejects=rejects, reasons=reasons)


def _id_column(raw: pd.DataFrame, mapping: ingest.Mapping) -> str | None:
    """The raw column that becomes ``lead_id`` (renamed by the mapping, or as it is)."""
    exports = [c for c, name in mapping.column_names().items() if name == schema.LEAD_ID]
    return next((c for c in [*exports, schema.LEAD_ID] if c in raw.columns), None)


def _duplicate_reasons(
    raw: pd.DataFrame, id_column: str | None, positions: np.ndarray, first_rows: np.ndarray
) -> np.ndarray:
    """``lead_id: duplicate of row N (got 'X')`` for the raw rows at ``positions``."""
    if id_column:
        got = raw[id_column].iloc[positions].astype(object).to_numpy()
    else:
        got = np.full(len(positions), "", dtype=object)
    return ingest.duplicate_reasons(first_rows[positions], got)


def validation_time(now: pd.Timestamp | str | None = None) -> pd.Timestamp:
    """The ``now`` every chunk is validated against, fixed once per run.

    Default: ingest's (the current UTC time plus :data:`leadmodel.ingest.FUTURE_TOLERANCE`).
    """
    if now is None:
        return pd.Timestamp.now(tz="UTC").tz_localize(None) + ingest.FUTURE_TOLERANCE
    stamp = pd.Timestamp(now)
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp


def rejects_schema(columns: list[str]) -> pa.Schema:
    """Rejects table: the original columns as text, then ``reject_row`` and ``reject_reason``."""
    fields = [pa.field(c, pa.string()) for c in columns]
    fields += [pa.field(ingest.REJECT_ROW, pa.int64()), pa.field(ingest.REJECT_REASON, pa.string())]
    return pa.schema(fields)


# --- the whole job ------------------------------------------------------------------------


#: Chunks whose log rows may wait for the log thread while the next chunk is scored (the
#: memory of that many chunks' rows comes on top of the chunk being scored).
LOG_CHUNKS_AHEAD: Final = 1


class LogThread:
    """Build and write a run's prediction log rows in one thread beside the scoring.

    :meth:`submit` hands one chunk's work to the thread and returns at once, after
    waiting for the oldest work when ``ahead`` chunks are still waiting (memory stays
    flat). The work can use a second core while the next chunk is scored, as far as
    numpy, LightGBM and Arrow release the GIL in it. An error in the thread is
    raised by the next :meth:`submit` or by :meth:`wait`, which a run calls before it
    commits: a log that cannot be written (``OSError``, :class:`~leadmodel.predlog.LogError`)
    as one ValueError line naming ``folder``, anything else as it is. Leaving the
    ``with`` block waits for the work under way and drops what has not started, so the
    log file is never removed while it is written.
    """

    def __init__(self, folder: Path, ahead: int = LOG_CHUNKS_AHEAD) -> None:
        self.folder = folder
        self.ahead = max(1, ahead)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prediction-log")
        self._pending: deque[Future[None]] = deque()

    def __enter__(self) -> LogThread:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def submit(self, work: Callable[..., object], *args: Any) -> None:
        """Run ``work(*args)`` in the thread (after the oldest of ``ahead`` waiting works)."""
        while len(self._pending) >= self.ahead:
            self._result(self._pending.popleft())
        self._pending.append(self._pool.submit(work, *args))

    def wait(self) -> None:
        """Wait for every work submitted; raise the first error one of them met."""
        while self._pending:
            self._result(self._pending.popleft())

    def _result(self, future: Future[None]) -> None:
        try:
            future.result()
        except (OSError, predlog.LogError) as exc:
            raise ValueError(
                i18n.gettext(
                    "prediction log {folder}: cannot write this run's rows ({problem}); "
                    "no scores written, nothing logged"
                ).format(folder=self.folder, problem=exc)
            ) from exc


@dataclass
class BatchSummary:
    """What a batch run did; ``rows_scored + rows_rejected == rows_in``.

    ``ok`` is False when the run failed the reject rule (:func:`reject_problem`), with
    the line in ``error``; ``out`` is None when no scores file was written. ``log`` is
    the prediction log folder (None when off) and ``log_rows`` the rows written there;
    ``previous`` the source of ``--previous`` and ``rows_with_previous`` the scored leads
    it had an earlier score for.
    """

    rows_in: int
    rows_scored: int
    rows_rejected: int
    reasons: dict[str, int]
    out: Path | None
    model_version: str
    seconds: float
    rejects: Path | None = None
    reasons_per_lead: int = 0
    engine: str = "pandas"
    max_reject_share: float = ingest.DEFAULT_MAX_REJECT_SHARE
    ok: bool = True
    error: str | None = None
    model_uri: str | None = None
    log: Path | None = None
    log_rows: int = 0
    previous: Path | None = None
    rows_with_previous: int = 0

    @property
    def rows_per_second(self) -> float:
        return self.rows_in / self.seconds if self.seconds > 0 else float("nan")

    @property
    def reject_share(self) -> float:
        return self.rows_rejected / self.rows_in if self.rows_in else 0.0

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (paths as text)."""
        out = dataclasses.asdict(self)
        out["out"] = str(self.out) if self.out is not None else None
        out["rejects"] = str(self.rejects) if self.rejects else None
        out["log"] = str(self.log) if self.log is not None else None
        out["previous"] = str(self.previous) if self.previous is not None else None
        out["rows_per_second"] = self.rows_per_second
        out["reject_share"] = self.reject_share
        return out


# --- the reject rule (both engines) --------------------------------------------------------

#: Reject reasons named in the line that fails a run, commonest first.
REASONS_IN_MESSAGE: Final = 3


class RejectLimitError(ingest.IngestError):
    """No lead was scored, or more rows were rejected than the limit allows.

    ``summary`` is the run's :class:`BatchSummary` (``ok`` False, ``error`` the line);
    what was written is in ``summary.out`` and ``summary.rejects``.
    """

    def __init__(self, summary: BatchSummary) -> None:
        super().__init__(summary.error)
        self.summary = summary


def reject_problem(summary: BatchSummary) -> str | None:
    """The one line that fails a run, or None when it passes.

    A run fails when no lead was scored, or when the rejected share is above
    ``summary.max_reject_share`` (strictly, as in :func:`leadmodel.ingest.read_leads`).
    """
    share, limit = summary.reject_share, summary.max_reject_share
    if summary.rows_scored and share <= limit:
        return None
    top = list(summary.reasons.items())
    named = ", ".join(f"{reason} {i18n.number(n)}" for reason, n in top[:REASONS_IN_MESSAGE])
    if len(top) > REASONS_IN_MESSAGE:
        named = i18n.gettext("{reasons}, and {more} more").format(
            reasons=named, more=i18n.number(len(top) - REASONS_IN_MESSAGE)
        )
    if summary.rejects is not None:
        hint = i18n.gettext("see {path}").format(path=summary.rejects)
    else:
        hint = i18n.gettext("add --rejects PATH to keep them with their reasons")
    if not summary.rows_scored:
        return i18n.gettext("no lead scored: all {rows} rows rejected ({reasons}); {hint}").format(
            rows=i18n.number(summary.rows_in), reasons=named, hint=hint
        )
    return i18n.gettext(
        "{rejected} of {rows} rows rejected ({share}), more than the limit of {limit} "
        "({reasons}); the other {scored} leads were scored; {hint}"
    ).format(
        rejected=i18n.number(summary.rows_rejected),
        rows=i18n.number(summary.rows_in),
        share=i18n.percent(share, 1),
        limit=i18n.percent(limit, 0 if float(limit * 100).is_integer() else 1),
        reasons=named,
        scored=i18n.number(summary.rows_scored),
        hint=hint,
    )


def finish(
    summary: BatchSummary,
    started: float,
    write_scores: Callable[[], object],
    write_rejects: Callable[[], object] | None,
) -> BatchSummary:
    """Write what a finished run keeps, then apply the reject rule; the same for both engines.

    * Some leads scored, rejected share within the limit: both files written, the
      summary returned.
    * Rejected share above the limit: both files are still written (nothing given is
      lost), then :class:`RejectLimitError`.
    * No lead scored: no scores file (an older one under that name stays as it was, as
      after any failed run), the rejects file written, then :class:`RejectLimitError`
      with ``summary.out`` None.

    ``started`` is the ``time.perf_counter()`` of the start of the run.
    """
    problem = reject_problem(summary)
    if summary.rows_scored:
        write_scores()
    else:
        summary = dataclasses.replace(summary, out=None, log_rows=0)
    if write_rejects is not None:
        write_rejects()
    summary = dataclasses.replace(summary, seconds=time.perf_counter() - started)
    if problem is not None:
        raise RejectLimitError(dataclasses.replace(summary, ok=False, error=problem))
    return summary


def check_paths(data: str | Path, out: str | Path, rejects: str | Path | None = None) -> None:
    """Refuse output paths that cannot be written or would overwrite the input (ValueError)."""
    check_writable(out)
    if rejects is not None:
        check_writable(rejects)
        if Path(rejects).resolve() == Path(out).resolve():
            raise ValueError(
                i18n.gettext("{path}: the rejects file must differ from --out").format(path=rejects)
            )
    for path in (out, rejects):
        if path is not None and Path(path).resolve() == Path(data).resolve():
            raise ValueError(
                i18n.gettext("{path}: would overwrite the input file").format(path=path)
            )


def score_file(
    data: str | Path,
    out: str | Path,
    model_uri: str | None = None,
    mapping: ingest.Mapping | str | Path | None = None,
    reasons: int = 0,
    rejects: str | Path | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: ProgressFn | None = None,
    model: tuple[FunnelModel, dict[str, Any]] | None = None,
    now: pd.Timestamp | str | None = None,
    max_reject_share: float | None = None,
    crm_format: str | None = None,
    log: str | Path | None = None,
    previous: str | Path | None = None,
) -> BatchSummary:
    """Score every valid lead of ``data`` into ``out`` (CSV or Parquet, by extension).

    Parameters
    ----------
    data, out
        Lead file to read and scores file to write.
    model_uri
        MLflow model URI (default: :func:`leadmodel.tracking.default_model_uri`).
    mapping
        Column mapping (object or YAML path) for the export.
    reasons
        Top reasons per lead to add as columns (0 = none).
    rejects
        Where to write rejected rows (original text, ``reject_row``, ``reject_reason``).
    chunk_rows
        Rows read, validated, scored and written at a time.
    progress
        Called after every chunk as ``progress(rows_read, done, total)``.
    model
        An already loaded ``(FunnelModel, info)`` (skips loading ``model_uri``).
    now
        Time of the export: a ``created_at`` after it is rejected (default: ingest's).
    max_reject_share
        Largest share of rejected rows the run accepts (default: the mapping's, else
        :data:`leadmodel.ingest.DEFAULT_MAX_REJECT_SHARE`); see :func:`finish`.
    crm_format
        ``hubspot``, ``salesforce`` or ``dynamics``: write that system's write-back file
        (:mod:`leadmodel.crm`, CSV) instead of the scores table; ``reasons`` 0 then means
        the model's default number of reasons. None or ``canonical``: the scores table.
    log
        Prediction log folder, or ``"off"`` (default: :func:`leadmodel.predlog.log_dir`).
        Every scored lead is logged (origin ``batch``, scored at the run's start, with
        :func:`log_reason_count` reasons) in one file that appears when the scores file
        is committed, and never without it. The rows are made and written in a
        :class:`LogThread`; a log that cannot be written fails the run (ValueError)
        before anything is committed.
    previous
        A prediction log folder or an earlier scores file: adds ``score_change`` and
        ``change_reasons`` against each lead's latest earlier score
        (:class:`leadmodel.history.PreviousScores`).

    Raises
    ------
    IngestError, ModelNotFound, ValueError
        With one clear line, before anything is written (a log folder that cannot be
        written and a bad ``previous`` are ValueErrors too).
    RejectLimitError
        After the run, when no lead was scored or too many rows were rejected
        (``.summary`` says what was written; see :func:`finish`).
    """
    started = time.perf_counter()
    scored_at = pd.Timestamp.now(tz="UTC")
    if reasons < 0:
        raise ValueError(
            i18n.gettext("reasons: must be 0 or more, got {reasons}").format(reasons=reasons)
        )
    check_paths(data, out, rejects)
    crm = _write_back(crm_format, out)
    if not isinstance(mapping, ingest.Mapping):
        mapping = ingest.load_mapping(mapping)
    limit = ingest.reject_limit(max_reject_share, mapping)
    now = validation_time(now)
    folder = predlog.log_dir(log)
    seen = SeenIds()
    counts: dict[str, int] = {}
    rows_in = rows_rejected = with_previous = 0
    with ExitStack() as stack:
        reader = ingest.TableReader(data)
        chunks = stack.enter_context(reader.chunks(chunk_rows))
        pieces = iter(chunks)
        first = next(pieces)  # unreadable files and missing columns fail before the model loads
        ingest.validate(first.iloc[0:0], mapping)
        earlier = _previous(previous, scored_at)
        if earlier is not None:
            stack.callback(earlier.close)
        if model is None:
            from leadmodel.tracking import default_model_uri, load_funnel

            model = load_funnel(model_uri or default_model_uri(mapping.model_name))
        funnel, info = model
        version = model_version_of(info)
        if crm is not None and reasons == 0:
            reasons = _settings(funnel).reasons
        columns = output_schema(funnel, reasons, previous=earlier is not None)
        out_schema = columns if crm is None else crm.arrow_schema()
        writer = stack.enter_context(AtomicTableWriter(out, out_schema))
        log_writer = _log_writer(folder, funnel, scored_at)
        log_thread: LogThread | None = None
        if log_writer is not None and folder is not None:
            stack.enter_context(log_writer)
            log_thread = stack.enter_context(LogThread(folder))  # closed before the writer
        log_k = log_reason_count(funnel, reasons) if folder or earlier is not None else 0

        def log_rows(valid: pd.DataFrame, scores: pd.DataFrame, why: LogReasons) -> pa.Table:
            return predlog.log_table(
                funnel,
                valid,
                scores,
                model_name=model_name_of(info),
                model_version=version,
                origin="batch",
                reasons=why.points(log_k),
                scored_at=scored_at,
            )

        def log_chunk(
            out: AtomicTableWriter, valid: pd.DataFrame, scores: pd.DataFrame, why: LogReasons
        ) -> None:
            out.write(log_rows(valid, scores, why))

        reject_writer: AtomicTableWriter | None = None
        for raw in chain([first], pieces):
            rows = np.arange(rows_in + 1, rows_in + len(raw) + 1, dtype=np.int64)
            first_rows = seen.first_rows(lead_id_keys(raw, mapping), rows)
            result = validate_chunk(
                raw,
                mapping,
                rows=rows,
                first_rows=first_rows,
                now=now,
                delimiter=reader.delimiter,
                numbers=funnel.features.numeric_,
            )
            # --previous needs the log rows now; else the log thread makes them
            scores, why = score_rows(
                funnel, result.valid, reasons, version, log_k > 0, explain_now=earlier is not None
            )
            if why is not None and earlier is not None:
                table = log_rows(result.valid.reset_index(drop=True), scores, why)
                if log_thread is not None and log_writer is not None:
                    log_thread.submit(log_writer.write, table)
                current = table.to_pandas()
                found = earlier.lookup(current[schema.LEAD_ID].tolist())
                change, texts = change_columns(
                    current, found, _settings(funnel), display_labels(funnel)
                )
                scores = scores.assign(**{SCORE_CHANGE: change, CHANGE_REASONS: texts})
                with_previous += len(found)
            elif why is not None and log_thread is not None and log_writer is not None:
                valid = result.valid.reset_index(drop=True)
                log_thread.submit(log_chunk, log_writer, valid, scores, why)
            scores = scores.reindex(columns=columns.names)
            writer.write(scores if crm is None else crm.frame(scores))
            if rejects is not None:
                if reject_writer is None:
                    reject_schema = rejects_schema(chunks.columns)
                    reject_writer = stack.enter_context(AtomicTableWriter(rejects, reject_schema))
                reject_writer.write(result.rejects)
            rows_in += len(raw)
            rows_rejected += result.rows_rejected
            for reason, n in result.reasons.items():
                counts[reason] = counts.get(reason, 0) + n
            if progress is not None:
                progress(rows_in, chunks.done, chunks.total)
        if log_thread is not None:
            log_thread.wait()  # its errors fail the run before anything is committed
        if writer.rows + rows_rejected != rows_in:  # a bug, never bad input: write nothing
            raise RuntimeError(f"{rows_in:,} rows read, {writer.rows + rows_rejected:,} accounted")

        def commit_scores() -> None:
            writer.commit()
            if log_writer is not None:  # the log only with the scores it records
                log_writer.commit()

        summary = BatchSummary(
            rows_in=rows_in,
            rows_scored=writer.rows,
            rows_rejected=rows_rejected,
            reasons=dict(sorted(counts.items(), key=lambda kv: -kv[1])),
            out=Path(out),
            model_version=version,
            model_uri=info.get("uri"),
            seconds=time.perf_counter() - started,
            rejects=Path(rejects) if rejects is not None else None,
            reasons_per_lead=reasons,
            max_reject_share=limit,
            log=folder,
            log_rows=log_writer.rows if log_writer is not None else 0,
            previous=Path(previous) if previous is not None else None,
            rows_with_previous=with_previous,
        )
        return finish(
            summary,
            started,
            commit_scores,
            reject_writer.commit if reject_writer is not None else None,
        )


def _write_back(crm_format: str | None, out: str | Path) -> Any:
    """The :class:`leadmodel.crm.WriteBack` of ``crm_format`` (None: the scores table)."""
    from leadmodel import crm

    if crm_format is None or crm_format == crm.CANONICAL:
        return None
    found = crm.write_back(crm_format)
    if Path(out).suffix.lower() not in crm.WRITE_BACK_SUFFIXES:
        raise ValueError(
            i18n.gettext(
                "{path}: a {system} write-back file is imported as CSV; name it *.csv"
            ).format(path=out, system=found.system)
        )
    return found


def _settings(model: FunnelModel) -> Any:
    """The model's explanation settings (:func:`leadmodel.explain.settings_of`)."""
    from leadmodel.explain import settings_of

    return settings_of(model)


def _previous(previous: str | Path | None, before: pd.Timestamp) -> PreviousScores | None:
    """The earlier scores ``--previous`` names (ValueError with one line when unusable)."""
    if previous is None:
        return None
    from leadmodel.history import HistoryError

    try:
        return PreviousScores(previous, before)
    except HistoryError as exc:
        raise ValueError(str(exc)) from None


def _log_writer(
    folder: Path | None, model: FunnelModel, scored_at: pd.Timestamp
) -> AtomicTableWriter | None:
    """The run's log file (None when the log is off); ValueError when it cannot be written."""
    if folder is None:
        return None
    try:
        return predlog.PredictionLog(folder).writer(
            predlog.log_schema(model), scored_at, origin="batch"
        )
    except predlog.LogError as exc:
        raise ValueError(str(exc)) from None
