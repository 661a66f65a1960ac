"""LightGBM's TreeSHAP contributions, looked up per tree instead of recomputed per lead.

Path-dependent TreeSHAP (what ``booster.predict(pred_contrib=True)`` computes) depends
on a lead only through one bit per split node: whether the lead goes left there. A tree
with ``s`` split nodes therefore has at most ``2**s`` distinct contribution vectors. For
the small trees this package trains (7 leaves: 6 splits, 64 patterns) each tree's
vectors are computed once, **by LightGBM itself** on one representative row per pattern,
and kept in a table. Explaining a lead is then: its bit at every split node (vectorised
comparisons), the pattern of each tree, a table look-up and a sum, about 10x cheaper
than TreeSHAP per lead, and the same numbers up to the order of floating-point sums
(tests compare with ``pred_contrib`` to 1e-12).

The split decisions are LightGBM's (``Tree::NumericalDecision`` and
``Tree::CategoricalDecision`` in ``include/LightGBM/tree.h``): a NaN is read as 0 unless
the node's missing type is NaN; a node whose missing type is Zero (or NaN) sends zeros
(or NaN) to its default side; otherwise ``value <= threshold`` goes left. A categorical
node sends negative values right and a category in the node's set left (a NaN category
is left to LightGBM: see :meth:`ContributionTables.contributions`). LightGBM reads values
within ``1e-35`` of zero as zero. :meth:`ContributionTables.build` checks its decisions
against LightGBM's leaf of every representative row and gives up (returns None, the
caller keeps ``pred_contrib``) on any disagreement, on trees too large to tabulate, or on
models it does not know (several classes, other split kinds).
"""

from __future__ import annotations

import bisect
import itertools
import math
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
from scipy import sparse

#: Split nodes per tree up to which a tree is tabulated (2**10 patterns).
MAX_SPLITS = 10
#: Rows looked up at once (bounds the temporary (rows, trees, features) array).
CHUNK_ROWS = 256
#: Up to this many rows, classes are found value by value and the table rows summed
#: directly (numpy's and scipy's fixed cost per call would dominate).
SMALL_ROWS = 8
#: LightGBM's ``kZeroThreshold`` (a float32 1e-35): values this close to 0 are 0.
ZERO = float(np.float32(1e-35))
_MISSING = {"None": 0, "Zero": 1, "NaN": 2}


@dataclass
class _Nodes:
    """Split nodes of one kind (numeric or categorical), in tree order."""

    position: np.ndarray  # column of the node in the (rows, nodes) bit matrix
    feature: np.ndarray
    missing: np.ndarray  # 0 none, 1 zero, 2 NaN
    default_left: np.ndarray
    threshold: np.ndarray  # numeric: the threshold; categorical: unused
    member: np.ndarray  # categorical: (nodes, categories) True = goes left


def _numeric_bits(values: np.ndarray, nodes: _Nodes) -> np.ndarray:
    """Left (True) or right at each numeric node, for values ``(rows, nodes)``."""
    nan = np.isnan(values)
    missing = nodes.missing[None, :]
    values = np.where(nan & (missing != 2), 0.0, values)
    zero = (values >= -ZERO) & (values <= ZERO)
    special = ((missing == 1) & zero) | ((missing == 2) & nan)
    with np.errstate(invalid="ignore"):
        left = values <= nodes.threshold[None, :]
    return np.where(special, nodes.default_left[None, :], left)


def _categorical_bits(values: np.ndarray, nodes: _Nodes) -> np.ndarray:
    """Left (True) or right at each categorical node, for values ``(rows, nodes)``."""
    nan = np.isnan(values)
    code = np.where(nan, 0.0, np.trunc(np.where(nan, 0.0, values)))
    negative = code < 0
    nan_right = nan & (nodes.missing[None, :] == 2)
    width = nodes.member.shape[1]
    inside = (code >= 0) & (code < width)
    column = np.where(inside, code, 0).astype(np.intp)
    member = nodes.member[np.arange(nodes.member.shape[0])[None, :], column]
    return member & inside & ~negative & ~nan_right


