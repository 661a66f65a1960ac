"""The scoring service over HTTP: a real server (see conftest), real requests, real model."""

from __future__ import annotations

import importlib.metadata
import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from leadmodel import explain, i18n, ingest, schema, tracking
from tests.conftest import Trained
from tests.service.conftest import Server

pytestmark = pytest.mark.server

ATOL = 1e-9
SAMPLE = 300
K = 3
#: Leads sent in English and in Danish.
LANG_LEADS = 20
#: Seconds to wait for the server's access log to reach the file.
LOG_WAIT_S = 10


# --- helpers -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def leads(trained: Trained) -> pd.DataFrame:
    """Valid leads of the training export as batch scoring reads them (labels dropped)."""
    frame = ingest.read_leads(trained.data_path).valid
    frame = frame.drop(columns=[c for c in schema.LABEL_COLUMNS if c in frame])
    return frame.tail(SAMPLE).reset_index(drop=True)


@pytest.fixture(scope="module")
def library_model(trained: Trained) -> Any:
    model, _ = tracking.load_funnel(trained.result.model_uri)
    return model


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready lead dicts (exact floats, None for missing, ISO dates)."""
    frame = frame.astype(object).where(frame.notna(), None)
    rows = frame.to_dict(orient="records")
    return json.loads(json.dumps(rows, default=lambda v: pd.Timestamp(v).isoformat()))


def lead(**fields: Any) -> dict[str, Any]:
    base = {"lead_id": "L1", "source": "organic_search", "website_visits": 3}
    return base | fields


def score(api: httpx.Client, leads: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    response = api.post("/score", json={"leads": leads, **extra})
    assert response.status_code == 200, response.text
    return response.json()


# --- scoring equals the library's batch scoring ---------------------------------------------
def test_score_equals_batch_scoring(
    api: httpx.Client, leads: pd.DataFrame, library_model: Any, trained: Trained
) -> None:
    body = score(api, records(leads), k=K)
    got = pd.DataFrame(body["leads"])
    expected = library_model.predict(leads)
    assert list(got["lead_id"]) == list(expected["lead_id"])
    for column in ("p_accept", "p_close", "score"):
        np.testing.assert_allclose(got[column], expected[column], rtol=0, atol=ATOL)
    assert list(got["tier"]) == list(expected["tier"])

    reasons = explain.reasons_frame(library_model, leads, k=K)
    for i, served in enumerate(got["reasons"]):
        fields = [reasons.at[i, f"reason_{j}_field"] for j in range(1, K + 1)]
        points = [reasons.at[i, f"reason_{j}_points"] for j in range(1, K + 1)]
        n = sum(f is not None for f in fields)
        assert [r["field"] for r in served] == fields[:n]
        np.testing.assert_allclose([r["points"] for r in served], points[:n], rtol=0, atol=ATOL)
    served = f"models:/{trained.model_name}@champion"
    assert body["model"] == {"name": trained.model_name, "version": "1", "uri": served}


def test_score_shape_and_k(api: httpx.Client, leads: pd.DataFrame) -> None:
    rows = records(leads.head(5))
    for k in (0, 1, 5):
        body = score(api, rows, k=k)
        assert len(body["leads"]) == 5
        for scored in body["leads"]:
            assert set(scored) == {"lead_id", "p_accept", "p_close", "score", "tier", "reasons"}
            assert 0 <= scored["score"] <= 100 and scored["tier"] in "ABCD"
            assert len(scored["reasons"]) <= k
            assert all(
                set(r) == {"field", "value", "direction", "points", "text"}
                for r in scored["reasons"]
            )
    default = score(api, rows)
    assert max(len(s["reasons"]) for s in default["leads"]) == K


def test_unknown_values_are_scored_as_unknown_and_warned(
    api: httpx.Client, library_model: Any
) -> None:
    sent = [
        lead(lead_id="a", source="Carrier Pigeon", industry="Basket weaving"),
        lead(lead_id="b", source="Organic-Search", email="x@example.com"),
    ]
    body = score(api, sent)
    expected = library_model.predict(pd.DataFrame(sent))
    np.testing.assert_allclose(
        [s["score"] for s in body["leads"]], expected["score"], rtol=0, atol=ATOL
    )
    warned = {w["field"]: w for w in body["warnings"]}
    assert warned["source"]["values"] == ["carrier_pigeon"]  # organic_search is known
    assert warned["industry"]["values"] == ["Basket weaving"]
    assert warned["email"]["values"] == [] and "ignored" in warned["email"]["message"]


def test_score_answers_in_the_requests_language(
    api: httpx.Client, leads: pd.DataFrame, library_model: Any
) -> None:
    rows = records(leads.head(LANG_LEADS))
    english, danish = score(api, rows, lang="en"), score(api, rows, lang="da")
    assert [{**s, "reasons": None} for s in danish["leads"]] == [
        {**s, "reasons": None} for s in english["leads"]
    ]  # scores, tiers, ids: the same in every language
    facts = [[(r["field"], r["value"], r["points"]) for r in s["reasons"]] for s in danish["leads"]]
    assert facts == [
        [(r["field"], r["value"], r["points"]) for r in s["reasons"]] for s in english["leads"]
    ]
    with i18n.using("da"):
        expected = explain.reasons_frame(library_model, leads.head(LANG_LEADS), k=K)["reasons"]
    served = ["; ".join(r["text"] for r in s["reasons"]) for s in danish["leads"]]
    assert served == expected.tolist()
    assert all(
        t.endswith(" point") for s in danish["leads"] for t in [r["text"] for r in s["reasons"]]
    )
    explained = api.post("/explain", json={"leads": rows[:2], "lang": "da"})
    assert explained.status_code == 200, explained.text
    refused = api.post("/score", json={"leads": [lead(website_visits=-1)], "lang": "da"})
    assert refused.status_code == 422
    assert refused.json()["error"] == "leads[0].website_visits: skal være >= 0"
    odd = [lead(lead_id="a", source="Carrier Pigeon", email="x@example.com")]
    warned = {w["field"]: w["message"] for w in score(api, odd, lang="da")["warnings"]}
    assert warned == {
        "source": "source: ikke set under træningen, scoret som ukendt: carrier_pigeon",
        "email": "email: ikke et felt, denne model læser; ignoreret",
    }
    twice = api.post("/score", json={"leads": [lead(lead_id="a"), lead(lead_id="a")], "lang": "da"})
    assert twice.status_code == 422
    assert twice.json()["error"] == "leads[1].lead_id: dublet af leads[0]"


@pytest.mark.parametrize("path", ["/score", "/explain"])
def test_an_unknown_language_is_refused_naming_lang(api: httpx.Client, path: str) -> None:
    response = api.post(path, json={"leads": [lead()], "lang": "de"})
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["error"] == "lang: must be one of 'en', 'da' (or null)"
    assert [(e["loc"], e["field"], e["index"]) for e in error["errors"]] == [("lang", "lang", None)]


def test_numbers_may_come_as_integers_or_floats_and_ids_as_numbers(api: httpx.Client) -> None:
    as_int = score(api, [lead(lead_id=7, website_visits=4)])["leads"][0]
    as_float = score(api, [lead(lead_id="7", website_visits=4.0)])["leads"][0]
    assert as_int == as_float and as_int["lead_id"] == "7"


def assert_answered_together_as_alone(
    api: httpx.Client, server: Server, requests: list[dict[str, Any]]
) -> None:
    """Each request, sent at once with the others (three rounds: how requests group
    varies from round to round), gets exactly the answer it gets alone."""
    alone = [score(api, body["leads"], k=body["k"]) for body in requests]

    def send(body: dict[str, Any]) -> dict[str, Any]:
        with server.client() as client:
            response = client.post("/score", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    for _ in range(3):
        with ThreadPoolExecutor(max_workers=len(requests)) as pool:
            together = list(pool.map(send, requests))
        assert together == alone


def test_concurrent_requests_get_what_they_get_alone(
    api: httpx.Client, server: Server, leads: pd.DataFrame
) -> None:
    """Requests arriving together are answered one after another: none sees another."""
    rows = records(leads.head(40))
    requests = [
        {"leads": rows[i : i + 1 + i % 3], "k": i % 5} for i in range(0, 40, 2)
    ]  # 1-3 leads each, k from 0 to 4, the same lead in two requests now and then
    assert_answered_together_as_alone(api, server, requests)


def test_concurrent_large_requests_get_what_they_get_alone(
    api: httpx.Client, server: Server, leads: pd.DataFrame
) -> None:
    """Large requests arriving together (answered in a worker thread, one at a time)
    get what they get alone too."""
    rows = records(leads)
    size = len(rows) // 4
    requests = [{"leads": rows[i * size : (i + 1) * size], "k": 1 + i} for i in range(4)]
    assert_answered_together_as_alone(api, server, requests)


# --- explain, what-if, model -----------------------------------------------------------------
def test_explain_contributions_add_up(api: httpx.Client, leads: pd.DataFrame) -> None:
    rows = records(leads.head(20))
    response = api.post("/explain", json={"leads": rows})
    assert response.status_code == 200, response.text
    explained = response.json()["leads"]
    scored = score(api, rows)["leads"]
    for exp, sco in zip(explained, scored, strict=True):
        assert exp["lead_id"] == sco["lead_id"]
        assert set(exp["contributions"]) == {"accept", "close"}
        for stage in exp["contributions"].values():
            total = stage["base_points"] + sum(stage["points"].values())
            assert total == pytest.approx(stage["total_points"], abs=1e-6)
        close_total = exp["contributions"]["close"]["total_points"]
        assert np.clip(close_total, 0, 100) == pytest.approx(sco["score"], abs=1e-6)
        assert exp["p_close"] == pytest.approx(sco["p_close"], abs=ATOL)


def test_whatif_old_and_new_match_score(api: httpx.Client) -> None:
    before = lead(lead_id="w1", prior_awareness="none", website_visits=1)
    changes = {"prior_awareness": "high", "website_visits": 12}
    response = api.post("/whatif", json={"lead": before, "changes": changes})
    assert response.status_code == 200, response.text
    body = response.json()
    old, new = score(api, [before])["leads"][0], score(api, [before | changes])["leads"][0]
    for key in ("p_accept", "p_close", "score"):
        assert body["old"][key] == pytest.approx(old[key], abs=ATOL)
        assert body["new"][key] == pytest.approx(new[key], abs=ATOL)
    assert body["changes"]["prior_awareness"] == {"from": "none", "to": "high"}
    assert body["changes"]["website_visits"] == {"from": 1, "to": 12}
    if 0 < old["score"] < 100 and 0 < new["score"] < 100:
        moved = sum(body["points_change"].values())
        assert moved == pytest.approx(new["score"] - old["score"], abs=1e-6)


def test_model_endpoint(api: httpx.Client, trained: Trained, library_model: Any) -> None:
    response = api.get("/model")
    assert response.status_code == 200, response.text
    info = response.json()
    assert (info["name"], info["version"], info["alias"]) == (trained.model_name, "1", "champion")
    assert info["features"] == explain.model_fields(library_model)
    assert info["trained_at"] == library_model.metadata["trained_at"]
    assert 0.5 < info["metrics"]["close"]["roc_auc"] <= 1
    assert info["stages"] == ["accept", "close"]
    assert list(info["tiers"]) == ["A", "B", "C", "D"]
    assert info["readiness"] == library_model.metadata["readiness"]["verdict"] == "ready"
    assert info["readiness_reasons"] and "close ROC-AUC" in info["readiness_reasons"][0]


def test_openapi_documents_the_api(server: Server) -> None:
    doc = httpx.get(f"{server.url}/docs.json").json()
    for path in ("/score", "/explain", "/whatif", "/model", "/healthz", "/readyz", "/metrics"):
        assert path in doc["paths"], path
    schemas = doc["components"]["schemas"]
    request = doc["paths"]["/score"]["post"]["requestBody"]["content"]["application/json"]
    assert request["schema"]["$ref"].endswith("/ScoreRequest")
    assert schemas["ScoreRequest"]["examples"] and schemas["Lead"]["examples"]
    assert all(p.get("description") for p in schemas["Lead"]["properties"].values())
    assert doc["paths"]["/score"]["post"]["responses"]["422"]


def test_openapi_declares_the_token_version_and_description(server: Server) -> None:
    doc = httpx.get(f"{server.url}/docs.json").json()
    schemes = doc["components"]["securitySchemes"]
    (name,) = [n for n, s in schemes.items() if s["type"] == "http" and s["scheme"] == "bearer"]
    for method, path, _ in API_CALLS:  # every endpoint the token guards, and only those
        assert doc["paths"][path][method.lower()]["security"] == [{name: []}], path
    for path in ("/healthz", "/livez", "/readyz", "/metrics"):
        assert "security" not in doc["paths"][path]["get"], path
    assert doc["info"]["version"] == importlib.metadata.version("leadmodel")
    description = doc["info"]["description"]
    assert "lead" in description and "Authorization: Bearer" in description
    assert "BentoML" not in description and "contact" not in doc["info"]


# --- bad requests: 4xx naming the field and the lead, never a 500 ------------------------------
OK_LEAD = lead()
BAD_REQUESTS: list[tuple[str, str, Any, int, str, int | None]] = [
    # (id, path, JSON body or raw bytes, status, location, lead index)
    (
        "negative",
        "/score",
        {"leads": [OK_LEAD, lead(lead_id="2", website_visits=-1)]},
        422,
        "leads[1].website_visits",
        1,
    ),
    (
        "text-number",
        "/score",
        {"leads": [lead(pages_viewed="many")]},
        422,
        "leads[0].pages_viewed",
        0,
    ),
    ("bool-number", "/score", {"leads": [lead(email_opens=True)]}, 422, "leads[0].email_opens", 0),
    (
        "awareness",
        "/score",
        {"leads": [OK_LEAD, lead(lead_id="2"), lead(lead_id="3", prior_awareness="medium")]},
        422,
        "leads[2].prior_awareness",
        2,
    ),
    (
        "nan",
        "/score",
        b'{"leads": [{"lead_id": "a"}, {"lead_id": "b", "time_on_site_s": NaN}]}',
        422,
        "leads[1].time_on_site_s",
        1,
    ),
    (
        "infinity",
        "/score",
        b'{"leads": [{"lead_id": "a", "company_size": Infinity}]}',
        422,
        "leads[0].company_size",
        0,
    ),
    (
        "overflow",
        "/score",
        b'{"leads": [{"lead_id": "a", "email_clicks": 1e999}]}',
        422,
        "leads[0].email_clicks",
        0,
    ),
    (
        "extra-infinity",
        "/score",
        b'{"leads": [{"lead_id": "a", "score_v2": -Infinity}]}',
        422,
        "leads[0].score_v2",
        0,
    ),
    (
        "extra-nested",
        "/score",
        {"leads": [lead(notes={"text": "call back"})]},
        422,
        "leads[0].notes",
        0,
    ),
    (
        "missing-id",
        "/score",
        {"leads": [OK_LEAD, {"source": "social"}]},
        422,
        "leads[1].lead_id",
        1,
    ),
    ("empty-id", "/score", {"leads": [lead(lead_id="")]}, 422, "leads[0].lead_id", 0),
    ("blank-id", "/score", {"leads": [OK_LEAD, lead(lead_id=" \t ")]}, 422, "leads[1].lead_id", 1),
    ("control-id", "/explain", {"leads": [lead(lead_id="L\x1b[2J")]}, 422, "leads[0].lead_id", 0),
    (
        "whatif-control-id",
        "/whatif",
        {"lead": lead(lead_id="L\n1"), "changes": {"source": "email"}},
        422,
        "lead.lead_id",
        None,
    ),
    (
        "duplicate-id",
        "/score",
        {"leads": [OK_LEAD, lead(lead_id="2"), OK_LEAD]},
        422,
        "leads[2].lead_id",
        2,
    ),
    ("lead-not-object", "/score", {"leads": [OK_LEAD, "L2"]}, 422, "leads[1]", 1),
    ("no-leads", "/score", {"leads": []}, 422, "leads", None),
    ("leads-missing", "/score", {"k": 3}, 422, "leads", None),
    (
        "too-many",
        "/score",
        {"leads": [lead(lead_id=str(i)) for i in range(1001)]},
        422,
        "leads",
        None,
    ),
    ("k-too-big", "/score", {"leads": [OK_LEAD], "k": 21}, 422, "k", None),
    ("k-negative", "/score", {"leads": [OK_LEAD], "k": -1}, 422, "k", None),
    ("k-text", "/score", {"leads": [OK_LEAD], "k": "3"}, 422, "k", None),
    ("unknown-key", "/score", {"leads": [OK_LEAD], "mode": "fast"}, 422, "mode", None),
    ("array-body", "/score", [OK_LEAD], 422, "body", None),
    ("malformed", "/score", b'{"leads": [{"lead_id": "a"}', 400, "body", None),
    ("empty-body", "/score", b"", 422, "body", None),
    ("explain-duplicate", "/explain", {"leads": [OK_LEAD, OK_LEAD]}, 422, "leads[1].lead_id", 1),
    (
        "explain-negative",
        "/explain",
        {"leads": [lead(events_attended=-2)]},
        422,
        "leads[0].events_attended",
        0,
    ),
    (
        "whatif-bad-change",
        "/whatif",
        {"lead": OK_LEAD, "changes": {"website_visits": -3}},
        422,
        "changes.website_visits",
        None,
    ),
    (
        "whatif-unknown-field",
        "/whatif",
        {"lead": OK_LEAD, "changes": {"favourite_colour": "red"}},
        422,
        "changes.favourite_colour",
        None,
    ),
    (
        "whatif-bad-lead",
        "/whatif",
        {"lead": lead(website_visits="x"), "changes": {"source": "x"}},
        422,
        "lead.website_visits",
        None,
    ),
    ("whatif-no-changes", "/whatif", {"lead": OK_LEAD, "changes": {}}, 422, "changes", None),
    ("whatif-no-lead", "/whatif", {"changes": {"source": "social"}}, 422, "lead", None),
]


@pytest.mark.parametrize(
    ("path", "body", "status", "loc", "index"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_REQUESTS],
)
def test_bad_request_names_field_and_lead(
    api: httpx.Client, path: str, body: Any, status: int, loc: str, index: int | None
) -> None:
    if isinstance(body, bytes):
        response = api.post(path, content=body, headers={"Content-Type": "application/json"})
    else:
        response = api.post(path, json=body)
    assert response.status_code == status, response.text
    error = response.json()
    assert error["error"].startswith(f"{loc}: "), error
    assert error["errors"][0]["loc"] == loc
    assert error["errors"][0]["index"] == index
    assert "\n" not in error["error"]


def test_blank_ids_and_ids_with_control_characters_are_refused(api: httpx.Client) -> None:
    bad = ["  ", "L\n1", "L\t2", "L\x003", "\x1b[31mL4", "L5\r"]
    leads = [lead(lead_id="ok"), *(lead(lead_id=i) for i in bad)]
    response = api.post("/score", json={"leads": leads})
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert [(e["loc"], e["field"], e["index"]) for e in errors] == [
        (f"leads[{i}].lead_id", "lead_id", i) for i in range(1, len(leads))
    ]
    assert errors[0]["message"] == "must not be blank"
    assert all(e["message"].startswith("must not contain control characters") for e in errors[1:])


def test_not_json_and_too_large(api: httpx.Client) -> None:
    form = api.post("/score", content=b"leads=1", headers={"Content-Type": "text/plain"})
    assert form.status_code == 415 and form.json()["errors"][0]["loc"] == "body"

    from leadmodel.serving.guard import MAX_BODY_BYTES

    padding = "x" * (MAX_BODY_BYTES + 1)
    big = json.dumps({"leads": [lead(notes=padding)]}).encode()
    declared = api.post("/score", content=big, headers={"Content-Type": "application/json"})
    assert declared.status_code == 413, declared.text

    def chunks() -> Any:  # no Content-Length: the limit is enforced while reading
        for start in range(0, len(big), 64 * 1024):
            yield big[start : start + 64 * 1024]

    streamed = api.post("/score", content=chunks(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413, streamed.text
    assert "limit" in streamed.json()["error"]


def test_server_keeps_serving_after_bad_requests(api: httpx.Client, server: Server) -> None:
    for _, path, body, status, *_ in BAD_REQUESTS:
        sent = body if isinstance(body, bytes) else json.dumps(body).encode()
        response = api.post(path, content=sent, headers={"Content-Type": "application/json"})
        assert response.status_code == status
    assert server.process.poll() is None
    assert httpx.get(f"{server.url}/readyz").status_code == 200
    assert len(score(api, [OK_LEAD])["leads"]) == 1


# --- auth ------------------------------------------------------------------------------------
API_CALLS = [
    ("POST", "/score", {"leads": [OK_LEAD]}),
    ("POST", "/explain", {"leads": [OK_LEAD]}),
    ("POST", "/whatif", {"lead": OK_LEAD, "changes": {"website_visits": 5}}),
    ("GET", "/model", None),
]


@pytest.mark.parametrize(("method", "path", "body"), API_CALLS, ids=[c[1] for c in API_CALLS])
def test_token_required_on_every_api_endpoint(
    server: Server, method: str, path: str, body: Any
) -> None:
    refused = [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": "bearer wrong-token"},
        {"Authorization": f"Bearer {server.token}x"},
        {"Authorization": f"bearer {server.token.swapcase()}"},  # the token is exact
        {"Authorization": server.token},  # the token without "Bearer "
        {"Authorization": f"Basic {server.token}"},
        {"Authorization": f"Bearer{server.token}"},
    ]
    for headers in refused:
        response = httpx.request(method, server.url + path, json=body, headers=headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert response.json()["errors"][0]["loc"] == "authorization"
    # the scheme is case-insensitive (RFC 7235): what HTTP clients and proxies may send
    for scheme in ("Bearer", "bearer", "BEARER", "bEaReR"):
        headers = {"Authorization": f"{scheme} {server.token}"}
        response = httpx.request(method, server.url + path, json=body, headers=headers)
        assert response.status_code == 200, (scheme, response.text)


@pytest.mark.parametrize("path", ["/healthz", "/livez", "/readyz", "/metrics", "/docs.json"])
def test_health_endpoints_stay_open(server: Server, path: str) -> None:
    assert httpx.get(server.url + path).status_code == 200


# --- personal data never reaches the log ------------------------------------------------------
def test_personal_data_is_not_logged(api: httpx.Client, server: Server) -> None:
    marker = f"pii{time.time_ns()}"
    personal = {
        "name": f"Jane {marker} Doe",
        "email": f"jane.{marker}@example.com",
        "phone": f"+44 20 {marker}",
    }
    assert api.post("/score", json={"leads": [lead(**personal)]}).status_code == 200
    assert api.post("/explain", json={"leads": [lead(**personal)]}).status_code == 200
    bad = api.post("/score", json={"leads": [lead(website_visits=-1, **personal)]})
    assert bad.status_code == 422 and marker not in bad.text
    changes = {"email": personal["email"]}
    assert (
        api.post("/whatif", json={"lead": lead(**personal), "changes": changes}).status_code == 422
    )
    deadline = time.monotonic() + LOG_WAIT_S
    while "path=/whatif" not in server.log_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    log = server.log_text()
    assert "path=/whatif" in log  # the access log is written ...
    assert marker not in log  # ... without a trace of the personal data
