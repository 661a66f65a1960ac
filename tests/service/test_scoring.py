"""The work behind the endpoints, without HTTP: :class:`leadmodel.serving.scoring.Scorer`.

The fast body writer must write what the response model writes; ``/score`` answers are
the library's explanations, refusals name the field and the lead.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from leadmodel import explain, i18n, ingest, schema, tracking
from leadmodel.serving.api import ModelRef, ScoreRequest, ScoreResponse
from leadmodel.serving.errors import RequestProblem
from leadmodel.serving.scoring import Scorer, field_warnings, response_body, score_body
from leadmodel.synthetic import generate
from tests.conftest import Trained
from tests.service.test_service import records

MESSY_ROWS = 400
MESSY_SEED = 11


@pytest.fixture(scope="module")
def model(trained: Trained) -> Any:
    funnel, _ = tracking.load_funnel(trained.result.model_uri)
    return funnel


@pytest.fixture(scope="module")
def ref() -> ModelRef:
    return ModelRef(name="lead-scorer", version="7", uri="models:/lead-scorer/7")


@pytest.fixture(scope="module")
def leads(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """Valid messy leads as the service receives them, with unknown and extra values."""
    path = tmp_path_factory.mktemp("scoring") / "messy.csv"
    generate(MESSY_ROWS, seed=MESSY_SEED, messy=True).export.to_csv(path, index=False)
    frame = ingest.read_leads(path).valid
    frame = frame.drop(columns=[c for c in schema.LABEL_COLUMNS if c in frame])
    out = records(frame.drop_duplicates(schema.LEAD_ID).reset_index(drop=True))
    out[0][schema.SOURCE] = "carrier pigeon"  # unknown: scored as unknown, warned
    out[1]["favourite_colour"] = "teal"  # a field the model does not read
    return out


@pytest.fixture(scope="module")
def scorer(model: Any, ref: ModelRef) -> Scorer:
    return Scorer(model, {"name": ref.name, "version": 7, "uri": ref.uri})


@pytest.mark.parametrize("k", [0, 1, 3, 20])
def test_fast_body_is_what_the_response_model_writes(
    model: Any, ref: ModelRef, leads: list[dict[str, Any]], k: int
) -> None:
    keys = [schema.LEAD_ID, *model.output_columns, "reasons"]
    explained = explain.explain_leads(model, leads, k=k, signed=False)
    scored = [{key: lead[key] for key in keys} for lead in explained]
    warnings = field_warnings(leads, model)
    assert {w.field for w in warnings} >= {schema.SOURCE, "favourite_colour"}
    content = {"model": ref, "leads": scored, "warnings": warnings}
    expected = response_body(ScoreResponse, content)
    assert score_body(ref, scored, warnings) == expected
    ScoreResponse.model_validate_json(expected)


@pytest.mark.parametrize("k", [0, 1, 3, 20])
def test_score_answers_the_library_explanations(
    scorer: Scorer, model: Any, ref: ModelRef, leads: list[dict[str, Any]], k: int
) -> None:
    request = ScoreRequest.model_validate({"leads": leads, "k": k})
    answer = ScoreResponse.model_validate_json(scorer.score(request))
    expected = explain.explain_leads(model, [lead.model_dump() for lead in request.leads], k=k)
    assert answer.model == ref
    assert [lead.lead_id for lead in answer.leads] == [lead["lead_id"] for lead in leads]
    for got, want in zip(answer.leads, expected, strict=True):
        assert got.score == want["score"] and got.tier == want["tier"]
        assert [r.field for r in got.reasons] == [r["field"] for r in want["reasons"]]
        assert len(got.reasons) <= k
    assert {w.field for w in answer.warnings} >= {schema.SOURCE, "favourite_colour"}


def test_a_lead_pandas_must_read_is_scored_too(scorer: Scorer, leads: list[dict[str, Any]]) -> None:
    frame_only = dict(leads[5], lead_id="frame-only", extra_flag=True)  # a bool: pandas reads it
    request = ScoreRequest.model_validate({"leads": [frame_only]})
    assert json.loads(scorer.score(request))["leads"][0]["lead_id"] == "frame-only"


def test_duplicate_ids_are_refused_with_their_index(
    scorer: Scorer, leads: list[dict[str, Any]]
) -> None:
    request = ScoreRequest.model_validate({"leads": [leads[0], leads[1], leads[0]]})
    with pytest.raises(RequestProblem) as refused:
        scorer.score(request)
    (problem,) = refused.value.problems
    assert (problem.loc, problem.field, problem.index) == ("leads[2].lead_id", "lead_id", 2)


@pytest.mark.parametrize(("lang", "more"), [("en", "(and 1,200 more)"), ("da", "(og 1.200 mere)")])
def test_unknown_values_warning_counts_the_rest_in_the_language(
    model: Any, leads: list[dict[str, Any]], lang: str, more: str
) -> None:
    """1,205 unseen sources: five are quoted, the rest counted in the language's numbers."""
    many = [dict(leads[0], lead_id=f"U{i}", source=f"pigeon {i}") for i in range(1_205)]
    with i18n.using(lang):
        warning = next(w for w in field_warnings(many, model) if w.field == schema.SOURCE)
    assert len(warning.values) == 1_205
    assert warning.message.endswith(more), warning.message