@dataclass
class ContributionTables:
    """Per-tree tables of TreeSHAP contributions of one LightGBM booster.

    Build with :meth:`build`; :meth:`contributions` equals
    ``booster.predict(X, pred_contrib=True)`` for the same float matrix. Scores are never
    read from the tables: :meth:`leadmodel.model.StageModel.explain` takes them from
    ``booster.predict`` and checks the tables' contributions add up to them.
    """

    booster: lgb.Booster
    num_features: int
    categorical_features: np.ndarray
    classes: _Classes
    #: Per feature with splits: (feature, (classes, trees) part of each tree's pattern).
    feature_codes: list[tuple[int, np.ndarray]]
    offset: np.ndarray  # first table row of each tabulated tree
    table: np.ndarray  # (rows, num_features + 1), base value last
    constant: np.ndarray  # contributions of trees without splits (base value only)

    @classmethod
    def build(cls, booster: lgb.Booster) -> ContributionTables | None:
        """Tables for the trees ``booster.predict`` uses; None when they cannot be made."""
        dump = booster.dump_model()  # the trees predict uses: up to the best iteration
        if dump.get("num_class", 1) != 1 or dump.get("num_tree_per_iteration", 1) != 1:
            return None
        num_features = booster.num_feature()
        trees = []
        for info in dump["tree_info"]:
            splits = _splits(info["tree_structure"])
            if splits is None or len(splits) > MAX_SPLITS:
                return None
            trees.append(splits)
        return cls._from_trees(booster, trees, num_features)

    @classmethod
    def _from_trees(
        cls, booster: lgb.Booster, trees: list[list[dict[str, Any]]], num_features: int
    ) -> ContributionTables | None:
        columns: dict[str, list[Any]] = {
            k: [] for k in ("kind", "feature", "missing", "left", "threshold", "cats")
        }
        tree_of_node, weight, offset, tables = [], [], [], []
        constant = np.zeros(num_features + 1)
        rows = 0
        samples: list[tuple[int, np.ndarray, np.ndarray]] = []
        for t, splits in enumerate(trees):
            if not splits:
                one = np.zeros((1, num_features))
                constant += booster.predict(
                    one, pred_contrib=True, start_iteration=t, num_iteration=1, num_threads=1
                )[0]
                continue
            for j, node in enumerate(splits):
                for key in columns:
                    columns[key].append(node[key])
                weight.append(1 << j)
                tree_of_node.append(len(offset))
            nodes = _nodes_of(splits)
            sample = _representatives(splits, nodes, num_features)
            own_weight = np.array([1 << j for j in range(len(splits))], dtype=np.int64)
            codes = _bits(sample, nodes) @ own_weight  # the pattern, split by split
            samples.append((len(offset), sample, codes))
            if not _leaves_agree(booster, t, splits, sample):
                return None
            contrib = booster.predict(
                sample, pred_contrib=True, start_iteration=t, num_iteration=1, num_threads=1
            )
            table = np.full((1 << len(splits), num_features + 1), np.nan)
            table[codes] = contrib
            offset.append(rows)
            tables.append(table)
            rows += len(table)
        all_nodes = [{key: columns[key][i] for key in columns} for i in range(len(columns["kind"]))]
        classes = _classes_of(all_nodes, num_features)
        if classes is None:
            return None
        node_feature = np.array([n["feature"] for n in all_nodes], dtype=np.intp)
        nodes = _nodes_of(all_nodes)
        feature_codes = []
        for f in np.unique(node_feature):
            # each tree's share of the pattern, per class of this feature: 2**j for every
            # split j of the tree on the feature that the class goes left at
            reps = classes.representatives(int(f))
            probe = np.zeros((len(reps), num_features))
            probe[:, f] = reps
            bits = _bits(probe, nodes)
            part = np.zeros((len(reps), len(offset)), dtype=np.int32)
            for i in np.flatnonzero(node_feature == f):
                part[:, tree_of_node[i]] += bits[:, i] * weight[i]
            feature_codes.append((int(f), part))
        tables_ = cls(
            booster=booster,
            num_features=num_features,
            categorical_features=np.flatnonzero(classes.width >= 0),
            classes=classes,
            feature_codes=feature_codes,
            offset=np.array(offset, dtype=np.int64),
            table=np.concatenate(tables) if tables else np.zeros((0, num_features + 1)),
            constant=constant,
        )
        for tree, sample, codes in samples:  # the class path decides as the split path
            if not np.array_equal(tables_.codes(sample, tree), codes):
                return None
        return tables_

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """``(rows, num_features + 1)`` contributions, base value last, as LightGBM's."""
        X = np.asarray(X, dtype=np.float64)
        out = np.empty((len(X), self.num_features + 1))
        tabulated = self._split_off_nan_categories(X, out, pred_contrib=True)
        for start in range(0, len(tabulated), CHUNK_ROWS):
            at = tabulated[start : start + CHUNK_ROWS]
            if not len(self.offset):
                out[at] = self.constant
                continue
            rows = self.offset[None, :] + self.codes(X[at])
            if len(at) <= SMALL_ROWS:
                out[at] = self.table[rows].sum(axis=1) + self.constant
                continue
            lookup = sparse.csr_matrix(
                (np.ones(rows.size), rows.ravel(), np.arange(0, rows.size + 1, rows.shape[1])),
                shape=(len(at), len(self.table)),
            )
            out[at] = lookup @ self.table + self.constant
        return out

    def _split_off_nan_categories(
        self, X: np.ndarray, out: np.ndarray, **predict: bool
    ) -> np.ndarray:
        """Fill ``out`` by LightGBM for rows with a NaN category; the other rows' indices.

        How LightGBM routes NaN in a categorical split depends on the CPU (C++ casts NaN
        to int); the package never writes NaN categories (missing values are a category
        of their own), so those rows are left to LightGBM itself.
        """
        nan_category = np.isnan(X[:, self.categorical_features]).any(axis=1)
        if nan_category.any():
            out[nan_category] = self.booster.predict(X[nan_category], num_threads=1, **predict)
        return np.flatnonzero(~nan_category)

    def codes(self, X: np.ndarray, tree: int | None = None) -> np.ndarray:
        """``(rows, trees)``: the pattern of decisions of every tabulated tree (or one)."""
        classes = self.classes.of(X)
        at = slice(None) if tree is None else tree
        codes = np.zeros((len(X), len(self.offset)) if tree is None else len(X), dtype=np.int32)
        for f, part in self.feature_codes:
            codes += part[classes[:, f], at]
        return codes


