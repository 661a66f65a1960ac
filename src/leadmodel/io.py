"""Write and read lead tables by file extension (CSV or Parquet).

Kept deliberately tiny: validation and column mapping live in :mod:`leadmodel.ingest`.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any, Final

import pandas as pd

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
    raise ValueError(f"{path}: unknown table extension {suffix!r} (use one of {allowed})")


def check_writable(path: str | Path) -> None:
    """Raise ``ValueError`` (one clear line) unless a table can be written to ``path``."""
    path = Path(path)
    table_format(path)
    folder = path.parent
    if not folder.is_dir():
        raise ValueError(f"{path}: folder {str(folder)!r} does not exist")
    if path.is_dir():
        raise ValueError(f"{path}: is a folder, not a file")
    if not os.access(folder, os.W_OK):
        raise ValueError(f"{path}: folder {str(folder)!r} is not writable")


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write ``df`` as CSV or Parquet (by extension) without ever leaving a half file.

    The table is written to a hidden temporary file in the same folder and renamed to
    ``path`` at the end, so an interrupted write leaves the old file (or none) in place.

    Returns
    -------
    Path
        The path written.
    """
    path = Path(path)
    fmt = table_format(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        if fmt == "csv":
            df.to_csv(tmp, index=False)
        else:
            df.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_table(path: str | Path, **kwargs: Any) -> pd.DataFrame:
    """Read a CSV or Parquet table by extension; ``kwargs`` go to the pandas reader."""
    if table_format(path) == "csv":
        return pd.read_csv(path, **kwargs)
    return pd.read_parquet(path, **kwargs)
