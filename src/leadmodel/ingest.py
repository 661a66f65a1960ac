"""Read CRM exports (CSV or Parquet), apply a column mapping, validate, report rejects.

The flow, top to bottom:

1. :class:`TableReader` reads the file as text, every column a string, nothing
   converted: whole (:meth:`TableReader.table`, :func:`read_table`) or in chunks
   (:meth:`TableReader.chunks`, batch scoring). Anything that stops the file from being
   read at all (missing, empty, binary, not UTF-8, an unsupported delimiter or extension,
   a malformed row) raises :class:`IngestError` with one clear line.
2. :func:`validate` renames and drops columns as the :class:`Mapping` says, turns text
   into typed columns with the schema's value parser (vectorised, on Arrow arrays; the
   same rules as the service), then checks the typed table against the pandera schema
   from :func:`leadmodel.schema.lead_table_schema`. Rows that fail any
   rule go to ``rejects`` with the original text and a reason; the others to ``valid``.
3. :func:`read_leads` does both; training and batch scoring call it.

Decisions a user may want to know:

- **Encoding**: UTF-8 only (with or without a byte-order mark). A file in another
  encoding is refused with the line of the first bad byte, never guessed: a wrong guess
  would silently change names and categories.
- **Delimiter**: ``,``, ``;`` or tab, chosen from the header line. Any other separator
  (``|``, ``:``) is named in the error.
- **Numbers**: spaces around them and thousands separators in proper groups (``1,200``)
  are fine; ``2,5`` is not a number (it could be 2.5 or 25) and the row is rejected,
  unless the mapping says ``decimal: ","`` (and ``thousands: "."``). In a
  ``;``-separated file a comma groups no thousands unless the mapping says so.
- **Dates**: ISO 8601 always; ``dd.mm.yyyy``/``mm/dd/yyyy`` as the mapping's
  ``dayfirst`` or ``date_format`` says, else the one way the whole column allows; a
  column that reads both ways is refused in one line naming it.
- **Duplicate ``lead_id``**: the first row with an id is kept, every later row with the
  same id is rejected as ``duplicate of row N``, as a CRM's merge keeps the oldest record.
- **Several problems in one row**: ``reject_reason`` lists all of them, and the row is
  counted under every reason kind in ``reasons`` (so the counts may add up to more than
  ``rows_rejected``); ``rows_valid + rows_rejected == rows_in`` always.
- **Open leads**: empty ``accepted``/``closed`` are valid (not decided yet), also with
  ``require_labels=True``, which only requires the ``closed`` column.
- **Optional canonical columns** that the export does not have stay absent from
  ``valid`` (they are not invented as empty columns).
"""

from __future__ import annotations

import codecs
import csv
import re
import string
import warnings
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from leadmodel import i18n, schema
from leadmodel.config import DEFAULT_MODEL_NAME, MODEL_NAME_PATTERN, validation_message
from leadmodel.i18n import LANGUAGES, N_, _, gettext, ngettext
from leadmodel.io import write_table

CSV_SUFFIXES: Final[tuple[str, ...]] = (".csv", ".tsv", ".txt")
PARQUET_SUFFIXES: Final[tuple[str, ...]] = (".parquet", ".pq")
#: Delimiters read automatically, in order of preference on a tie.
DELIMITERS: Final[tuple[str, ...]] = (",", ";", "\t")
#: Separators recognised only to explain why a file reads as one column.
OTHER_SEPARATORS: Final[tuple[str, ...]] = ("|", ":", "^", "~")
#: Bytes read up front to check the encoding and find the delimiter.
HEAD_BYTES: Final = 64 * 1024
#: Bytes the CSV reader parses at a time when reading in chunks.
CSV_BLOCK_BYTES: Final = 1024 * 1024
#: Bytes read at a time when looking for the first byte that is not UTF-8.
SCAN_BYTES: Final = 1024 * 1024
#: Characters of a row or value quoted in an error message.
SNIPPET_CHARS: Final = 80
#: Column names listed in a "missing column" message before "... and N more".
MAX_NAMES_IN_MESSAGE: Final = 40
#: Slack for clocks and time zones when ``now`` is not given (the schema's, as the service's).
FUTURE_TOLERANCE: Final = schema.FUTURE_TOLERANCE
#: Default limit of the rejected share used by ``leadmodel validate``.
DEFAULT_MAX_REJECT_SHARE: Final = 0.5

REJECT_ROW: Final = "reject_row"
REJECT_REASON: Final = "reject_reason"

#: Parse-failure kinds (the rule kinds come from the schema's check names).
NOT_A_NUMBER: Final = "not a number"
NOT_A_DATE: Final = "not a date"

_ENCODED: Final = pa.dictionary(pa.int32(), pa.string())
_UTF16_32_BOMS: Final = (
    codecs.BOM_UTF32_LE,
    codecs.BOM_UTF32_BE,
    codecs.BOM_UTF16_LE,
    codecs.BOM_UTF16_BE,
)


class IngestError(Exception):
    """Input cannot be read at all (one clear line in ``str(e)``)."""


class RejectShareError(IngestError):
    """More rows were rejected than the limit allows; ``result`` holds the full report."""

    def __init__(self, message: str, result: IngestResult) -> None:
        super().__init__(message)
        self.result = result


# --- the column mapping ------------------------------------------------------------------


def model_name_of(path: Path) -> str:
    """A mapping file's default registered model name: ``x_education.yaml`` -> ``x-education``."""
    name = re.sub(r"[^A-Za-z0-9.-]+", "-", path.stem.replace("_", "-")).strip("-.")
    return name[:100] or DEFAULT_MODEL_NAME


#: Where the shipped mappings of known CRM exports live (package data), by preset name.
PRESETS_DIR: Final = Path(__file__).parent / "mappings"


