"""The one scoring path: leads -> features -> the booster's matrix -> scores -> reasons.

Checked on messy synthetic leads with unseen categories, absent columns, numbers as text,
None/NaN/empty strings and mixed types: the transform equals a plain pandas oracle, its
matrix holds the codes LightGBM computes, scores are ``booster.predict``'s exactly, plain
records and the same leads as a frame give identical output, and a lead gets the same
answer alone as in any batch.
"""

from __future__ import annotations

import copy

import joblib
import numpy as np
import pandas as pd
import pytest

from leadmodel import explain, schema
from leadmodel.config import TrainConfig
from leadmodel.features import (
    CODE_CACHE_SIZE,
    MISSING_CATEGORY,
    UNKNOWN_CATEGORY,
    LeadFeatures,
    feature_matrix,
    to_numeric,
)
from leadmodel.model import ACCEPT, CLOSE, LGBM_THREADS, FunnelModel, fit_funnel, sigmoid
from leadmodel.synthetic import generate

TRAIN_ROWS, TRAIN_SEED = 3_000, 11
SCORE_ROWS, SCORE_SEED = 300, 12
#: Leads explained one at a time (the edge values are all in the first rows).
SINGLE_ROWS = 120
TRAIN_SHARE = 0.7
#: Largest difference allowed between LightGBM's pandas path and the matrix.
ATOL = 1e-12
#: An extra numeric feature, so generic number reasons (``partner_score = 12``) exist.
EXTRA_NUMBER = "partner_score"
EXTRA_NUMBER_SCALE = 100.0


