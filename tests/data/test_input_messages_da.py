"""Input errors in Danish: the same field, row and verdict as in English, in Danish words.

The odd values are the input contract's (``tests/service/test_contract.py``): the ones every
entry point must reject. Validated once in English and once in Danish, each rejected row
keeps its row, its field and its quoted value; only the words of the verdict change.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from leadmodel import i18n, ingest, schema
from leadmodel.cli import app
from leadmodel.config import ConfigError, load_config
from tests.service.test_contract import BASE, DATES, GOOD_ROWS, NUMBERS, REJECT

NOW = "2024-12-31"
#: A reject reason: ``field: verdict`` and, where a value was read, ``(... 'value')``.
REASON = re.compile(r"^(?P<field>\w+): (?P<verdict>.+?)(?: \((?:got|angivet:) '(?P<value>.*)'\))?$")
#: The Danish verdicts of the contract's rejected values, as a Danish team reads them.
DANISH = {
    ("website_visits", "2,5"): "website_visits: ikke et tal (angivet: '2,5')",
    ("website_visits", "1.250,5"): "website_visits: ikke et tal (angivet: '1.250,5')",
    ("website_visits", "-3"): "website_visits: må ikke være negativ (angivet: '-3')",
    ("website_visits", "abc"): "website_visits: ikke et tal (angivet: 'abc')",
    ("website_visits", "NaN"): "website_visits: ikke et tal (angivet: 'NaN')",
    ("website_visits", "inf"): "website_visits: skal være et endeligt tal (angivet: 'inf')",
    ("created_at", "2999-01-01"): "created_at: ikke en dato (angivet: '2999-01-01')",
    ("created_at", "yesterday"): "created_at: ikke en dato (angivet: 'yesterday')",
}


def contract_rows() -> tuple[pd.DataFrame, dict[int, tuple[str, str]]]:
    """The good rows plus one row per rejected contract value (one file, unambiguous dates),
    and the 1-based row of each: -> (field, value)."""
    rows, tested = [dict(r) for r in GOOD_ROWS], {}
    values = [("website_visits", t) for t, v in NUMBERS if v is REJECT]
    values += [("created_at", t) for t, v in DATES if v is REJECT and t != "01.07.2024"]
    for i, (field, text) in enumerate(values):
        rows.append(BASE | {"lead_id": f"t{i}", field: text})
        tested[len(rows)] = (field, text)
    rows.append(BASE | {"lead_id": "g1"})  # a repeated id
    rows.append(BASE | {"lead_id": ""})  # a missing one
    return pd.DataFrame(rows, dtype=str), tested


def reasons(lang: str) -> dict[int, str]:
    raw, _tested = contract_rows()
    with i18n.using(lang):
        rejects = ingest.validate(raw, now=NOW).rejects
    return dict(zip(rejects["reject_row"], rejects["reject_reason"], strict=True))


def test_the_contract_values_get_the_same_verdict_in_danish_words() -> None:
    raw, tested = contract_rows()
    english, danish = reasons("en"), reasons("da")
    assert set(english) == set(danish) == set(tested) | {len(raw) - 1, len(raw)}
    for row, (field, text) in tested.items():
        en, da = REASON.match(english[row]), REASON.match(danish[row])
        assert en and da, (english[row], danish[row])
        assert (en["field"], en["value"]) == (da["field"], da["value"]) == (field, text)
        assert danish[row] == DANISH[(field, text)]
        assert en["verdict"] != da["verdict"]
    assert danish[len(raw) - 1] == "lead_id: dublet af række 1 (angivet: 'g1')"
    assert english[len(raw) - 1] == "lead_id: duplicate of row 1 (got 'g1')"
    assert danish[len(raw)] == "lead_id: mangler (skal udfyldes i hver række)"


def test_the_reason_counts_stay_codes_and_read_in_danish() -> None:
    raw, _tested = contract_rows()
    with i18n.using("da"):
        result = ingest.validate(raw, now=NOW)
        label = ingest.reason_label("website_visits: negative")
    assert "website_visits: negative" in result.reasons  # JSON keys: the same in every language
    assert label == "website_visits: må ikke være negativ"


def test_the_value_parser_says_its_verdicts_in_danish() -> None:
    """The service's and what-if's verdict on one value (schema.parse_value)."""
    cases = {
        "2,5": "website_visits: skal være et tal (tom = ukendt), angivet: '2,5'",
        "-3": "website_visits: skal være mindst 0, angivet: '-3'",
    }
    for text, expected in cases.items():
        with i18n.using("da"), pytest.raises(schema.ValueProblem) as problem:
            schema.parse_value("website_visits", text, numeric=False)
        assert str(problem.value) == expected
    with i18n.using("da"), pytest.raises(schema.ValueProblem, match="^created_at: '01.07.2024' "):
        schema.parse_value("created_at", "01.07.2024", numeric=False)


def test_an_ambiguous_date_column_is_refused_in_one_danish_line() -> None:
    raw = pd.DataFrame([BASE | {"created_at": "01.07.2024"}, BASE | {"lead_id": "u"}], dtype=str)
    with i18n.using("da"), pytest.raises(ingest.IngestError) as refused:
        ingest.validate(raw, now=NOW)
    line = str(refused.value)
    assert line.startswith("created_at: datoer som '01.07.2024' kan læses både som dag-måned")
    assert "dayfirst: true" in line and "\n" not in line


def test_the_reject_limit_in_danish_numbers(tmp_path: Path) -> None:
    rows = [BASE | {"lead_id": f"r{i}", "website_visits": "-1"} for i in range(1200)]
    path = tmp_path / "leads.csv"
    pd.DataFrame([*rows, BASE], dtype=str).to_csv(path, index=False)
    with i18n.using("da"), pytest.raises(ingest.RejectShareError) as refused:
        ingest.read_leads(path, max_reject_share=0.125, now=NOW)
    assert str(refused.value) == (
        f"{path}: 1.200 af 1.201 rækker afvist (99,9\xa0%), mere end grænsen på 12,5\xa0%"
    )
    with i18n.using("en"), pytest.raises(ingest.RejectShareError) as refused:
        ingest.read_leads(path, max_reject_share=0.125, now=NOW)
    assert "1,200 of 1,201 rows rejected (99.9%), more than the limit of 12.5%" in str(
        refused.value
    )


def test_mapping_errors_in_danish(tmp_path: Path) -> None:
    bad_key = tmp_path / "bad.yaml"
    bad_key.write_text("renames: {id: lead_id}\n", encoding="utf-8")
    rule = tmp_path / "rule.yaml"
    rule.write_text("labels: {closed: [{values: {won: 1}}]}\n", encoding="utf-8")
    with i18n.using("da"):
        with pytest.raises(ingest.IngestError, match="ikke en indbygget mapping"):
            ingest.load_mapping("no-such-crm")
        with pytest.raises(ingest.IngestError, match="ukendt nøgle 'renames' \\(tilladte: "):
            ingest.load_mapping(bad_key)
        with pytest.raises(ingest.IngestError) as refused:
            ingest.load_mapping(rule)
    assert str(refused.value) == (
        f"mapping {rule}: labels.closed.0: angiv enten 'column' eller 'label'"
    )


def test_every_preset_describes_itself_in_every_language() -> None:
    for name in ingest.preset_names():
        described = {}
        for lang in i18n.LANGUAGES:
            with i18n.using(lang):
                described[lang] = ingest.load_mapping(name).description
        assert all(described.values()) and len(set(described.values())) == len(i18n.LANGUAGES)


@pytest.mark.parametrize(
    ("config_text", "english", "danish"),
    [
        (
            "lightgbm: {learning_rate: -1}",
            "lightgbm.learning_rate: Input should be greater than 0",
            "lightgbm.learning_rate: Værdien skal være større end 0",
        ),
        (
            "tiers: {shares: {A: 0.5, B: 0.2}}",
            "tiers: Value error, tiers.shares must be positive and add up to 1 (got 0.7)",
            "tiers: tiers.shares skal være positive og give 1 tilsammen (i alt: 0,7)",
        ),
        ("no_such_key: 1", "no_such_key: Extra inputs", "no_such_key: Ukendt nøgle"),
    ],
)
def test_a_settings_error_in_danish(
    tmp_path: Path, config_text: str, english: str, danish: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(config_text, encoding="utf-8")
    for lang, expected in (("en", english), ("da", danish)):
        with i18n.using(lang), pytest.raises(ConfigError) as refused:
            load_config(path)
        assert str(refused.value).startswith(f"{path}: {expected}")


def test_the_cli_says_a_bad_file_in_danish_from_the_environment(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    result = CliRunner().invoke(
        app, ["validate", "--data", str(missing)], env={i18n.LANG_ENV: "da"}
    )
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"{missing}: filen findes ikke" in result.output


def test_batch_scoring_can_name_a_duplicates_first_row_in_any_language() -> None:
    """The duplicate's reason and where its row number goes, as validate writes them."""
    raw = pd.DataFrame([BASE | {"lead_id": "d"}, BASE | {"lead_id": "d"}], dtype=str)
    for lang in i18n.LANGUAGES:
        with i18n.using(lang):
            written = ingest.validate(raw, now=NOW).rejects["reject_reason"].tolist()
            built = ingest.duplicate_reasons(pd.Series([1]).to_numpy(), pd.Series(["d"]).to_numpy())
            prefix = ingest.duplicate_prefix()
        assert written == built.tolist()
        assert written[0].startswith(prefix) and written[0][len(prefix)] == "1"