class LabelRule(BaseModel):
    """One step of a label rule (:attr:`Mapping.labels`): which rows it decides, and how.

    ``column`` names an export column (or a list of alternative names: the first the file
    has is read); ``label`` instead reads a label decided before (``accepted`` for
    ``closed``). ``values`` maps raw text (trimmed, case-insensitive) to 1, 0 or ``null``
    (still open: undecided, and no later step is asked); ``filled`` is the label where the
    column holds any value (a date), ``empty`` where it holds none.
    """

    model_config = ConfigDict(extra="forbid")

    column: list[str] = Field(default_factory=list)
    label: Literal["accepted"] | None = None
    values: dict[str, Literal[0, 1] | None] = Field(default_factory=dict)
    filled: Literal[0, 1] | None = None
    empty: Literal[0, 1] | None = None

    @field_validator("column", mode="before")
    @classmethod
    def _column_as_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("values", mode="before")
    @classmethod
    def _keys_as_text(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {_yaml_text(k): v for k, v in value.items()}

    @model_validator(mode="after")
    def _one_source_one_effect(self) -> LabelRule:
        if bool(self.column) == (self.label is not None):
            raise ValueError(_("give either 'column' or 'label'"))
        if not self.values and self.filled is None and self.empty is None:
            raise ValueError(_("give 'values', 'filled' or 'empty'"))
        return self


class Mapping(BaseModel):
    """How one CRM export maps onto the canonical lead table (loaded from YAML).

    Raw-value lookups in ``values`` and ``na_values`` compare trimmed text, ``values``
    also ignores case. Export columns named in ``rename``, ``derive`` or ``drop`` that a
    file does not have are ignored, so one mapping serves exports with fewer columns.
    ``row_number`` names columns added to the export before renaming, each holding the
    1-based row number (the ``reject_row`` of a rejected row): an id and a time order for
    an export that has neither, e.g. ``row_number: [lead_id, row]`` with ``order_by: row``.
    ``model_name`` is the registered model of this data set (default: the mapping file's
    name, ``x_education.yaml`` -> ``x-education``): models of different exports never
    compete for one ``champion``. ``decimal``, ``thousands``, ``dayfirst`` and
    ``date_format`` say how the export writes numbers and dates (:meth:`reading`).
    ``labels`` derives a label from several export columns by ordered rules
    (:class:`LabelRule`, first decision wins, no decision = open); the columns the rules
    read are never features. ``system`` and ``description`` say which export a preset is
    for (``leadmodel mappings``); ``description`` may be given per language
    (``description: {en: ..., da: ...}``, kept in ``descriptions``): it then reads in the
    language the mapping is loaded in, else in English. ``display`` gives the user's own
    fields a label per language for people
    (``display: {visit_score: {en: Visit score, da: Besøgsscore}}``); its fields are fields
    the mapping names (``rename`` targets, ``allow_features``).
    """

    model_config = ConfigDict(extra="forbid")

    system: str | None = None
    description: str | None = None
    descriptions: dict[str, str] = Field(default_factory=dict)

    rename: dict[str, str] = Field(default_factory=dict)
    values: dict[str, dict[str, str | None]] = Field(default_factory=dict)
    na_values: list[str] = Field(default_factory=list)
    drop: list[str] = Field(default_factory=list)
    derive: dict[str, str] = Field(default_factory=dict)
    order_by: str | None = None
    row_number: list[str] = Field(default_factory=list)
    exclude_features: list[str] = Field(default_factory=list)
    allow_features: list[str] = Field(default_factory=list)
    max_reject_share: float | None = Field(default=None, ge=0.0, le=1.0)
    model_name: str | None = Field(default=None, pattern=MODEL_NAME_PATTERN)
    decimal: Literal[".", ","] = "."
    thousands: str | None = None
    dayfirst: bool | None = None
    date_format: str | None = None
    labels: dict[str, list[LabelRule]] = Field(default_factory=dict)
    display: dict[str, dict[str, str]] = Field(default_factory=dict)

    @field_validator("display")
    @classmethod
    def _display_languages(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for name, labels in value.items():
            for lang, label in labels.items():
                if lang not in LANGUAGES:
                    raise ValueError(
                        gettext("{field}: no language {lang} (use one of: {languages})").format(
                            field=name, lang=repr(lang), languages=", ".join(LANGUAGES)
                        )
                    )
                if not label.strip():
                    raise ValueError(
                        gettext("{field}.{lang}: the label must not be empty").format(
                            field=name, lang=lang
                        )
                    )
        return value

    @model_validator(mode="before")
    @classmethod
    def _description_per_language(cls, data: Any) -> Any:
        """``description: {en: ..., da: ...}``: the text of the current language (else en)."""
        if not isinstance(data, dict) or not isinstance(data.get("description"), dict):
            return data
        texts = {str(lang): text for lang, text in data["description"].items()}
        unknown = sorted(set(texts) - set(i18n.LANGUAGES))
        if unknown:
            raise ValueError(
                _("description: no language {languages} (use: {allowed})").format(
                    languages=", ".join(unknown), allowed=", ".join(i18n.LANGUAGES)
                )
            )
        chosen = texts.get(i18n.current(), texts.get(i18n.DEFAULT_LANGUAGE))
        return data | {"description": chosen, "descriptions": texts}

    @field_validator("values", mode="before")
    @classmethod
    def _values_as_text(cls, value: Any) -> Any:
        """YAML turns ``1:`` or ``2.5:`` into numbers; the raw values are text."""
        if not isinstance(value, dict):
            return value
        return {
            column: (
                {_yaml_text(k): _yaml_text(v) for k, v in lookup.items()}
                if isinstance(lookup, dict)
                else lookup
            )
            for column, lookup in value.items()
        }

    @field_validator("na_values", mode="before")
    @classmethod
    def _na_as_text(cls, value: Any) -> Any:
        return [_yaml_text(v) for v in value] if isinstance(value, list) else value

    @field_validator("row_number", mode="before")
    @classmethod
    def _row_number_as_list(cls, value: Any) -> Any:
        """One name may be written without a list."""
        return [value] if isinstance(value, str) else value

    @field_validator("row_number")
    @classmethod
    def _row_number_names_once(cls, value: list[str]) -> list[str]:
        repeated = sorted({name for name in value if value.count(name) > 1})
        if repeated:
            raise ValueError(
                _("names a column more than once: {names}").format(names=", ".join(repeated))
            )
        return value

    @field_validator("derive")
    @classmethod
    def _derive_labels_only(cls, value: dict[str, str]) -> dict[str, str]:
        for label in value:
            if label not in schema.LABEL_COLUMNS:
                raise ValueError(_not_a_label(label))
        return value

    @field_validator("labels")
    @classmethod
    def _labels_known(cls, value: dict[str, list[LabelRule]]) -> dict[str, list[LabelRule]]:
        for label, rules in value.items():
            if label not in schema.LABEL_COLUMNS:
                raise ValueError(_not_a_label(label))
            if label == schema.ACCEPTED and any(r.label for r in rules):
                raise ValueError(
                    _("accepted: a rule may read the label 'accepted' only for closed")
                )
        return value

    @field_validator("thousands")
    @classmethod
    def _known_thousands(cls, value: str | None) -> str | None:
        if value is not None and value not in schema.THOUSANDS_SEPARATORS:
            allowed = ", ".join(repr(t) for t in schema.THOUSANDS_SEPARATORS)
            raise ValueError(_("must be one of {allowed}").format(allowed=allowed))
        return value

    @model_validator(mode="after")
    def _separators_differ(self) -> Mapping:
        if self.thousands is not None and self.thousands == self.decimal:
            raise ValueError(
                _("thousands: must differ from decimal ({decimal})").format(
                    decimal=repr(self.decimal)
                )
            )
        both = sorted(set(self.labels) & set(self.derive))
        if both:
            raise ValueError(
                _("labels: {labels} is also in derive (give one of them)").format(
                    labels=", ".join(both)
                )
            )
        named = {*self.rename.values(), *self.allow_features}
        unnamed = [name for name in self.display if name not in named]
        if unnamed:
            raise ValueError(
                gettext(
                    "display: {fields} is not a field of this mapping (label a field named "
                    "in rename or allow_features: {named})"
                ).format(fields=", ".join(unnamed), named=", ".join(sorted(named)) or "-")
            )
        return self

    def display_names(self, fields: Collection[str]) -> dict[str, dict[str, str]]:
        """Field -> language -> how people read it, for the user's own fields among ``fields``.

        The ``display`` label of the language, else the name the export gave the column
        (``rename``). Canonical fields keep leadmodel's own words where no label is given;
        fields the user neither renamed nor labelled are left out (their name is the
        export's). A model keeps this in its metadata, so scores show it without the mapping.
        """
        export = {table: column for column, table in self.rename.items()}
        out: dict[str, dict[str, str]] = {}
        for name in fields:
            given = self.display.get(name, {})
            fallback = None if name in schema.CANONICAL_COLUMNS else export.get(name)
            labels = {
                lang: given.get(lang) or fallback
                for lang in LANGUAGES
                if given.get(lang) or fallback
            }
            if labels:
                out[name] = labels
        return out

    def label_sources(self, columns: Collection[str]) -> list[str]:
        """The export columns among ``columns`` that the label rules read, in rule order."""
        present = set(columns)
        found: list[str] = []
        for rules in self.labels.values():
            for rule in rules:
                name = next((c for c in rule.column if c in present), None)
                if name is not None and name not in found:
                    found.append(name)
        return found

    def reading(self, delimiter: str | None = None) -> schema.Reading:
        """How this export writes numbers and dates (:class:`leadmodel.schema.Reading`).

        Without ``thousands``, a comma groups thousands (``1,200``) only where it cannot
        be a decimal comma: with ``decimal: "."`` in a file that is not ``;``-separated
        (a semicolon file is a European export, where ``1,250`` may be 1.25).
        """
        thousands = self.thousands
        if thousands is None and self.decimal == "." and delimiter != ";":
            thousands = ","
        return schema.Reading(self.decimal, thousands, self.dayfirst, self.date_format)

    def column_names(self) -> dict[str, str]:
        """Export column -> table column, from ``rename`` and ``derive`` together."""
        return self.rename | {export: label for label, export in self.derive.items()}


def _not_a_label(label: str) -> str:
    return _("'{label}' is not a label column (use one of: {allowed})").format(
        label=label, allowed=", ".join(schema.LABEL_COLUMNS)
    )


def reject_limit(max_reject_share: float | None, mapping: Mapping) -> float:
    """The share of rejected rows a run may have (``validate``, ``score``, Spark alike).

    ``max_reject_share`` when given, else the mapping's, else
    :data:`DEFAULT_MAX_REJECT_SHARE`.
    """
    if max_reject_share is None:
        max_reject_share = mapping.max_reject_share
    if max_reject_share is None:
        max_reject_share = DEFAULT_MAX_REJECT_SHARE
    if not 0.0 <= max_reject_share <= 1.0:
        raise ValueError(
            _("max_reject_share: must be between 0 and 1, got {value}").format(
                value=i18n.number(max_reject_share)
            )
        )
    return float(max_reject_share)


def _yaml_text(value: Any) -> Any:
    """Numbers written unquoted in YAML, as text; ``None`` and text unchanged."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    return value


class _Yaml12Loader(yaml.SafeLoader):
    """A safe YAML loader where only ``true``/``false`` are booleans (``yes``/``no`` are text)."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    yaml.resolver.re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def preset_names() -> list[str]:
    """The names of the shipped mappings (``--mapping hubspot``), sorted."""
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def mapping_path(spec: str | Path) -> Path:
    """The YAML file of a mapping given as a path or as a preset name.

    A file that exists wins over a preset of the same name.

    Raises
    ------
    IngestError
        If ``spec`` is neither a file nor a preset (the line lists the presets).
    """
    path = Path(spec)
    if path.is_file():
        return path
    if str(spec) in preset_names():
        return PRESETS_DIR / f"{spec}.yaml"
    presets = ", ".join(preset_names())
    raise IngestError(
        _("mapping {spec}: no such file, and not a preset (presets: {presets})").format(
            spec=spec, presets=presets
        )
    )


def load_mapping(path: str | Path | None) -> Mapping:
    """Load a column mapping from YAML, by path or preset name; ``None`` gives the empty one.

    Raises
    ------
    IngestError
        If the file is missing (and no preset has the name), not valid YAML, or has
        unknown keys or wrong types.
    """
    if path is None:
        return Mapping()
    path = mapping_path(path)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Yaml12Loader)
    except (OSError, UnicodeDecodeError) as exc:
        raise IngestError(
            _("mapping {path}: cannot read it ({error})").format(path=path, error=exc)
        ) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if mark is None:
            message = _("mapping {path}: not valid YAML: {problem}")
        else:
            message = _("mapping {path}: not valid YAML at line {line}: {problem}")
        line = mark.line + 1 if mark is not None else 0
        raise IngestError(message.format(path=path, line=line, problem=problem)) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise IngestError(
            _("mapping {path}: expected keys such as 'rename:' at the top level").format(path=path)
        )
    try:
        found = Mapping.model_validate(data)
    except ValidationError as exc:
        raise IngestError(
            _("mapping {path}: {problems}").format(path=path, problems=_pydantic_problems(exc))
        ) from exc
    if found.model_name is None:
        found = found.model_copy(update={"model_name": model_name_of(path)})
    return found


def _pydantic_problems(exc: ValidationError) -> str:
    """All validation problems of a mapping in one line."""
    allowed = ", ".join(Mapping.model_fields)
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            problems.append(
                _("unknown key '{key}' (allowed: {allowed})").format(key=where, allowed=allowed)
            )
        else:
            problems.append(f"{where}: {validation_message(err)}")
    return "; ".join(problems)


# --- reading a file as text --------------------------------------------------------------


class TableReader:
    """One CSV or Parquet export read as text: whole (:meth:`table`) or in chunks.

    Opening it checks the file and, for a CSV, its encoding and delimiter; whole-file
    reading (:func:`read_leads`, :func:`read_table`), batch scoring (:meth:`chunks`) and
    Spark (:attr:`delimiter`) all read through it, so they refuse the same files with the
    same lines.

    Raises
    ------
    IngestError
        If the file is missing, unreadable, empty, binary, not UTF-8, separated by an
        unsupported delimiter, or not ``.csv``/``.tsv``/``.txt``/``.parquet``/``.pq``.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = _check_file(path)
        self.is_csv = self.path.suffix.lower() in CSV_SUFFIXES
        self.delimiter: str | None = None
        self.header: list[str] = []
        if self.is_csv:
            head = _head_text(self.path)
            self.delimiter = _sniff_delimiter(head, self.path)
            self.header = _header(head, self.delimiter)

    def reading(self, mapping: Mapping) -> schema.Reading:
        """How numbers and dates of this file are read (:meth:`Mapping.reading`)."""
        return mapping.reading(self.delimiter)

    def table(self, encode_except: frozenset[str] | None = None) -> pa.Table:
        """The file as an Arrow table of strings with stripped, unique column names.

        With ``encode_except``, every other CSV column is read dictionary-encoded (each
        distinct text once, plus a code per row), which makes the later steps work on
        distinct values.
        """
        if self.is_csv:
            table = self._read_csv(encode_except)
        else:
            table = _read_parquet(self.path)
        table = _tidy_columns(table, self.path)
        if table.num_rows == 0:
            raise IngestError(_no_data_rows(self.path))
        return table

    def chunks(self, chunk_rows: int) -> TextChunks:
        """The file as text chunks of ``chunk_rows`` rows (see :class:`TextChunks`)."""
        return TextChunks(self, chunk_rows)

    def _read_csv(self, encode_except: frozenset[str] | None) -> pa.Table:
        """Read the UTF-8 CSV with Arrow, every column a string (empty cells stay ``""``)."""
        types = {
            name: _ENCODED
            if encode_except is not None and name.strip() not in encode_except
            else pa.string()
            for name in self.header
        }
        try:
            table = pacsv.read_csv(
                self.path,
                parse_options=self._parse_options(),
                convert_options=self._convert_options(types),
            )
        except (pa.ArrowInvalid, OSError) as exc:
            raise self.csv_error(exc) from exc
        return table.unify_dictionaries()

    def _parse_options(self) -> pacsv.ParseOptions:
        return pacsv.ParseOptions(delimiter=self.delimiter, newlines_in_values=True)

    @staticmethod
    def _convert_options(types: dict[str, Any]) -> pacsv.ConvertOptions:
        return pacsv.ConvertOptions(
            column_types=types, strings_can_be_null=False, quoted_strings_can_be_null=False
        )

    def csv_error(self, exc: Exception) -> IngestError:
        """The one line for an Arrow or OS error while reading the CSV."""
        message = str(exc)
        if isinstance(exc, OSError):
            return IngestError(_cannot_read(self.path, exc))
        if "UTF8" in message or "UTF-8" in message:
            return IngestError(_first_bad_utf8(self.path))
        if "Expected" in message and "columns" in message:
            return IngestError(_malformed_row_message(self.path, self.delimiter or ","))
        return IngestError(
            _("{path}: cannot read the CSV ({error})").format(
                path=self.path, error=message[:SNIPPET_CHARS]
            )
        )


class TextChunks:
    """A lead file as text chunks of ``chunk_rows`` rows (made by :meth:`TableReader.chunks`).

    Iterate to get pandas frames of strings (empty cells ``""``, column names stripped),
    the same text :meth:`TableReader.table` gives for the whole file; memory stays flat
    as the file grows. ``unit``, ``done`` and ``total`` report progress in bytes (CSV) or
    rows (Parquet).
    """

    def __init__(self, reader: TableReader, chunk_rows: int) -> None:
        if chunk_rows <= 0:
            raise ValueError(
                _("chunk_rows: must be a positive number of rows, got {value}").format(
                    value=i18n.number(chunk_rows)
                )
            )
        self.reader = reader
        self.path = reader.path
        self.chunk_rows = chunk_rows
        self.is_csv = reader.is_csv
        self.unit = "bytes" if self.is_csv else "rows"
        self.total = 0
        self.columns: list[str] = []  # known after the first chunk
        self._keep: list[int] = []  # column positions kept (fixed by the first chunk)
        self._rows_read = 0
        self._file: Any = None
        self._batches: Iterator[pa.RecordBatch] = iter(())
        if self.is_csv:
            self._open_csv()
        else:
            self._open_parquet()

    def _open_csv(self) -> None:
        self.total = self.path.stat().st_size
        self._file = self.path.open("rb")
        try:
            batches = pacsv.open_csv(
                self._file,
                read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
                parse_options=self.reader._parse_options(),
                convert_options=self.reader._convert_options(
                    dict.fromkeys(self.reader.header, pa.string())
                ),
            )
        except (pa.ArrowInvalid, OSError) as exc:
            self.close()
            raise self.reader.csv_error(exc) from exc
        self._batches = iter(batches)

    def _open_parquet(self) -> None:
        try:
            self._file = pq.ParquetFile(self.path)
        except (pa.ArrowException, OSError) as exc:
            raise IngestError(_not_parquet(self.path, exc)) from exc
        self.total = self._file.metadata.num_rows
        self._batches = self._file.iter_batches(batch_size=self.chunk_rows)

    @property
    def done(self) -> int:
        """Bytes (CSV) or rows (Parquet) read so far."""
        if self.is_csv:
            return self._file.tell() if self._file and not self._file.closed else self.total
        return self._rows_read

    def _next_batch(self) -> pa.RecordBatch | None:
        try:
            return next(self._batches)
        except StopIteration:
            return None
        except (pa.ArrowInvalid, OSError) as exc:
            if self.is_csv:
                raise self.reader.csv_error(exc) from exc
            raise IngestError(_not_parquet(self.path, exc)) from exc

    def _tables(self) -> Iterator[pa.Table]:
        """Tables of exactly ``chunk_rows`` rows (the last one may be shorter)."""
        pending: list[pa.RecordBatch] = []
        rows = 0
        while (batch := self._next_batch()) is not None:
            pending.append(batch)
            rows += batch.num_rows
            while rows >= self.chunk_rows:
                table = pa.Table.from_batches(pending)
                yield table.slice(0, self.chunk_rows)
                rest = table.slice(self.chunk_rows)
                pending, rows = rest.to_batches(), rest.num_rows
        if rows:
            yield pa.Table.from_batches(pending)

    def __iter__(self) -> Iterator[pd.DataFrame]:
        first = True
        for table in self._tables():
            self._rows_read += table.num_rows
            text = self._as_text(table, first)
            first = False
            yield text.to_pandas()
        if first:
            raise IngestError(_no_data_rows(self.path))

    def _as_text(self, table: pa.Table, first: bool) -> pa.Table:
        """Text columns with tidy names; the columns kept are fixed by the first chunk."""
        columns = [_as_text(c) for c in table.columns]
        table = pa.table(columns, names=table.column_names)
        if first:
            tidy = _tidy_columns(table, self.path)
            self.columns = tidy.column_names
            stripped = [str(n).strip() for n in table.column_names]
            self._keep = [
                i for i, name in enumerate(stripped) if (name or f"unnamed_{i + 1}") in self.columns
            ]
            return tidy
        return pa.table([table.column(i) for i in self._keep], names=self.columns)

    def close(self) -> None:
        """Release the file."""
        if self._file is not None and hasattr(self._file, "close"):
            self._file.close()

    def __enter__(self) -> TextChunks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_table(path: str | Path, *, dtype: Any = str) -> pd.DataFrame:
    """Read a CSV or Parquet file (by extension), by default without converting anything.

    With ``dtype=str`` every column is text and empty cells are ``""`` (what
    :func:`validate` takes); with ``dtype=None`` pandas infers the types (a table this
    package wrote); any other ``dtype`` is passed to the pandas reader.

    Raises
    ------
    IngestError
        See :class:`TableReader`.
    """
    reader = TableReader(path)
    if dtype is str:
        return reader.table().to_pandas()
    if not reader.is_csv:
        table = pd.read_parquet(reader.path)
        return table if dtype is None else table.astype(dtype)
    return pd.read_csv(reader.path, dtype=dtype, sep=reader.delimiter)


def _no_data_rows(path: Path) -> str:
    return _("{path}: no data rows (only a header)").format(path=path)


def _cannot_read(path: Path, error: object) -> str:
    return _("{path}: cannot read the file ({error})").format(path=path, error=error)


def _not_parquet(path: Path, error: object) -> str:
    return _("{path}: not a readable Parquet file ({error})").format(path=path, error=error)


def _check_file(path: str | Path) -> Path:
    """Refuse paths that are not a readable, non-empty file with a known extension."""
    path = Path(path)
    if not path.exists():
        raise IngestError(_("{path}: file not found").format(path=path))
    if path.is_dir():
        raise IngestError(_("{path}: is a directory, not a CSV or Parquet file").format(path=path))
    suffix = path.suffix.lower()
    if suffix not in CSV_SUFFIXES + PARQUET_SUFFIXES:
        known = ", ".join(CSV_SUFFIXES + PARQUET_SUFFIXES)
        raise IngestError(
            _("{path}: unknown extension '{suffix}' (export the table as one of: {known})").format(
                path=path, suffix=suffix, known=known
            )
        )
    try:
        size = path.stat().st_size
        with path.open("rb"):
            pass
    except OSError as exc:
        raise IngestError(_cannot_read(path, exc.strerror or exc)) from exc
    if size == 0:
        raise IngestError(_("{path}: file is empty").format(path=path))
    return path


def _head_text(path: Path) -> str:
    """The first bytes of a CSV as text; refuses binary, UTF-16/32 and non-UTF-8 files."""
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES)
    if head.startswith(_UTF16_32_BOMS):
        raise IngestError(
            _("{path}: file is UTF-16/UTF-32 encoded; save it as UTF-8 CSV").format(path=path)
        )
    if b"\x00" in head:
        raise IngestError(
            _(
                "{path}: not a text CSV (it contains NUL bytes: binary, or UTF-16 without a "
                "byte-order mark); save it as UTF-8 CSV"
            ).format(path=path)
        )
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    try:
        return decoder.decode(head, final=False)
    except UnicodeDecodeError as exc:
        raise IngestError(_encoding_message(path, head, exc.start)) from exc


def _encoding_message(path: Path, data: bytes, position: int, lines_before: int = 0) -> str:
    line = lines_before + data.count(b"\n", 0, position) + 1
    byte = data[position : position + 1].hex()
    return _(
        "{path}: not UTF-8 encoded (byte 0x{byte} on line {line}); save the export as 'CSV UTF-8'"
    ).format(path=path, byte=byte, line=line)


def _first_bad_utf8(path: Path) -> str:
    """Error message naming the line of the first byte that is not UTF-8 (error path only)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines = 0
    with path.open("rb") as fh:
        while chunk := fh.read(SCAN_BYTES):
            try:
                decoder.decode(chunk, final=False)
            except UnicodeDecodeError as exc:
                return _encoding_message(path, chunk, exc.start, lines)
            lines += chunk.count(b"\n")
    return _("{path}: not UTF-8 encoded; save the export as 'CSV UTF-8'").format(path=path)


def _header(head: str, delimiter: str) -> list[str]:
    first_line = head.splitlines()[0] if head else ""
    return next(csv.reader([first_line], delimiter=delimiter), [])


def _sniff_delimiter(head: str, path: Path) -> str:
    """The delimiter that splits the header line into the most fields."""
    counts = {d: len(_header(head, d)) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])  # the first of a tie wins
    if counts[best] > 1:
        return best
    for other in OTHER_SEPARATORS:
        if len(_header(head, other)) > 1:
            raise IngestError(
                _(
                    "{path}: the header reads as one column and looks like '{separator}'-"
                    "separated; save the export with ',' ';' or tab between columns"
                ).format(path=path, separator=other)
            )
    return DELIMITERS[0]


