"""A fast prediction path for fitted model pipelines, equal to scikit-learn's own.

A single-row ``pipeline.predict_proba(frame)`` of the project's models spends most of its time in
pandas and in scikit-learn's per-call machinery (input validation, ColumnTransformer dispatch, one
DataFrame per transformer, a Python call per boosted tree), not in the arithmetic. :func:`compile_model`
reads everything the fitted pipeline learned once (imputer statistics, scaler means and scales,
encoder lookups probed from the fitted encoder itself, tree node arrays, coefficients) and returns a
:class:`FastModel` that evaluates the same transforms with numpy and dictionaries.

Exactness: every step repeats scikit-learn's floating-point operations in the same order (the same
imputed values, ``(x - mean) / scale``, the same tree comparisons in float64, or float32 for random
forests, leaf values summed in tree order, scikit-learn's own link functions), so probabilities
are bit-for-bit equal in practice; the contract, checked by the tests, is 1e-9. Inputs the fast
readers do not know (pandas categoricals, numbers as text, dates that are not ISO 8601, ...) go
through the pipeline's own functions, so they are exact too, only slower. What cannot be
reproduced exactly raises :class:`UnsupportedModel` at compile time, so callers keep scikit-learn.

Accepted input (``FastModel.predict_proba(columns)``): a pandas DataFrame, or a mapping of column
name to a 1-D array-like, each column holding one value per row; extra columns are ignored. The
result equals ``pipeline.predict_proba(pd.DataFrame(columns))``. Per feature kind, the fast readers
take:

- numeric: numpy float, integer or bool arrays (NaN for missing); nullable pandas Int64/Float64;
  object arrays or lists of numbers with None/NaN/pd.NA for missing.
- categorical: object arrays or lists of str (None, NaN or pd.NA for missing; values become text
  as ``str(value)``, so 2 is "2" and 2.0 is "2.0", exactly as the training pipeline did); numpy
  integer, bool or float arrays; nullable pandas Int64. Unseen categories follow the encoder's
  ``handle_unknown``.
- datetime: ``datetime64[ns]`` arrays (naive values are UTC) or tz-aware pandas columns;
  object arrays or lists of ISO 8601 text (``2013-01-01``, ``2013-01-01T05:00:00Z``,
  ``2013-01-01 05:00:00+01:00``) with None/NaN/NaT for missing; unparseable text is missing, as
  in training.

Lists are read the way pandas reads them into a DataFrame; values are read by position (the index
of a Series in a mapping is ignored, where pandas would align differing indexes). Input that
scikit-learn rejects is rejected with :class:`DataError`: an absent column, columns of unequal
length, no rows, an infinite number where the pipeline's imputer or scaler refuses it, an unseen
category under ``handle_unknown="error"``, non-finite model input for estimators that refuse it.

Supported pipelines: ``Pipeline([ColumnTransformer, estimator])`` as
:func:`components.preprocess.logic.model_pipeline` builds them (numeric: ``as_numbers`` then
SimpleImputer/StandardScaler; categorical: ``as_text`` then OneHotEncoder or OrdinalEncoder, with
infrequent categories; datetime: ``calendar_parts`` then SimpleImputer/StandardScaler;
``passthrough`` and ``drop``), with HistGradientBoostingClassifier, RandomForestClassifier,
LogisticRegression or DummyClassifier; and ``Pipeline([DummyClassifier])`` (the majority baseline).
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from scipy.special import expit
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
from sklearn.utils.extmath import softmax

from components.common.errors import DataError, UserError
from components.preprocess import logic as preprocess

# The compiled path reads fitted attributes, some private (the boosted predictors, the loss), whose
# meaning was checked against these versions; another version is refused rather than trusted.
SUPPORTED_SKLEARN = ("1.6",)
CALENDAR_PARTS = ("hour", "dayofweek", "month", "dayofyear", "weekend")
TOLERANCE = 1e-9
# Rows per chunk of tree evaluation, so batches of any size keep memory bounded.
_TREE_CELLS = 1 << 20
# Above this many rows, HistGradientBoosting's compiled per-tree predictors (one call per tree) beat
# the vectorised walk of all trees at once (measured: 1.5 ms against 2.0 ms at 100 rows).
_HGB_NUMPY_ROWS = 128
_ISO_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:\d{2})?)?")
_NS_PER_HOUR = 3_600_000_000_000
_NS_PER_DAY = 24 * _NS_PER_HOUR
_NAT = np.iinfo(np.int64).min


class UnsupportedModel(UserError):
    """The pipeline has a part the fast path cannot reproduce exactly; use scikit-learn for it."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"no fast prediction path: {reason}", hint="predict with the scikit-learn pipeline itself")
        self.reason = reason


class _Fallback(Exception):
    """A column the fast readers do not know: read it with the pipeline's own function instead."""


# --- reading input columns ------------------------------------------------------------------------


