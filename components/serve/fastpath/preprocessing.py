"""The preprocessing of a fitted ColumnTransformer, compiled to numpy.

:func:`compile_preprocessor` reads a fitted ``ColumnTransformer`` as
:func:`components.preprocess.logic.model_pipeline` builds it (numeric: ``as_numbers`` then
SimpleImputer/StandardScaler; categorical: ``as_text`` then OneHotEncoder or OrdinalEncoder, with
infrequent categories; datetime: ``calendar_parts`` then SimpleImputer/StandardScaler; ``passthrough``
and ``drop``) into blocks, one per transformer, each writing its slice of the preprocessed matrix:

- :class:`NumericBlock` and :class:`CalendarBlock`: numbers or :func:`calendar` parts of the columns,
  then :class:`Impute` (the imputer's statistics, missing indicators) and :class:`Scale`
  (``(x - mean) / scale``), in scikit-learn's order of operations;
- :class:`CategoricalBlock`: a :class:`CategoryLookup` per feature, probed from the fitted encoder
  itself, so infrequent groups, dropped columns and unseen categories (``handle_unknown``) come out
  exactly as ``encoder.transform`` gives them.

Anything else raises :class:`~components.serve.fastpath.unsupported.UnsupportedModel`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler

from components.common.errors import DataError
from components.common.timezones import DEFAULT_TIMEZONE, known_timezones
from components.preprocess import logic as preprocess
from components.serve.fastpath.readers import (
    NAT,
    NS_PER_DAY,
    NS_PER_HOUR,
    Columns,
    Fallback,
    as_frame,
    read_instants,
    read_numbers,
    read_texts,
)
from components.serve.fastpath.unsupported import UnsupportedModel

CALENDAR_PARTS = ("hour", "dayofweek", "month", "dayofyear", "weekend")


def calendar(instants: np.ndarray, parts: Sequence[str]) -> np.ndarray:
    """Calendar parts of wall-clock nanoseconds (:func:`read_instants`), NaN where missing (``calendar_parts``)."""
    missing = instants == NAT
    safe = np.where(missing, 0, instants)
    days = safe // NS_PER_DAY
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    columns = []
    for part in parts:
        if part == "hour":
            values = (safe // NS_PER_HOUR) % 24
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


@dataclass(frozen=True)
class Impute:
    """A fitted SimpleImputer on float columns (missing values are NaN)."""

    statistics: np.ndarray
    keep: np.ndarray | None  # columns kept (None: all); the others had no value in training
    indicators: np.ndarray | None  # columns whose missing-indicator is appended

    def apply(self, values: np.ndarray, columns: Sequence[str]) -> np.ndarray:
        """Imputed values (kept columns, then indicators) of a (rows, columns) float array."""
        _refuse_infinity(values, columns)
        missing = np.isnan(values)
        imputed = np.where(missing, self.statistics, values) if missing.any() else values.copy()
        if self.keep is not None:
            imputed = imputed[:, self.keep]
        if self.indicators is None:
            return imputed
        return np.hstack((imputed, missing[:, self.indicators]))


@dataclass(frozen=True)
class Scale:
    """A fitted StandardScaler: ``(x - mean) / scale``, in scikit-learn's order of operations."""

    mean: np.ndarray | None
    scale: np.ndarray | None

    def apply(self, values: np.ndarray, columns: Sequence[str]) -> np.ndarray:
        """Scaled values of a (rows, columns) float array."""
        _refuse_infinity(values, columns)
        values = values.astype("float64")
        if self.mean is not None:
            values -= self.mean
        if self.scale is not None:
            values /= self.scale
        return values


def _refuse_infinity(values: np.ndarray, columns: Sequence[str]) -> None:
    infinite = np.isinf(values)
    if infinite.any():  # the column only then: a reduction by axis costs a single-row request 4 us a step
        infinite = infinite.any(axis=0)
        first = int(np.flatnonzero(infinite)[0])
        where = f"feature {columns[first]!r}" if first < len(columns) else "a derived feature"
        raise DataError(
            f"{where} holds an infinite number, which the model's preprocessing refuses",
            hint="send a finite number or null",
        )