def _malformed_row_message(path: Path, delimiter: str) -> str:
    """Name the first data row whose field count differs from the header (error path only)."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        records = csv.reader(fh, delimiter=delimiter)
        expected = len(next(records, []))
        for row, fields in enumerate((f for f in records if f), start=1):  # skip blank lines
            if len(fields) != expected:
                snippet = delimiter.join(fields)[:SNIPPET_CHARS]
                return _(
                    "{path}: malformed CSV, data row {row} has {fields} fields but the "
                    "header has {expected} ({snippet}); check quoting and the delimiter"
                ).format(
                    path=path,
                    row=row,
                    fields=i18n.number(len(fields)),
                    expected=i18n.number(expected),
                    snippet=repr(snippet),
                )
    return _("{path}: malformed CSV, a row does not match the header; check quoting").format(
        path=path
    )


def _read_parquet(path: Path) -> pa.Table:
    """Read a Parquet file and turn every column into text (missing -> ``""``)."""
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise IngestError(_not_parquet(path, exc)) from exc
    return pa.table([_as_text(c) for c in table.columns], names=table.column_names)


def _as_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Any Arrow column as strings, missing values as ``""``."""
    if not pa.types.is_string(column.type):
        try:
            column = pc.cast(column, pa.string())
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
            text = column.to_pandas().astype(str)
            column = pa.chunked_array([pa.array(text, type=pa.string())])
    return pc.fill_null(column, "")


