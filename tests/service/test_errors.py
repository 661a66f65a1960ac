"""Request validation in-process: the pydantic contract and its one-line error messages."""

from __future__ import annotations

from typing import Any, get_args

import pytest
from pydantic import ValidationError

from leadmodel import i18n
from leadmodel.serving.api import (
    MAX_LEADS,
    ExplainRequest,
    Language,
    Lead,
    ScoreRequest,
    WhatIfRequest,
)
from leadmodel.serving.errors import MAX_REPORTED_ERRORS, error_body, locate, problems_from_pydantic


def problems(model: type, data: Any) -> list[tuple[str, str | None, int | None, str]]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return [
        (p.loc, p.field, p.index, p.message) for p in problems_from_pydantic(caught.value.errors())
    ]


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ((), ("body", None, None)),
        (("leads", 3, "website_visits"), ("leads[3].website_visits", "website_visits", 3)),
        (("leads", 0, "notes", "str"), ("leads[0].notes", "notes", 0)),  # a union member tag
        (("leads", 0, "float"), ("leads[0].float", "float", 0)),  # a field named like a tag
        (("leads", 2), ("leads[2]", "leads", 2)),
        (("lead", "source"), ("lead.source", "source", None)),
        (("changes", "x", "bool"), ("changes.x", "x", None)),
        (("k",), ("k", "k", None)),
    ],
)
def test_locate(parts: tuple[Any, ...], expected: tuple[Any, ...]) -> None:
    assert locate(parts) == expected


def test_field_rules_and_messages() -> None:
    leads = [
        {"lead_id": "a", "website_visits": -1},
        {"lead_id": "b", "prior_awareness": "medium"},
        {"lead_id": "c", "company_size": float("inf")},
        {"lead_id": "d", "pages_viewed": "7"},
        {"lead_id": "e", "notes": ["a", "list"]},
        {"source": "social"},
    ]
    assert problems(ScoreRequest, {"leads": leads}) == [
        ("leads[0].website_visits", "website_visits", 0, "must be >= 0"),
        ("leads[1].prior_awareness", "prior_awareness", 1,
         "must be one of 'none', 'low', 'high' (or null)"),
        ("leads[2].company_size", "company_size", 2, "must be a finite number"),
        ("leads[3].pages_viewed", "pages_viewed", 3, "must be a number"),
        ("leads[4].notes", "notes", 4, "must be a string, a number, true/false or null"),
        ("leads[5].lead_id", "lead_id", 5, "is required"),
    ]  # fmt: skip


def test_request_limits() -> None:
    too_many = [{"lead_id": str(i)} for i in range(MAX_LEADS + 1)]
    assert problems(ScoreRequest, {"leads": too_many})[0][::3] == (
        "leads",
        f"at most {MAX_LEADS} items (got {MAX_LEADS + 1})",
    )
    assert problems(ScoreRequest, {"leads": [{"lead_id": "a"}], "k": 21})[0][0] == "k"
    assert problems(WhatIfRequest, {"lead": {"lead_id": "a"}, "changes": {"x": {}}})[0][:2] == (
        "changes.x",
        "x",
    )


def test_messages_never_quote_the_value() -> None:
    secret = "jane.doe@example.com"
    found = problems(ScoreRequest, {"leads": [{"lead_id": "a", "website_visits": secret}]})
    assert secret not in str(found)


def test_error_body_is_capped_and_starts_with_one_line() -> None:
    leads = [{"lead_id": str(i), "website_visits": -1} for i in range(MAX_REPORTED_ERRORS + 10)]
    with pytest.raises(ValidationError) as caught:
        ScoreRequest.model_validate({"leads": leads})
    body = error_body(problems_from_pydantic(caught.value.errors()))
    assert body["error"] == "leads[0].website_visits: must be >= 0"
    assert len(body["errors"]) == MAX_REPORTED_ERRORS


def test_valid_leads_keep_extra_fields_and_take_numeric_ids() -> None:
    lead = Lead.model_validate({"lead_id": 42, "sales_alignment": "aligned", "score_v2": 3})
    dumped = lead.model_dump()
    assert dumped["lead_id"] == "42"
    assert dumped["sales_alignment"] == "aligned" and dumped["score_v2"] == 3.0
    assert dumped["website_visits"] is None


def test_a_request_may_ask_for_each_language_there_is_and_no_other() -> None:
    assert get_args(Language) == i18n.LANGUAGES
    for request in (ScoreRequest, ExplainRequest):
        assert request.model_validate({"leads": [{"lead_id": "a"}], "lang": "da"}).lang == "da"
        assert request.model_validate({"leads": [{"lead_id": "a"}]}).lang is None
        wrong = {"leads": [{"lead_id": "a"}], "lang": "de"}
        assert problems(request, wrong) == [
            ("lang", "lang", None, "must be one of 'en', 'da' (or null)")
        ]
        with i18n.using("da"):
            assert problems(request, wrong)[0][3] == "skal være en af 'en', 'da' (eller null)"
