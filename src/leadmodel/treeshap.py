"""LightGBM's TreeSHAP contributions, looked up per leaf instead of recomputed per lead.

Path-dependent TreeSHAP (what ``booster.predict(pred_contrib=True)`` computes) is a sum
over the leaves of every tree. Leaf ``l`` with value ``v``, whose path splits on the
distinct features ``F`` (``d = |F|``), adds to each ``i`` in ``F``::

    v * (o_i - z_i) * sum over S in F\\{i} of |S|! (d-|S|-1)! / d!
                      * prod_{j in S} o_j * prod_{j in F\\S\\{i}} z_j

where, over the path's nodes on feature ``j``, ``z_j`` is the product of the cover ratios
(child count / node count) and ``o_j`` is 1 when the lead goes toward the leaf at all of
them, else 0 (LightGBM's ``Tree::TreeSHAP``: ``zero_fraction`` and ``one_fraction`` of its
unique path, repeated features merged). A leaf's share therefore depends on a lead only
through its ``d`` bits ``o``: its ``2**d`` contribution vectors are computed once (the sum
over ``S`` is the coefficient list of ``prod_{j != i} (z_j + o_j t)``, weighted) and kept
in a table. Explaining a lead is then: the class of each of its values (which values no
split tells apart), each leaf's bits, a table look-up per (leaf, feature) and a sum per
feature. The tables grow with ``sum_l d_l 2**d_l``, not with the ``2**splits`` decision
patterns of a whole tree, so the 20- to 63-leaf trees of a tuned model fit too.

The split decisions are LightGBM's (``Tree::NumericalDecision`` and
``Tree::CategoricalDecision`` in ``include/LightGBM/tree.h``): a NaN is read as 0 unless
the node's missing type is NaN; a node whose missing type is Zero (or NaN) sends zeros
(or NaN) to its default side; otherwise ``value <= threshold`` goes left. A categorical
node sends negative values right and a category in the node's set left (a NaN category
is left to LightGBM: see :meth:`ContributionTables.contributions`). LightGBM reads values
within ``1e-35`` of zero as zero. :meth:`ContributionTables.build` compares the leaves its
decisions reach and its contributions with LightGBM's own (``pred_leaf``, ``pred_contrib``)
on rows that take every class of every feature, and gives up (returns None, the caller
keeps ``pred_contrib``) on any disagreement, on tables larger than
:data:`MAX_TABLE_VALUES`, or on models it does not know (several classes, other split
kinds).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
from scipy import sparse

#: Most distinct features on one leaf's path that get a table (``2**d`` rows each).
MAX_LEAF_FEATURES = 16
#: Most table values (float64) of one booster: 64 MiB. Larger tables are not built.
MAX_TABLE_VALUES = 2**23
#: Most pattern rows of one group's table: a subtree whose leaves' bits take more
#: combinations is split into its two subtrees (down to single leaves).
GROUP_ROWS = 1024
#: Most values of one temporary array while leaf tables are computed.
CHUNK_VALUES = 2**19
#: Rows looked up at once (bounds the temporary (rows, groups) arrays).
CHUNK_ROWS = 256
#: Up to this many rows, classes are found value by value (numpy's fixed cost per call
#: would dominate).
SMALL_ROWS = 8
#: Rows of the build's check of contributions against ``pred_contrib`` (its check of
#: leaves against ``pred_leaf`` has a row per class of the feature with most classes).
CHECK_ROWS = 64
#: Largest difference from LightGBM's ``pred_contrib`` the build's check accepts (the
#: tables sum the same terms in another order: about 1e-15).
CHECK_ATOL = 1e-10
#: LightGBM's ``kZeroThreshold`` (a float32 1e-35): values this close to 0 are 0.
ZERO = float(np.float32(1e-35))
_MISSING = {"None": 0, "Zero": 1, "NaN": 2}
#: Up to this many leaves, a class's bits are keyed as one int64 (else as bytes).
_KEY_BITS = 62
#: ``dump_model`` writes thresholds beyond this as this (``Common::AvoidInf``); a NaN split
#: (all numbers left) has threshold +inf.
DUMPED_INF = 1e300
#: Seed of the build's check rows (the check is the same on every build).
_CHECK_SEED = 0


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
class _Leaf:
    """One leaf of a tree: its value and its path (split node, goes left, cover ratio)."""

    tree: int
    index: int  # LightGBM's leaf index in its tree
    value: float
    path: list[tuple[int, bool, float]]


@dataclass
class _FeatureBits:
    """The bits ``o`` of every leaf that splits on one feature, for every class of it."""

    bits: np.ndarray  # (classes, leaves on the feature)
    column: np.ndarray  # per leaf of the model: its column in ``bits`` (-1: none)
    position: np.ndarray  # per column: the feature's position k among the leaf's features


@dataclass
class _Signatures:
    """How a group of leaves sees one feature: which classes no leaf of it tells apart."""

    feature: int
    of_class: np.ndarray  # (classes,) the signature of every class of the feature
    bits: np.ndarray  # (signatures, leaves of the group on the feature) their bits
    leaves: np.ndarray  # those leaves
    position: np.ndarray  # the feature's position among each of those leaves' features


@dataclass
class ContributionTables:
    """Tables of TreeSHAP contributions of one LightGBM booster, per group of leaves.

    Build with :meth:`build`; :meth:`contributions` equals
    ``booster.predict(X, pred_contrib=True)`` for the same float matrix. Scores are never
    read from the tables: :meth:`leadmodel.model.StageModel.explain` takes them from
    ``booster.predict`` and checks the tables' contributions add up to them.

    A *group* is a subtree of one tree (a whole tree, or down to a leaf) whose leaves'
    bits take at most :data:`GROUP_ROWS` combinations: per feature, the classes that no
    leaf of the group tells apart share a *signature*, and a lead's pattern in the group
    is its signature of every feature the group splits on (mixed radix: a *pair* is one
    (group, feature) part of it). The group's table has a row per pattern, holding the
    sum of its leaves' contributions to its features (a *slot* is one such column).
    """

    booster: lgb.Booster
    num_features: int
    categorical_features: np.ndarray
    classes: _Classes
    pair_feature: np.ndarray  # per pair (in group order): its feature
    pair_start: np.ndarray  # per pair: where its part of the pattern, per class, starts
    parts: np.ndarray  # every pair's part of the pattern per class (signature * radix)
    group_pairs: np.ndarray  # first pair of every group
    slot_group: np.ndarray  # per slot (in group order): its group
    slot_start: np.ndarray  # per slot: its value in the group's first table row
    slot_width: np.ndarray  # per slot: the width of its group's table rows
    slot_feature: np.ndarray  # per slot: its feature
    from_slots: sparse.csr_matrix  # (num_features, slots): 1 where the slot is the feature's
    table: np.ndarray  # every group's (patterns, width) table, flat
    base: float  # the base value (sum of the trees' expected values)

    @classmethod
    def build(
        cls, booster: lgb.Booster, max_values: int | None = None
    ) -> ContributionTables | None:
        """Tables for the trees ``booster.predict`` uses; None when they cannot be made.

        ``max_values`` (default :data:`MAX_TABLE_VALUES`) bounds the tables' size.
        """
        limit = MAX_TABLE_VALUES if max_values is None else max_values
        dump = booster.dump_model()  # the trees predict uses: up to the best iteration
        if dump.get("num_class", 1) != 1 or dump.get("num_tree_per_iteration", 1) != 1:
            return None
        num_features = booster.num_feature()
        parsed = _parse(dump["tree_info"])
        if parsed is None:
            return None
        nodes, leaves = parsed
        node_feature = [int(n["feature"]) for n in nodes]
        features = [_path_features(leaf, node_feature) for leaf in leaves]
        depth = np.array([len(f) for f in features], dtype=np.int64)
        if len(leaves) and depth.max() > MAX_LEAF_FEATURES:
            return None
        if int((depth << depth).sum()) > limit:
            return None  # a leaf per group is the smallest these tables get
        classes = _classes_of(nodes, num_features)
        if classes is None:
            return None
        bits = _leaf_bits(nodes, leaves, features, classes)
        check = _check_rows(classes, num_features)
        if not _leaves_agree(booster, leaves, features, bits, classes, check, dump):
            return None
        leaf_tables = _leaf_tables(leaves, features, node_feature)
        tables = cls._grouped(booster, leaves, features, bits, leaf_tables, classes, limit)
        if tables is None:
            return None
        rows = check[:CHECK_ROWS]
        want = booster.predict(rows, pred_contrib=True, num_threads=1)
        tables.base = float(want[0, -1])
        if not np.abs(tables.contributions(rows) - want).max() <= CHECK_ATOL:
            return None
        return tables

    @classmethod
    def _grouped(
        cls,
        booster: lgb.Booster,
        leaves: list[_Leaf],
        features: list[list[int]],
        bits: dict[int, _FeatureBits],
        leaf_tables: list[np.ndarray],
        classes: _Classes,
        limit: int,
    ) -> ContributionTables | None:
        """The tables of groups of leaves (None: larger than ``limit`` values)."""
        num_features = booster.num_feature()
        tree = np.array([leaf.tree for leaf in leaves], dtype=np.int64)
        pair_feature, pair_start, parts, group_pairs = [], [], [], []
        slot_group, slot_start, slot_width, slot_feature, tables = [], [], [], [], []
        values = parts_size = 0
        for t in np.unique(tree):
            ids = np.flatnonzero(tree == t)
            for group, signatures in _groups(ids, 0, leaves, _signatures(ids, features, bits)):
                g = len(group_pairs)
                group_pairs.append(len(pair_feature))
                radix = 1
                patterns = math.prod(len(s.bits) for s in signatures)
                pattern = np.arange(patterns)
                code = np.zeros((patterns, len(group)), dtype=np.int64)  # per leaf of it
                for s in signatures:
                    pair_feature.append(s.feature)
                    pair_start.append(parts_size)
                    parts.append(s.of_class.astype(np.int64) * radix)
                    parts_size += len(s.of_class)
                    signature = (pattern // radix) % len(s.bits)
                    local = np.searchsorted(group, s.leaves)
                    code[:, local] |= s.bits[signature].astype(np.int64) << s.position
                    radix *= len(s.bits)
                own = [s.feature for s in signatures]
                table = np.zeros((patterns, len(own)))
                column = {f: j for j, f in enumerate(own)}
                for i, n in enumerate(group.tolist()):
                    table[:, [column[f] for f in features[n]]] += leaf_tables[n][code[:, i]]
                slot_group += [g] * len(own)
                slot_start += range(values, values + len(own))
                slot_width += [len(own)] * len(own)
                slot_feature += own
                tables.append(table.ravel())
                values += table.size
                if values > limit:
                    return None
        slots = len(slot_feature)
        return cls(
            booster=booster,
            num_features=num_features,
            categorical_features=np.flatnonzero(classes.width >= 0),
            classes=classes,
            pair_feature=np.array(pair_feature, dtype=np.intp),
            pair_start=np.array(pair_start, dtype=np.int64),
            parts=np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64),
            group_pairs=np.array(group_pairs, dtype=np.intp),
            slot_group=np.array(slot_group, dtype=np.intp),
            slot_start=np.array(slot_start, dtype=np.int64),
            slot_width=np.array(slot_width, dtype=np.int64),
            slot_feature=np.array(slot_feature, dtype=np.intp),
            from_slots=sparse.csr_matrix(
                (np.ones(slots), (slot_feature, np.arange(slots))), shape=(num_features, slots)
            ),
            table=np.concatenate(tables) if tables else np.zeros(0),
            base=0.0,
        )

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """``(rows, num_features + 1)`` contributions, base value last, as LightGBM's."""
        X = np.asarray(X, dtype=np.float64)
        out = np.empty((len(X), self.num_features + 1))
        tabulated = self._split_off_nan_categories(X, out, pred_contrib=True)
        out[tabulated, -1] = self.base
        if not len(self.slot_group):
            out[tabulated, :-1] = 0.0
            return out
        step = max(1, CHUNK_VALUES // len(self.slot_group))
        for first in range(0, len(tabulated), step):
            at = tabulated[first : first + step]
            codes = self._codes_by_group(X[at])  # (groups, rows): whole rows copy fast
            values = self.table[
                self.slot_start[:, None] + codes[self.slot_group] * self.slot_width[:, None]
            ]
            if len(at) == 1:  # one lead: a weighted count beats a sparse product
                out[at[0], :-1] = np.bincount(
                    self.slot_feature, weights=values[:, 0], minlength=self.num_features
                )
            else:
                out[at, :-1] = (self.from_slots @ values).T
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

    def codes(self, X: np.ndarray) -> np.ndarray:
        """``(rows, groups)``: every group's pattern (its row in the group's table)."""
        return self._codes_by_group(X).T

    def _codes_by_group(self, X: np.ndarray) -> np.ndarray:
        """:meth:`codes` as ``(groups, rows)``."""
        classes = self.classes.of(X).T
        parts = self.parts[self.pair_start[:, None] + classes[self.pair_feature]]
        return np.add.reduceat(parts, self.group_pairs, axis=0)


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


def _parse(trees: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[_Leaf]] | None:
    """Split nodes (all trees, numbered) and leaves of dumped trees; None for unknown kinds.

    Trees without splits add only to the base value and have no leaves here.
    """
    nodes: list[dict[str, Any]] = []
    leaves: list[_Leaf] = []
    for t, info in enumerate(trees):
        root = info["tree_structure"]
        if "split_index" not in root:
            continue
        stack: list[tuple[dict[str, Any], list[tuple[int, bool, float]]]] = [(root, [])]
        while stack:
            node, path = stack.pop()
            if "split_index" not in node:
                if "leaf_index" not in node or "leaf_coeff" in node:
                    return None  # not a plain leaf (e.g. a linear tree's)
                leaves.append(_Leaf(t, int(node["leaf_index"]), float(node["leaf_value"]), path))
                continue
            kind = node["decision_type"]
            count = float(node["internal_count"])
            if kind not in ("<=", "==") or count <= 0:
                return None
            number = len(nodes)
            nodes.append(
                {
                    "kind": kind,
                    "feature": int(node["split_feature"]),
                    "missing": _MISSING[node["missing_type"]],
                    "left": bool(node["default_left"]),
                    "threshold": 0.0 if kind == "==" else _threshold(node["threshold"]),
                    "cats": (
                        [int(c) for c in str(node["threshold"]).split("||")] if kind == "==" else []
                    ),
                }
            )
            for child, goes_left in ((node["right_child"], False), (node["left_child"], True)):
                size = child["internal_count"] if "split_index" in child else child["leaf_count"]
                if size <= 0:
                    return None  # an empty child: no zero fraction to divide by
                stack.append((child, [*path, (number, goes_left, float(size) / count)]))
    leaves.sort(key=lambda leaf: leaf.tree)  # already in tree order; stable
    return nodes, leaves


def _threshold(dumped: float) -> float:
    """A numeric split's threshold: the dump writes LightGBM's +-inf as +-1e300."""
    value = float(dumped)
    return math.copysign(math.inf, value) if abs(value) >= DUMPED_INF else value


def _path_features(leaf: _Leaf, node_feature: list[int]) -> list[int]:
    """The distinct features of a leaf's path, in the order the path first splits on them."""
    return list(dict.fromkeys(node_feature[node] for node, _, _ in leaf.path))


def _leaf_bits(
    nodes: list[dict[str, Any]],
    leaves: list[_Leaf],
    features: list[list[int]],
    classes: _Classes,
) -> dict[int, _FeatureBits]:
    """Per feature: for every leaf on it and every class of it, whether the class goes
    toward the leaf at all the leaf's path nodes on the feature (the bit ``o``)."""
    num_features = len(classes.width)
    node_feature = np.array([n["feature"] for n in nodes], dtype=np.intp)
    side: dict[tuple[int, bool], np.ndarray] = {}  # (node, goes left): classes that do
    for f in np.unique(node_feature):
        own = np.flatnonzero(node_feature == f)
        probe = np.zeros((int(classes.count[f]), num_features))
        probe[:, f] = classes.representatives(int(f))
        decided = _bits(probe, _nodes_of([nodes[i] for i in own]))
        for c, i in enumerate(own.tolist()):
            side[i, True], side[i, False] = decided[:, c], ~decided[:, c]
    feature_of = node_feature.tolist()
    columns: dict[int, list[np.ndarray]] = {}
    where: dict[int, list[tuple[int, int]]] = {}
    for n, (leaf, own_features) in enumerate(zip(leaves, features, strict=True)):
        toward = {f: np.ones(int(classes.count[f]), dtype=bool) for f in own_features}
        for node, goes_left, _ in leaf.path:
            toward[feature_of[node]] &= side[node, goes_left]
        for k, f in enumerate(own_features):
            columns.setdefault(f, []).append(toward[f])
            where.setdefault(f, []).append((n, k))
    out = {}
    for f, own_columns in columns.items():
        column = np.full(len(leaves), -1, dtype=np.intp)
        at = np.array(where[f], dtype=np.int64)
        column[at[:, 0]] = np.arange(len(at))
        out[f] = _FeatureBits(np.column_stack(own_columns), column, at[:, 1])
    return out


def _signatures(
    ids: np.ndarray, features: list[list[int]], bits: dict[int, _FeatureBits]
) -> list[_Signatures]:
    """How the leaves ``ids`` see each of their features."""
    out = []
    for f in sorted({f for n in ids for f in features[n]}):
        feature = bits[f]
        column = feature.column[ids]
        on = column >= 0
        whole = _Signatures(
            f,
            np.arange(len(feature.bits)),
            feature.bits[:, column[on]],
            ids[on],
            feature.position[column[on]],
        )
        out.append(_narrowed(whole, np.ones(len(whole.leaves), dtype=bool)))
    return out


def _narrowed(signatures: _Signatures, keep: np.ndarray) -> _Signatures:
    """The signatures of the leaves ``keep`` of ``signatures`` (fewer leaves: coarser)."""
    matrix = signatures.bits[:, keep]
    if matrix.shape[1] <= _KEY_BITS:  # each signature's bits as one integer
        keys: list[Any] = (
            matrix.astype(np.int64) @ (np.int64(1) << np.arange(matrix.shape[1]))
        ).tolist()
    else:
        keys = [row.tobytes() for row in np.packbits(matrix, axis=1)]
    number: dict[Any, int] = {}
    first, inverse = [], []
    for i, key in enumerate(keys):  # numbered in order of appearance
        j = number.setdefault(key, len(number))
        if j == len(first):
            first.append(i)
        inverse.append(j)
    return _Signatures(
        signatures.feature,
        np.array(inverse, dtype=np.intp)[signatures.of_class],
        matrix[first],
        signatures.leaves[keep],
        signatures.position[keep],
    )


def _groups(
    ids: np.ndarray,
    depth: int,
    leaves: list[_Leaf],
    signatures: list[_Signatures],
) -> list[tuple[np.ndarray, list[_Signatures]]]:
    """The subtree of leaves ``ids`` (their paths agree up to ``depth``) as groups.

    ``signatures`` are the subtree's; its two subtrees' are narrowed from them.
    """
    if len(ids) == 1 or math.prod(len(s.bits) for s in signatures) <= GROUP_ROWS:
        return [(ids, signatures)]
    goes_left = {n: leaves[n].path[depth][1] for n in ids.tolist()}
    out = []
    for side in (True, False):
        own = []
        for s in signatures:
            keep = np.array([goes_left[n] == side for n in s.leaves.tolist()], dtype=bool)
            if keep.any():
                own.append(_narrowed(s, keep))
        half = np.array([n for n in ids.tolist() if goes_left[n] == side], dtype=np.intp)
        out += _groups(half, depth + 1, leaves, own)
    return out


def _leaf_tables(
    leaves: list[_Leaf], features: list[list[int]], node_feature: list[int]
) -> list[np.ndarray]:
    """Per leaf: its ``(2**d, d)`` contributions (row: the pattern of its bits).

    Leaves with the same number of path features ``d`` are computed together.
    """
    depth = np.array([len(f) for f in features], dtype=np.int64)
    out: list[np.ndarray] = [np.zeros((1, 0))] * len(leaves)
    for d in np.unique(depth):
        d = int(d)
        group = np.flatnonzero(depth == d)
        zero = np.empty((len(group), d))
        for row, n in enumerate(group):
            for k, f in enumerate(features[n]):
                z = 1.0
                for node, _, ratio in leaves[n].path:
                    if node_feature[node] == f:
                        z = ratio * z  # LightGBM's order: this node's ratio * incoming
                zero[row, k] = z
        value = np.array([leaves[n].value for n in group])
        step = max(1, CHUNK_VALUES // (d << d))
        for first in range(0, len(group), step):
            part = slice(first, first + step)
            block = _leaf_contributions(zero[part], value[part])
            for row, n in enumerate(group[part]):
                out[n] = block[row]
    return out


def _leaf_contributions(zero: np.ndarray, value: np.ndarray) -> np.ndarray:
    """``(leaves, 2**d, d)``: TreeSHAP share of leaves with ``d`` path features.

    ``zero`` is ``(leaves, d)`` zero fractions (all above 0), ``value`` the leaf values;
    pattern ``p`` has ``o_k = (p >> k) & 1``. The sum over subsets ``S`` of feature ``i``
    weighs the coefficients of ``prod_{j != i} (z_j + o_j t)``: the product over all ``j``
    divided by ``z_i + o_i t`` (backwards, as LightGBM's ``UnwindPath``: no division by
    a small ``z`` where ``o_i = 1``).
    """
    n, d = zero.shape
    ones = ((np.arange(1 << d)[:, None] >> np.arange(d)) & 1).astype(bool)  # (2**d, d)
    weight = [math.factorial(k) * math.factorial(d - k - 1) / math.factorial(d) for k in range(d)]
    full = np.zeros((d + 1, n, 1 << d))  # coefficient k of the product over all j
    full[0] = 1.0
    for j in range(d):
        z, o = zero[:, j, None], ones[None, :, j]
        full[1:] = full[1:] * z + np.where(o, full[:-1], 0.0)
        full[0] *= z
    out = np.empty((n, 1 << d, d))
    for i in range(d):
        z, o = zero[:, i, None], ones[None, :, i]
        total = np.zeros((n, 1 << d))
        # o_i = 1: divide by (z_i + t) from the top; o_i = 0: divide by z_i
        carry = full[d]
        for k in range(d - 1, -1, -1):
            term = np.where(o, carry, full[k] / z)
            total += weight[k] * term
            carry = full[k] - carry * z
        out[:, :, i] = value[:, None] * (o - z) * total
    return out


def _check_rows(classes: _Classes, num_features: int) -> np.ndarray:
    """Rows in which every class of every split feature occurs (other features 0)."""
    rng = np.random.default_rng(_CHECK_SEED)
    split = np.flatnonzero(
        (classes.width >= 0) | np.array([len(u) > 0 for u in classes.thresholds])
    )
    rows = max(CHECK_ROWS, int(classes.count[split].max(initial=0)))
    out = np.zeros((rows, num_features))
    for f in split:
        reps = classes.representatives(int(f))
        out[:, f] = reps[np.resize(rng.permutation(len(reps)), rows)]
    return out


def _leaves_agree(
    booster: lgb.Booster,
    leaves: list[_Leaf],
    features: list[list[int]],
    bits: dict[int, _FeatureBits],
    classes: _Classes,
    rows: np.ndarray,
    dump: dict[str, Any],
) -> bool:
    """Whether the bits lead every row to the leaf LightGBM's own predict reaches."""
    of = classes.of(rows)
    reached = np.full((len(rows), len(dump["tree_info"])), -1, dtype=np.int64)
    count = np.zeros(reached.shape, dtype=np.int64)
    for n, leaf in enumerate(leaves):
        here = np.ones(len(rows), dtype=bool)
        for f in features[n]:
            here &= bits[f].bits[of[:, f], bits[f].column[n]]
        reached[here, leaf.tree] = leaf.index
        count[:, leaf.tree] += here
    trees = np.unique([leaf.tree for leaf in leaves])
    want = np.asarray(booster.predict(rows, pred_leaf=True, num_threads=1))
    want = want.reshape(len(rows), -1)
    return bool((count[:, trees] == 1).all() and np.array_equal(reached[:, trees], want[:, trees]))


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