def _tidy_columns(table: pa.Table, path: Path) -> pa.Table:
    """Strip column names; drop unnamed empty columns (a trailing comma); refuse duplicates."""
    keep, names = [], []
    for i, name in enumerate(str(n).strip() for n in table.column_names):
        if not name:
            text = pc.utf8_trim_whitespace(pc.cast(table.column(i), pa.string()))
            if not pc.any(pc.not_equal(text, "")).as_py():
                continue  # an unnamed column without any value: nothing to keep
            name = f"unnamed_{i + 1}"
        if name in names:
            raise IngestError(
                _("{path}: column '{name}' appears twice in the header").format(
                    path=path, name=name
                )
            )
        keep.append(i)
        names.append(name)
    return pa.table([table.column(i) for i in keep], names=names)


# --- validation --------------------------------------------------------------------------


@dataclass
class IngestResult:
    """The typed valid rows, the rejected rows as read, and the counts."""

    valid: pd.DataFrame
    rejects: pd.DataFrame
    rows_in: int
    reasons: dict[str, int]
    order_by: str
    mapping: Mapping
    #: Export columns the file has and the mapping's ``drop`` never read (after hand-over).
    dropped: list[str] = field(default_factory=list)
    #: Export columns the mapping's label rules read (``labels``); never features either.
    label_sources: list[str] = field(default_factory=list)

    @property
    def rows_valid(self) -> int:
        return len(self.valid)

    @property
    def rows_rejected(self) -> int:
        return len(self.rejects)

    @property
    def reject_share(self) -> float:
        return self.rows_rejected / self.rows_in if self.rows_in else 0.0

    def summary(self) -> dict[str, Any]:
        """``rows_in``, ``rows_valid``, ``rows_rejected``, ``reasons``, ``dropped`` and
        ``label_sources``, for people and JSON."""
        return {
            "rows_in": self.rows_in,
            "rows_valid": self.rows_valid,
            "rows_rejected": self.rows_rejected,
            "reasons": dict(self.reasons),
            "dropped": list(self.dropped),
            "label_sources": list(self.label_sources),
        }