@dataclass
class _Classes:
    """Per feature, the classes of values no split tells apart.

    Numeric feature with sorted thresholds ``U``: class ``k`` holds ``U[k-1] < x <= U[k]``
    (``len(U)`` is above them all), then NaN, then zero. Categorical feature with categories
    ``0..W-1`` in its splits: class ``c`` is category ``c``, then ``W`` any larger one, then
    negative values, then NaN.
    """

    thresholds: list[np.ndarray]  # per feature (numeric); empty for categorical
    width: np.ndarray  # per feature: W for categorical, -1 for numeric
    count: np.ndarray  # classes per feature

    def __post_init__(self) -> None:
        self.bounds = [u.tolist() for u in self.thresholds]

    def of(self, X: np.ndarray) -> np.ndarray:
        """``(rows, features)``: the class of every value."""
        if len(X) <= SMALL_ROWS:
            return np.array([[self._one(f, x) for f, x in enumerate(row)] for row in X.tolist()])
        out = np.zeros(X.shape, dtype=np.intp)
        for f in range(X.shape[1]):
            x = X[:, f]
            nan = np.isnan(x)
            if self.width[f] >= 0:
                w = int(self.width[f])
                code = np.trunc(np.where(nan, 0.0, x))
                cls = np.where(code >= w, w, np.where(code < 0, w + 1, code))
                out[:, f] = np.where(nan, w + 2, np.where(code >= w, w, cls)).astype(np.intp)
                continue
            u = self.thresholds[f]
            cls = np.searchsorted(u, np.where(nan, 0.0, x), side="left")
            zero = (x >= -ZERO) & (x <= ZERO)
            out[:, f] = np.where(nan, len(u) + 1, np.where(zero, len(u) + 2, cls))
        return out

    def _one(self, f: int, x: float) -> int:
        """:meth:`of` for one value."""
        w = int(self.width[f])
        if w >= 0:
            if math.isnan(x):
                return w + 2
            code = math.trunc(x)
            return w if code >= w else w + 1 if code < 0 else code
        bounds = self.bounds[f]
        if math.isnan(x):
            return len(bounds) + 1
        if -ZERO <= x <= ZERO:
            return len(bounds) + 2
        return bisect.bisect_left(bounds, x)

    def representatives(self, f: int) -> np.ndarray:
        """A value of every class of feature ``f`` (one LightGBM routes like the class).

        The NaN class of a categorical feature gets -1 (right everywhere): rows with a
        NaN category never use the tables (see :meth:`ContributionTables.contributions`).
        """
        if self.width[f] >= 0:
            w = int(self.width[f])
            return np.array([*range(w), w, -1.0, -1.0], dtype=np.float64)
        u = self.thresholds[f]
        reps = []
        for k in range(len(u) + 1):
            low = u[k - 1] if k > 0 else -np.inf
            high = u[k] if k < len(u) else np.nextafter(u[-1], np.inf) if len(u) else 1.0
            if abs(high) <= ZERO:  # a non-zero value of (low, high] if there is one
                below = np.nextafter(-ZERO, -np.inf)
                high = below if below > low else high
            reps.append(high)
        return np.array([*reps, np.nan, 0.0], dtype=np.float64)


