"""One input contract: the same value gets the same verdict from every entry point.

Each odd value is written into a real file and read by ``leadmodel validate`` and
``leadmodel score`` (the CLI, a real model), and sent to ``/score``, ``/explain`` and
``/whatif`` of a real server over HTTP. Every entry point must accept it with the same
typed value (the same score) or reject it naming the same field. A European export
(``;``-separated, decimal commas, day-first dates) is read right with the mapping's
reading keys, and refused or rejected without them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from leadmodel import batch, explain, ingest, schema
from leadmodel.cli import app
from leadmodel.config import TrainConfig
from leadmodel.model import FunnelModel, fit_funnel
from leadmodel.serving.errors import RequestProblem
from leadmodel.serving.scoring import check_batch
from leadmodel.synthetic import generate
from tests.conftest import Trained
from tests.service.conftest import Server

runner = CliRunner()
REJECT = "rejected"
#: Score points two entry points may differ by for the same lead (float noise only).
SCORE_ATOL = 1e-6
#: Lead rows around the one under test (valid everywhere).
GOOD_ROWS = [
    {"lead_id": "g1", "created_at": "2024-05-02", "source": "webinar", "website_visits": "3"},
    {"lead_id": "g2", "created_at": "2024-05-03", "source": "referral", "website_visits": "9"},
    {"lead_id": "g3", "created_at": "2024-05-04", "source": "social", "website_visits": "0"},
]
BASE = {"lead_id": "t", "created_at": "2024-05-05", "source": "email", "website_visits": "4"}

#: website_visits as written in a file -> its typed value (NaN = unknown) or REJECT.
NUMBERS: list[tuple[str, float | str]] = [
    ("2,5", REJECT),  # 2.5 or 25? never guessed
    ("1,250", 1250.0),  # a comma-separated file: thousands in proper groups
    ("1.250,5", REJECT),  # a European number needs decimal/thousands in the mapping
    ("-3", REJECT),
    ("abc", REJECT),
    ("1e3", 1000.0),
    (" 7 ", 7.0),
    ("", math.nan),
    ("NaN", REJECT),
    ("inf", REJECT),
]
#: created_at as written -> the typed value or REJECT.
DATES: list[tuple[str, pd.Timestamp | str]] = [
    ("2024-07-01", pd.Timestamp("2024-07-01")),
    ("2024-07-01T10:00:00", pd.Timestamp("2024-07-01 10:00")),
    ("13.07.2024", pd.Timestamp("2024-07-13")),  # only day-first can read it
    ("01.07.2024", REJECT),  # 1 July or 7 January: never guessed
    ("2999-01-01", REJECT),  # in the future
    ("yesterday", REJECT),
]


def write_csv(path: Path, rows: list[dict[str, str]], sep: str = ",") -> Path:
    pd.DataFrame(rows, dtype=str).to_csv(path, index=False, sep=sep)
    return path


# --- the files: validate and score ---------------------------------------------------------


def file_verdict(tmp_path: Path, field: str, text: str, model_uri: str) -> tuple[Any, Any]:
    """(validate's verdict, score's verdict) for ``field = text`` in the tested row.

    A verdict is ``("ok", typed value)`` / ``("ok", score)`` or ``(REJECT, field named)``.
    """
    data = write_csv(tmp_path / "leads.csv", [*GOOD_ROWS, BASE | {field: text}])
    checked = runner.invoke(app, ["validate", "--data", str(data), "--json"])
    scores, rejects = tmp_path / "scores.csv", tmp_path / "rejects.csv"
    scored = runner.invoke(
        app,
        ["score", "--data", str(data), "--out", str(scores), "--model", model_uri]
        + ["--rejects", str(rejects), "--json"],
    )
    if checked.exit_code == 2:  # refused outright: one line naming the column
        assert scored.exit_code == 2, scored.output
        for result in (checked, scored):
            line = result.output.strip().splitlines()[-1]
            assert field in line and "Traceback" not in result.output
        return (REJECT, field), (REJECT, field)
    assert checked.exit_code == 0 and scored.exit_code == 0, checked.output + scored.output
    report = json.loads(checked.stdout)
    if report["rows_rejected"]:
        assert report["rows_rejected"] == 1
        reason = pd.read_csv(rejects, dtype=str, keep_default_na=False)["reject_reason"]
        named = reason.iloc[0].split(":")[0]
        assert (pd.read_csv(scores)["lead_id"] != "t").all()
        return (REJECT, named), (REJECT, named)
    typed = ingest.read_leads(data).valid.set_index("lead_id").loc["t", field]
    score = pd.read_csv(scores).set_index("lead_id").loc["t", "score"]
    return ("ok", typed), ("ok", float(score))


# --- the service: /score, /explain, /whatif ---------------------------------------------------


def as_json(field: str, text: str, expected: object) -> object:
    """The value a client sends: a JSON number where the file holds one, else the text."""
    if field != "website_visits":
        return text
    if expected is REJECT:
        return -3 if text == "-3" else text  # JSON numbers are numbers
    return None if math.isnan(float(expected)) else float(expected)


def http_verdict(api: httpx.Client, path: str, lead: dict[str, Any], field: str) -> Any:
    body = {"leads": [lead]} if path != "/whatif" else lead
    response = api.post(path, json=body)
    if response.status_code == 422:
        problem = response.json()["errors"][0]
        assert "Traceback" not in response.text
        return REJECT, problem["field"]
    assert response.status_code == 200, response.text
    answer = response.json()
    if path == "/whatif":
        return "ok", answer["new"]["score"], answer["changes"][field]["to"]
    return "ok", answer["leads"][0]["score"]


def service_verdicts(api: httpx.Client, field: str, text: str, expected: object) -> list[Any]:
    base = {k: (float(v) if k == "website_visits" else v) for k, v in BASE.items()}
    value = as_json(field, text, expected)
    lead = base | {field: value}
    whatif = {"lead": base, "changes": {field: value}}  # a change obeys the rules of a lead
    return [
        http_verdict(api, "/score", lead, field),
        http_verdict(api, "/explain", lead, field),
        http_verdict(api, "/whatif", whatif, field),
    ]


@pytest.fixture(scope="module")
def api(server: Server) -> httpx.Client:  # noqa: F811
    with server.client() as client:
        yield client


def model_uri(trained: Trained) -> str:
    return f"models:/{trained.model_name}/1"


@pytest.mark.server
@pytest.mark.parametrize(("text", "expected"), NUMBERS, ids=[repr(t) for t, _ in NUMBERS])
def test_a_number_gets_one_verdict_everywhere(
    trained: Trained, api: httpx.Client, tmp_path: Path, text: str, expected: float | str
) -> None:
    field = "website_visits"
    validated, scored = file_verdict(tmp_path, field, text, model_uri(trained))
    over_http = service_verdicts(api, field, text, expected)
    if expected is REJECT:
        assert validated == scored == (REJECT, field)
        assert over_http == [(REJECT, field)] * 3
        return
    assert validated[0] == "ok"
    np.testing.assert_equal(validated[1], expected)
    score = scored[1]
    for verdict in over_http[:2]:
        assert verdict[0] == "ok" and verdict[1] == pytest.approx(score, abs=SCORE_ATOL)
    kind, whatif_score, typed = over_http[2]
    assert kind == "ok" and whatif_score == pytest.approx(score, abs=SCORE_ATOL)
    assert typed == (None if math.isnan(expected) else expected)


@pytest.mark.server
@pytest.mark.parametrize(("text", "expected"), DATES, ids=[t for t, _ in DATES])
def test_a_date_gets_one_verdict_everywhere(
    trained: Trained, api: httpx.Client, tmp_path: Path, text: str, expected: Any
) -> None:
    field = schema.CREATED_AT
    validated, scored = file_verdict(tmp_path, field, text, model_uri(trained))
    lead = BASE | {"website_visits": 4.0, field: text}
    over_http = [http_verdict(api, p, lead, field) for p in ("/score", "/explain")]
    if expected is REJECT:
        assert validated == scored == (REJECT, field)
        assert over_http == [(REJECT, field)] * 2
        return
    assert validated == ("ok", expected)
    for verdict in over_http:
        assert verdict[0] == "ok" and verdict[1] == pytest.approx(scored[1], abs=SCORE_ATOL)


@pytest.mark.server
def test_an_unknown_source_is_scored_as_unknown_everywhere(
    trained: Trained, api: httpx.Client, tmp_path: Path
) -> None:
    validated, scored = file_verdict(tmp_path, "source", "Brand New Channel", model_uri(trained))
    assert validated == ("ok", "brand_new_channel")
    lead = BASE | {"website_visits": 4.0, "source": "Brand New Channel"}
    response = api.post("/score", json={"leads": [lead]})
    assert response.status_code == 200, response.text
    assert response.json()["leads"][0]["score"] == pytest.approx(scored[1], abs=SCORE_ATOL)
    assert "source" in [w["field"] for w in response.json()["warnings"]]


# --- an extra numeric feature: the bug where '2,5' became 25 ----------------------------------
EXTRA = "visit_score"


@pytest.fixture(scope="module")
def extra_model() -> FunnelModel:
    """A real model with an extra numeric feature (beside the canonical ones)."""
    leads = generate(3_000, seed=21).export.sort_values(schema.CREATED_AT, ignore_index=True)
    rng = np.random.default_rng(21)
    leads[EXTRA] = rng.gamma(2.0, 3.0, len(leads)).round(1)
    cut = int(len(leads) * 0.7)
    model = fit_funnel(leads.iloc[:cut], leads.iloc[cut:].reset_index(drop=True), TrainConfig())
    assert EXTRA in model.features.numeric_
    return model


#: An extra column's value -> typed value or REJECT (an extra number has no lower bound).
EXTRA_VALUES = [(t, -3.0 if t == "-3" else v) for t, v in NUMBERS]


@pytest.mark.parametrize(("text", "expected"), EXTRA_VALUES, ids=[repr(t) for t, _ in NUMBERS])
def test_an_extra_number_gets_one_verdict_in_files_the_service_check_and_whatif(
    extra_model: FunnelModel, tmp_path: Path, text: str, expected: float | str
) -> None:
    rows = [r | {EXTRA: "1.5"} for r in GOOD_ROWS] + [BASE | {EXTRA: text}]
    data = write_csv(tmp_path / "leads.csv", rows)
    numbers = extra_model.features.numeric_
    result = ingest.validate(ingest.read_table(data), numbers=numbers)  # as scoring reads
    summary = batch.score_file(
        data, tmp_path / "scores.csv", model=(extra_model, {"uri": "test"}),
        rejects=tmp_path / "rejects.csv",
    )  # fmt: skip
    scored = pd.read_csv(tmp_path / "scores.csv")
    records = [{"lead_id": "t", EXTRA: text}]
    lead = BASE | {"website_visits": 4.0, EXTRA: 2.0}  # the file's row, before the change
    if expected is REJECT:
        reason = f"{EXTRA}: not a number (got '{text}')"
        assert result.rejects["reject_reason"].tolist() == [reason]
        assert summary.rows_rejected == 1 and "t" not in set(scored["lead_id"])
        with pytest.raises(RequestProblem) as refused:
            check_batch(records, extra_model)
        assert [p.field for p in refused.value.problems] == [EXTRA]
        with pytest.raises(ValueError, match=f"^{EXTRA}: "):
            explain.what_if(extra_model, lead, {EXTRA: text})
        return
    assert result.rows_rejected == 0 and result.valid[EXTRA].dtype == np.float64
    np.testing.assert_equal(result.valid[EXTRA].iloc[-1], expected)
    assert summary.rows_rejected == 0
    check_batch(records, extra_model)
    np.testing.assert_equal(records[0][EXTRA], expected)  # typed before the model sees it
    changed = explain.what_if(extra_model, lead, {EXTRA: text})
    assert changed["changes"][EXTRA]["to"] == (None if math.isnan(expected) else expected)
    file_score = scored.set_index("lead_id").loc["t", "score"]
    assert changed["new"]["score"] == pytest.approx(file_score, abs=SCORE_ATOL)


# --- a European export ------------------------------------------------------------------------
EUROPEAN_ROWS = [  # in time order, as the CRM wrote them
    {"id": "e1", "erstellt": "01.07.2024", "quelle": "Webinar", "besuche": "2,5", "firma": "1.250"},
    {"id": "e2", "erstellt": "05.07.2024", "quelle": "Referral", "besuche": "3", "firma": "80"},
    {"id": "e3", "erstellt": "13.07.2024", "quelle": "Social", "besuche": "0,5", "firma": "12.000"},
    {"id": "e4", "erstellt": "02.08.2024", "quelle": "Email", "besuche": "1.250,5", "firma": ""},
    {"id": "e5", "erstellt": "11.09.2024", "quelle": "Webinar", "besuche": "7", "firma": "40"},
]
RENAME = {
    "id": "lead_id",
    "erstellt": "created_at",
    "quelle": "source",
    "besuche": "website_visits",
    "firma": "company_size",
}


def european_file(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "export.csv", EUROPEAN_ROWS, sep=";")


def mapping_file(tmp_path: Path, **keys: object) -> Path:
    path = tmp_path / "de.yaml"
    path.write_text(json.dumps({"rename": RENAME, **keys}), encoding="utf-8")  # JSON is YAML
    return path


def test_a_european_export_is_read_right_with_the_reading_keys(tmp_path: Path) -> None:
    mapping = mapping_file(tmp_path, decimal=",", thousands=".", dayfirst=True)
    result = ingest.read_leads(european_file(tmp_path), mapping, now="2024-12-31")
    valid = result.valid
    assert result.rows_rejected == 0
    assert valid["website_visits"].tolist() == [2.5, 3.0, 0.5, 1250.5, 7.0]
    np.testing.assert_equal(valid["company_size"].to_numpy(), [1250.0, 80.0, 12000.0, np.nan, 40.0])
    assert valid["created_at"].tolist() == [
        pd.Timestamp(d)
        for d in ("2024-07-01", "2024-07-05", "2024-07-13", "2024-08-02", "2024-09-11")
    ]
    # the time split: ordering by created_at keeps the export's order (not scrambled)
    ordered = valid.sort_values("created_at", kind="stable")["lead_id"].tolist()
    assert ordered == [r["id"] for r in EUROPEAN_ROWS]


def test_a_date_format_reads_the_dates_like_dayfirst(tmp_path: Path) -> None:
    mapping = mapping_file(tmp_path, decimal=",", thousands=".", date_format="%d.%m.%Y")
    valid = ingest.read_leads(european_file(tmp_path), mapping, now="2024-12-31").valid
    assert valid["created_at"].dt.month.tolist() == [7, 7, 7, 8, 9]


def test_without_the_reading_keys_the_dates_are_refused_in_one_line(tmp_path: Path) -> None:
    data, mapping = european_file(tmp_path), mapping_file(tmp_path)
    result = runner.invoke(app, ["validate", "--data", str(data), "--mapping", str(mapping)])
    assert result.exit_code == 2
    line = result.output.strip()
    assert "\n" not in line and "Traceback" not in line
    assert "created_at" in line and "dayfirst" in line and "01.07.2024" in line


def test_without_decimal_keys_european_numbers_are_rejected_not_guessed(tmp_path: Path) -> None:
    mapping = ingest.load_mapping(mapping_file(tmp_path, dayfirst=True))
    result = ingest.read_leads(european_file(tmp_path), mapping, now="2024-12-31")
    reasons = dict(zip(result.rejects["id"], result.rejects["reject_reason"], strict=True))
    assert "website_visits: not a number (got '2,5')" in reasons["e1"]
    assert "website_visits: not a number (got '0,5')" in reasons["e3"]
    assert "website_visits: not a number (got '1.250,5')" in reasons["e4"]
    assert set(result.valid["lead_id"]) == {"e2", "e5"}


def test_a_comma_in_a_semicolon_file_is_not_a_thousands_separator(tmp_path: Path) -> None:
    rows = [BASE | {"lead_id": "a", "website_visits": "1,250"}, BASE | {"lead_id": "b"}]
    semicolon = write_csv(tmp_path / "semi.csv", rows, sep=";")
    comma = write_csv(tmp_path / "comma.csv", rows)
    assert ingest.read_leads(comma).valid["website_visits"].tolist() == [1250.0, 4.0]
    rejected = ingest.read_leads(semicolon).rejects["reject_reason"].tolist()
    assert rejected == ["website_visits: not a number (got '1,250')"]
    thousands = ingest.Mapping(thousands=",")
    assert ingest.read_leads(semicolon, thousands).valid["website_visits"].tolist() == [1250.0, 4.0]
    decimal = ingest.Mapping(decimal=",")
    assert ingest.read_leads(semicolon, decimal).valid["website_visits"].tolist() == [1.25, 4.0]


def test_mapping_reading_keys_are_checked(tmp_path: Path) -> None:
    for keys, problem in [
        ({"decimal": ";"}, "decimal"),
        ({"thousands": "x"}, "thousands"),
        ({"decimal": ",", "thousands": ","}, "must differ from decimal"),
    ]:
        with pytest.raises(ingest.IngestError, match=problem):
            ingest.load_mapping(mapping_file(tmp_path, **keys))