@dataclass(frozen=True)
class NumericBlock:
    """``as_numbers`` (or ``passthrough``) on its columns, then float steps."""

    columns: tuple[str, ...]
    function: Callable[..., np.ndarray] | None  # None: passthrough
    steps: tuple[Impute | Scale, ...]

    def apply(self, data: Columns) -> np.ndarray:
        """The block's slice of the preprocessed matrix."""
        values = np.empty((data.rows, len(self.columns)), dtype="float64")
        for i, name in enumerate(self.columns):
            column = data[name]
            if self.function is None:
                values[:, i] = _passthrough_numbers(name, column)
                continue
            try:
                values[:, i] = read_numbers(column)
            except Fallback:
                values[:, i] = self.function(as_frame(name, column))[:, 0]
        return _run_steps(self.steps, values, self.columns)


def _passthrough_numbers(name: str, column: Any) -> np.ndarray:
    try:
        return np.asarray(column, dtype="float64")
    except (TypeError, ValueError):
        raise DataError(
            f"column {name!r} is passed to the model as it is, so it must hold numbers", hint="send numbers"
        ) from None


def _run_steps(steps: Sequence[Impute | Scale], values: np.ndarray, columns: Sequence[str]) -> np.ndarray:
    for step in steps:
        values = step.apply(values, columns)
    return values


@dataclass(frozen=True)
class CalendarBlock:
    """``calendar_parts`` on timestamp columns in the model's time zone, then float steps."""

    columns: tuple[str, ...]
    function: Callable[..., np.ndarray]
    parts: tuple[str, ...]
    steps: tuple[Impute | Scale, ...]
    timezone: str = DEFAULT_TIMEZONE

    def apply(self, data: Columns) -> np.ndarray:
        """The block's slice of the preprocessed matrix."""
        blocks = []
        for name in self.columns:
            column = data[name]
            try:
                blocks.append(calendar(read_instants(column, self.timezone), self.parts))
            except Fallback:
                blocks.append(self.function(as_frame(name, column), parts=self.parts, timezone=self.timezone))
        return _run_steps(self.steps, np.hstack(blocks).astype("float64"), self.columns)


@dataclass(frozen=True)
class CategoryLookup:
    """One encoded feature: the output columns it owns and their values per category."""

    name: str
    codes: dict[str, int]  # category text -> row of ``table``
    unknown: int | None  # row of ``table`` for unseen categories; None: the encoder refuses them
    table: np.ndarray  # (categories + 1, owned columns)
    owned: slice | np.ndarray


@dataclass(frozen=True)
class CategoricalBlock:
    """``as_text`` then a fitted OneHotEncoder or OrdinalEncoder, probed into lookup tables."""

    columns: tuple[str, ...]
    function: Callable[..., np.ndarray]
    missing: str
    base: np.ndarray  # the encoded row of the probe's base categories
    lookups: tuple[CategoryLookup, ...]

    def apply(self, data: Columns) -> np.ndarray:
        """The block's slice of the preprocessed matrix.

        Raises:
            DataError: For a category unseen in training where the encoder refuses unknown ones.
        """
        out = np.repeat(self.base[np.newaxis, :], data.rows, axis=0)
        for lookup in self.lookups:
            column = data[lookup.name]
            try:
                texts = read_texts(column, self.missing)
            except Fallback:
                texts = self.function(as_frame(lookup.name, column))[:, 0].tolist()
            codes = [lookup.codes.get(text, lookup.unknown) for text in texts]
            if lookup.unknown is None and None in codes:
                unseen = texts[codes.index(None)]
                raise DataError(
                    f"feature {lookup.name!r} has the category {unseen!r}, unseen in training and refused by the model",
                    hint="send a known category",
                )
            out[:, lookup.owned] = lookup.table[codes]
        return out


Block = NumericBlock | CalendarBlock | CategoricalBlock


