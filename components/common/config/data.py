"""What data a use case learns from: its sources and joins, the target, the features and the split."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Union

from components.common.errors import ConfigError
from components.common.timezones import closest_timezones, known_timezones

Scalar = Union[str, int, float, bool]

CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.zip")
PARQUET_SUFFIXES = (".parquet", ".pq")
COMPARISONS = (">", ">=", "<", "<=", "==", "!=", "in", "not in")
SPLITS = ("train", "eval", "test")
DURATION = re.compile(r"[1-9][0-9]*(?:s|min|h|d)")  # what pandas.Timedelta reads the same way
# A hash split's key that stands for every column of the row: a file without an id still splits deterministically.
WHOLE_ROW = "*"


@dataclass(frozen=True)
class SourceSpec:
    """One input table.

    Attributes:
        uri: A local path, an ``s3://bucket/key`` URI, or ``package://<package>/<path>`` for a file
            shipped inside an installed Python package (the demo data).
        format: ``csv`` or ``parquet``; inferred from the file name when empty.
        delimiter: CSV field separator.
        null_values: CSV strings read as missing; empty means pyarrow's defaults ("", "NA", "null", ...).
    """

    uri: str
    format: Literal["", "csv", "parquet"] = ""
    delimiter: str = ","
    null_values: tuple[str, ...] = ()

    def resolved_format(self) -> str:
        """Returns the format, inferred from the URI's suffix when not given."""
        if self.format:
            return self.format
        lowered = self.uri.lower()
        if lowered.endswith(CSV_SUFFIXES):
            return "csv"
        if lowered.endswith(PARQUET_SUFFIXES):
            return "parquet"
        raise ConfigError(
            f"cannot tell the format of source {self.uri!r} from its name",
            hint="add `format: csv` or `format: parquet` to the source",
        )


@dataclass(frozen=True)
class JoinSpec:
    """A left (or inner) join of a lookup source onto the primary table.

    Attributes:
        source: Name of the lookup source.
        keys: Key columns present in both tables. (Not ``on``: YAML reads a bare ``on`` as true.)
        how: ``left`` keeps every primary row; ``inner`` keeps rows with a match only.
        columns: Lookup columns to bring in (all but the keys when empty).
        rename: New names for lookup columns, applied before joining (to avoid clashes).
        lag: Per time key, a duration (``30min``, ``1h``, ``2d``) by which the lookup trails the
            primary rows: a row keyed at time t gets the lookup row keyed at t - lag. For lookups
            whose row of a period is only known after the period began (weather observed until H:51
            is labelled hour H): lagging by one period keeps the future out of the features.
    """

    source: str
    keys: tuple[str, ...]
    how: Literal["left", "inner"] = "left"
    columns: tuple[str, ...] = ()
    rename: Mapping[str, str] = field(default_factory=dict)
    lag: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DeriveSpec:
    """A rule that computes the label from another column: ``label = column <op> value``.

    Attributes:
        column: The column the label is derived from.
        op: One of ``> >= < <= == != in`` and ``not in``.
        value: The right-hand side; a list for ``in`` and ``not in``.
    """

    column: str
    op: Literal[">", ">=", "<", "<=", "==", "!=", "in", "not in"]
    value: Any


@dataclass(frozen=True)
class TargetSpec:
    """The label to predict.

    Attributes:
        name: The label column (created by ``derive`` when given, else read from the data).
        derive: Optional rule computing a binary label from another column.
        missing: What to do with rows whose label (or its source) is missing: ``drop`` or ``error``.
        task: ``classification`` or ``regression``; when absent it is inferred from the training labels
            (:func:`components.common.targets.infer_task`): numbers with many distinct values are a
            regression, text, booleans and few integer values a classification.
    """

    name: str
    derive: DeriveSpec | None = None
    missing: Literal["drop", "error"] = "drop"
    task: Literal["classification", "regression"] | None = None