def _splits(root: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The split nodes of a dumped tree (depth first), or None for a kind not handled."""
    out: list[dict[str, Any]] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if "split_index" not in node:
            if "leaf_index" not in node and "leaf_value" not in node:
                return None
            continue
        kind = node["decision_type"]
        if kind not in ("<=", "=="):
            return None
        cats: list[int] = []
        threshold = 0.0
        if kind == "==":
            cats = [int(c) for c in str(node["threshold"]).split("||")]
        else:
            threshold = float(node["threshold"])
        out.append(
            {
                "kind": kind,
                "feature": int(node["split_feature"]),
                "missing": _MISSING[node["missing_type"]],
                "left": bool(node["default_left"]),
                "threshold": threshold,
                "cats": cats,
                "split_index": int(node["split_index"]),
                "left_child": node["left_child"],
                "right_child": node["right_child"],
            }
        )
        stack += [node["right_child"], node["left_child"]]
    return out


def _nodes_of(splits: list[dict[str, Any]]) -> tuple[_Nodes, _Nodes]:
    kinds = np.array([s["kind"] == "==" for s in splits], dtype=bool)
    out = []
    for categorical in (False, True):
        at = np.flatnonzero(kinds == categorical)
        width = 1 + max((max(splits[i]["cats"], default=-1) for i in at), default=-1)
        member = np.zeros((len(at), max(width, 1)), dtype=bool)
        for row, i in enumerate(at):
            member[row, splits[i]["cats"]] = True
        out.append(
            _Nodes(
                position=at,
                feature=np.array([splits[i]["feature"] for i in at], dtype=np.intp),
                missing=np.array([splits[i]["missing"] for i in at], dtype=np.int8),
                default_left=np.array([splits[i]["left"] for i in at], dtype=bool),
                threshold=np.array([splits[i]["threshold"] for i in at], dtype=np.float64),
                member=member,
            )
        )
    return out[0], out[1]


def _bits(X: np.ndarray, nodes: tuple[_Nodes, _Nodes]) -> np.ndarray:
    """``(rows, splits)``: True where a row goes left at a split node."""
    numeric, categorical = nodes
    bits = np.empty((len(X), len(numeric.position) + len(categorical.position)), dtype=bool)
    X = np.where(np.abs(X) <= ZERO, 0.0, X)  # LightGBM drops values this close to 0
    if len(numeric.position):
        bits[:, numeric.position] = _numeric_bits(X[:, numeric.feature], numeric)
    if len(categorical.position):
        bits[:, categorical.position] = _categorical_bits(X[:, categorical.feature], categorical)
    return bits


def _classes_of(nodes: list[dict[str, Any]], num_features: int) -> _Classes | None:
    thresholds: list[np.ndarray] = [np.zeros(0) for _ in range(num_features)]
    width = np.full(num_features, -1, dtype=np.int64)
    for f in range(num_features):
        own = [n for n in nodes if n["feature"] == f]
        kinds = {n["kind"] for n in own}
        if len(kinds) > 1:
            return None  # one feature split both ways: not a model this package trains
        if kinds == {"=="}:
            width[f] = 1 + max(max(n["cats"], default=-1) for n in own)
        else:
            thresholds[f] = np.unique([n["threshold"] for n in own])
    count = np.array(
        [w + 3 if w >= 0 else len(u) + 3 for w, u in zip(width, thresholds, strict=True)]
    )
    return _Classes(thresholds, width, count)


def _candidates(node_values: list[dict[str, Any]]) -> np.ndarray:
    """Values of one feature that reach every combination of its nodes' decisions."""
    categorical = any(node["kind"] == "==" for node in node_values)
    values = {0.0, -1.0, 1.0} if categorical else {0.0, -1.0, 1.0, np.nan}
    for node in node_values:
        if node["kind"] == "==":
            values.update(float(c) for c in node["cats"])
            values.add(float(max(node["cats"]) + 1))
        else:
            th = node["threshold"]
            values.update({th, np.nextafter(th, np.inf), np.nextafter(th, -np.inf)})
    return np.array(sorted(values, key=lambda v: (np.isnan(v), v)), dtype=np.float64)


def _representatives(
    splits: list[dict[str, Any]], nodes: tuple[_Nodes, _Nodes], num_features: int
) -> np.ndarray:
    """One row per reachable pattern of the tree's decisions (other features 0)."""
    per_feature: list[tuple[int, np.ndarray]] = []
    for feature in sorted({s["feature"] for s in splits}):
        candidates = _candidates([s for s in splits if s["feature"] == feature])
        probe = np.zeros((len(candidates), num_features))
        probe[:, feature] = candidates
        bits = _bits(probe, nodes)
        own = [j for j, s in enumerate(splits) if s["feature"] == feature]
        _, first = np.unique(bits[:, own], axis=0, return_index=True)
        per_feature.append((feature, candidates[np.sort(first)]))
    combos = list(itertools.product(*(values for _, values in per_feature)))
    sample = np.zeros((len(combos), num_features))
    for column, (feature, _) in enumerate(per_feature):
        sample[:, feature] = [combo[column] for combo in combos]
    return sample


def _leaves_agree(
    booster: lgb.Booster, tree: int, splits: list[dict[str, Any]], sample: np.ndarray
) -> bool:
    """Whether these decisions lead every row to the leaf LightGBM's own predict reaches."""
    nodes = _nodes_of(splits)
    bits = _bits(sample, nodes)
    by_index = {s["split_index"]: j for j, s in enumerate(splits)}
    root = splits[0]
    leaves = np.empty(len(sample), dtype=np.int64)
    for row in range(len(sample)):
        node: dict[str, Any] = root
        while True:
            left = bits[row, by_index[node["split_index"]]]
            child = node["left_child"] if left else node["right_child"]
            if "split_index" not in child:
                leaves[row] = child["leaf_index"]
                break
            node = splits[by_index[child["split_index"]]]
    want = booster.predict(
        sample, pred_leaf=True, start_iteration=tree, num_iteration=1, num_threads=1
    )
    return bool(np.array_equal(np.asarray(want).reshape(-1), leaves))