def compile_preprocessor(transformer: ColumnTransformer) -> tuple[tuple[str, ...], list[tuple[Block, slice]], int]:
    """Compiles a fitted ColumnTransformer into blocks.

    Args:
        transformer: The pipeline's fitted ColumnTransformer.

    Returns:
        The input columns it reads (in its order), each block with the slice of the output it
        writes, and the width of the output.

    Raises:
        UnsupportedModel: If a transformer or its column selection is one the fast path does not know.
    """
    if not hasattr(transformer, "transformers_"):
        raise UnsupportedModel("the ColumnTransformer is not fitted")
    if getattr(transformer, "feature_names_in_", None) is None:
        raise UnsupportedModel("the ColumnTransformer was fitted on an array, not on named columns")
    if transformer.sparse_output_:
        raise UnsupportedModel("the ColumnTransformer produces a sparse matrix")
    known = list(transformer.feature_names_in_)
    blocks: list[tuple[Block, slice]] = []
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


def _compile_block(name: str, fitted: Any, columns: tuple[str, ...]) -> Block:
    if fitted == "passthrough":
        return NumericBlock(columns, None, ())
    steps = list(fitted.steps) if isinstance(fitted, Pipeline) else [(name, fitted)]
    steps = [step for _, step in steps if step not in (None, "passthrough")]
    if len(steps) == 1 and isinstance(steps[0], FunctionTransformer) and steps[0].func is None:
        return NumericBlock(columns, None, ())  # how a fitted ColumnTransformer may hold "passthrough"
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
        timezone = kw_args.pop("timezone", DEFAULT_TIMEZONE)  # models trained before time zones: UTC
        unknown = [p for p in parts if p not in CALENDAR_PARTS]
        if kw_args or unknown:
            raise UnsupportedModel(
                f"transformer {name!r} asks for calendar parts {unknown or list(kw_args)} "
                "the fast path does not compute"
            )
        if not isinstance(timezone, str) or timezone not in known_timezones():
            raise UnsupportedModel(f"transformer {name!r} reads times in {timezone!r}, a time zone not known here")
        return CalendarBlock(columns, first.func, parts, _compile_float_steps(name, rest), timezone)
    if kw_args:
        raise UnsupportedModel(f"transformer {name!r} passes arguments to {first.func.__name__}")
    if first.func is preprocess.as_numbers:
        return NumericBlock(columns, first.func, _compile_float_steps(name, rest))
    if len(rest) != 1 or not isinstance(rest[0], (OneHotEncoder, OrdinalEncoder)):
        raise UnsupportedModel(f"transformer {name!r} does not end in one OneHotEncoder or OrdinalEncoder")
    return _compile_encoder(name, first.func, rest[0], columns)


def _compile_float_steps(name: str, steps: Sequence[Any]) -> tuple[Impute | Scale, ...]:
    compiled: list[Impute | Scale] = []
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
            compiled.append(Impute(statistics, keep, indicators))
        elif isinstance(step, StandardScaler):
            compiled.append(Scale(step.mean_ if step.with_mean else None, step.scale_ if step.with_std else None))
        else:
            raise UnsupportedModel(f"transformer {name!r} has a {type(step).__name__} step")
    return tuple(compiled)


def _compile_encoder(
    name: str, function: Callable[..., np.ndarray], encoder: OneHotEncoder | OrdinalEncoder, columns: tuple[str, ...]
) -> CategoricalBlock:
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
            CategoryLookup(
                column, codes, None if refuses_unknown else len(known), np.ascontiguousarray(table[:, varying]), owned
            )
        )
    return CategoricalBlock(columns, function, preprocess.MISSING, base, tuple(lookups))


def _encode(encoder: OneHotEncoder | OrdinalEncoder, rows: list[list[str]]) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "unknown categories" warnings are what the unseen probe is for
        out = encoder.transform(np.array(rows, dtype=object))
    out = out.toarray() if hasattr(out, "toarray") else np.asarray(out)
    return out.astype("float64")