@dataclass(frozen=True)
class FeatureSpec:
    """Feature columns by kind; preprocessing treats each kind its own way.

    Attributes:
        numeric: Numeric columns (imputed and scaled).
        categorical: Categorical columns (encoded; unseen values tolerated).
        datetime: Timestamp columns that preprocessing expands into calendar features.
    """

    numeric: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    datetime: tuple[str, ...] = ()

    def all(self) -> tuple[str, ...]:
        """Returns every feature column, numeric first."""
        return self.numeric + self.categorical + self.datetime


@dataclass(frozen=True)
class SplitSpec:
    """How rows are assigned to the train, eval and test splits.

    ``time``: rows with ``column`` before ``train_end`` train, before ``eval_end`` evaluate, the rest
    test. ``hash``: a stable hash of the ``key`` columns (salted) assigns rows by ``fractions``, so a
    row keeps its split when data is appended. ``key: ["*"]`` (:data:`WHOLE_ROW`) hashes the whole row:
    every column it holds when splits are assigned (after joins and the label rule), in name order; so
    identical rows always share a split, and a row moves only if its content (or the set of columns) changes.

    Attributes:
        method: ``time`` or ``hash``.
        column: The time (or any ordered) column, for ``time``.
        train_end: First value that no longer trains (exclusive bound), for ``time``.
        eval_end: First value that no longer evaluates, for ``time``.
        key: Columns whose values identify a row, for ``hash``; ``["*"]`` for the whole row.
        fractions: Share of rows per split, for ``hash``; must sum to 1.
        salt: Changes the assignment without changing the data, for ``hash``.
    """

    method: Literal["time", "hash"]
    column: str = ""
    train_end: Scalar | None = None
    eval_end: Scalar | None = None
    key: tuple[str, ...] = ()
    fractions: Mapping[str, float] = field(default_factory=lambda: {"train": 0.8, "eval": 0.1, "test": 0.1})
    salt: str = ""

    @property
    def hashes_whole_row(self) -> bool:
        """Whether a hash split places rows by their whole content rather than by key columns."""
        return self.method == "hash" and self.key == (WHOLE_ROW,)

    def key_columns(self, columns: Sequence[str]) -> list[str]:
        """Returns the columns a hash split hashes, given the columns a row holds.

        Args:
            columns: The row's columns when splits are assigned.
        """
        return sorted(columns) if self.hashes_whole_row else list(self.key)


def check_sources(sources: Mapping[str, SourceSpec], joins: tuple[JoinSpec, ...], where: str) -> None:
    """Checks that every source is readable and the joins leave exactly one primary table.

    Args:
        sources: The use case's sources by name.
        joins: The use case's joins, in order.
        where: What to call the use case in messages.

    Raises:
        ConfigError: If there are no sources, a source has no URI or no format, a join names an
            unknown source, has no keys or repeats a source, or not exactly one source is unjoined.
    """
    if not sources:
        raise ConfigError(f"{where} has no sources", hint="add at least one entry under `sources`")
    for name, source in sources.items():
        source.resolved_format()
        if not source.uri:
            raise ConfigError(f"source {name!r} in {where} has an empty uri")
    joined = [join.source for join in joins]
    for name in joined:
        if name not in sources:
            raise ConfigError(
                f"join in {where} names unknown source {name!r}", hint=f"sources are: {', '.join(sources)}"
            )
        join = next(j for j in joins if j.source == name)
        if not join.keys:
            raise ConfigError(f"join of {name!r} in {where} has no key columns in `keys`")
        for key, duration in join.lag.items():
            if key not in join.keys:
                raise ConfigError(f"join of {name!r} in {where} lags {key!r}, which is not one of its keys")
            if not DURATION.fullmatch(duration):
                raise ConfigError(
                    f"join of {name!r} in {where} lags {key!r} by {duration!r}",
                    hint="give a duration as a whole number and a unit: 30min, 1h or 2d",
                )
    if len(set(joined)) != len(joined):
        raise ConfigError(f"{where} joins the same source twice", hint="merge the two joins into one")
    primaries = [name for name in sources if name not in set(joined)]
    if len(primaries) != 1:
        raise ConfigError(
            f"{where} must have exactly one source that no join names (the primary table), found {len(primaries)}",
            hint="every source but the primary one needs a join",
        )


