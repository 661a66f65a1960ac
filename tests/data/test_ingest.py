"""Ingestion: reading exports, the column mapping, validation, rejects and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from leadmodel import ingest, schema, synthetic
from leadmodel.cli import app
from leadmodel.ingest import IngestError, Mapping, read_leads, read_table, validate
from leadmodel.io import write_table

MESSY_ROWS = 6_000
MESSY_SEED = 11
#: The reason each kind of injected impossible row must be counted under.
INJECTED_REASONS = {
    synthetic.DUPLICATE_LEAD_ID: "lead_id: duplicate",
    synthetic.NEGATIVE_VALUE: "website_visits: negative",
    synthetic.FUTURE_CREATED_AT: "created_at: in the future",
    synthetic.INVALID_PRIOR_AWARENESS: "prior_awareness: not allowed",
    synthetic.CLOSED_WITHOUT_ACCEPT: "closed: closed = 1 but accepted = 0",
}
NOW = synthetic.DEFAULT_AS_OF  # the synthetic export is dated at its as_of day

runner = CliRunner()


@pytest.fixture(scope="module")
def messy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, synthetic.SyntheticExport]:
    data = synthetic.generate(MESSY_ROWS, seed=MESSY_SEED, messy=True)
    path = write_table(data.export, tmp_path_factory.mktemp("messy") / "export.csv")
    return path, data


@pytest.fixture(scope="module")
def messy_result(messy: tuple[Path, synthetic.SyntheticExport]) -> ingest.IngestResult:
    return read_leads(messy[0], now=NOW)


def write_csv(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def frame(**columns: list[str]) -> pd.DataFrame:
    """A raw export (all text) with the required columns filled in unless given."""
    n = len(next(iter(columns.values())))
    base = {
        "lead_id": [f"L{i}" for i in range(n)],
        "created_at": ["2024-01-01"] * n,
        "source": ["email"] * n,
    }
    return pd.DataFrame(base | columns, dtype=str)


def cli(*args: str) -> object:
    return runner.invoke(app, ["validate", *args])


# --- the messy synthetic export ------------------------------------------------------------


def test_messy_counts_add_up_and_each_injected_kind_is_counted(
    messy: tuple[Path, synthetic.SyntheticExport], messy_result: ingest.IngestResult
) -> None:
    _, data = messy
    result = messy_result
    assert result.rows_in == MESSY_ROWS
    assert result.rows_valid + result.rows_rejected == result.rows_in
    expected = {INJECTED_REASONS[kind]: n for kind, n in data.injected.items()}
    assert result.reasons == expected  # nothing else: text numbers and spellings pass
    assert result.rows_rejected == sum(data.injected.values())  # injected rows are distinct


def test_messy_numbers_as_text_are_read_as_numbers(
    messy: tuple[Path, synthetic.SyntheticExport], messy_result: ingest.IngestResult
) -> None:
    raw = read_table(messy[0])
    odd = raw["company_size"].str.contains(",") | raw["company_size"].str.startswith(" ")
    assert odd.sum() > 0, "the messy export should hold numbers like '1,200' and ' 7 '"
    once = ~raw["lead_id"].duplicated(keep=False)  # a reused id may point at another row
    expected = raw.loc[odd & once, ["lead_id", "company_size"]]
    expected["number"] = expected["company_size"].str.replace(",", "").str.strip().astype(float)
    got = messy_result.valid.set_index("lead_id")["company_size"]
    kept = expected[expected["lead_id"].isin(got.index)]
    assert len(kept) > 0
    np.testing.assert_array_equal(got.loc[kept["lead_id"]].to_numpy(), kept["number"].to_numpy())


def test_messy_source_spellings_are_normalised(
    messy: tuple[Path, synthetic.SyntheticExport], messy_result: ingest.IngestResult
) -> None:
    raw_sources = set(read_table(messy[0])["source"])
    assert {"Organic Search", "organic-search", " ORGANIC_SEARCH "} & raw_sources
    known = schema.INBOUND_SOURCES | schema.OUTBOUND_SOURCES
    assert set(messy_result.valid["source"]) <= known


def test_valid_table_has_the_documented_dtypes(messy_result: ingest.IngestResult) -> None:
    valid = messy_result.valid
    assert valid["lead_id"].dtype == object
    assert isinstance(valid["lead_id"].iloc[0], str)
    assert valid["lead_id"].is_unique
    assert valid["created_at"].dtype == "datetime64[ns]"
    for col in (*schema.NUMERIC_COLUMNS, *schema.LABEL_COLUMNS):
        assert valid[col].dtype == np.float64, col
    for col in (schema.SOURCE, schema.PRIOR_AWARENESS, *schema.FIRMOGRAPHIC_TEXT):
        assert valid[col].dtype == object, col
    assert set(valid["prior_awareness"].dropna()) <= set(schema.AWARENESS_LEVELS)
    assert set(valid["closed"].dropna()) <= {0.0, 1.0}
    assert valid.index.equals(pd.RangeIndex(len(valid)))


def test_rejects_file_holds_the_original_text_and_a_reason_naming_the_field(
    messy: tuple[Path, synthetic.SyntheticExport],
    messy_result: ingest.IngestResult,
    tmp_path: Path,
) -> None:
    out = tmp_path / "rejects.csv"
    ingest.write_rejects(messy_result, out)
    rejects = pd.read_csv(out, dtype=str, keep_default_na=False)
    raw = read_table(messy[0])
    assert len(rejects) == messy_result.rows_rejected
    rows = rejects["reject_row"].astype(int).to_numpy()
    original = raw.iloc[rows - 1].reset_index(drop=True)
    pd.testing.assert_frame_equal(rejects[list(raw.columns)], original, check_dtype=False)
    negative = rejects["reject_reason"].str.startswith("website_visits: must be >= 0 (got '-")
    assert negative.sum() == messy[1].injected[synthetic.NEGATIVE_VALUE]
    assert rejects.loc[negative, "website_visits"].str.startswith("-").all()


# --- validation rules on small tables --------------------------------------------------------


def test_numbers_are_parsed_with_spaces_and_thousands_groups() -> None:
    raw = frame(website_visits=["1,200", " 7 ", "1e3", "", "0"])
    result = validate(raw)
    assert result.rows_rejected == 0
    values = result.valid["website_visits"].tolist()
    assert values[:3] == [1200.0, 7.0, 1000.0]
    assert np.isnan(values[3]) and values[4] == 0.0


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("abc", "website_visits: not a number (got 'abc')"),
        ("2,5", "website_visits: not a number (got '2,5')"),  # 2.5 or 25? never guessed
        ("nan", "website_visits: not a number (got 'nan')"),
        ("inf", "website_visits: must be a finite number (got 'inf')"),
        ("-3", "website_visits: must be >= 0 (got '-3')"),
    ],
)
def test_bad_numbers_are_rejected_with_field_row_and_value(value: str, reason: str) -> None:
    result = validate(frame(website_visits=["1", value, "2"]))
    assert result.rows_valid == 2
    assert result.rejects["reject_row"].tolist() == [2]
    assert result.rejects["reject_reason"].tolist() == [reason]
    assert result.rejects["website_visits"].tolist() == [value]


def test_labels_accept_yes_no_true_false_and_empty() -> None:
    raw = frame(accepted=["yes", "No", "TRUE", "", "1"], closed=["1", "0", "false", "", "1.0"])
    result = validate(raw)
    assert result.rows_rejected == 0
    assert result.valid["accepted"].tolist()[:3] == [1.0, 0.0, 1.0]
    assert result.valid["closed"].tolist()[:3] == [1.0, 0.0, 0.0]
    assert result.valid["closed"].isna().tolist() == [False, False, False, True, False]


def test_closed_without_accepted_is_rejected_naming_both_fields() -> None:
    result = validate(frame(accepted=["1", "0", "no"], closed=["1", "0", "1"]))
    assert result.rejects["reject_row"].tolist() == [3]
    reason = result.rejects["reject_reason"].iloc[0]
    assert "closed = 1 but accepted = 0" in reason
    assert "closed '1'" in reason and "accepted 'no'" in reason
    assert result.reasons == {"closed: closed = 1 but accepted = 0": 1}


def test_bad_label_text_is_rejected() -> None:
    result = validate(frame(closed=["1", "maybe"]))
    assert result.rejects["reject_reason"].tolist() == [
        "closed: must be 0/1, yes/no or true/false (got 'maybe')"
    ]


def test_duplicate_ids_keep_the_first_row_and_reject_the_later_ones() -> None:
    raw = frame(website_visits=["1", "2", "3", "4"])
    raw["lead_id"] = ["A", "B", "A", "A"]
    result = validate(raw)
    assert result.valid["lead_id"].tolist() == ["A", "B"]
    assert result.valid["website_visits"].tolist() == [1.0, 2.0]
    assert result.rejects["reject_row"].tolist() == [3, 4]
    assert result.rejects["reject_reason"].tolist() == [
        "lead_id: duplicate of row 1 (got 'A')",
        "lead_id: duplicate of row 1 (got 'A')",
    ]
    assert result.reasons == {"lead_id: duplicate": 2}


def test_missing_id_and_unparseable_date_are_rejected() -> None:
    raw = frame(website_visits=["1", "2", "3"])
    raw["lead_id"] = ["A", "  ", "C"]
    raw["created_at"] = ["2024-01-01", "2024-01-02", "yesterday"]
    result = validate(raw)
    assert result.rejects["reject_reason"].tolist() == [
        "lead_id: missing (required in every row)",
        "created_at: not a date (got 'yesterday')",
    ]


def test_ids_with_control_characters_are_rejected_and_blank_ids_are_missing() -> None:
    raw = frame(website_visits=["1", "2", "3", "4", "5", "6", "7"])
    raw["lead_id"] = ["A", "B\tC", "D\x00", "E\x1b[0m", "F\nG", " \t ", "\tH\n"]
    result = validate(raw)
    control = "lead_id: must not contain control characters (tab, newline, NUL, escape ...)"
    assert result.rejects["reject_row"].tolist() == [2, 3, 4, 5, 6]
    assert result.rejects["reject_reason"].tolist() == [control] * 4 + [
        "lead_id: missing (required in every row)"
    ]
    assert result.reasons == {"lead_id: control characters": 4, "lead_id: missing": 1}
    assert result.valid["lead_id"].tolist() == ["A", "H"]  # around an id: trimmed
    assert all(schema.lead_id_problem(i) is None for i in result.valid["lead_id"])


def test_dates_with_time_zones_become_naive_utc_and_future_dates_are_rejected() -> None:
    raw = frame(website_visits=["1", "2", "3", "4"])
    raw["created_at"] = [
        "2024-03-01T10:00:00+02:00",
        "2024-03-01 10:00:00",
        "03/15/2024",
        "2024-07-01",
    ]
    result = validate(raw, now="2024-06-30")
    assert result.valid["created_at"].tolist() == [
        pd.Timestamp("2024-03-01 08:00"),
        pd.Timestamp("2024-03-01 10:00"),
        pd.Timestamp("2024-03-15"),
    ]
    assert result.rejects["reject_reason"].tolist() == [
        "created_at: in the future (got '2024-07-01')"
    ]


def test_several_problems_in_one_row_are_all_listed_and_counted() -> None:
    result = validate(frame(website_visits=["-1"], prior_awareness=["maybe"]))
    assert result.rows_rejected == 1
    assert result.rejects["reject_reason"].iloc[0] == (
        "prior_awareness: must be one of none, low, high (got 'maybe'); "
        "website_visits: must be >= 0 (got '-1')"
    )
    assert result.reasons == {"prior_awareness: not allowed": 1, "website_visits: negative": 1}


def test_mapping_renames_maps_values_drops_and_orders_by_a_number() -> None:
    raw = pd.DataFrame(
        {
            "Id": ["x1", "x2", "x3"],
            "Number": ["3", "1", "2"],
            "Channel": ["Google", "google", "Select"],
            "Heard": ["Friend", "Select", " ads "],
            "Won": ["Yes", "No", "yes"],
            "Notes by sales": ["great", "lost", "ok"],
            "Pages": ["1.5", "2", ""],
        },
        dtype=str,
    )
    mapping = Mapping(
        rename={
            "Id": "lead_id",
            "Number": "lead_number",
            "Channel": "source",
            "Heard": "prior_awareness",
        },
        derive={"closed": "Won"},
        values={"prior_awareness": {"friend": "high", "ADS": "low"}},
        na_values=["Select"],
        drop=["Notes by sales"],
        order_by="lead_number",
    )
    result = validate(raw, mapping)
    valid = result.valid
    assert result.rows_rejected == 0 and result.order_by == "lead_number"
    assert "Notes by sales" not in valid.columns and "created_at" not in valid.columns
    assert valid["lead_number"].tolist() == [3.0, 1.0, 2.0]
    assert valid["source"].tolist() == ["google", "google", "unknown"]
    assert valid["prior_awareness"].tolist()[::2] == ["high", "low"]
    assert np.isnan(valid["prior_awareness"].iloc[1])
    assert valid["closed"].tolist() == [1.0, 0.0, 1.0]
    assert valid["Pages"].dtype == np.float64  # an extra column of numbers


def test_extra_text_columns_stay_text_with_nan_for_missing() -> None:
    result = validate(frame(plan=["gold", "", "3"]))
    assert result.valid["plan"].dtype == object
    assert result.valid["plan"].iloc[0] == "gold" and pd.isna(result.valid["plan"].iloc[1])


def test_missing_order_values_are_rejected() -> None:
    raw = pd.DataFrame({"lead_id": ["a", "b"], "source": ["x", "y"], "seq": ["1", ""]})
    result = validate(raw, Mapping(order_by="seq"))
    assert result.rejects["reject_reason"].tolist() == ["seq: missing (required in every row)"]


def test_row_number_gives_an_export_without_id_or_time_both(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "s.csv", "Channel,Won\nads,TRUE\nsearch,oops\nads,FALSE\n")
    mapping = Mapping(
        rename={"Channel": "source"},
        derive={"closed": "Won"},
        row_number=["lead_id", "row"],
        order_by="row",
    )
    result = read_leads(path, mapping)
    assert result.order_by == "row"
    assert result.valid["lead_id"].tolist() == ["1", "3"]  # the id is text, as any id
    assert result.valid["row"].tolist() == [1.0, 3.0]  # the order is a number
    rejects = result.rejects
    assert rejects["reject_row"].tolist() == [2]  # the same number the id would have had
    assert list(rejects.columns) == ["Channel", "Won", "reject_row", "reject_reason"]
    # one chunk of a bigger file numbers its rows as the file does
    chunk = pd.DataFrame({"Channel": ["ads", "web"], "Won": ["1", "0"]})
    assert validate(chunk, mapping, rows=np.array([7, 8])).valid["lead_id"].tolist() == ["7", "8"]


def test_row_number_is_one_name_or_a_list_and_never_an_export_column() -> None:
    assert Mapping.model_validate({"row_number": "seq"}).row_number == ["seq"]
    with pytest.raises(ValueError, match="more than once: seq"):
        Mapping(row_number=["seq", "seq"])
    with pytest.raises(IngestError, match="row_number column 'lead_id' is already in the export"):
        validate(frame(website_visits=["1"]), Mapping(row_number="lead_id"))


def test_missing_required_column_names_it_and_the_columns_found() -> None:
    with pytest.raises(IngestError, match=r"missing required column 'source'.*'lead_id'"):
        validate(pd.DataFrame({"lead_id": ["a"], "created_at": ["2024-01-01"]}))
    with pytest.raises(IngestError, match="missing required column 'closed'"):
        validate(frame(website_visits=["1"]), require_labels=True)


def test_a_mapping_that_merges_two_columns_is_refused() -> None:
    raw = frame(a=["1"], b=["2"])
    with pytest.raises(IngestError, match="'a' and 'b' would both become 'industry'"):
        validate(raw, Mapping(rename={"a": "industry", "b": "industry"}))


def test_rows_valid_plus_rejected_is_rows_in_when_everything_is_wrong() -> None:
    result = validate(frame(website_visits=["x"] * 5, closed=["?"] * 5))
    assert (result.rows_in, result.rows_valid, result.rows_rejected) == (5, 0, 5)
    assert result.reasons == {"website_visits: not a number": 5, "closed: not 0/1": 5}
    assert len(result.valid.columns) > 0  # an empty table still has its columns


# --- reading files ---------------------------------------------------------------------------


@pytest.mark.parametrize("sep", [",", ";", "\t"])
def test_comma_semicolon_and_tab_are_read(tmp_path: Path, sep: str) -> None:
    text = sep.join(["lead_id", "created_at", "source"]) + "\n"
    text += sep.join(["1", "2024-01-01", "Organic Search"]) + "\n"
    result = read_leads(write_csv(tmp_path / "x.csv", text))
    assert result.valid["source"].tolist() == ["organic_search"]


def test_utf8_byte_order_mark_and_quoted_newlines_are_read(tmp_path: Path) -> None:
    text = '\ufefflead_id,created_at,source,notes\n1,2024-01-01,email,"two\nlines, one note"\n'
    result = read_leads(write_csv(tmp_path / "x.csv", text))
    assert list(result.valid.columns[:3]) == ["lead_id", "created_at", "source"]
    assert result.valid["notes"].tolist() == ["two\nlines, one note"]


def test_parquet_with_typed_columns_is_read_as_text_then_typed(tmp_path: Path) -> None:
    df = pd.DataFrame(
        {
            "lead_id": ["a", "b"],
            "created_at": pd.to_datetime(["2024-01-01", "2024-01-02"]),
            "source": ["email", None],
            "website_visits": [3.0, np.nan],
            "closed": [1, 0],
        }
    )
    path = write_table(df, tmp_path / "x.parquet")
    assert read_table(path)["website_visits"].tolist() == ["3", ""]
    result = read_leads(path)
    assert result.valid["website_visits"].isna().tolist() == [False, True]
    assert result.valid["source"].tolist() == ["email", "unknown"]
    assert result.valid["created_at"].iloc[1] == pd.Timestamp("2024-01-02")


def test_unnamed_empty_trailing_column_is_ignored(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "x.csv", "lead_id,created_at,source,\n1,2024-01-01,email,\n")
    assert list(read_table(path).columns) == ["lead_id", "created_at", "source"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("lead_id,created_at,source\n", "no data rows"),
        ("lead_id,created_at,source\n1,2024-01-01,email,extra\n", "data row 1 has 4 fields"),
        ("lead_id,source,source\n1,a,b\n", "column 'source' appears twice"),
    ],
)
def test_structurally_broken_csv_is_refused(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(IngestError, match=message):
        read_table(write_csv(tmp_path / "x.csv", text))


# --- the mapping file --------------------------------------------------------------------------


def test_mapping_yaml_keeps_yes_no_and_numbers_as_text(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("values:\n  accepted: {Yes: '1', No: '0', 2: '1'}\nna_values: [n/a, 0]\n")
    mapping = ingest.load_mapping(path)
    assert mapping.values == {"accepted": {"Yes": "1", "No": "0", "2": "1"}}
    assert mapping.na_values == ["n/a", "0"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("renames: {a: b}\n", "unknown key 'renames'"),
        ("derive: {won: Converted}\n", "'won' is not a label column"),
        ("max_reject_share: 2\n", "max_reject_share"),
        ("- just\n- a list\n", "expected keys"),
        ("rename: {a: [\n", "not valid YAML at line"),
    ],
)
def test_bad_mapping_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(text)
    with pytest.raises(IngestError, match=message) as info:
        ingest.load_mapping(path)
    assert "\n" not in str(info.value)


def test_no_mapping_is_the_empty_mapping() -> None:
    assert ingest.load_mapping(None) == Mapping()


# --- the validate command: bad input ------------------------------------------------------------


def assert_clean_failure(result: object, *needles: str, code: int = 2) -> None:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.output


def test_cli_empty_file(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "empty.csv", "")
    assert_clean_failure(cli("--data", str(path)), "empty.csv", "file is empty")


def test_cli_wrong_delimiter(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "pipes.csv", "lead_id|created_at|source\n1|2024-01-01|email\n")
    assert_clean_failure(cli("--data", str(path)), "looks like '|'-separated")


def test_cli_missing_required_column(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "x.csv", "lead_id,source\n1,email\n")
    assert_clean_failure(
        cli("--data", str(path)), "missing required column 'created_at'", "'lead_id', 'source'"
    )


def test_cli_directory_instead_of_file(tmp_path: Path) -> None:
    folder = tmp_path / "export.csv"
    folder.mkdir()
    assert_clean_failure(cli("--data", str(folder)), "is a directory")


def test_cli_binary_garbage(tmp_path: Path) -> None:
    path = tmp_path / "garbage.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    assert_clean_failure(cli("--data", str(path)), "not a text CSV")


def test_cli_missing_file(tmp_path: Path) -> None:
    assert_clean_failure(cli("--data", str(tmp_path / "nope.csv")), "file not found")


def test_cli_utf16_file(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "u16.csv", "lead_id,created_at,source\n1,2024-01-01,e\n", "utf-16")
    assert_clean_failure(cli("--data", str(path)), "UTF-16")


def test_cli_cp1252_file_names_the_line(tmp_path: Path) -> None:
    text = "lead_id,created_at,source\n1,2024-01-01,email\n2,2024-01-01,Café\n"
    path = write_csv(tmp_path / "cp.csv", text, "cp1252")
    assert_clean_failure(cli("--data", str(path)), "not UTF-8 encoded", "line 3")


def test_cli_unknown_extension(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "leads.xlsx", "whatever")
    assert_clean_failure(cli("--data", str(path)), "unknown extension '.xlsx'")


def test_cli_bad_mapping_yaml(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "x.csv", "lead_id,created_at,source\n1,2024-01-01,email\n")
    mapping = tmp_path / "m.yaml"
    mapping.write_text("rename:\n  a: b\n bad indent: [\n")
    assert_clean_failure(
        cli("--data", str(data), "--mapping", str(mapping)), "m.yaml", "not valid YAML"
    )


# --- the validate command: reports ---------------------------------------------------------------


def test_cli_json_shape_and_rejects_file(
    messy: tuple[Path, synthetic.SyntheticExport], tmp_path: Path
) -> None:
    rejects = tmp_path / "rejects.csv"
    result = cli("--data", str(messy[0]), "--rejects", str(rejects), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert list(report) == [
        "rows_in",
        "rows_valid",
        "rows_rejected",
        "reasons",
        "dropped",
        "label_sources",
    ]
    assert report["dropped"] == report["label_sources"] == []  # no mapping: nothing dropped
    assert report["rows_in"] == MESSY_ROWS
    assert report["rows_valid"] + report["rows_rejected"] == MESSY_ROWS
    assert report["reasons"]["lead_id: duplicate"] == messy[1].injected["duplicate_lead_id"]
    written = pd.read_csv(rejects, dtype=str, keep_default_na=False)
    assert len(written) == report["rows_rejected"]
    assert {"reject_row", "reject_reason"} <= set(written.columns)


def test_cli_human_summary_lists_reasons(messy: tuple[Path, synthetic.SyntheticExport]) -> None:
    result = cli("--data", str(messy[0]))
    assert result.exit_code == 0, result.output
    assert f"{MESSY_ROWS:,}" in result.stdout
    assert "lead_id: duplicate" in result.stdout


def test_cli_exit_1_when_too_many_rows_are_rejected(tmp_path: Path) -> None:
    text = "lead_id,created_at,source,website_visits\n1,2024-01-01,e,-1\n2,2024-01-01,e,x\n"
    text += "3,2024-01-01,e,4\n"
    data = write_csv(tmp_path / "x.csv", text)
    rejects = tmp_path / "rejects.csv"
    result = cli("--data", str(data), "--max-reject-share", "0.5", "--rejects", str(rejects))
    assert_clean_failure(result, "2 of 3 rows rejected", "limit of 50%", code=1)
    assert len(pd.read_csv(rejects)) == 2  # the rejects are still written for inspection
    assert cli("--data", str(data), "--max-reject-share", "0.7").exit_code == 0


def test_read_leads_raises_with_the_report_when_over_the_limit(tmp_path: Path) -> None:
    text = "lead_id,created_at,source,website_visits\n1,2024-01-01,e,-1\n2,2024-01-01,e,2\n"
    data = write_csv(tmp_path / "x.csv", text)
    with pytest.raises(ingest.RejectShareError) as info:
        read_leads(data, Mapping(max_reject_share=0.25))
    assert info.value.result.rows_rejected == 1