def validate(
    raw: pd.DataFrame,
    mapping: Mapping | None = None,
    *,
    require_labels: bool = False,
    now: pd.Timestamp | str | None = None,
    rows: np.ndarray | None = None,
    delimiter: str | None = None,
    numbers: Collection[str] = (),
) -> IngestResult:
    """Map, type and check a raw export; split it into valid rows and rejected rows.

    Parameters
    ----------
    raw
        The export as read (text columns, see :func:`read_table`); other dtypes are
        turned into text first.
    mapping
        How the export's columns map onto the canonical table (default: none).
    require_labels
        Also require the ``closed`` column (for training).
    now
        The time of the export; a ``created_at`` after it is rejected. Default: the
        current UTC time plus :data:`FUTURE_TOLERANCE`.
    rows
        The 1-based file row of every raw row, for the mapping's ``row_number`` columns
        when ``raw`` is one chunk of a bigger file (default: 1, 2, 3 ...).
    delimiter
        The delimiter of the file ``raw`` was read from (:attr:`TableReader.delimiter`):
        in a ``;``-separated file a comma is a decimal comma, not a thousands separator,
        unless the mapping says (see :meth:`Mapping.reading`).
    numbers
        Extra columns that must hold numbers (a model's numeric features, when scoring):
        a value that is not one is rejected. Other extra columns are numbers when every
        value reads as one, else text.

    Raises
    ------
    IngestError
        If a required column is missing, the mapping makes two columns one, or a date
        column can be read day-first or month-first and the mapping does not say which.
    """
    mapping = mapping or Mapping()
    table = _text_table(raw, _id_columns(mapping))
    reading = mapping.reading(delimiter)
    return _validate_table(table, mapping, require_labels, now, rows, reading, frozenset(numbers))


def read_leads(
    path: str | Path,
    mapping: Mapping | str | Path | None = None,
    *,
    require_labels: bool = False,
    max_reject_share: float | None = None,
    now: pd.Timestamp | str | None = None,
) -> IngestResult:
    """Read and validate a lead export; the one entry point of training and scoring.

    ``max_reject_share`` (else the mapping's) limits the share of rejected rows; see
    :func:`validate` for the other parameters.

    Raises
    ------
    IngestError
        If the file or mapping cannot be read, or a required column is missing.
    RejectShareError
        If more than the allowed share of rows was rejected (``.result`` has the report).
    """
    if not isinstance(mapping, Mapping):
        mapping = load_mapping(mapping)
    reader = TableReader(path)
    table = reader.table(encode_except=_id_columns(mapping))
    result = _validate_table(table, mapping, require_labels, now, reading=reader.reading(mapping))
    limit = max_reject_share if max_reject_share is not None else mapping.max_reject_share
    if limit is not None and result.reject_share > limit:
        message = ngettext(
            "{path}: {rejected} of {total} row rejected ({share}), more than the limit of {limit}",
            "{path}: {rejected} of {total} rows rejected ({share}), more than the limit of {limit}",
            result.rows_in,
        )
        shown = message.format(
            path=path,
            rejected=i18n.number(result.rows_rejected),
            total=i18n.number(result.rows_in),
            share=i18n.percent(result.reject_share, 1),
            limit=share_text(limit),
        )
        raise RejectShareError(shown, result)
    return result


def share_text(share: float) -> str:
    """A limit as a percentage with the decimals it needs: ``0.5`` -> ``50%``, ``0.125`` ->
    ``12.5%`` (as the language writes it)."""
    decimals = next((d for d in range(3) if round(share * 100, d) == round(share * 100, 6)), 3)
    return i18n.percent(share, decimals)