def _with_extra_number(leads: pd.DataFrame, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return leads.assign(**{EXTRA_NUMBER: rng.gamma(2.0, EXTRA_NUMBER_SCALE / 2, len(leads))})


@pytest.fixture(scope="module")
def model() -> FunnelModel:
    leads = generate(TRAIN_ROWS, seed=TRAIN_SEED).export.sort_values(schema.CREATED_AT)
    leads = _with_extra_number(leads.reset_index(drop=True), TRAIN_SEED)
    n_train = int(TRAIN_ROWS * TRAIN_SHARE)
    train = leads.iloc[:n_train].reset_index(drop=True)
    valid = leads.iloc[n_train:].reset_index(drop=True)
    return fit_funnel(train, valid, TrainConfig())


#: Values written over the first rows of the messy export: (column, values).
_EDGE_VALUES: tuple[tuple[str, list[object]], ...] = (
    (schema.SOURCE, ["", "  ", None, np.nan, " Organic Search ", "organic-search", "Brand New"]),
    (schema.SOURCE, ["unknown", "UNKNOWN", "paid__search", "-", "Referral!", "referral"]),
    (schema.PRIOR_AWARENESS, ["HIGH", " low ", "", None, np.nan, "sometimes", "None"]),
    ("industry", ["", "   ", None, "Software ", "software", "never seen", "unknown", "missing"]),
    ("pages_viewed", ["1,200", " 7 ", "", "abc", None, "3.5", "-0"]),
    ("company_size", ["12,000", "  250", "", None, "1e3", "nan"]),
    (EXTRA_NUMBER, ["1,234", " 5 ", "", None, "x"]),
)
#: Mixed types in one text column: 1, 1.0 and True are one value to pandas, three to text.
_MIXED_TEXT: list[object] = [1, 1.0, True, "1", "1.0", "True", 0, False, 2.5, None, np.nan]


@pytest.fixture(scope="module")
def messy() -> pd.DataFrame:
    """Messy leads to score (no labels), with every awkward kind of value in them."""
    leads = generate(SCORE_ROWS, seed=SCORE_SEED, messy=True).export
    leads = _with_extra_number(leads.drop(columns=list(schema.LABEL_COLUMNS)), SCORE_SEED)
    leads = leads.drop(columns=["job_level"])  # a model feature absent from the input
    row = 0
    for column, values in _EDGE_VALUES:
        leads[column] = leads[column].astype(object)
        for value in values:
            leads.loc[row, column] = value
            row += 1
    leads["country"] = leads["country"].astype(object)
    leads.loc[row : row + len(_MIXED_TEXT) - 1, "country"] = pd.Series(
        _MIXED_TEXT, index=range(row, row + len(_MIXED_TEXT)), dtype=object
    )
    return leads


def reference_transform(features: LeadFeatures, X: pd.DataFrame) -> pd.DataFrame:
    """A column-by-column pandas transform: the oracle of :meth:`LeadFeatures.transform`."""
    n = len(X)
    out: dict[str, pd.Series] = {}
    given = X[schema.CREATED_AT] if schema.CREATED_AT in X else pd.Series([None] * n)
    stamps = pd.to_datetime(given, errors="coerce").reset_index(drop=True)
    for col in features.feature_names_:
        if col in features.time_features_:
            part = stamps.dt.day_of_week if col.endswith("weekday") else stamps.dt.hour
            out[col] = part.astype(float)
            continue
        if col in features.numeric_:
            out[col] = (
                to_numeric(X[col]).reset_index(drop=True)
                if col in X
                else pd.Series(np.nan, index=range(n), dtype=float)
            )
            continue
        cats = features.categories_[col]
        if col in X:
            text = features._normalise_text(col, X[col]).reset_index(drop=True)
            known = text.isin(cats[:-2])
            text = text.where(known, UNKNOWN_CATEGORY).mask(text.isna(), MISSING_CATEGORY)
        else:
            text = pd.Series(MISSING_CATEGORY, index=range(n), dtype=object)
        if col in features.ordinal_:  # ordered levels as their ranks, the rest missing
            rank = {level: float(i) for i, level in enumerate(schema.AWARENESS_LEVELS)}
            out[col] = text.map(rank).astype(float)
            continue
        out[col] = pd.Series(pd.Categorical(text, categories=cats))
    return pd.DataFrame(out, index=range(n))


def _one_by_one(leads: pd.DataFrame) -> list[pd.DataFrame]:
    return [leads.iloc[[i]] for i in range(len(leads))]


# --- the transform ------------------------------------------------------------------------


def test_transform_equals_the_pandas_pipeline_it_replaced(model, messy) -> None:
    fresh = copy.deepcopy(model.features)  # nothing remembered yet
    expected = reference_transform(fresh, messy)
    pd.testing.assert_frame_equal(fresh.transform(messy), expected, check_exact=True)
    # the remembered codes change nothing
    pd.testing.assert_frame_equal(fresh.transform(messy), expected, check_exact=True)
    assert (expected["job_level"] == MISSING_CATEGORY).all()
    assert (expected["industry"] == UNKNOWN_CATEGORY).any()


def test_a_lead_transforms_the_same_alone_as_in_a_batch(model, messy) -> None:
    features = copy.deepcopy(model.features)
    whole = features.transform(messy)
    rows = pd.concat([features.transform(r) for r in _one_by_one(messy)], ignore_index=True)
    pd.testing.assert_frame_equal(rows, whole, check_exact=True)
    chunks = [messy.iloc[i : i + 7] for i in range(0, len(messy), 7)]
    matrix = np.vstack([features.transform_matrix(c) for c in chunks])
    np.testing.assert_array_equal(matrix, features.transform_matrix(messy))


def test_mixed_types_in_a_text_column_are_coded_by_their_text(model, messy) -> None:
    at = messy.index[messy["country"].map(lambda v: type(v) in (int, float, bool))]
    expected = reference_transform(model.features, messy)["country"].iloc[at]
    for i, want in zip(at, expected, strict=True):
        got = model.features.transform(messy.iloc[[i]])["country"].iloc[0]
        assert got == want, f"country of row {i} ({messy.at[i, 'country']!r})"


def test_the_matrix_holds_the_category_codes_lightgbm_computes(model, messy) -> None:
    categories = model.features.booster_categories
    assert len(categories) == len(model.features.categories_) - len(model.features.ordinal_)
    for name, stage in model.stages.items():
        assert stage.booster.pandas_categorical == categories, name
    frame = model.transform(messy)
    matrix = model.features.transform_matrix(messy)
    np.testing.assert_array_equal(matrix, feature_matrix(frame, categories))
    for j, col in enumerate(frame.columns):
        if col in model.features.categories_ and col not in model.features.ordinal_:
            np.testing.assert_array_equal(matrix[:, j], frame[col].cat.codes.to_numpy())


def test_a_frame_with_other_category_orders_is_recoded_as_lightgbm_does(model, messy) -> None:
    frame = model.transform(messy)
    shuffled = frame.assign(
        industry=frame["industry"].cat.reorder_categories(frame["industry"].cat.categories[::-1])
    )
    stage = model.stages[CLOSE]
    np.testing.assert_array_equal(
        feature_matrix(shuffled, stage.booster.pandas_categorical),
        feature_matrix(frame, stage.booster.pandas_categorical),
    )
    want = stage.booster.predict(shuffled, raw_score=True, num_threads=LGBM_THREADS)
    np.testing.assert_allclose(stage.raw(shuffled), want, rtol=0, atol=ATOL)
    # a category left empty (code -1) is NaN to LightGBM
    holes = shuffled.assign(industry=shuffled["industry"].where(shuffled.index % 2 == 0))
    matrix = feature_matrix(holes, stage.booster.pandas_categorical)
    assert np.isnan(matrix[1::2, holes.columns.get_loc("industry")]).all()
    want = stage.booster.predict(holes, raw_score=True, num_threads=LGBM_THREADS)
    np.testing.assert_allclose(stage.raw(holes), want, rtol=0, atol=ATOL)


def test_unknown_values_and_field_texts_equal_the_pandas_pipeline(model, messy) -> None:
    features = model.features
    expected: dict[str, list[str]] = {}
    for col, cats in features.categories_.items():
        if col not in messy:
            continue
        text = features._normalise_text(col, messy[col]).dropna()
        unseen = sorted(set(text[~text.isin(cats[:-2])].astype(str)))
        if unseen:
            expected[col] = unseen
        got = explain.field_values(model, messy, col)
        want = explain.reasons.text_values(col, messy[col].reset_index(drop=True))
        pd.testing.assert_series_equal(got, want, check_names=False)
    assert features.unknown_values(messy) == expected
    assert "brand_new" in expected[schema.SOURCE]


def test_many_distinct_values_are_coded_without_growing_the_cache(model) -> None:
    features = copy.deepcopy(model.features)
    many = pd.DataFrame({"industry": [f"industry {i}" for i in range(CODE_CACHE_SIZE + 1)]})
    pd.testing.assert_frame_equal(
        features.transform(many), reference_transform(features, many), check_exact=True
    )
    assert len(features._coder_table()["industry"].cache) <= CODE_CACHE_SIZE


def test_a_pickled_model_leaves_its_cache_behind_and_scores_the_same(
    model, messy, tmp_path
) -> None:
    before = model.predict(messy)  # fills the cache
    path = tmp_path / "model.joblib"
    joblib.dump(model, path)
    loaded: FunnelModel = joblib.load(path)
    assert "_coders" not in vars(loaded.features)
    pd.testing.assert_frame_equal(loaded.predict(messy), before, check_exact=True)


# --- scores: booster.predict, exactly ---------------------------------------------------------


def test_scores_are_the_boosters_predictions_exactly(model, messy) -> None:
    X = model.matrix(messy)
    frame = model.transform(messy)
    raw: dict[str, np.ndarray] = {}
    for name, stage in model.stages.items():
        raw[name] = stage.booster.predict(X, raw_score=True, num_threads=LGBM_THREADS)
        np.testing.assert_array_equal(stage.raw(X), raw[name])
        np.testing.assert_array_equal(stage.raw(frame), raw[name])  # a frame: the same matrix
        pandas_path = stage.booster.predict(frame, raw_score=True, num_threads=LGBM_THREADS)
        np.testing.assert_allclose(raw[name], pandas_path, rtol=0, atol=ATOL)
        contrib = stage.booster.predict(frame, pred_contrib=True, num_threads=LGBM_THREADS)
        np.testing.assert_allclose(stage.contributions(X), contrib, rtol=0, atol=ATOL)
    close, accept = model.stages[CLOSE], model.stages[ACCEPT]
    close_logit = close.calib_slope * raw[CLOSE] + close.calib_intercept
    scored = model.predict(messy)
    np.testing.assert_array_equal(scored["score"], model.score_from_logit(close_logit))
    np.testing.assert_array_equal(scored["p_close"], sigmoid(close_logit))
    accept_logit = accept.calib_slope * raw[ACCEPT] + accept.calib_intercept
    np.testing.assert_array_equal(scored["p_accept"], sigmoid(accept_logit))
    pd.testing.assert_frame_equal(model.predict_features(frame, messy), scored, check_exact=True)
    explained = explain.explain_leads(model, messy, k=3)
    assert [lead["score"] for lead in explained] == scored["score"].tolist()
    assert [lead["p_close"] for lead in explained] == scored["p_close"].tolist()
    assert [lead["p_accept"] for lead in explained] == scored["p_accept"].tolist()
    for stage in model.stages:
        contrib = explain.contributions(model, messy, stage)
        np.testing.assert_array_equal(contrib.raw, raw[stage])


def test_a_booster_trained_on_other_categories_is_refused(model, messy) -> None:
    other = copy.deepcopy(model)
    close = other.stages[CLOSE]
    close.booster.pandas_categorical = [cats[::-1] for cats in close.booster.pandas_categorical]
    with pytest.raises(ValueError, match="stage close: its booster was trained on other"):
        other.predict(messy)
    frame = other.transform(messy)  # its own frame is still read as LightGBM reads it
    want = close.booster.predict(frame, raw_score=True, num_threads=LGBM_THREADS)
    np.testing.assert_allclose(close.raw(frame), want, rtol=0, atol=ATOL)


def test_empty_input_is_refused_as_before(model, messy) -> None:
    with pytest.raises(ValueError, match="non empty"):
        model.predict(messy.iloc[:0])


# --- explanations --------------------------------------------------------------------------


def test_single_lead_explanations_equal_the_batch_ones(model, messy) -> None:
    batch = explain.explain_leads(model, messy, k=3)[:SINGLE_ROWS]
    first = messy.iloc[:SINGLE_ROWS]
    single = [explain.explain_leads(model, r, k=3)[0] for r in _one_by_one(first)]
    for i, (one, want) in enumerate(zip(single, batch, strict=True)):
        assert one == want, f"lead {i}"
    few = [  # a few leads at a time: several reasons of one field, texts written pair by pair
        lead
        for start in range(0, SINGLE_ROWS, 7)
        for lead in explain.explain_leads(model, first.iloc[start : start + 7], k=3)
    ]
    assert few == batch
    reasons = pd.concat(
        [explain.reasons_frame(model, r, k=3) for r in _one_by_one(first)], ignore_index=True
    )
    want = explain.reasons_frame(model, messy, k=3).iloc[:SINGLE_ROWS]
    pd.testing.assert_frame_equal(reasons.astype(object), want.astype(object))
    full = [explain.full_contributions(model, r)[0] for r in _one_by_one(first)]
    assert full == explain.full_contributions(model, messy)[:SINGLE_ROWS]


def test_contributions_from_the_matrix_equal_those_from_the_frame(model, messy) -> None:
    for stage in model.stages:
        from_frame = explain.contributions(model, messy, stage, X=model.transform(messy))
        from_matrix = explain.contributions(model, messy, stage)
        assert from_matrix.fields == from_frame.fields
        np.testing.assert_allclose(from_matrix.values, from_frame.values, rtol=0, atol=ATOL)
        np.testing.assert_allclose(from_matrix.raw, from_frame.raw, rtol=0, atol=ATOL)
        assert from_matrix.base == from_frame.base


_NUMBERS = [0, 1, 0.95, 0.94, 1.04, 1.05, 0.05, 0.04, -0.04, 59.9, 60, 90, 2.25, 12.0]
_NUMBERS += [1e15, 1e16, 1.5e16, 123456789.25, 1e-7, np.nan, np.inf]
_POINTS = [-0.04, 0.05, 1, -1, 0.95, -0.95, 14, -3.14159, 1e-3, 250.25, -0.0, 1.04]
_TEXTS: list[object] = ["organic_search", "high", "none", "software", "a_b_c", "", np.nan]
_TEXTS += ["sometimes", "1.0", 3.0]
_REASON_CASES = [(f, _NUMBERS, True) for f in (*schema.NUMERIC_COLUMNS, EXTRA_NUMBER)]
_REASON_CASES += [(f, _TEXTS, False) for f in (*schema.TEXT_COLUMNS, "sales_alignment")]
_REASON_CASES += [(schema.PRIOR_AWARENESS, _NUMBERS, True)]


@pytest.mark.parametrize(("field", "values", "numeric"), _REASON_CASES)
def test_reason_texts_of_one_value_equal_those_of_many(field, values, numeric) -> None:
    rows = 3 * len(_POINTS) * len(values)
    rng = np.random.default_rng(len(field))
    given = pd.Series(np.resize(np.asarray(values, dtype=object), rows), dtype=object)
    column = (to_numeric(given) if numeric else given).to_numpy()
    points = np.resize(np.asarray(_POINTS, dtype=float), rows) * rng.choice([1, 10], rows)
    texts = explain.reasons._reason_texts
    batch = texts(field, column, points, numeric, 1)
    one_by_one = [texts(field, column[[i]], points[[i]], numeric, 1)[0] for i in range(rows)]
    assert one_by_one == batch.tolist()
    assert all(isinstance(t, str) and ": " in t for t in batch)


# --- plain records (what the service receives) ----------------------------------------------

#: Plain values only (strings, Python numbers, None), with the awkward ones among them.
_PLAIN_EDGES: tuple[tuple[str, list[object]], ...] = (
    (schema.SOURCE, ["", "  ", None, " Organic Search ", "organic-search", "Brand New", "-"]),
    (schema.PRIOR_AWARENESS, ["HIGH", " low ", "", None, "sometimes"]),
    ("industry", ["", None, "Software ", "never seen", "missing", "unknown"]),
    ("pages_viewed", [None, 0, 3, 2.5, 1e9]),
    ("company_size", [None, 12000, 0.0]),
    (EXTRA_NUMBER, [None, 5, 1.5]),
)


def _plain_records(rows: int, seed: int) -> list[dict[str, object]]:
    leads = generate(rows, seed=seed).export.drop(columns=list(schema.LABEL_COLUMNS))
    leads = _with_extra_number(leads, seed).drop(columns=["job_level"])
    records = [
        {key: None if pd.isna(value) else value for key, value in row.items()}
        for row in leads.to_dict("records")
    ]
    row = 0
    for column, values in _PLAIN_EDGES:
        for value in values:
            records[row][column] = value
            row += 1
    records[row].pop(schema.SOURCE)  # an absent key is a missing value
    return records


def test_plain_records_give_what_the_frame_gives_alone_or_together(model) -> None:
    records = _plain_records(SCORE_ROWS, SCORE_SEED)
    frame = pd.DataFrame.from_records(records)
    np.testing.assert_array_equal(model.matrix(records), model.features.transform_matrix(frame))
    pd.testing.assert_frame_equal(model.predict(records), model.predict(frame), check_exact=True)
    assert explain.full_contributions(model, records) == explain.full_contributions(model, frame)
    batch = explain.explain_leads(model, records, k=3)
    assert batch == explain.explain_leads(model, frame, k=3)
    single = [explain.explain_leads(model, [r], k=3)[0] for r in records[:SINGLE_ROWS]]
    assert single == batch[:SINGLE_ROWS]
    unsigned = explain.explain_leads(model, records, k=3, signed=False)
    assert unsigned == [{k: v for k, v in lead.items() if k in unsigned[0]} for lead in batch]
    assert set(unsigned[0]) == set(batch[0]) - {"positive", "negative"}
    pd.testing.assert_frame_equal(
        explain.reasons_frame(model, records, k=3), explain.reasons_frame(model, frame, k=3)
    )
    assert model.features.unknown_values(records) == model.features.unknown_values(frame)
    assert "brand_new" in model.features.unknown_values(records)[schema.SOURCE]


def test_records_with_values_pandas_must_read_equal_the_frame(model, messy) -> None:
    records = messy.to_dict("records")  # numbers as text, mixed types, NaN
    frame = pd.DataFrame.from_records(records)
    assert explain.explain_leads(model, records, k=3) == explain.explain_leads(model, frame, k=3)
    assert model.features.unknown_values(records) == model.features.unknown_values(frame)
    plain = _plain_records(SCORE_ROWS, SCORE_SEED)[-1]
    for odd in ({"pages_viewed": True}, {"industry": 3.0}, {schema.LEAD_ID: 7}):
        one = [plain | odd]
        want = explain.explain_leads(model, pd.DataFrame.from_records(one), k=3)
        assert explain.explain_leads(model, one, k=3) == want
