"""The estimators of the fast path: decision trees and linear models, compiled to numpy.

:func:`compile_estimator` reads a fitted classifier (HistGradientBoostingClassifier,
RandomForestClassifier, LogisticRegression, DummyClassifier with a deterministic strategy) or regressor
(HistGradientBoostingRegressor, RandomForestRegressor, Ridge, LinearRegression, DummyRegressor) and
returns an object whose ``predict_proba`` (classifiers) or ``predict`` (regressors) repeats
scikit-learn's floating-point operations in the same order: the same tree comparisons in float64
(float32 for random forests, as scikit-learn casts their input), the same category bitsets where boosted
trees split on categories (after the estimator's own re-coding of them), leaf values summed in tree order
from the baseline, ``x @ coef.T + intercept``, scikit-learn's own link functions. Anything else raises
:class:`~components.serve.fastpath.unsupported.UnsupportedModel`.

The compiled path reads fitted attributes, some private (the boosted predictors, the loss), whose
meaning was checked against the scikit-learn versions in
:data:`components.serve.fastpath.compiler.SUPPORTED_SKLEARN`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
from sklearn.utils.extmath import softmax

from components.common.errors import DataError
from components.serve.fastpath.unsupported import UnsupportedModel

# Rows per chunk of tree evaluation, so batches of any size keep memory bounded.
TREE_CELLS = 1 << 20
# Above this many rows, HistGradientBoosting's compiled per-tree predictors (one call per tree) beat
# the vectorised walk of all trees at once (measured on the demo's 150 trees of 31 leaves with native
# categories, one thread: the walk 0.86 ms against the predictors' 0.91 at 50 rows, 1.51 against 1.24 at 100).
HGB_NUMPY_ROWS = 64
# Up to this many rows, trees decide every node's side for every row at once, then walk by one gather a
# step; above it they walk deciding only the nodes reached. Measured with native categories and a missing
# value, one thread: on the demo's 150 trees of 31 leaves, 44 against 147 us at one row, 132 against 189
# at four, even at eight; on 300 trees of 7 leaves, 29 against 70 us at one row, 76 against 107 at four.
FEW_ROWS = 4
# Categories re-coded through a dense table when all are whole numbers below this (see CategoryCodes).
DENSE_CATEGORIES = 4096


@dataclass(frozen=True)
class Trees:
    """Decision trees as flat node arrays, walked for all rows and trees at once.

    Leaves point to themselves, so a fixed number of steps (the deepest tree's depth) ends every walk
    on its leaf whatever the depth of each path. The comparison is scikit-learn's: ``x <= threshold``
    goes left, a missing value goes where the node sends missing values. A node that splits on
    categories (HistGradientBoosting's native ones) sends a category in its left bitset left, another
    known category right, and a negative, unknown or missing one where missing values go.
    """

    roots: np.ndarray  # (trees,)
    feature: np.ndarray
    threshold: np.ndarray
    children: np.ndarray  # (2 * nodes,): left child at 2i, right child at 2i + 1
    missing_right: np.ndarray
    depth: int
    categorical: np.ndarray | None = None  # (nodes,) bool: splits on categories; None when no node does
    # Per node splitting on categories, its row of sides (True: right) by category code, flattened: codes
    # 0 .. category_codes - 1, then one more column, the node's missing side, for a code no bitset holds
    # (higher, negative or missing). category_base: where a node's row starts (0 for the other nodes).
    category_base: np.ndarray | None = None  # (nodes,) intp
    category_sides: np.ndarray | None = None  # (category nodes * (category_codes + 1),) bool
    category_codes: int = 0
    category_features: np.ndarray | None = None  # the features the nodes that split on categories read

    def __post_init__(self) -> None:
        # Derived once, for the few-rows walk: each node's children, and the nodes that split on categories.
        object.__setattr__(self, "_left", np.ascontiguousarray(self.children[0::2]))
        object.__setattr__(self, "_right", np.ascontiguousarray(self.children[1::2]))
        nodes = np.flatnonzero(self.categorical) if self.categorical is not None else np.empty(0, dtype=np.intp)
        object.__setattr__(self, "_category_nodes", nodes)
        object.__setattr__(self, "_category_node_features", self.feature.take(nodes))
        object.__setattr__(
            self, "_category_node_base", self.category_base.take(nodes) if self.category_base is not None else nodes
        )

    def leaves(self, values: np.ndarray) -> np.ndarray:
        """The leaf each row reaches in each tree: (rows, trees) global node indices."""
        if values.shape[0] <= FEW_ROWS:
            return self._leaves_of_few_rows(values)
        rows, width = values.shape
        flat = values.ravel()
        offsets = (np.arange(rows, dtype=np.intp) * width)[:, np.newaxis]
        nodes = np.repeat(self.roots[np.newaxis, :], rows, axis=0)
        has_missing = bool(np.isnan(flat).any())
        codes = self._category_codes(values).ravel() if self.categorical is not None else None
        for _ in range(self.depth):
            cells = offsets + self.feature.take(nodes)
            x = flat.take(cells)
            right = ~(x <= self.threshold.take(nodes))
            if has_missing:
                right = np.where(np.isnan(x), self.missing_right.take(nodes), right)
            if codes is not None:  # a node that splits on categories reads its side from its row of the table
                on = np.flatnonzero(self.categorical.take(nodes))
                sides = self.category_sides.take(self.category_base.take(nodes.take(on)) + codes.take(cells.take(on)))
                right.put(on, sides)
            nodes = self.children.take(2 * nodes + right)
        return nodes

    def _leaves_of_few_rows(self, values: np.ndarray) -> np.ndarray:
        """:meth:`leaves` by deciding every node for every row first: the same comparisons, far fewer numpy calls.

        Then a step of the walk is one gather from the next node of each node, whatever the splits.
        """
        rows, count = values.shape[0], len(self.feature)
        read = values.take(self.feature, axis=1)  # (rows, nodes): the value each node compares
        right = ~(read <= self.threshold)
        missing = np.isnan(read)
        if missing.any():
            right = np.where(missing, self.missing_right, right)
        if self.categorical is not None:
            codes = self._category_codes(values).take(self._category_node_features, axis=1)
            right[:, self._category_nodes] = self.category_sides.take(self._category_node_base + codes)
        offsets = (np.arange(rows, dtype=np.intp) * count)[:, np.newaxis]
        following = np.where(right, self._right, self._left)
        following += offsets
        following = following.ravel()
        reached = (offsets + self.roots).ravel()
        for _ in range(self.depth):
            reached = following.take(reached)
        return reached.reshape(rows, -1) - offsets

    def _category_codes(self, values: np.ndarray) -> np.ndarray:
        """Per value, its column in the side table: the category code if some bitset holds it, else the last one.

        scikit-learn reads a category as an unsigned byte (its bitsets hold 256 categories); negative and
        missing ones (NaN) take the missing side. Only the features of category splits are read.
        """
        codes = np.full(values.shape, self.category_codes, dtype=np.intp)
        categories = values[:, self.category_features]
        valid = categories >= 0  # False for NaN
        read = np.where(valid, categories, 0).astype(np.intp) & 255
        codes[:, self.category_features] = np.where(valid, np.minimum(read, self.category_codes), self.category_codes)
        return codes

    @classmethod
    def build(cls, trees: Sequence[dict[str, np.ndarray]]) -> Trees:
        """From per-tree arrays: feature, threshold, left, right (-1 at leaves), missing_left, depth.

        Trees that split on categories also give ``categorical`` (per node), ``left_categories`` and
        ``known_categories`` ((nodes, 8) bitsets).
        """
        roots, features, thresholds, children, missing_right = [], [], [], [], []
        categorical, left_categories, known_categories = [], [], []
        offset, depth = 0, 0
        for tree in trees:
            count = len(tree["feature"])
            index = np.arange(count) + offset
            leaf = tree["left"] < 0
            left = np.where(leaf, index, tree["left"] + offset)
            right = np.where(leaf, index, tree["right"] + offset)
            roots.append(offset)
            features.append(np.where(leaf, 0, tree["feature"]))
            thresholds.append(tree["threshold"])
            children.append(np.column_stack((left, right)).ravel())
            missing_right.append(~tree["missing_left"].astype(bool))
            if "categorical" in tree:
                categorical.append(tree["categorical"].astype(bool) & ~leaf)
                left_categories.append(tree["left_categories"])
                known_categories.append(tree["known_categories"])
            depth = max(depth, int(tree["depth"]))
            offset += count
        missing = np.concatenate(missing_right)
        feature = np.concatenate(features).astype(np.intp)
        on_categories = bool(categorical) and bool(np.concatenate(categorical).any())
        sides: dict[str, Any] = {}
        if on_categories:
            sides = _category_side_table(
                np.concatenate(categorical),
                np.concatenate(left_categories).astype(np.uint32),
                np.concatenate(known_categories).astype(np.uint32),
                missing,
            )
            sides["category_features"] = np.unique(feature[np.concatenate(categorical)])
        return cls(
            roots=np.asarray(roots, dtype=np.intp),
            feature=feature,
            threshold=np.concatenate(thresholds).astype("float64"),
            children=np.concatenate(children).astype(np.intp),
            missing_right=missing,
            depth=depth,
            categorical=np.concatenate(categorical) if on_categories else None,
            **sides,
        )


def _category_side_table(
    categorical: np.ndarray, left_categories: np.ndarray, known_categories: np.ndarray, missing_right: np.ndarray
) -> dict[str, Any]:
    """The sides of the nodes that split on categories, per category code, from their (nodes, 8) bitsets.

    A code in the node's left bitset goes left, another known one right, the rest where missing values go.
    Only the codes up to the highest any bitset holds get a column; the last column is the missing side.
    """
    split_nodes = np.flatnonzero(categorical)
    bit = np.arange(256)
    # (category nodes, 256) bits of each bitset: code c is bit c % 32 of word c // 32
    held_left = ((left_categories[split_nodes][:, bit >> 5] >> (bit & 31).astype(np.uint32)) & 1).astype(bool)
    held_known = ((known_categories[split_nodes][:, bit >> 5] >> (bit & 31).astype(np.uint32)) & 1).astype(bool)
    held = np.flatnonzero((held_left | held_known).any(axis=0))
    codes = int(held[-1]) + 1 if held.size else 0
    missing = missing_right[split_nodes][:, np.newaxis]
    table = np.where(held_left[:, :codes], False, np.where(held_known[:, :codes], True, missing))
    table = np.concatenate((table, missing), axis=1)
    base = np.zeros(len(categorical), dtype=np.intp)
    base[split_nodes] = np.arange(len(split_nodes)) * (codes + 1)
    return {"category_base": base, "category_sides": np.ascontiguousarray(table).ravel(), "category_codes": codes}


def _chunks(rows: int, trees: int) -> list[slice]:
    step = max(1, TREE_CELLS // max(trees, 1))
    return [slice(start, min(rows, start + step)) for start in range(0, rows, step)]


@dataclass(frozen=True)
class CategoryCodes:
    """HistGradientBoosting's own re-coding of native categorical features before its trees.

    scikit-learn 1.6 puts an OrdinalEncoder in front of the trees: the categorical columns, each value
    replaced by its index among the categories seen in fit (unknown and missing ones become NaN), come
    first, then the other columns in their order. The trees' feature indices refer to that order.
    """

    categorical: np.ndarray  # (k,) input columns that are categorical, in order
    numeric: np.ndarray  # the other input columns, in order
    categories: tuple[np.ndarray, ...]  # sorted float64 categories seen in fit, per categorical column

    def __post_init__(self) -> None:
        # When every category seen is a whole number below DENSE_CATEGORIES (an ordinal encoder's codes), one
        # table per column gives each number's index (NaN where unseen): one gather for all columns, where a
        # search per column cost a single-row request 28 us for the demo's 7 columns.
        object.__setattr__(self, "_dense", None)
        known = self.categories
        if all(
            len(seen) == 0 or (seen[0] >= 0 and seen[-1] < DENSE_CATEGORIES and (seen == np.floor(seen)).all())
            for seen in known
        ):
            width = max([int(seen[-1]) + 1 for seen in known if len(seen)], default=1)
            dense = np.full((len(known), width), np.nan)
            for row, seen in enumerate(known):
                dense[row, seen.astype(np.intp)] = np.arange(len(seen))
            object.__setattr__(self, "_dense", dense)

    def apply(self, features: np.ndarray) -> np.ndarray:
        """The matrix the trees read: re-coded categorical columns first, then the others."""
        out = np.empty((features.shape[0], len(self.categorical) + len(self.numeric)))
        out[:, len(self.categorical) :] = features[:, self.numeric]
        if self._dense is not None:
            values = features.take(self.categorical, axis=1)
            count, width = self._dense.shape
            whole = (values >= 0) & (values < width) & (values == np.floor(values))  # False for NaN
            index = np.where(whole, values, 0).astype(np.intp) + np.arange(count, dtype=np.intp) * width
            out[:, :count] = np.where(whole, self._dense.take(index), np.nan)
            return out
        for position, (column, known) in enumerate(zip(self.categorical, self.categories, strict=True)):
            values = features[:, column]
            index = np.minimum(np.searchsorted(known, values), max(len(known) - 1, 0))
            found = known.take(index) == values if len(known) else np.zeros(len(values), dtype=bool)
            out[:, position] = np.where(found, index, np.nan)
        return out


@dataclass(frozen=True)
class GradientBoosting:
    """HistGradientBoosting (classifier or regressor): baseline plus leaf values in iteration order, then its link."""

    trees: Trees
    values: np.ndarray  # leaf value per global node
    baseline: np.ndarray  # (per_iteration,)
    per_iteration: int
    estimator: HistGradientBoostingClassifier | HistGradientBoostingRegressor
    known_categories: tuple[np.ndarray, np.ndarray]
    codes: CategoryCodes | None = None  # the estimator's re-coding of native categories; None without them

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Class probabilities of a (rows, features) float64 matrix (a classifier's)."""
        return self.estimator._loss.predict_proba(self.raw(features))

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Predicted values of a (rows, features) float64 matrix (a regressor's): the loss's inverse link."""
        return self.estimator._loss.link.inverse(self.raw(features).ravel())

    def raw(self, features: np.ndarray) -> np.ndarray:
        """The raw scores, (rows, per_iteration): scikit-learn's ``_raw_predict``."""
        if self.codes is not None:
            features = self.codes.apply(features)
        rows = features.shape[0]
        if rows > HGB_NUMPY_ROWS:
            return self._raw_compiled(features)
        raw = np.empty((rows, self.per_iteration))
        for part in _chunks(rows, len(self.trees.roots)):
            leaf_values = self.values.take(self.trees.leaves(features[part]))
            leaf_values = leaf_values.reshape(leaf_values.shape[0], -1, self.per_iteration)
            start = np.broadcast_to(self.baseline, (leaf_values.shape[0], 1, self.per_iteration))
            # accumulate adds strictly left to right, as scikit-learn's `raw += tree(x)` loop does
            raw[part] = np.add.accumulate(np.concatenate((start, leaf_values), axis=1), axis=1)[:, -1, :]
        return raw

    def _raw_compiled(self, features: np.ndarray) -> np.ndarray:
        """Many rows: scikit-learn's compiled per-tree predictors, minus its validation."""
        raw = np.zeros((features.shape[0], self.per_iteration), order="F")
        raw += self.baseline
        bitsets, feature_map = self.known_categories
        threads = _openmp_effective_n_threads()
        for iteration in self.estimator._predictors:
            for k, predictor in enumerate(iteration):
                raw[:, k] += predictor.predict(features, bitsets, feature_map, threads)
        return raw


@dataclass(frozen=True)
class Forest:
    """RandomForest: the mean of its trees' leaf values (class fractions, or a regressor's means), inputs as float32."""

    trees: Trees
    fractions: np.ndarray  # (nodes, classes); (nodes, 1) for a regressor: the leaf's mean
    count: int
    allow_missing: bool

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Class probabilities of a (rows, features) float64 matrix (a classifier's).

        Raises:
            DataError: For a missing value where the trees do not support them, or an infinite one.
        """
        with np.errstate(over="ignore"):  # a value beyond float32 becomes inf, refused just below
            narrow = features.astype(np.float32)  # scikit-learn's trees compare float32 inputs
        if not np.isfinite(narrow).all() and (np.isinf(narrow).any() or not self.allow_missing):
            raise refused_input(narrow, "the random forest", "float32")
        out = np.empty((features.shape[0], self.fractions.shape[1]))
        for part in _chunks(features.shape[0], len(self.trees.roots)):
            leaves = self.trees.leaves(narrow[part])
            out[part] = np.add.accumulate(self.fractions[leaves], axis=1)[:, -1, :]
        out /= self.count
        return out

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Predicted values of a (rows, features) float64 matrix (a regressor's): the trees' mean, summed in order.

        Raises:
            DataError: For a missing value where the trees do not support them, or an infinite one.
        """
        return self.predict_proba(features)[:, 0]


@dataclass(frozen=True)
class Linear:
    """LogisticRegression, by its own formula: ``x @ coef.T + intercept``, then expit or softmax."""

    coef: np.ndarray
    intercept: np.ndarray
    one_vs_rest: bool

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Class probabilities of a (rows, features) float64 matrix.

        Raises:
            DataError: For a missing or infinite value, which logistic regression refuses.
        """
        if not np.isfinite(features).all():
            raise refused_input(features, "logistic regression", "float64")
        scores = features @ self.coef.T + self.intercept
        if scores.ndim > 1 and scores.shape[1] == 1:
            scores = scores.reshape(-1)
        if self.one_vs_rest:
            expit(scores, out=scores)
            if scores.ndim == 1:
                return np.vstack([1 - scores, scores]).T
            scores /= scores.sum(axis=1).reshape((scores.shape[0], -1))
            return scores
        return softmax(np.c_[-scores, scores] if scores.ndim == 1 else scores, copy=False)


@dataclass(frozen=True)
class LinearRegressor:
    """Ridge or LinearRegression, by their own formula: ``x @ coef.T + intercept``."""

    coef: np.ndarray  # (features,)
    intercept: float

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Predicted values of a (rows, features) float64 matrix.

        Raises:
            DataError: For a missing or infinite value, which linear models refuse.
        """
        if not np.isfinite(features).all():
            raise refused_input(features, "the linear model", "float64")
        return features @ self.coef.T + self.intercept


@dataclass(frozen=True)
class Constant:
    """DummyClassifier with a deterministic strategy: the same probabilities for every row."""

    row: np.ndarray

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """The same probabilities for every row."""
        return np.repeat(self.row[np.newaxis, :], features.shape[0], axis=0)


@dataclass(frozen=True)
class ConstantValue:
    """DummyRegressor (every strategy is deterministic): the same value for every row."""

    value: np.ndarray  # a 0-d float array, in the dtype scikit-learn predicts

    def predict(self, features: np.ndarray) -> np.ndarray:
        """The same value for every row."""
        return np.full(features.shape[0], self.value, dtype=self.value.dtype)


Estimator = GradientBoosting | Forest | Linear | Constant | LinearRegressor | ConstantValue


def compile_estimator(estimator: Any, width: int | None) -> Estimator:
    """Compiles a fitted classifier or regressor.

    Args:
        estimator: The pipeline's last step.
        width: The number of columns the preprocessing gives it (None: no preprocessing).

    Returns:
        The compiled estimator: ``predict_proba`` (a classifier's) or ``predict`` (a regressor's) of a
        float64 matrix.

    Raises:
        UnsupportedModel: If it is not one the fast path reproduces exactly.
    """
    if width is not None and getattr(estimator, "n_features_in_", width) != width:
        raise UnsupportedModel(
            f"the estimator takes {estimator.n_features_in_} columns but the preprocessing gives {width}"
        )
    kind = type(estimator)
    if kind in (HistGradientBoostingClassifier, HistGradientBoostingRegressor):
        return _compile_gradient_boosting(estimator)
    if kind in (RandomForestClassifier, RandomForestRegressor):
        return _compile_forest(estimator)
    if kind is LogisticRegression:
        return _compile_linear(estimator)
    if kind in (Ridge, LinearRegression):
        return _compile_linear_regressor(estimator)
    if kind is DummyRegressor:
        if estimator.n_outputs_ != 1:
            raise UnsupportedModel("the DummyRegressor has several outputs")
        return ConstantValue(np.asarray(estimator.predict(np.zeros((1, 1))))[0])
    if kind is DummyClassifier:
        if estimator.strategy not in ("prior", "most_frequent", "uniform", "constant") or estimator.n_outputs_ != 1:
            raise UnsupportedModel(f"DummyClassifier(strategy={estimator.strategy!r}) is random or multi-output")
        return Constant(np.asarray(estimator.predict_proba(np.zeros((1, 1))), dtype="float64")[0])
    raise UnsupportedModel(
        f"{kind.__name__} has no exact fast path "
        "(supported: HistGradientBoosting, RandomForest and Dummy classifiers and regressors, LogisticRegression, "
        "Ridge, LinearRegression)"
    )


def _category_codes(
    estimator: HistGradientBoostingClassifier | HistGradientBoostingRegressor,
) -> CategoryCodes | None:
    """The estimator's re-coding of its native categorical features, or None when it has none."""
    if getattr(estimator, "is_categorical_", None) is None:
        if getattr(estimator, "_preprocessor", None) is not None:
            raise UnsupportedModel("the gradient boosting model re-codes its input without categorical features")
        return None
    preprocessor = getattr(estimator, "_preprocessor", None)
    transformers = getattr(preprocessor, "transformers_", None) or []
    names = [name for name, _, _ in transformers]
    if names[:2] != ["encoder", "numerical"]:
        raise UnsupportedModel("the gradient boosting model's re-coding of categories is not scikit-learn 1.6's")
    encoder = preprocessor.named_transformers_["encoder"]
    is_categorical = np.asarray(estimator.is_categorical_, dtype=bool)
    try:
        categories = tuple(np.asarray(known, dtype="float64") for known in encoder.categories_)
    except (TypeError, ValueError):
        raise UnsupportedModel("the gradient boosting model's categories are not numbers") from None
    if any(np.isnan(known).any() or (np.diff(known) <= 0).any() for known in categories):
        raise UnsupportedModel("the gradient boosting model's categories are not sorted distinct numbers")
    return CategoryCodes(
        categorical=np.flatnonzero(is_categorical), numeric=np.flatnonzero(~is_categorical), categories=categories
    )


def _compile_gradient_boosting(
    estimator: HistGradientBoostingClassifier | HistGradientBoostingRegressor,
) -> GradientBoosting:
    codes = _category_codes(estimator)
    known_bitsets, feature_map = estimator._bin_mapper.make_known_categories_bitsets()
    per_iteration = estimator.n_trees_per_iteration_
    trees, values = [], []
    for iteration in estimator._predictors:
        if len(iteration) != per_iteration:
            raise UnsupportedModel("the gradient boosting model has an irregular number of trees per iteration")
        for predictor in iteration:
            nodes = predictor.nodes
            leaf = nodes["is_leaf"].astype(bool)
            tree = {
                "feature": nodes["feature_idx"],
                "threshold": nodes["num_threshold"],
                "left": np.where(leaf, -1, nodes["left"].astype(np.int64)),
                "right": np.where(leaf, -1, nodes["right"].astype(np.int64)),
                "missing_left": nodes["missing_go_to_left"],
                "depth": int(nodes["depth"].max()),
            }
            if codes is not None:
                on_categories = nodes["is_categorical"].astype(bool) & ~leaf
                left = np.zeros((len(nodes), 8), dtype=np.uint32)
                known = np.zeros((len(nodes), 8), dtype=np.uint32)
                if on_categories.any():
                    left[on_categories] = predictor.raw_left_cat_bitsets[nodes["bitset_idx"][on_categories]]
                    known[on_categories] = known_bitsets[feature_map[nodes["feature_idx"][on_categories]]]
                tree.update(categorical=on_categories, left_categories=left, known_categories=known)
            elif nodes["is_categorical"].any():
                raise UnsupportedModel("the gradient boosting model splits on categories it was not told of")
            trees.append(tree)
            values.append(nodes["value"])
    baseline = np.asarray(estimator._baseline_prediction, dtype="float64").reshape(-1)
    if baseline.size != per_iteration:
        raise UnsupportedModel("the gradient boosting model's baseline does not match its trees")
    return GradientBoosting(
        trees=Trees.build(trees),
        values=np.concatenate(values).astype("float64"),
        baseline=baseline,
        per_iteration=per_iteration,
        estimator=estimator,
        known_categories=(known_bitsets, feature_map),
        codes=codes,
    )


def _compile_forest(estimator: RandomForestClassifier | RandomForestRegressor) -> Forest:
    if estimator.n_outputs_ != 1:
        raise UnsupportedModel("the random forest has several outputs")
    classes = getattr(estimator, "n_classes_", 1)  # a regressor's leaves hold one value: their mean
    trees, fractions = [], []
    for member in estimator.estimators_:
        tree = member.tree_
        trees.append(
            {
                "feature": tree.feature,
                "threshold": tree.threshold,
                "left": tree.children_left,
                "right": tree.children_right,
                "missing_left": tree.missing_go_to_left,
                "depth": tree.max_depth,
            }
        )
        fractions.append(tree.value[:, 0, :classes])
    allow_missing = bool(estimator.estimators_[0]._support_missing_values(np.zeros((1, 1))))
    return Forest(
        Trees.build(trees), np.concatenate(fractions).astype("float64"), len(estimator.estimators_), allow_missing
    )


def _compile_linear(estimator: LogisticRegression) -> Linear:
    if not isinstance(estimator.coef_, np.ndarray):
        raise UnsupportedModel("the logistic regression has sparse coefficients")
    one_vs_rest = estimator.multi_class in ("ovr", "warn") or (
        estimator.multi_class in ("auto", "deprecated")
        and (estimator.classes_.size <= 2 or estimator.solver == "liblinear")
    )
    return Linear(estimator.coef_, estimator.intercept_, one_vs_rest)


def _compile_linear_regressor(estimator: Ridge | LinearRegression) -> LinearRegressor:
    coef = estimator.coef_
    if not isinstance(coef, np.ndarray) or coef.ndim != 1:
        raise UnsupportedModel(f"the {type(estimator).__name__} has several outputs or sparse coefficients")
    return LinearRegressor(coef, estimator.intercept_)


def refused_input(features: np.ndarray, estimator: str, dtype: str) -> DataError:
    """The error for model input an estimator refuses, naming the first row and why.

    An infinite model input comes from a number the preprocessing lifted beyond the estimator's float type
    (``(x - mean) / scale`` of a large value with a small scale), since requests hold finite numbers.
    """
    bad = ~np.isfinite(features)
    row = int(np.flatnonzero(bad.any(axis=1))[0])
    if np.isinf(features[row]).any():
        return DataError(
            f"row {row}: a number is too large for the model: once preprocessed it exceeds {estimator}'s {dtype} input",
            hint="send values within the range the feature takes",
        )
    return DataError(f"row {row}: a missing value, which {estimator} refuses", hint="send a value for every feature")