def write_rejects(result: IngestResult, path: str | Path) -> None:
    """Write the rejected rows (original text plus row number and reason) to CSV/Parquet."""
    try:
        write_table(result.rejects, path)
    except ValueError as exc:
        raise IngestError(str(exc)) from exc
    except OSError as exc:
        raise IngestError(
            _("{path}: cannot write the rejects ({error})").format(
                path=path, error=exc.strerror or exc
            )
        ) from exc


def _id_columns(mapping: Mapping) -> frozenset[str]:
    """Export columns that may become ``lead_id`` (unique per row: not worth encoding)."""
    renamed = {export for export, name in mapping.column_names().items() if name == schema.LEAD_ID}
    return frozenset(renamed | {schema.LEAD_ID})


def _text_table(raw: pd.DataFrame, encode_except: frozenset[str]) -> pa.Table:
    """A raw frame as an Arrow table of text (see :meth:`TableReader.table`)."""
    names = [str(name).strip() for name in raw.columns]
    if len(set(names)) < len(names):
        repeated = next(n for n in names if names.count(n) > 1)
        raise IngestError(_("column '{name}' appears twice").format(name=repeated))
    columns = []
    for name, (_label, values) in zip(names, raw.items(), strict=True):
        try:
            column = pa.chunked_array([pa.array(values, from_pandas=True)])
        except (pa.ArrowException, TypeError, ValueError):  # mixed Python objects
            text = values.astype(object).where(values.notna(), "").astype(str)
            column = pa.chunked_array([pa.array(text, type=pa.string())])
        column = _as_text(column)
        columns.append(column if name in encode_except else pc.dictionary_encode(column))
    return pa.table(columns, names=names)


@dataclass
class _Column:
    """One column on its way from text to a typed column.

    Held as its distinct texts plus a code per row, so trimming, lookups and parsing run
    once per distinct value; ``codes`` is ``None`` when every row has its own entry.
    """

    name: str  # in the table (after the mapping)
    values: pa.Array  # the distinct texts as read
    codes: np.ndarray | None  # row -> position in ``values``
    text: pa.Array  # ``values`` trimmed and mapped; null = missing

    def per_row(self, per_value: np.ndarray) -> np.ndarray:
        return per_value if self.codes is None else per_value[self.codes]

    def raw(self, rows: np.ndarray) -> list[str]:
        """The original text in these rows."""
        positions = rows if self.codes is None else self.codes[rows]
        return self.values.take(pa.array(positions)).to_pylist()


def _validate_table(
    table: pa.Table,
    mapping: Mapping,
    require_labels: bool,
    now: pd.Timestamp | str | None,
    rows: np.ndarray | None = None,
    reading: schema.Reading | None = None,
    numbers: frozenset[str] = frozenset(),
) -> IngestResult:
    """Validate a text table (see :func:`validate`)."""
    reading = reading or mapping.reading()
    dropped = [c for c in table.column_names if c in set(mapping.drop)]
    sources = mapping.label_sources(table.column_names)
    numbered = _with_labels(_with_row_numbers(table, mapping, rows), mapping, sources)
    columns = _mapped_columns(numbered, mapping, require_labels)
    order_by = mapping.order_by or schema.CREATED_AT
    typed: dict[str, pd.Series] = {}
    parse_problems = []
    for col in columns:
        values, bad, kind = _typed(col, reading, numbers)
        # object arrays stay object (pandas 3 would infer its ``str`` dtype)
        typed[col.name] = pd.Series(values, dtype=values.dtype, copy=False)
        if bad is not None and bad.any():
            parse_problems.append(_problems(np.flatnonzero(bad), col.name, kind))
    frame = pd.DataFrame(typed, copy=False)
    rule_problems = _schema_problems(frame, order_by, _as_now(now))
    problems = _merge_problems(parse_problems, rule_problems, list(frame.columns))
    result = _split(table, frame, columns, problems, order_by, mapping)
    result.dropped, result.label_sources = dropped, sources
    return result


def _with_row_numbers(table: pa.Table, mapping: Mapping, rows: np.ndarray | None) -> pa.Table:
    """The table plus the mapping's ``row_number`` columns (1-based row numbers as text)."""
    if not mapping.row_number:
        return table
    numbers = np.arange(1, table.num_rows + 1) if rows is None else np.asarray(rows)
    if numbers.shape != (table.num_rows,):
        raise ValueError(f"rows: {numbers.size} row numbers for {table.num_rows} rows")  # internal
    text = pc.cast(pa.array(numbers, type=pa.int64()), pa.string())
    for name in mapping.row_number:
        if name in table.column_names:
            raise IngestError(
                _("mapping: row_number column '{name}' is already in the export").format(name=name)
            )
        table = table.append_column(name, text)
    return table


def _with_labels(table: pa.Table, mapping: Mapping, sources: list[str]) -> pa.Table:
    """The table with the mapping's rule-derived labels in place of the columns they read.

    Each label is text ``"1"``/``"0"`` or null (open); it is made only when the file has a
    column some rule of it reads.
    """
    if not mapping.labels:
        return table
    derived: dict[str, np.ndarray] = {}
    for label in schema.LABEL_COLUMNS:
        rules = mapping.labels.get(label)
        if not rules:
            continue
        if label in table.column_names:
            raise IngestError(
                _("mapping: labels.{label} would replace the export's own column '{label}'").format(
                    label=label
                )
            )
        read = [
            (rule, next((c for c in rule.column if c in table.column_names), None))
            for rule in rules
        ]
        if not any(name is not None for _, name in read):
            continue
        out = np.full(table.num_rows, None, dtype=object)
        decided = np.zeros(table.num_rows, dtype=bool)
        for rule, name in read:
            if rule.label is not None:
                if rule.label not in derived:
                    continue
                text = derived[rule.label]
            elif name is None:
                continue
            else:
                text = _trimmed_text(table.column(name))
            hit, value = _rule_decisions(rule, text)
            new = hit & ~decided
            out[new] = value[new]
            decided |= new
        derived[label] = out
    kept = [c for c in table.column_names if c not in set(sources)]
    table = table.select(kept)
    for label, values in derived.items():
        table = table.append_column(label, pa.array(values, type=pa.string()))
    return table


def _trimmed_text(column: pa.ChunkedArray) -> np.ndarray:
    """One export column as trimmed Python text per row (missing -> ``""``)."""
    text = pc.utf8_trim_whitespace(pc.cast(column, pa.string()))
    return pc.fill_null(text, "").to_numpy(zero_copy_only=False).astype(object)