class _Columns:
    """Uniform access to the columns of a DataFrame or a mapping of arrays."""

    def __init__(self, columns: pd.DataFrame | Mapping[str, Any], required: Sequence[str]) -> None:
        if isinstance(columns, pd.DataFrame):
            if columns.columns.has_duplicates:
                duplicated = columns.columns[columns.columns.duplicated()][0]
                raise DataError(f"column {duplicated!r} appears twice", hint="pass each feature once")
            self._get: Callable[[str], Any] = columns.__getitem__
            present = columns.columns
            self.rows = len(columns)
        elif isinstance(columns, Mapping):
            self._get = columns.__getitem__
            present = columns
            self.rows = -1
        else:
            raise DataError(
                f"columns must be a DataFrame or a mapping of name to values, not {type(columns).__name__}",
                hint="pass {name: array, ...}",
            )
        absent = [name for name in required if name not in present]
        if absent:
            raise DataError(
                f"feature column {absent[0]!r} is absent ({len(absent)} absent in all)",
                hint=f"pass every feature: {', '.join(required)}",
            )
        if self.rows < 0:
            self.rows = self._mapping_rows(columns, required)
        if self.rows == 0:
            raise DataError("no rows to predict", hint="pass at least one row")

    @staticmethod
    def _mapping_rows(columns: Mapping[str, Any], required: Sequence[str]) -> int:
        names = list(required) or list(columns)[:1]
        lengths = set()
        for name in names:
            values = columns[name]
            if getattr(values, "ndim", 1 if isinstance(values, (list, tuple)) else None) != 1:
                raise DataError(
                    f"column {name!r} must be a 1-D array or list of values, one per row",
                    hint="wrap single values in a list",
                )
            lengths.add(len(values))
        if len(lengths) > 1:
            raise DataError(
                f"columns have different lengths ({sorted(lengths)})", hint="pass one value per row in every column"
            )
        if not lengths:
            raise DataError("no columns to count rows by", hint="pass the feature columns")
        return lengths.pop()

    def __getitem__(self, name: str) -> Any:
        return self._get(name)


def _as_frame(name: str, values: Any) -> pd.DataFrame:
    """One column as a DataFrame would hold it: the input of the pipeline's own functions."""
    if isinstance(values, pd.Series):
        return values.to_frame(name)
    return pd.DataFrame({name: values})


def _plain(values: Any) -> np.ndarray:
    """A column's values as a numpy array where that loses nothing; raises _Fallback otherwise."""
    if isinstance(values, pd.Series):
        if isinstance(values.dtype, np.dtype):
            return values.to_numpy()
        raise _Fallback
    if isinstance(values, np.ndarray):
        return values
    if isinstance(values, (list, tuple)):
        return np.array(values, dtype=object)  # never guess a dtype: pandas' own inference is not numpy's
    raise _Fallback


def _read_numbers(values: Any) -> np.ndarray:
    """``as_numbers`` of one column: float64 with NaN for missing."""
    dtype = getattr(values, "dtype", None)
    if isinstance(values, pd.Series) and isinstance(dtype, (pd.Int64Dtype, pd.Float64Dtype)):
        return values.to_numpy(dtype="float64", na_value=np.nan)
    array = _plain(values)
    if array.dtype.kind in "fiub":
        return array.astype("float64")
    if array.dtype.kind != "O":
        raise _Fallback
    numbers = np.empty(len(array), dtype="float64")
    for i, value in enumerate(array):
        if value is None or value is pd.NA:
            numbers[i] = np.nan
        elif type(value) in (float, int) or isinstance(value, (np.floating, np.integer)):
            numbers[i] = value
        else:  # text, bools and other objects: pandas' to_numeric decides
            raise _Fallback
    return numbers


def _read_texts(values: Any, missing: str) -> list[str]:
    """``as_text`` of one column: each value as ``str(value)``, missing values as ``missing``."""
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.Int64Dtype):
        return [missing if v is None else str(v) for v in values.to_numpy(dtype=object, na_value=None)]
    if isinstance(values, (list, tuple)):
        # pandas turns a list of numbers with gaps into floats ("2.0"): only text lists are read directly
        if not all(v is None or isinstance(v, str) for v in values):
            raise _Fallback
        return [missing if v is None else v for v in values]
    array = _plain(values)
    kind = array.dtype.kind
    if kind in "iub":
        return [str(v) for v in array.tolist()]
    if kind == "f":
        return [missing if v != v else str(v) for v in array.tolist()]
    if kind != "O":
        raise _Fallback
    texts = []
    for value in array:
        if value is None or value is pd.NA:
            texts.append(missing)
        elif isinstance(value, str):
            texts.append(value)
        elif isinstance(value, (bool, int, np.integer, np.bool_)):
            texts.append(str(value))
        elif isinstance(value, (float, np.floating)):
            texts.append(missing if value != value else str(value))
        else:  # timestamps and other objects: pandas' own conversion decides
            raise _Fallback
    return texts


