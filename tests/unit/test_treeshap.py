"""Contribution tables give LightGBM's own ``pred_contrib`` numbers, edge values included.

The tables decide left or right at every split as LightGBM does and compute each leaf's
TreeSHAP share themselves (small trees and the deep trees of a tuned model); these tests feed them
the values where that is easiest to get wrong (exactly a threshold and its neighbours,
NaN, zero and values within 1e-35 of it, negative, fractional and unseen category codes)
on boosters with every missing-value handling, and compare with ``pred_contrib``. Scores
never come from the tables: a stage's raw score is ``booster.predict``'s, and a stage
whose tables are wrong notices on the call and gives LightGBM's numbers instead.
"""

from __future__ import annotations

import copy
import logging
import pickle

import lightgbm as lgb
import numpy as np
import pytest

from leadmodel import treeshap
from leadmodel.model import LGBM_THREADS, StageModel
from leadmodel.treeshap import ZERO, ContributionTables

ROWS = 3_000
#: pred_contrib and the tables sum the same per-leaf terms in another order.
ATOL = 1e-12
#: The same for trees of up to 31 leaves over 10 features (longer sums).
DEEP_ATOL = 1e-10
CATEGORIES = 6
DEEP_ROWS = 4_000
DEEP_LEAVES = 31


def _data(seed: int, nan_share: float, zero_share: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = np.column_stack(
        [
            rng.normal(size=ROWS),
            rng.poisson(2.0, size=ROWS).astype(float),
            rng.integers(0, CATEGORIES, size=ROWS).astype(float),
            rng.exponential(3.0, size=ROWS),
        ]
    )
    X[rng.random(ROWS) < zero_share, 0] = 0.0
    X[rng.random(ROWS) < nan_share, 1] = np.nan
    X[rng.random(ROWS) < nan_share, 3] = np.nan
    logit = X[:, 0] + 0.4 * np.nan_to_num(X[:, 1]) - 0.5 * (X[:, 2] == 3) + np.sin(X[:, 3])
    y = (rng.random(ROWS) < 1 / (1 + np.exp(-np.nan_to_num(logit)))).astype(int)
    return X, y


def _booster(seed: int, leaves: int = 7, **params: object) -> tuple[lgb.Booster, np.ndarray]:
    X, y = _data(seed, nan_share=0.2, zero_share=0.2)
    data = lgb.Dataset(X, y, categorical_feature=[2], free_raw_data=False)
    booster = lgb.train(
        {
            "objective": "binary",
            "num_leaves": leaves,
            "learning_rate": 0.1,
            "min_data_in_leaf": 5,
            "verbose": -1,
            "num_threads": LGBM_THREADS,
            "max_cat_to_onehot": 2,  # many-vs-many category splits, not only one-vs-rest
            **params,
        },
        data,
        num_boost_round=60,
    )
    return booster, X


def _edge_rows(booster: lgb.Booster, X: np.ndarray, seed: int) -> np.ndarray:
    """Real rows, then rows whose values sit exactly on and next to every threshold."""
    rng = np.random.default_rng(seed)
    dump = booster.dump_model()
    values: dict[int, set[float]] = {f: {0.0, -0.0, np.nan, ZERO, -ZERO, 1e-36} for f in range(4)}
    stack = [t["tree_structure"] for t in dump["tree_info"]]
    while stack:
        node = stack.pop()
        if "split_index" not in node:
            continue
        f = node["split_feature"]
        if node["decision_type"] == "<=":
            th = float(node["threshold"])
            values[f] |= {th, np.nextafter(th, np.inf), np.nextafter(th, -np.inf)}
        stack += [node["left_child"], node["right_child"]]
    values[2] |= {-1.0, -0.5, 0.5, 2.9, float(CATEGORIES), 99.0, *map(float, range(CATEGORIES))}
    edges = np.tile(X[:200], (4, 1))
    for f, vals in values.items():
        pool = np.array(sorted(vals, key=lambda v: (np.isnan(v), v)))
        edges[:, f] = rng.choice(pool, size=len(edges))
    return np.vstack([X[:500], edges])


@pytest.mark.parametrize(
    "params",
    [
        {},  # NaN missing type where training saw NaN, None elsewhere
        {"zero_as_missing": True},  # missing type Zero
        {"use_missing": False},  # no missing handling: NaN read as 0
    ],
    ids=["nan", "zero-as-missing", "no-missing"],
)
def test_tables_equal_lightgbm_on_edge_values(params) -> None:
    booster, X = _booster(1, **params)
    tables = ContributionTables.build(booster)
    assert tables is not None
    rows = _edge_rows(booster, X, 2)
    want = booster.predict(rows, pred_contrib=True, num_threads=LGBM_THREADS)
    np.testing.assert_allclose(tables.contributions(rows), want, rtol=0, atol=ATOL)
    for n in (1, 3):  # the value-by-value path for a few rows
        np.testing.assert_allclose(tables.contributions(rows[:n]), want[:n], rtol=0, atol=ATOL)


def test_nan_categories_are_left_to_lightgbm() -> None:
    booster, X = _booster(6)
    tables = ContributionTables.build(booster)
    assert tables is not None
    rows = X[:50].copy()
    rows[::3, 2] = np.nan  # the package never writes these; LightGBM decides their way
    want = booster.predict(rows, pred_contrib=True, num_threads=LGBM_THREADS)
    np.testing.assert_allclose(tables.contributions(rows), want, rtol=0, atol=ATOL)


def test_the_best_iteration_is_the_one_tabulated() -> None:
    booster, X = _booster(3)
    booster.best_iteration = 25  # predict (and so the tables) stop there
    want = booster.predict(X[:300], pred_contrib=True, num_threads=LGBM_THREADS)
    tables = ContributionTables.build(booster)
    assert tables is not None
    np.testing.assert_allclose(tables.contributions(X[:300]), want, rtol=0, atol=ATOL)


def _deep_booster() -> tuple[lgb.Booster, np.ndarray]:
    """31-leaf trees over 10 features (2 categorical, NaN in 3): long paths, many features."""
    rng = np.random.default_rng(11)
    X = rng.normal(size=(DEEP_ROWS, 10))
    X[:, 2] = rng.integers(0, CATEGORIES, size=DEEP_ROWS)
    X[:, 7] = rng.integers(0, 12, size=DEEP_ROWS)
    for f in (1, 4, 8):
        X[rng.random(DEEP_ROWS) < 0.15, f] = np.nan
    X[rng.random(DEEP_ROWS) < 0.1, 5] = 0.0
    clean = np.nan_to_num(X)
    logit = clean[:, :6].sum(axis=1) * np.sign(clean[:, 6]) + (X[:, 7] % 3) - (X[:, 2] == 1)
    y = (rng.random(DEEP_ROWS) < 1 / (1 + np.exp(-logit))).astype(int)
    data = lgb.Dataset(X, y, categorical_feature=[2, 7], free_raw_data=False)
    params = {
        "objective": "binary",
        "num_leaves": DEEP_LEAVES,
        "min_data_in_leaf": 5,
        "max_cat_to_onehot": 2,
        "verbose": -1,
        "num_threads": LGBM_THREADS,
    }
    return lgb.train(params, data, num_boost_round=25), X


def test_deep_trees_get_tables_equal_to_lightgbm() -> None:
    booster, X = _deep_booster()
    leaves = [t["num_leaves"] for t in booster.dump_model()["tree_info"]]
    assert max(leaves) == DEEP_LEAVES and min(leaves) >= 20  # more than 2**10 patterns
    tables = ContributionTables.build(booster)
    assert tables is not None
    rng = np.random.default_rng(12)
    rows = np.vstack([X[:300], X[rng.integers(0, DEEP_ROWS, 200)]])
    rows[300:, 7] = rng.choice([-1.0, 0.0, 5.0, 11.0, 12.0, 40.0], size=200)  # unseen codes
    rows[300:, 3] = np.nan  # NaN where training had none
    want = booster.predict(rows, pred_contrib=True, num_threads=LGBM_THREADS)
    assert np.isnan(rows).any(axis=1).mean() > 0.3
    np.testing.assert_allclose(tables.contributions(rows), want, rtol=0, atol=DEEP_ATOL)
    np.testing.assert_allclose(tables.contributions(rows[:1]), want[:1], rtol=0, atol=DEEP_ATOL)


def test_tables_over_the_size_limit_keep_lightgbm_and_give_the_same_numbers(monkeypatch) -> None:
    booster, X = _booster(4, leaves=21)
    assert ContributionTables.build(booster) is not None
    monkeypatch.setattr(treeshap, "MAX_TABLE_VALUES", 100)
    assert ContributionTables.build(booster) is None
    stage = StageModel("close", booster)
    want = booster.predict(X[:200], pred_contrib=True, num_threads=LGBM_THREADS)
    np.testing.assert_array_equal(stage.contributions(X[:200]), want)
    raw = booster.predict(X[:200], raw_score=True, num_threads=LGBM_THREADS)
    np.testing.assert_array_equal(stage.raw(X[:200]), raw)


def test_a_stage_uses_the_tables_and_does_not_pickle_them() -> None:
    booster, X = _booster(5)
    stage = StageModel("close", booster)
    want = booster.predict(X[:200], pred_contrib=True, num_threads=LGBM_THREADS)
    np.testing.assert_allclose(stage.contributions(X[:200]), want, rtol=0, atol=ATOL)
    assert stage.contribution_tables() is not None
    loaded = pickle.loads(pickle.dumps(stage))
    assert "_tables" not in vars(loaded)
    np.testing.assert_allclose(loaded.contributions(X[:200]), want, rtol=0, atol=ATOL)


def test_a_stage_scores_with_the_booster_itself() -> None:
    booster, X = _booster(5)
    stage = StageModel("close", booster)
    assert stage.contribution_tables() is not None
    rows = _edge_rows(booster, X, 5)
    want = booster.predict(rows, raw_score=True, num_threads=LGBM_THREADS)
    np.testing.assert_array_equal(stage.raw(rows), want)  # exactly: the same call
    raw, contrib = stage.explain(rows)
    np.testing.assert_array_equal(raw, want)
    np.testing.assert_allclose(contrib.sum(axis=1), raw, rtol=0, atol=ATOL)


def _corrupted(stage: StageModel, X: np.ndarray) -> tuple[StageModel, np.ndarray]:
    """A copy of ``stage`` with one wrong table value; the rows of ``X`` that read it."""
    wrong = copy.copy(stage)
    tables = copy.deepcopy(stage.contribution_tables())
    assert tables is not None
    codes = tables.codes(X)[:, 0]  # group 0 (the first tree's), slot 0 (its first feature)
    tables.table[tables.slot_start[0] + codes[0] * tables.slot_width[0]] += 0.5
    wrong._tables = tables
    return wrong, codes == codes[0]


def test_wrong_tables_are_caught_on_every_call_and_lightgbm_answers(caplog) -> None:
    booster, X = _booster(6)
    stage = StageModel("close", booster)
    want = booster.predict(X[:400], pred_contrib=True, num_threads=LGBM_THREADS)
    wrong, hit = _corrupted(stage, X[:400])  # hit: the rows that read the wrong value
    tables = wrong.contribution_tables()
    assert hit.any() and not hit.all()
    assert np.abs(tables.contributions(X[:400])[hit] - want[hit]).max() > 0.1  # really wrong
    with caplog.at_level(logging.WARNING, logger="leadmodel.model"):
        raw, contrib = wrong.explain(X[:400])
        np.testing.assert_allclose(contrib, want, rtol=0, atol=ATOL)
        np.testing.assert_array_equal(raw, booster.predict(X[:400], raw_score=True))
        for start in range(0, 400, 50):  # every call checks, small or large
            part = wrong.contributions(X[start : start + 50])
            np.testing.assert_allclose(part, want[start : start + 50], rtol=0, atol=ATOL)
    warnings = [r for r in caplog.records if "contribution tables disagree" in r.getMessage()]
    assert len(warnings) == 1  # logged once, not on every call
    assert f"{int(hit.sum())} of 400 rows" in warnings[0].getMessage()
    # the rows the corruption does not touch still come from the tables
    np.testing.assert_allclose(contrib[~hit], tables.contributions(X[:400])[~hit], atol=0)