def _rule_decisions(rule: LabelRule, text: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which rows one label rule decides, and the label text it gives them (None = open)."""
    series = pd.Series(text, dtype=object)
    present = (series.notna() & (series != "")).to_numpy(dtype=bool)
    hit = np.zeros(len(text), dtype=bool)
    value = np.full(len(text), None, dtype=object)
    if rule.values:
        lookup = {k.strip().lower(): v for k, v in rule.values.items()}
        lowered = series.where(present, "").astype(str).str.lower()
        matched = lowered.isin(list(lookup)).to_numpy() & present
        mapped = lowered[matched].map(lookup)
        value[matched] = [None if pd.isna(v) else str(int(v)) for v in mapped]
        hit |= matched
    if rule.filled is not None:
        new = present & ~hit
        value[new] = str(rule.filled)
        hit |= new
    if rule.empty is not None:
        new = ~present & ~hit
        value[new] = str(rule.empty)
        hit |= new
    return hit, value


def _mapped_columns(table: pa.Table, mapping: Mapping, require_labels: bool) -> list[_Column]:
    """Apply rename/derive/drop, check the required columns, trim and map the text."""
    renames = mapping.column_names()
    dropped = set(mapping.drop)
    sources: dict[str, str] = {}  # table column -> export column
    for export in table.column_names:
        if export in dropped:
            continue
        name = renames.get(export, export)
        if name in sources:
            raise IngestError(
                _("mapping: columns '{first}' and '{second}' would both become '{name}'").format(
                    first=sources[name], second=export, name=name
                )
            )
        sources[name] = export
    required = [schema.LEAD_ID, schema.SOURCE, mapping.order_by or schema.CREATED_AT]
    if require_labels:
        required.append(schema.CLOSED)
    for name in required:
        if name not in sources:
            raise IngestError(_missing_column_message(name, table.column_names, mapping))
    ordered = [c for c in schema.CANONICAL_COLUMNS if c in sources]
    ordered += [c for c in sources if c not in ordered]
    na_values = pa.array([v.strip() for v in mapping.na_values], type=pa.string())
    return [
        _clean(name, table.column(sources[name]), na_values, mapping.values.get(name))
        for name in ordered
    ]


def _missing_column_message(name: str, found: list[str], mapping: Mapping) -> str:
    shown = shown_names(found)
    if len(found) > MAX_NAMES_IN_MESSAGE:
        more = i18n.number(len(found) - MAX_NAMES_IN_MESSAGE)
        shown = _("{names} ... and {count} more").format(names=shown, count=more)
    if name == mapping.order_by:
        missing = _(
            "missing required order column (the mapping's order_by) '{name}'; found: {found}"
        )
    else:
        missing = _("missing required column '{name}'; found: {found}")
    if name == schema.CREATED_AT:
        hint = _(
            "map an export column to it with 'rename:' in the mapping, or name an ordering "
            "column with 'order_by:'"
        )
    else:
        hint = _("map an export column to it with 'rename:' in the mapping")
    return missing.format(name=name, found=shown) + "; " + hint


def shown_names(found: list[str]) -> str:
    """The first :data:`MAX_NAMES_IN_MESSAGE` names, quoted and comma-separated."""
    return ", ".join(f"'{c}'" for c in found[:MAX_NAMES_IN_MESSAGE])


def _clean(
    name: str,
    column: pa.ChunkedArray,
    na_values: pa.Array,
    lookup: dict[str, str | None] | None,
) -> _Column:
    """Trim the text and apply the mapping's value lookup; empty and NA strings -> null."""
    if pa.types.is_dictionary(column.type):
        encoded = column.combine_chunks()  # the chunks share one dictionary
        values, codes = encoded.dictionary, encoded.indices.to_numpy()
    else:
        values, codes = column.combine_chunks(), None
    text = pc.utf8_trim_whitespace(values)
    if lookup:
        keys = pa.array([k.strip().lower() for k in lookup], type=pa.string())
        mapped = pa.array(list(lookup.values()), type=pa.string())
        position = pc.index_in(pc.utf8_lower(text), value_set=keys)
        text = pc.if_else(pc.is_valid(position), pc.take(mapped, position), text)
    missing = pc.equal(text, "")
    if len(na_values):
        missing = pc.or_(missing, pc.is_in(text, value_set=na_values))
    text = pc.if_else(pc.fill_null(missing, True), None, text)
    return _Column(name=name, values=values, codes=codes, text=text)


def _typed(
    col: _Column, reading: schema.Reading, numbers: frozenset[str]
) -> tuple[np.ndarray, np.ndarray | None, str]:
    """Typed values of one column per row, and which rows hold text that did not parse.

    The parsing is the schema's (:func:`leadmodel.schema.parse_numbers` ...), as in every
    entry point.
    """
    name = col.name
    if name in schema.NUMERIC_COLUMNS:  # the schema then rejects inf as not finite
        values, bad = schema.parse_numbers(col.text, reading)
        return col.per_row(values), col.per_row(bad), NOT_A_NUMBER
    if name in numbers:  # a model's extra numeric feature: a finite number or unknown
        values, bad = schema.parse_numbers(col.text, reading)
        bad = bad | np.isinf(values)
        values = np.where(bad, np.nan, values)
        return col.per_row(values), col.per_row(bad), NOT_A_NUMBER
    if name in schema.LABEL_COLUMNS:
        values, bad = schema.parse_labels(col.text)
        return col.per_row(values), col.per_row(bad), schema.CHECK_NOT_BINARY
    if name == schema.CREATED_AT:
        try:
            values, bad = schema.parse_dates(col.text, reading, name)
        except schema.AmbiguousDates as exc:
            raise IngestError(str(exc)) from None
        return col.per_row(values), col.per_row(bad), NOT_A_DATE
    if name == schema.SOURCE:
        return col.per_row(_normalised_sources(col.text)), None, ""
    if name == schema.PRIOR_AWARENESS:
        return col.per_row(_to_object(pc.utf8_lower(col.text))), None, ""
    if name not in (schema.LEAD_ID, *schema.FIRMOGRAPHIC_TEXT):
        # an extra column (or the order column) is numeric when every present value is a
        # number under some convention of separators; the ones this reading cannot read
        # ("2,5" without ``decimal: ","``) are then rejected, never read as text or as 25
        values, bad = schema.parse_numbers(col.text, reading)
        present = pc.is_valid(col.text).to_numpy(zero_copy_only=False)
        like = schema.number_like(col.text) | ~bad
        if present.any() and like[present].all() and not np.isinf(values).any():
            return col.per_row(values), col.per_row(bad), NOT_A_NUMBER
    return col.per_row(_to_object(col.text)), None, ""


def _normalised_sources(text: pa.Array) -> np.ndarray:
    """:func:`leadmodel.schema.normalise_sources` of every value (missing -> ``unknown``)."""
    return schema.normalise_sources(pd.Series(_to_object(text), dtype=object)).to_numpy()


def _to_object(text: pa.Array) -> np.ndarray:
    """Python ``str`` values in an object array, NaN for missing."""
    values = text.to_numpy(zero_copy_only=False)
    missing = pc.is_null(text).to_numpy(zero_copy_only=False)
    if missing.any():
        values[missing] = np.nan
    return values


def _as_now(now: pd.Timestamp | str | None) -> pd.Timestamp:
    """Naive UTC time after which ``created_at`` is in the future."""
    if now is None:
        return pd.Timestamp.now(tz="UTC").tz_localize(None) + FUTURE_TOLERANCE
    stamp = pd.Timestamp(now)
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp


# --- problems -> reasons -----------------------------------------------------------------


def _problems(rows: np.ndarray, field: str, kind: str) -> pd.DataFrame:
    """Problems as rows of ``row, field, kind`` (one per failing row)."""
    return pd.DataFrame({"row": rows.astype(np.int64), "field": field, "kind": kind})


def _schema_problems(frame: pd.DataFrame, order_by: str, now: pd.Timestamp) -> pd.DataFrame:
    """Rule failures of the pandera schema as ``row, field, kind``."""
    lead_schema = schema.lead_table_schema(frame.columns, order_by=order_by, now=now)
    import pandera.errors  # loaded by the schema above

    try:
        with warnings.catch_warnings():  # pandera loads pyspark.pandas on first use
            warnings.filterwarnings("ignore", message="PySpark", category=FutureWarning)
            lead_schema.validate(frame, lazy=True, inplace=True)
    except pandera.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    else:
        return _problems(np.array([], dtype=np.int64), "", "")
    cases = cases[cases["index"].notna()]
    # a check on the whole frame reports every column of a failing row: keep one
    frame_level = cases["schema_context"] == "DataFrameSchema"
    field = cases["column"].astype(object).where(~frame_level, schema.CLOSED)
    kind = cases["check"].astype(object).replace({"not_nullable": schema.CHECK_MISSING})
    found = pd.DataFrame({"row": cases["index"].astype(np.int64), "field": field, "kind": kind})
    return found.drop_duplicates(ignore_index=True)


def _merge_problems(
    parse_problems: list[pd.DataFrame], rule_problems: pd.DataFrame, columns: list[str]
) -> pd.DataFrame:
    """All problems sorted by row and column; a parse failure hides the null it leaves."""
    problems = pd.concat([*parse_problems, rule_problems], ignore_index=True)
    if parse_problems:
        key = ["row", "field"]
        parsed = pd.concat(parse_problems)[key].assign(parsed=True)
        flagged = problems[key].merge(parsed, on=key, how="left")["parsed"].notna()
        hidden = flagged.to_numpy() & (problems["kind"] == schema.CHECK_MISSING).to_numpy()
        problems = problems[~hidden]
    position = problems["field"].map({name: i for i, name in enumerate(columns)})
    problems = problems.assign(position=position.fillna(len(columns)))
    return problems.sort_values(["row", "position"], kind="stable", ignore_index=True)


def _split(
    table: pa.Table,
    frame: pd.DataFrame,
    columns: list[_Column],
    problems: pd.DataFrame,
    order_by: str,
    mapping: Mapping,
) -> IngestResult:
    """Valid rows, rejected rows (original text + row number + reason) and counts."""
    rows_in = table.num_rows
    reasons = (problems["field"] + ": " + problems["kind"]).value_counts(sort=True)
    rows = problems["row"].to_numpy()
    details = pd.Series(_details(problems, {c.name: c for c in columns}), index=rows)
    if (np.diff(rows) == 0).any():  # some rows have several problems: one line each
        details = details.groupby(level=0, sort=True).agg("; ".join)
    rejected = details.index.to_numpy(dtype=np.int64)
    rejects = _as_text_frame(table.take(pa.array(rejected)))
    rejects[REJECT_ROW] = rejected + 1
    rejects[REJECT_REASON] = pd.Series(details.to_numpy(), dtype=object)
    if len(rejected):
        keep = np.ones(rows_in, dtype=bool)
        keep[rejected] = False
        frame = frame[keep].reset_index(drop=True)
    counts = {str(kind): int(n) for kind, n in reasons.items()}
    return IngestResult(frame, rejects, rows_in, counts, order_by, mapping)


def _as_text_frame(table: pa.Table) -> pd.DataFrame:
    """Rows of a text table as a pandas frame of strings (dictionary columns decoded)."""
    decoded = [pc.cast(c, pa.string()) for c in table.columns]
    return pa.table(decoded, names=table.column_names).to_pandas()


#: What each kind of problem says after ``"<field>: "`` (translated when shown).
_MESSAGES: Final[dict[str, str]] = {
    schema.CHECK_MISSING: N_("missing (required in every row)"),
    NOT_A_NUMBER: N_("not a number"),
    NOT_A_DATE: N_("not a date"),
    schema.CHECK_NOT_FINITE: N_("must be a finite number"),
    schema.CHECK_NEGATIVE: N_("must be >= 0"),
    schema.CHECK_FUTURE: N_("in the future"),
    schema.CHECK_NOT_ALLOWED: N_("must be one of {allowed}"),
    schema.CHECK_NOT_BINARY: N_("must be 0/1, yes/no or true/false"),
    schema.CHECK_CLOSED_NOT_ACCEPTED: N_(
        "closed = 1 but accepted = 0; a won deal must have been accepted"
    ),
    schema.CHECK_CONTROL: schema.LEAD_ID_CONTROL,
    schema.CHECK_DUPLICATE: N_("duplicate of an earlier row"),
}


def problem_messages() -> dict[str, str]:
    """What each kind of problem says, in the current language (once per call, not per row)."""
    said = {kind: _(text) for kind, text in _MESSAGES.items()}
    allowed = ", ".join(schema.AWARENESS_LEVELS)
    said[schema.CHECK_NOT_ALLOWED] = said[schema.CHECK_NOT_ALLOWED].format(allowed=allowed)
    return said


def reason_label(reason: str) -> str:
    """A key of :attr:`IngestResult.reasons` (``"website_visits: not a number"``, a code that
    stays English in JSON) as people read it in the current language."""
    field_name, sep, kind = reason.rpartition(": ")
    said = problem_messages().get(kind)
    if not sep or said is None:
        return reason
    return _("{field}: {problem}").format(field=field_name, problem=said)


def duplicate_reasons(first_rows: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``lead_id: duplicate of row N (got 'X')`` in the current language, for whole arrays.

    The reason :func:`validate` gives a repeated id; batch scoring builds it with the
    first row in the whole file (``first_rows``, 1-based) for ids seen in earlier chunks.
    """
    size = len(first_rows)
    rows = np.asarray(first_rows).astype(str).astype(object)
    problem = _fill(_("duplicate of row {row}"), size, row=rows)
    template = _("{field}: {problem} (got '{value}')")
    return _fill(template, size, field=schema.LEAD_ID, problem=problem, value=values)


def duplicate_prefix() -> str:
    """The text before the row number in a duplicate's reason, in the current language
    (``"lead_id: duplicate of row "``): where batch scoring puts the file's row number."""
    before_problem = _("{field}: {problem} (got '{value}')").split("{problem}")[0]
    before_row = _("duplicate of row {row}").split("{row}")[0]
    return before_problem.format(field=schema.LEAD_ID) + before_row


def _fill(template: str, size: int, **columns: Any) -> np.ndarray:
    """``template.format(**columns)`` for whole object arrays of text, element by element."""
    out = np.full(size, "", dtype=object)
    for literal, name, _spec, _conversion in string.Formatter().parse(template):
        if literal:
            out = out + literal
        if name is not None:
            out = out + columns[name]
    return out


def _details(problems: pd.DataFrame, columns: dict[str, _Column]) -> Any:
    """One sentence per problem that names the field and quotes the value as read.

    Each message is translated once per call and filled in for all rows at once.
    """
    rows = problems["row"].to_numpy()
    fields = problems["field"].to_numpy(dtype=object)
    kinds = problems["kind"].to_numpy(dtype=object)
    got = np.full(len(problems), "", dtype=object)
    for name, col in columns.items():
        hit = fields == name
        if hit.any():
            got[hit] = col.raw(rows[hit])
    said = problem_messages()
    message = pd.Series(kinds).map(said).fillna(pd.Series(kinds)).to_numpy(dtype=object)
    dup = kinds == schema.CHECK_DUPLICATE
    if dup.any():
        first = _first_rows(columns[schema.LEAD_ID], rows[dup])
        message[dup] = _fill(_("duplicate of row {row}"), int(dup.sum()), row=first)
    line = _fill(
        _("{field}: {problem} (got '{value}')"),
        len(kinds),
        field=fields,
        problem=message,
        value=got,
    )
    # the reason stays one line: no value after "missing", nor the id with control characters
    bare = (kinds == schema.CHECK_MISSING) | (kinds == schema.CHECK_CONTROL)
    if bare.any():
        line[bare] = _fill(
            _("{field}: {problem}"), int(bare.sum()), field=fields[bare], problem=message[bare]
        )
    won = kinds == schema.CHECK_CLOSED_NOT_ACCEPTED
    if won.any():
        accepted = np.asarray(columns[schema.ACCEPTED].raw(rows[won]), dtype=object)
        line[won] = _fill(
            _("{field}: {problem} (got closed '{closed}', accepted '{accepted}')"),
            int(won.sum()),
            field=fields[won],
            problem=message[won],
            closed=got[won],
            accepted=accepted,
        )
    return line


def _first_rows(ids: _Column, rows: np.ndarray) -> Any:
    """The 1-based row (as text) of the first row with the same id, for each of ``rows``."""
    per_row = ids.text if ids.codes is None else pc.take(ids.text, pa.array(ids.codes))
    wanted = pc.take(per_row, pa.array(rows))
    same = np.flatnonzero(pc.is_in(per_row, value_set=wanted).to_numpy(zero_copy_only=False))
    first = pd.Series(same + 1, index=pc.take(per_row, pa.array(same)).to_pylist())
    first = first[~first.index.duplicated(keep="first")]
    return first.loc[wanted.to_pylist()].astype(str).to_numpy(dtype=object)