def check_features(features: FeatureSpec, where: str) -> None:
    """Checks that there are feature columns and none is listed twice.

    Raises:
        ConfigError: If no feature is listed, or one is listed twice.
    """
    columns = features.all()
    if not columns:
        raise ConfigError(f"{where} lists no feature columns", hint="add columns under features.numeric/categorical")
    duplicated = sorted({f for f in columns if columns.count(f) > 1})
    if duplicated:
        raise ConfigError(f"feature {duplicated[0]!r} is listed twice in {where}")


def check_target(target: TargetSpec, where: str) -> None:
    """Checks the target's derive rule: ``in`` and ``not in`` compare with a list; a rule makes a class.

    Raises:
        ConfigError: If ``in`` or ``not in`` has a value that is not a list, or a derived (true/false)
            label is declared a regression.
    """
    derive = target.derive
    if derive is not None and target.task == "regression":
        raise ConfigError(
            f"target.derive makes a true/false label, which cannot be a regression, in {where}",
            hint="remove target.derive to predict the column itself, or set target.task: classification",
        )
    if derive is not None and derive.op in ("in", "not in") and not isinstance(derive.value, list):
        raise ConfigError(f"target.derive.value must be a list for op {derive.op!r} in {where}")


def declared_task(target: TargetSpec) -> Literal["classification", "regression"] | None:
    """The task the config decides alone: ``target.task``, or classification for a derived (true/false) label.

    None means the training labels decide (:func:`components.common.targets.resolve_task`).
    """
    if target.task is not None:
        return target.task
    return "classification" if target.derive is not None else None


def check_split(split: SplitSpec, where: str) -> None:
    """Checks that a split has the settings of its method, and hash fractions that sum to 1.

    Raises:
        ConfigError: If a time split lacks its column or bounds or has hash keys, or a hash split
            lacks keys, mixes the whole row with named keys, or has fractions that do not name train,
            eval and test or do not sum to 1.
    """
    if split.method == "time":
        if not split.column or split.train_end is None or split.eval_end is None:
            raise ConfigError(
                f"a time split needs `column`, `train_end` and `eval_end` in {where}",
                hint="for example column: time_hour, train_end: '2013-09-01', eval_end: '2013-11-01'",
            )
        if split.key:
            raise ConfigError(f"`key` belongs to hash splits, not time splits, in {where}")
        return
    if not split.key:
        raise ConfigError(
            f"a hash split needs `key` columns in {where}", hint=f"or `key: ['{WHOLE_ROW}']` to hash the whole row"
        )
    if WHOLE_ROW in split.key and not split.hashes_whole_row:
        raise ConfigError(f"split.key in {where} mixes '{WHOLE_ROW}' (the whole row) with named columns")
    if set(split.fractions) != set(SPLITS):
        raise ConfigError(f"split.fractions in {where} must name exactly train, eval and test")
    if any(v < 0 for v in split.fractions.values()) or abs(sum(split.fractions.values()) - 1) > 1e-9:
        raise ConfigError(f"split.fractions in {where} must be non-negative and sum to 1")


def check_timezone(timezone: str, where: str) -> None:
    """Checks that the use case's time zone is one the zoneinfo database knows.

    Raises:
        ConfigError: If it is not; the hint names the closest known zones.
    """
    if timezone not in known_timezones():
        raise ConfigError(f"unknown time zone {timezone!r} in {where} (timezone)", hint=closest_timezones(timezone))