def _read_instants(values: Any) -> np.ndarray:
    """Timestamps of one column as int64 nanoseconds since the epoch in UTC (``_NAT`` for missing)."""
    dtype = getattr(values, "dtype", None)
    if isinstance(values, pd.Series) and isinstance(dtype, pd.DatetimeTZDtype):
        return np.asarray(values.array.asi8, dtype="int64")  # UTC nanoseconds, NaT as int64 min
    array = _plain(values)
    if array.dtype == np.dtype("datetime64[ns]"):
        return array.view("int64")
    if array.dtype.kind != "O":
        raise _Fallback
    instants = np.empty(len(array), dtype="int64")
    for i, value in enumerate(array):
        if value is None or value is pd.NaT or value is pd.NA or (isinstance(value, float) and value != value):
            instants[i] = _NAT
        elif isinstance(value, str) and _ISO_TEXT.fullmatch(value):
            instants[i] = _iso_instant(value)
        else:
            raise _Fallback
    return instants


def _iso_instant(text: str) -> int:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _Fallback from None
    if not 1678 <= moment.year <= 2261:  # pandas' nanosecond range: outside it pandas decides
        raise _Fallback
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    days = moment.toordinal() - 719_163  # 1970-01-01
    seconds = moment.hour * 3600 + moment.minute * 60 + moment.second
    return days * _NS_PER_DAY + seconds * 1_000_000_000 + moment.microsecond * 1000


