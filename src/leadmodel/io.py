"""Write lead tables by file extension (CSV or Parquet), atomically.

Kept deliberately tiny: reading exports (as text, or typed with ``dtype=None``),
validation and column mapping live in :mod:`leadmodel.ingest`.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from leadmodel.i18n import _

CSV_SUFFIXES: Final[frozenset[str]] = frozenset({".csv"})
PARQUET_SUFFIXES: Final[frozenset[str]] = frozenset({".parquet", ".pq"})
TABLE_SUFFIXES: Final[tuple[str, ...]] = (".csv", ".parquet", ".pq")


def table_format(path: str | Path) -> str:
    """Return ``"csv"`` or ``"parquet"`` for ``path``; raise ``ValueError`` otherwise."""
    suffix = Path(path).suffix.lower()
    if suffix in CSV_SUFFIXES:
        return "csv"
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    allowed = ", ".join(TABLE_SUFFIXES)
    raise ValueError(
        _("{path}: unknown table extension {suffix} (use one of {allowed})").format(
            path=path, suffix=repr(suffix), allowed=allowed
        )
    )


def check_writable(path: str | Path) -> None:
    """Raise ``ValueError`` (one clear line) unless a table can be written to ``path``."""
    path = Path(path)
    table_format(path)
    folder = path.parent
    if not folder.is_dir():
        raise ValueError(
            _("{path}: folder {folder} does not exist").format(path=path, folder=repr(str(folder)))
        )
    if path.is_dir():
        raise ValueError(_("{path}: is a folder, not a file").format(path=path))
    if not os.access(folder, os.W_OK):
        raise ValueError(
            _("{path}: folder {folder} is not writable").format(path=path, folder=repr(str(folder)))
        )


class AtomicTableWriter:
    """Write a table to a hidden temporary file; rename it to ``path`` on :meth:`commit`.

    The one way this package writes a table file. With ``arrow_schema``, :meth:`write`
    appends chunks (batch scoring); without, the caller writes :attr:`tmp` whole (see
    :func:`write_table`). Use as a context manager: leaving the block without
    :meth:`commit` (an exception, a KeyboardInterrupt) removes the temporary file and
    leaves ``path`` untouched. ``tmp_dir`` puts the temporary file in another folder of the
    same file system (the prediction log keeps it out of its date folders until commit).
    """

    def __init__(
        self,
        path: str | Path,
        arrow_schema: pa.Schema | None = None,
        tmp_dir: str | Path | None = None,
    ) -> None:
        self.path = Path(path)
        self.format = table_format(self.path)
        self.schema = arrow_schema
        where = Path(tmp_dir) if tmp_dir is not None else self.path.parent
        self.tmp = where / f".{self.path.name}.{uuid.uuid4().hex}.tmp"
        self.rows = 0
        self._writer: Any = None

    def __enter__(self) -> AtomicTableWriter:
        if self.schema is None:
            return self
        try:
            if self.format == "csv":
                self._writer = pacsv.CSVWriter(str(self.tmp), self.schema)
            else:
                self._writer = pq.ParquetWriter(str(self.tmp), self.schema)
        except BaseException:  # __exit__ is not called when __enter__ fails
            self.tmp.unlink(missing_ok=True)
            raise
        return self

    def write(self, frame: pd.DataFrame | pa.Table) -> None:
        """Append rows (columns in schema order; types converted to the schema's)."""
        if len(frame) == 0:
            return
        if isinstance(frame, pa.Table):
            table = frame.select(self.schema.names).cast(self.schema)
        else:
            table = pa.Table.from_pandas(frame, schema=self.schema, preserve_index=False)
        self._writer.write_table(table)
        self.rows += len(frame)

    def commit(self) -> Path:
        """Close the file and move it under its final name (its folder made if need be)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self.tmp.parent != self.path.parent:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.tmp, self.path)
        return self.path

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self.tmp.unlink(missing_ok=True)


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write ``df`` as CSV or Parquet (by extension) without ever leaving a half file.

    Written through :class:`AtomicTableWriter`: an interrupted write leaves the old file
    (or none) in place.

    Returns
    -------
    Path
        The path written.
    """
    with AtomicTableWriter(path) as out:
        if out.format == "csv":
            df.to_csv(out.tmp, index=False)
        else:
            df.to_parquet(out.tmp, index=False)
        return out.commit()
