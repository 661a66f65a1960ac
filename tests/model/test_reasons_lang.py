"""Reasons, score history, hand-over and write-back texts in Danish; a user's own field labels."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from leadmodel import crm, explain, history, i18n, ingest, schema
from leadmodel.config import TrainConfig
from leadmodel.explain.reasons import DISPLAY_KEY, display_labels
from leadmodel.model import FunnelModel, fit_funnel
from leadmodel.synthetic import generate

#: A user's own numeric field, renamed from the export's column and labelled in Danish.
EXTRA, EXPORT_NAME, DANISH_LABEL = "visit_score", "Visit Score", "Besøgsscore"
EXTRA_ROWS, EXTRA_SEED, EXTRA_TRAIN_SHARE, EXPLAINED = 1_000, 21, 0.7, 30
#: A small model, quick to fit and to explain (the labels are what is tested).
FAST = {
    "tuning": {"trials": 1, "folds": 2},
    "lightgbm": {"n_estimators": 100, "learning_rate": 0.1},
}
#: English words that must not be left in a Danish reason.
ENGLISH = re.compile(
    r"\b(?:points|visited|viewed|opened|clicked|company|unknown|arrived|came)\b", re.I
)


def danish(field: str, value: object, points: float) -> str:
    with i18n.using("da"):
        return explain.reason_text(field, value, points)


@pytest.mark.parametrize(
    ("field", "value", "points", "expected"),
    [
        ("website_visits", 10, 3.14, "Har besøgt hjemmesiden 10 gange: +3,1 point"),
        ("website_visits", 1, -1.0, "Har besøgt hjemmesiden 1 gang: -1 point"),
        ("website_visits", None, 2.0, "Antal besøg på hjemmesiden ukendt: +2 point"),
        ("pages_viewed", 1, 0.5, "Har set 1 side: +0,5 point"),
        ("email_opens", 3, 1.0, "Har åbnet 3 e-mails: +1 point"),
        ("company_size", 250, 4.0, "Virksomhed med 250 ansatte: +4 point"),
        ("company_size", 1200, -2.46, "Virksomhed med 1.200 ansatte: -2,5 point"),
        ("time_on_site_s", 150, 1.0, "Har brugt 2,5 minutter på hjemmesiden: +1 point"),
        ("source", "webinar", 6.0, "Kom ind via webinar: +6 point"),
        ("source", "Organic Search", 2.0, "Kom ind via organisk søgning: +2 point"),
        ("source", None, -1.0, "Kilde ikke registreret: -1 point"),
        ("prior_awareness", "high", 14.0, "Kendte virksomheden godt før første kontakt: +14 point"),
        ("prior_awareness", "none", -5.0, "Kendte ikke virksomheden før første kontakt: -5 point"),
        ("prior_awareness", None, 1.0, "Kendskab før første kontakt ikke registreret: +1 point"),
        (
            "created_at",
            pd.Timestamp("2026-11-30 09:15"),
            2.0,
            "Kom ind en mandag kl. 09:15: +2 point",
        ),
        ("created_at", pd.Timestamp("2026-11-28"), -1.0, "Kom ind en lørdag: -1 point"),
        ("region", "EMEA", -0.55, "region = EMEA: -0,6 point"),
        ("partner_score", None, 1.0, "partner_score ukendt: +1 point"),
    ],
)
def test_danish_reasons_read_as_a_danish_sales_team_writes(
    field: str, value: object, points: float, expected: str
) -> None:
    assert danish(field, value, points) == expected


def test_english_reasons_group_thousands_and_keep_their_sentences() -> None:
    with i18n.using("en"):
        assert explain.reason_text("company_size", 1200, 2.5) == (
            "Company of 1,200 employees: +2.5 points"
        )
        assert explain.reason_text("website_visits", 1, 1) == "Visited the website once: +1 point"
        assert explain.reason_text("created_at", pd.Timestamp("2026-11-30 09:15"), 2) == (
            "Arrived on a Monday at 09:15: +2 points"
        )


def test_reasons_frame_in_danish_ranks_the_same_fields(trained) -> None:
    model, leads = trained.result.model, trained.result.test.head(400)
    with i18n.using("en"):
        english = explain.reasons_frame(model, leads, k=3)
    with i18n.using("da"):
        danish_frame = explain.reasons_frame(model, leads, k=3)
        one = explain.explain_leads(model, leads.head(1), k=3)[0]
    same = english.drop(columns="reasons")
    pd.testing.assert_frame_equal(danish_frame.drop(columns="reasons"), same)
    texts = danish_frame["reasons"]
    assert texts.str.len().gt(0).all()
    assert not texts.str.contains(ENGLISH).any(), texts[texts.str.contains(ENGLISH)].head()
    assert texts.iloc[0] == "; ".join(r["text"] for r in one["reasons"])


def test_history_lines_in_danish() -> None:
    before = {"reasons": [{"field": "website_visits", "points": 14.0}], "website_visits": 10.0}
    after = {"reasons": [{"field": "website_visits", "points": 2.0}], "website_visits": 2.0}
    after |= {"company_size": 1500.0}
    before |= {"company_size": 2.5}
    with i18n.using("da"):
        lines = [c.text() for c in history.field_changes(before, after)]
        gone = history.FieldChange("email_opens", -1.5, 3.0, None, top_before=True)
    assert lines == [
        "-12 point: besøg på hjemmesiden 10 -> 2",
        "virksomhedens størrelse 2,5 -> 1.500",
    ]
    current = pd.DataFrame([after | {schema.LEAD_ID: "L1", "score": 50.0}])
    previous = pd.DataFrame([before | {schema.LEAD_ID: "L1", "score": 62.0}])
    with i18n.using("da"):
        change, reasons = history.change_columns(current, previous)
    assert change.tolist() == [-12.0] and reasons.tolist() == ["; ".join(lines)]
    assert gone.text() == "-1.5 points: email opens 3 -> missing (no longer a top reason)"
    with i18n.using("da"):
        assert gone.text() == (
            "-1,5 point: åbnede e-mails 3 -> mangler (er ikke længere blandt de vigtigste årsager)"
        )


def test_handover_reasoning_in_danish() -> None:
    curve = explain.handover_curve(np.arange(100.0), np.full(100, 0.5))
    with i18n.using("da"):
        found = explain.recommend_threshold(curve, leads_per_week=10, weeks=4)
        none = explain.recommend_threshold(curve, target_accept_rate=0.9)
    assert found["reasoning"] == (
        "Send leads med en score på 60 eller mere videre til salg: den laveste tærskel, "
        "der overholder højst 10 leads om ugen. Det er 40 af 100 leads (40\xa0%), "
        "10,0 om ugen over 4,0 uger. Salg kan forventes at acceptere omkring 50\xa0% af dem."
    )
    assert none["threshold"] is None
    assert none["reasoning"].startswith(
        "Ingen scoretærskel overholder en forventet acceptrate på mindst 90\xa0%"
    )


def test_danish_write_back_reasons_fit_each_crm_field() -> None:
    with i18n.using("da"):
        reasons = [
            explain.reason_text("prior_awareness", "high", 14.0),
            explain.reason_text("time_on_site_s", 1530, 8.25),
            explain.reason_text("created_at", pd.Timestamp("2026-11-30 09:15"), -2.0),
        ]
    text = explain.REASON_SEPARATOR.join(reasons * 4)
    scores = pd.DataFrame(
        {
            schema.LEAD_ID: ["L1"],
            "score": [71.26],
            "tier": ["A"],
            "p_close": [0.3],
            "reasons": [text],
        }
    )
    for spec in crm.WRITE_BACKS.values():
        written = spec.frame(scores)[spec.reasons].iloc[0]
        assert len(written) <= spec.reasons_max_chars
        kept = written.split(explain.REASON_SEPARATOR)
        assert kept == (reasons * 4)[: len(kept)]  # whole Danish reasons, in order
    assert len(crm.WRITE_BACKS["salesforce"].frame(scores)["Leadmodel_Reasons__c"].iloc[0]) < len(
        text
    )


# --- a user's own field: the label of the language, else the export's name ---------------------
@pytest.fixture(scope="module")
def extra_model() -> FunnelModel:
    """A real model with the user's own field ``visit_score`` (made to matter) beside the
    canonical ones, labelled as the mapping says."""
    leads = generate(EXTRA_ROWS, seed=EXTRA_SEED).export.sort_values(
        schema.CREATED_AT, ignore_index=True
    )
    rng = np.random.default_rng(EXTRA_SEED)
    won = leads[schema.CLOSED].fillna(0).to_numpy(dtype=float)
    leads[EXTRA] = (won * 8 + rng.gamma(2.0, 1.0, len(leads))).round()
    cut = int(len(leads) * EXTRA_TRAIN_SHARE)
    valid = leads.iloc[cut:].reset_index(drop=True)
    model = fit_funnel(leads.iloc[:cut], valid, TrainConfig.model_validate(FAST))
    mapping = ingest.Mapping(rename={EXPORT_NAME: EXTRA}, display={EXTRA: {"da": DANISH_LABEL}})
    model.metadata[DISPLAY_KEY] = mapping.display_names(list(leads.columns))
    return model


def test_reasons_name_the_users_field_by_its_label(extra_model: FunnelModel) -> None:
    assert extra_model.metadata[DISPLAY_KEY] == {EXTRA: {"en": EXPORT_NAME, "da": DANISH_LABEL}}
    leads = generate(EXPLAINED, seed=EXTRA_SEED + 1).export.assign(**{EXTRA: 12.0})
    texts = {}
    for lang in ("en", "da"):
        with i18n.using(lang):
            assert display_labels(extra_model) == {
                EXTRA: {"en": EXPORT_NAME, "da": DANISH_LABEL}[lang]
            }
            explained = explain.explain_leads(
                extra_model, leads, k=len(extra_model.features.input_fields)
            )
        texts[lang] = {
            r["text"] for lead in explained for r in lead["reasons"] if r["field"] == EXTRA
        }
    assert texts["en"] and all(t.startswith(f"{EXPORT_NAME} = 12: ") for t in texts["en"])
    assert texts["da"] and all(t.startswith(f"{DANISH_LABEL} = 12: ") for t in texts["da"])
    with i18n.using("da"):
        change = history.FieldChange(EXTRA, 3.0, 4.0, 12.0, True, True, display_labels(extra_model))
        assert change.text() == f"+3 point: {DANISH_LABEL} 4 -> 12"


@pytest.mark.parametrize(
    ("display", "needle"),
    [
        ({"region": {"da": "Region"}}, "display: region is not a field of this mapping"),
        ({EXTRA: {"de": "Besuchswert"}}, "visit_score: no language 'de'"),
        ({EXTRA: {"da": "  "}}, "visit_score.da: the label must not be empty"),
    ],
)
def test_display_labels_must_name_a_mapped_field_and_a_language(display, needle) -> None:
    with pytest.raises(ValueError, match=re.escape(needle)):
        ingest.Mapping(rename={EXPORT_NAME: EXTRA}, display=display)