def _calendar(instants: np.ndarray, parts: Sequence[str]) -> np.ndarray:
    """Calendar parts of UTC instants, NaN where the instant is missing (``calendar_parts``)."""
    missing = instants == _NAT
    safe = np.where(missing, 0, instants)
    days = safe // _NS_PER_DAY
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    columns = []
    for part in parts:
        if part == "hour":
            values = (safe // _NS_PER_HOUR) % 24
        elif part == "dayofweek":
            values = weekday
        elif part == "weekend":
            values = weekday >= 5
        else:
            moments = safe.view("datetime64[ns]")
            if part == "month":
                values = moments.astype("datetime64[M]").view("int64") % 12 + 1
            else:  # dayofyear
                values = days - moments.astype("datetime64[Y]").astype("datetime64[D]").view("int64") + 1
        columns.append(np.where(missing, np.nan, values.astype("float64")))
    return np.column_stack(columns)


# --- preprocessing blocks ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Impute:
    """A fitted SimpleImputer on float columns (missing values are NaN)."""

    statistics: np.ndarray
    keep: np.ndarray | None  # columns kept (None: all); the others had no value in training
    indicators: np.ndarray | None  # columns whose missing-indicator is appended

    def apply(self, values: np.ndarray, columns: Sequence[str]) -> np.ndarray:
        _refuse_infinity(values, columns)
        missing = np.isnan(values)
        imputed = np.where(missing, self.statistics, values) if missing.any() else values.copy()
        if self.keep is not None:
            imputed = imputed[:, self.keep]
        if self.indicators is None:
            return imputed
        return np.hstack((imputed, missing[:, self.indicators]))


@dataclass(frozen=True)
class _Scale:
    """A fitted StandardScaler: ``(x - mean) / scale``, in scikit-learn's order of operations."""

    mean: np.ndarray | None
    scale: np.ndarray | None

    def apply(self, values: np.ndarray, columns: Sequence[str]) -> np.ndarray:
        _refuse_infinity(values, columns)
        values = values.astype("float64")
        if self.mean is not None:
            values -= self.mean
        if self.scale is not None:
            values /= self.scale
        return values


def _refuse_infinity(values: np.ndarray, columns: Sequence[str]) -> None:
    infinite = np.isinf(values).any(axis=0)
    if infinite.any():
        first = int(np.flatnonzero(infinite)[0])
        where = f"feature {columns[first]!r}" if first < len(columns) else "a derived feature"
        raise DataError(
            f"{where} holds an infinite number, which the model's preprocessing refuses",
            hint="send a finite number or null",
        )


@dataclass(frozen=True)
class _NumericBlock:
    """``as_numbers`` (or ``passthrough``) on its columns, then float steps."""

    columns: tuple[str, ...]
    function: Callable[..., np.ndarray] | None  # None: passthrough
    steps: tuple[_Impute | _Scale, ...]

    def apply(self, data: _Columns) -> np.ndarray:
        values = np.empty((data.rows, len(self.columns)), dtype="float64")
        for i, name in enumerate(self.columns):
            column = data[name]
            if self.function is None:
                values[:, i] = _passthrough_numbers(name, column)
                continue
            try:
                values[:, i] = _read_numbers(column)
            except _Fallback:
                values[:, i] = self.function(_as_frame(name, column))[:, 0]
        return _run_steps(self.steps, values, self.columns)


def _passthrough_numbers(name: str, column: Any) -> np.ndarray:
    try:
        return np.asarray(column, dtype="float64")
    except (TypeError, ValueError):
        raise DataError(
            f"column {name!r} is passed to the model as it is, so it must hold numbers", hint="send numbers"
        ) from None


def _run_steps(steps: Sequence[_Impute | _Scale], values: np.ndarray, columns: Sequence[str]) -> np.ndarray:
    for step in steps:
        values = step.apply(values, columns)
    return values


@dataclass(frozen=True)
class _CalendarBlock:
    """``calendar_parts`` on timestamp columns, then float steps."""

    columns: tuple[str, ...]
    function: Callable[..., np.ndarray]
    parts: tuple[str, ...]
    steps: tuple[_Impute | _Scale, ...]

    def apply(self, data: _Columns) -> np.ndarray:
        blocks = []
        for name in self.columns:
            column = data[name]
            try:
                blocks.append(_calendar(_read_instants(column), self.parts))
            except _Fallback:
                blocks.append(self.function(_as_frame(name, column), parts=self.parts))
        return _run_steps(self.steps, np.hstack(blocks).astype("float64"), self.columns)


@dataclass(frozen=True)
class _CategoryLookup:
    """One encoded feature: the output columns it owns and their values per category."""

    name: str
    codes: dict[str, int]  # category text -> row of ``table``
    unknown: int | None  # row of ``table`` for unseen categories; None: the encoder refuses them
    table: np.ndarray  # (categories + 1, owned columns)
    owned: slice | np.ndarray


@dataclass(frozen=True)
class _CategoricalBlock:
    """``as_text`` then a fitted OneHotEncoder or OrdinalEncoder, probed into lookup tables."""

    columns: tuple[str, ...]
    function: Callable[..., np.ndarray]
    missing: str
    base: np.ndarray  # the encoded row of the probe's base categories
    lookups: tuple[_CategoryLookup, ...]

    def apply(self, data: _Columns) -> np.ndarray:
        out = np.repeat(self.base[np.newaxis, :], data.rows, axis=0)
        for lookup in self.lookups:
            column = data[lookup.name]
            try:
                texts = _read_texts(column, self.missing)
            except _Fallback:
                texts = self.function(_as_frame(lookup.name, column))[:, 0].tolist()
            codes = [lookup.codes.get(text, lookup.unknown) for text in texts]
            if lookup.unknown is None and None in codes:
                unseen = texts[codes.index(None)]
                raise DataError(
                    f"feature {lookup.name!r} has the category {unseen!r}, unseen in training and refused by the model",
                    hint="send a known category",
                )
            out[:, lookup.owned] = lookup.table[codes]
        return out


_Block = _NumericBlock | _CalendarBlock | _CategoricalBlock


# --- estimators ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Trees:
    """Decision trees as flat node arrays, walked for all rows and trees at once.

    Leaves point to themselves, so a fixed number of steps (the deepest tree's depth) ends every walk
    on its leaf whatever the depth of each path. The comparison is scikit-learn's: ``x <= threshold``
    goes left, a missing value goes where the node sends missing values.
    """

    roots: np.ndarray  # (trees,)
    feature: np.ndarray
    threshold: np.ndarray
    children: np.ndarray  # (2 * nodes,): left child at 2i, right child at 2i + 1
    missing_right: np.ndarray
    depth: int

    def leaves(self, values: np.ndarray) -> np.ndarray:
        """The leaf each row reaches in each tree: (rows, trees) global node indices."""
        rows, width = values.shape
        flat = values.ravel()
        offsets = (np.arange(rows, dtype=np.intp) * width)[:, np.newaxis]
        nodes = np.repeat(self.roots[np.newaxis, :], rows, axis=0)
        has_missing = bool(np.isnan(flat).any())
        for _ in range(self.depth):
            x = flat.take(offsets + self.feature.take(nodes))
            right = ~(x <= self.threshold.take(nodes))
            if has_missing:
                right = np.where(np.isnan(x), self.missing_right.take(nodes), right)
            nodes = self.children.take(2 * nodes + right)
        return nodes

    @classmethod
    def build(cls, trees: Sequence[dict[str, np.ndarray]]) -> _Trees:
        """From per-tree arrays: feature, threshold, left, right (-1 at leaves), missing_left, depth."""
        roots, features, thresholds, children, missing_right = [], [], [], [], []
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
            depth = max(depth, int(tree["depth"]))
            offset += count
        return cls(
            roots=np.asarray(roots, dtype=np.intp),
            feature=np.concatenate(features).astype(np.intp),
            threshold=np.concatenate(thresholds).astype("float64"),
            children=np.concatenate(children).astype(np.intp),
            missing_right=np.concatenate(missing_right),
            depth=depth,
        )


def _chunks(rows: int, trees: int) -> list[slice]:
    step = max(1, _TREE_CELLS // max(trees, 1))
    return [slice(start, min(rows, start + step)) for start in range(0, rows, step)]


@dataclass(frozen=True)
class _GradientBoosting:
    """HistGradientBoostingClassifier: baseline plus leaf values in iteration order, then its link."""

    trees: _Trees
    values: np.ndarray  # leaf value per global node
    baseline: np.ndarray  # (per_iteration,)
    per_iteration: int
    estimator: HistGradientBoostingClassifier
    known_categories: tuple[np.ndarray, np.ndarray]

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        rows = features.shape[0]
        if rows > _HGB_NUMPY_ROWS:
            raw = self._raw_compiled(features)
        else:
            raw = np.empty((rows, self.per_iteration))
            for part in _chunks(rows, len(self.trees.roots)):
                leaf_values = self.values.take(self.trees.leaves(features[part]))
                leaf_values = leaf_values.reshape(leaf_values.shape[0], -1, self.per_iteration)
                start = np.broadcast_to(self.baseline, (leaf_values.shape[0], 1, self.per_iteration))
                # accumulate adds strictly left to right, as scikit-learn's `raw += tree(x)` loop does
                raw[part] = np.add.accumulate(np.concatenate((start, leaf_values), axis=1), axis=1)[:, -1, :]
        return self.estimator._loss.predict_proba(raw)

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
class _Forest:
    """RandomForestClassifier: the mean of its trees' leaf class fractions, inputs as float32."""

    trees: _Trees
    fractions: np.ndarray  # (nodes, classes)
    count: int
    allow_missing: bool

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        narrow = features.astype(np.float32)  # scikit-learn's trees compare float32 inputs
        if not np.isfinite(narrow).all() and (np.isinf(narrow).any() or not self.allow_missing):
            raise DataError(
                "the model input holds a missing or infinite value, which the random forest refuses",
                hint="send finite values",
            )
        out = np.empty((features.shape[0], self.fractions.shape[1]))
        for part in _chunks(features.shape[0], len(self.trees.roots)):
            leaves = self.trees.leaves(narrow[part])
            out[part] = np.add.accumulate(self.fractions[leaves], axis=1)[:, -1, :]
        out /= self.count
        return out


@dataclass(frozen=True)
class _Linear:
    """LogisticRegression, by its own formula: ``x @ coef.T + intercept``, then expit or softmax."""

    coef: np.ndarray
    intercept: np.ndarray
    one_vs_rest: bool

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        if not np.isfinite(features).all():
            raise DataError(
                "the model input holds a missing or infinite value, which logistic regression refuses",
                hint="send finite values",
            )
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
class _Constant:
    """DummyClassifier with a deterministic strategy: the same probabilities for every row."""

    row: np.ndarray

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        return np.repeat(self.row[np.newaxis, :], features.shape[0], axis=0)


_Estimator = _GradientBoosting | _Forest | _Linear | _Constant


# --- the compiled model ----------------------------------------------------------------------------


class FastModel:
    """A fitted pipeline compiled to numpy: the same probabilities, without the per-call overhead.

    Immutable after :func:`compile_model`, so one instance may serve concurrent requests.

    Attributes:
        classes_: The class labels, in the column order of :meth:`predict_proba` (the pipeline's).
        feature_names: The input columns the model reads, in the pipeline's order.
        n_features_out: Width of the preprocessed matrix the estimator takes.
    """

    def __init__(
        self,
        classes: np.ndarray,
        feature_names: tuple[str, ...],
        blocks: Sequence[tuple[_Block, slice]],
        width: int,
        estimator: _Estimator,
    ) -> None:
        self.classes_ = classes
        self.feature_names = feature_names
        self.n_features_out = width
        self._blocks = tuple(blocks)
        self._estimator = estimator

    def transform(self, columns: pd.DataFrame | Mapping[str, Any]) -> np.ndarray:
        """The preprocessed features the estimator takes: the pipeline's ColumnTransformer output.

        Args:
            columns: The input rows (see the module documentation for the accepted forms).

        Raises:
            DataError: For input scikit-learn would refuse too.
        """
        data = _Columns(columns, self.feature_names)
        features = np.empty((data.rows, self.n_features_out), dtype="float64")
        for block, out in self._blocks:
            features[:, out] = block.apply(data)
        return features

    def predict_proba(self, columns: pd.DataFrame | Mapping[str, Any]) -> np.ndarray:
        """Class probabilities, equal to ``pipeline.predict_proba(pd.DataFrame(columns))``.

        Args:
            columns: The input rows: a DataFrame, or a mapping of column name to 1-D values.

        Returns:
            An array of shape (rows, classes), columns in :attr:`classes_` order.

        Raises:
            DataError: For input scikit-learn would refuse too (see the module documentation).
        """
        return self._estimator.predict_proba(self.transform(columns))

    def __repr__(self) -> str:
        estimator = type(self._estimator).__name__.strip("_")
        shape = f"{len(self.feature_names)} features -> {self.n_features_out} columns"
        return f"FastModel({estimator}, {shape}, classes {list(self.classes_)})"


def compile_model(pipeline: Any, *, check_rows: pd.DataFrame | None = None) -> FastModel:
    """Compiles a fitted model pipeline into a :class:`FastModel`.

    After compiling, the fast path is compared with ``pipeline.predict_proba`` on probe rows built
    from what the pipeline learned (every category, an unseen one where allowed, missing values,
    timestamps) and on ``check_rows`` if given; any difference above 1e-9 refuses the model.

    Args:
        pipeline: A fitted scikit-learn Pipeline, as the project trains it.
        check_rows: Optional further rows (a DataFrame of the features) to compare on.

    Returns:
        The compiled model.

    Raises:
        UnsupportedModel: If any part cannot be reproduced exactly; predict with the pipeline then.
    """
    version = ".".join(sklearn.__version__.split(".")[:2])
    if version not in SUPPORTED_SKLEARN:
        raise UnsupportedModel(
            f"scikit-learn {sklearn.__version__} is not a version the fast path was verified against "
            f"({', '.join(SUPPORTED_SKLEARN)})"
        )
    if not isinstance(pipeline, Pipeline):
        raise UnsupportedModel(f"{type(pipeline).__name__} is not a scikit-learn Pipeline")
    steps = [step for _, step in pipeline.steps if step not in (None, "passthrough")]
    if not steps:
        raise UnsupportedModel("the pipeline has no estimator")
    *transforms, estimator = steps
    if len(transforms) > 1 or (transforms and not isinstance(transforms[0], ColumnTransformer)):
        raise UnsupportedModel("only a ColumnTransformer may come before the estimator")
    if not hasattr(estimator, "classes_"):
        raise UnsupportedModel(f"the estimator {type(estimator).__name__} is not a fitted classifier")
    if transforms:
        names, blocks, width = _compile_preprocessor(transforms[0])
        compiled = _compile_estimator(estimator, width)
    elif isinstance(estimator, DummyClassifier):
        names, blocks, width = (), [], 0
        compiled = _compile_estimator(estimator, None)
    else:
        raise UnsupportedModel("the pipeline has no ColumnTransformer to read its columns")
    model = FastModel(np.asarray(estimator.classes_), names, blocks, width, compiled)
    _verify(model, pipeline, check_rows)
    return model


def _compile_preprocessor(transformer: ColumnTransformer) -> tuple[tuple[str, ...], list[tuple[_Block, slice]], int]:
    if not hasattr(transformer, "transformers_"):
        raise UnsupportedModel("the ColumnTransformer is not fitted")
    if getattr(transformer, "feature_names_in_", None) is None:
        raise UnsupportedModel("the ColumnTransformer was fitted on an array, not on named columns")
    if transformer.sparse_output_:
        raise UnsupportedModel("the ColumnTransformer produces a sparse matrix")
    known = list(transformer.feature_names_in_)
    blocks: list[tuple[_Block, slice]] = []
    used: list[str] = []
    width = 0
    for name, fitted, columns in transformer.transformers_:
        out = transformer.output_indices_[name]
        if fitted == "drop" or out.stop == out.start:
            continue
        columns = _column_names(columns, known, name)
        block = _compile_block(name, fitted, columns)
        blocks.append((block, out))
        used += [c for c in columns if c not in used]
        width = max(width, out.stop)
    return tuple(c for c in known if c in used), blocks, width


def _column_names(columns: Any, known: list[str], name: str) -> tuple[str, ...]:
    if isinstance(columns, str):
        raise UnsupportedModel(f"transformer {name!r} takes a single column as a Series")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # remainder columns as positions: both forms are read
        columns = list(columns)
    if all(isinstance(c, str) for c in columns):
        return tuple(columns)
    if all(isinstance(c, (int, np.integer)) and not isinstance(c, (bool, np.bool_)) for c in columns):
        return tuple(known[int(c)] for c in columns)
    raise UnsupportedModel(f"transformer {name!r} selects its columns by a mask, slice or callable")


def _compile_block(name: str, fitted: Any, columns: tuple[str, ...]) -> _Block:
    if fitted == "passthrough":
        return _NumericBlock(columns, None, ())
    steps = list(fitted.steps) if isinstance(fitted, Pipeline) else [(name, fitted)]
    steps = [step for _, step in steps if step not in (None, "passthrough")]
    if len(steps) == 1 and isinstance(steps[0], FunctionTransformer) and steps[0].func is None:
        return _NumericBlock(columns, None, ())  # how a fitted ColumnTransformer may hold "passthrough"
    if not steps or not isinstance(steps[0], FunctionTransformer):
        raise UnsupportedModel(f"transformer {name!r} does not start with one of the project's column functions")
    first, rest = steps[0], steps[1:]
    if first.validate or first.func not in (preprocess.as_numbers, preprocess.as_text, preprocess.calendar_parts):
        raise UnsupportedModel(
            f"transformer {name!r} starts with {getattr(first.func, '__name__', first.func)!r}, "
            "which the fast path does not know"
        )
    kw_args = dict(first.kw_args or {})
    if first.func is preprocess.calendar_parts:
        parts = tuple(kw_args.pop("parts", ("hour", "dayofweek", "month")))
        unknown = [p for p in parts if p not in CALENDAR_PARTS]
        if kw_args or unknown:
            raise UnsupportedModel(
                f"transformer {name!r} asks for calendar parts {unknown or list(kw_args)} "
                "the fast path does not compute"
            )
        return _CalendarBlock(columns, first.func, parts, _compile_float_steps(name, rest))
    if kw_args:
        raise UnsupportedModel(f"transformer {name!r} passes arguments to {first.func.__name__}")
    if first.func is preprocess.as_numbers:
        return _NumericBlock(columns, first.func, _compile_float_steps(name, rest))
    if len(rest) != 1 or not isinstance(rest[0], (OneHotEncoder, OrdinalEncoder)):
        raise UnsupportedModel(f"transformer {name!r} does not end in one OneHotEncoder or OrdinalEncoder")
    return _compile_encoder(name, first.func, rest[0], columns)


def _compile_float_steps(name: str, steps: Sequence[Any]) -> tuple[_Impute | _Scale, ...]:
    compiled: list[_Impute | _Scale] = []
    for step in steps:
        if isinstance(step, SimpleImputer):
            if not (isinstance(step.missing_values, float) and math.isnan(step.missing_values)):
                raise UnsupportedModel(f"an imputer of {name!r} treats {step.missing_values!r} as missing, not NaN")
            statistics = np.asarray(step.statistics_)
            if statistics.dtype.kind not in "fiu":
                raise UnsupportedModel(f"an imputer of {name!r} has non-numeric statistics")
            statistics = statistics.astype("float64")
            empty = np.isnan(statistics)
            keep = None
            if step.strategy != "constant" and not step.keep_empty_features and empty.any():
                keep = np.flatnonzero(~empty)
            indicators = None
            if step.add_indicator:
                indicator = step.indicator_
                if indicator.features != "missing-only" or indicator.error_on_new:
                    raise UnsupportedModel(
                        f"the missing indicator of {name!r} is configured in a way the fast path does not know"
                    )
                indicators = np.asarray(indicator.features_, dtype=np.intp)
            compiled.append(_Impute(statistics, keep, indicators))
        elif isinstance(step, StandardScaler):
            compiled.append(_Scale(step.mean_ if step.with_mean else None, step.scale_ if step.with_std else None))
        else:
            raise UnsupportedModel(f"transformer {name!r} has a {type(step).__name__} step")
    return tuple(compiled)


def _compile_encoder(
    name: str, function: Callable[..., np.ndarray], encoder: OneHotEncoder | OrdinalEncoder, columns: tuple[str, ...]
) -> _CategoricalBlock:
    """Probes the fitted encoder with each of its categories, one feature at a time.

    The encoder decides every output itself (infrequent groups, dropped columns, unknown handling),
    so the lookup tables hold exactly what ``encoder.transform`` returns.
    """
    categories = [list(c) for c in encoder.categories_]
    if any(not c or not all(isinstance(v, str) for v in c) for c in categories):
        raise UnsupportedModel(f"the encoder of {name!r} has categories that are not text")
    if len(categories) != len(columns):
        raise UnsupportedModel(f"the encoder of {name!r} has {len(categories)} features for {len(columns)} columns")
    unseen = "\x00unseen\x00"
    refuses_unknown = encoder.handle_unknown == "error"
    base_row = [c[0] for c in categories]
    base = _encode(encoder, [base_row])[0]
    lookups = []
    for j, (column, known) in enumerate(zip(columns, categories, strict=True)):
        probes = known + ([] if refuses_unknown else [unseen])
        rows = [base_row[:j] + [value] + base_row[j + 1 :] for value in probes]
        table = _encode(encoder, rows)
        varying = np.flatnonzero((table != table[:1]).any(axis=0))
        owned: slice | np.ndarray = varying
        if varying.size and np.array_equal(varying, np.arange(varying[0], varying[-1] + 1)):
            owned = slice(int(varying[0]), int(varying[-1]) + 1)
        codes = {value: i for i, value in enumerate(known)}
        lookups.append(
            _CategoryLookup(
                column, codes, None if refuses_unknown else len(known), np.ascontiguousarray(table[:, varying]), owned
            )
        )
    return _CategoricalBlock(columns, function, preprocess.MISSING, base, tuple(lookups))


def _encode(encoder: OneHotEncoder | OrdinalEncoder, rows: list[list[str]]) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "unknown categories" warnings are what the unseen probe is for
        out = encoder.transform(np.array(rows, dtype=object))
    out = out.toarray() if hasattr(out, "toarray") else np.asarray(out)
    return out.astype("float64")


def _compile_estimator(estimator: Any, width: int | None) -> _Estimator:
    if width is not None and getattr(estimator, "n_features_in_", width) != width:
        raise UnsupportedModel(
            f"the estimator takes {estimator.n_features_in_} columns but the preprocessing gives {width}"
        )
    kind = type(estimator)
    if kind is HistGradientBoostingClassifier:
        return _compile_gradient_boosting(estimator)
    if kind is RandomForestClassifier:
        return _compile_forest(estimator)
    if kind is LogisticRegression:
        return _compile_linear(estimator)
    if kind is DummyClassifier:
        if estimator.strategy not in ("prior", "most_frequent", "uniform", "constant") or estimator.n_outputs_ != 1:
            raise UnsupportedModel(f"DummyClassifier(strategy={estimator.strategy!r}) is random or multi-output")
        return _Constant(np.asarray(estimator.predict_proba(np.zeros((1, 1))), dtype="float64")[0])
    raise UnsupportedModel(
        f"{kind.__name__} has no exact fast path "
        "(supported: HistGradientBoosting, RandomForest, LogisticRegression, Dummy classifiers)"
    )


def _compile_gradient_boosting(estimator: HistGradientBoostingClassifier) -> _GradientBoosting:
    if getattr(estimator, "_preprocessor", None) is not None or getattr(estimator, "is_categorical_", None) is not None:
        raise UnsupportedModel("the gradient boosting model has native categorical features")
    per_iteration = estimator.n_trees_per_iteration_
    trees, values = [], []
    for iteration in estimator._predictors:
        if len(iteration) != per_iteration:
            raise UnsupportedModel("the gradient boosting model has an irregular number of trees per iteration")
        for predictor in iteration:
            nodes = predictor.nodes
            if nodes["is_categorical"].any():
                raise UnsupportedModel("the gradient boosting model splits on categories")
            leaf = nodes["is_leaf"].astype(bool)
            trees.append(
                {
                    "feature": nodes["feature_idx"],
                    "threshold": nodes["num_threshold"],
                    "left": np.where(leaf, -1, nodes["left"].astype(np.int64)),
                    "right": np.where(leaf, -1, nodes["right"].astype(np.int64)),
                    "missing_left": nodes["missing_go_to_left"],
                    "depth": int(nodes["depth"].max()),
                }
            )
            values.append(nodes["value"])
    baseline = np.asarray(estimator._baseline_prediction, dtype="float64").reshape(-1)
    if baseline.size != per_iteration:
        raise UnsupportedModel("the gradient boosting model's baseline does not match its trees")
    return _GradientBoosting(
        trees=_Trees.build(trees),
        values=np.concatenate(values).astype("float64"),
        baseline=baseline,
        per_iteration=per_iteration,
        estimator=estimator,
        known_categories=estimator._bin_mapper.make_known_categories_bitsets(),
    )


def _compile_forest(estimator: RandomForestClassifier) -> _Forest:
    if estimator.n_outputs_ != 1:
        raise UnsupportedModel("the random forest has several outputs")
    classes = estimator.n_classes_
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
    return _Forest(
        _Trees.build(trees), np.concatenate(fractions).astype("float64"), len(estimator.estimators_), allow_missing
    )


def _compile_linear(estimator: LogisticRegression) -> _Linear:
    if not isinstance(estimator.coef_, np.ndarray):
        raise UnsupportedModel("the logistic regression has sparse coefficients")
    one_vs_rest = estimator.multi_class in ("ovr", "warn") or (
        estimator.multi_class in ("auto", "deprecated")
        and (estimator.classes_.size <= 2 or estimator.solver == "liblinear")
    )
    return _Linear(estimator.coef_, estimator.intercept_, one_vs_rest)


# --- the compile-time check ------------------------------------------------------------------------


def _verify(model: FastModel, pipeline: Pipeline, check_rows: pd.DataFrame | None) -> None:
    frames = [_probe_rows(model)]
    if check_rows is not None and len(check_rows):
        frames.append(check_rows)
    for frame in frames:
        try:
            expected = pipeline.predict_proba(frame)
        except Exception as error:  # the probe is for comparing, not for judging the pipeline
            raise UnsupportedModel(f"scikit-learn failed on the check rows ({type(error).__name__}: {error})") from None
        try:
            actual = model.predict_proba(frame)
        except DataError as error:
            raise UnsupportedModel(f"the fast path refused rows scikit-learn accepted ({error.message})") from None
        if actual.shape != expected.shape or not np.allclose(actual, expected, rtol=0, atol=TOLERANCE):
            gap = np.max(np.abs(actual - expected)) if actual.shape == expected.shape else "shape"
            raise UnsupportedModel(
                f"the compiled path differs from scikit-learn on check rows (largest difference {gap})"
            )


def _probe_rows(model: FastModel) -> pd.DataFrame:
    """Rows that exercise what a pipeline learned: each category, unseen and missing values, timestamps."""
    count = 4
    for block, _ in model._blocks:
        if isinstance(block, _CategoricalBlock):
            count = max(count, *(len(lookup.codes) + 2 for lookup in block.lookups))
    columns: dict[str, list[Any]] = {}
    for block, _ in model._blocks:
        if isinstance(block, _CategoricalBlock):
            for lookup in block.lookups:
                values: list[Any] = [None if c == block.missing else c for c in lookup.codes]
                values += [None] + ([] if lookup.unknown is None else ["\x00never seen"])
                columns[lookup.name] = [values[i % len(values)] for i in range(count)]
        elif isinstance(block, _CalendarBlock):
            moments = ["2013-01-05T23:30:00Z", None, "2024-02-29T06:15:00+01:00", "1999-12-31"]
            for name in block.columns:
                columns[name] = [moments[i % len(moments)] for i in range(count)]
        else:
            centres = _numeric_centres(block)
            for i, name in enumerate(block.columns):
                centre = centres[i] if i < len(centres) else 0.0
                values = [centre, centre + 1.5, centre - 2.25, 0.0] + ([np.nan] if block.function is not None else [])
                columns[name] = [values[k % len(values)] for k in range(count)]
    return pd.DataFrame(
        {name: columns[name] for name in model.feature_names}, columns=list(model.feature_names), index=range(count)
    )


def _numeric_centres(block: _NumericBlock) -> np.ndarray:
    for step in block.steps:
        if isinstance(step, _Impute):
            return step.statistics
        if step.mean is not None:
            return step.mean
    return np.zeros(len(block.columns))
