"""A first use case drafted from one table: kinds of columns, the task, the split, a search space, slices.

Pure: typed functions over a pandas frame (the file as ingest's readers read it) that return a
:class:`UseCaseDraft`, every choice with the reason a person reviewing it needs. Rendering the draft as
commented YAML is :mod:`components.common.config.draft_yaml`; reading the file and writing the result
is ``mlcycle init`` (cli/init.py).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import pandas as pd

from components.common.config.data import WHOLE_ROW, FeatureSpec, SplitSpec
from components.common.config.training import SearchSpace
from components.common.errors import DataError

ColumnKind = Literal["numeric", "categorical", "datetime", "left_out"]
# A column name that says it identifies rows: id, ID, user_id, OrderKey, row_index, uuid.
ID_NAME = re.compile(r"(^|[_\W])(id|key|uuid|index)$|^(id|uuid)([_\W]|$)|[a-z](Id|ID|Key)$")
# Assigns rows to train, eval and test by a split (ingestion's own assign_splits, passed in).
PlaceRows = Callable[[pd.DataFrame, SplitSpec], pd.Series]
TIME_NAME = re.compile(r"time|date|timestamp|_at$|^at_|when|day", re.IGNORECASE)


@dataclass(frozen=True)
class DraftSettings:
    """The thresholds behind the drafted choices.

    Attributes:
        min_present_share: A column present in fewer rows than this share is almost empty: left out.
        min_other_rows: A column whose values all but this many rows share is almost constant: left out
            (a handful of rows teach a model nothing, and the one row that lands in a small split makes its
            distribution look shifted).
        min_other_share: The same as a share of the present values, for large tables.
        max_integer_levels: An integer column with at most this many distinct values is categorical
            (a count like engines 1-4: drift is then compared value by value, not by histogram).
        max_text_distinct_share: A text column whose distinct values exceed this share of its rows
            (and ``min_text_distinct``) is an id or free text: left out.
        min_text_distinct: Fewest distinct values of a text column left out as an id or free text.
        max_categories: A text column with more distinct values is an identifier (a tail number), not a
            category: schema inference lists at most this many values of a category.
        max_slice_levels: Categorical features with at most this many values become slices.
        max_slices: Most slice columns.
        train_share: Share of rows (or of time) that trains; eval and test share the rest equally.
        max_unseen_share: With a time split, a numeric feature with a larger share of its later values
            outside the range seen in training follows the time: left out.
        time_skew: Skew thresholds (numeric, categorical) for a time split, whose eval rows are later than
            its train rows: seasons and trends move distributions (the demo's months: 0.20 on temperature),
            so only larger gaps block.
        max_balanced_rows: Classification data up to this many rows gets a hash split whose salt is
            chosen for class shares that agree across splits (a stratified split).
        salt_candidates: Salts tried for that choice.
    """

    min_present_share: float = 0.05
    min_other_rows: int = 5
    min_other_share: float = 0.001
    max_integer_levels: int = 5
    max_text_distinct_share: float = 0.5
    min_text_distinct: int = 50
    max_categories: int = 1000
    max_slice_levels: int = 10
    max_slices: int = 3
    train_share: float = 0.8
    max_unseen_share: float = 0.5
    time_skew: tuple[float, float] = (0.25, 0.15)
    max_balanced_rows: int = 20_000
    salt_candidates: int = 10


@dataclass(frozen=True)
class ColumnChoice:
    """What a column of the table becomes.

    Attributes:
        name: The column.
        kind: ``numeric``, ``categorical`` or ``datetime`` for a feature; ``left_out`` otherwise.
        reason: Why, in words for the YAML's comment.
        dropped: Whether the dataset leaves the column out (an id stays: it identifies rows).
    """

    name: str
    kind: ColumnKind
    reason: str
    dropped: bool = False


@dataclass(frozen=True)
class RaisedThreshold:
    """A feature's skew threshold raised above the drafted default to let this table's own seasons pass.

    Attributes:
        feature: The feature (or label).
        measured: Its train-vs-eval distance in the table.
        threshold: The threshold written for it, a margin above ``measured``.
    """

    feature: str
    measured: float
    threshold: float


@dataclass(frozen=True)
class UseCaseDraft:
    """A use case drafted from one table, each choice with its reason.

    Attributes:
        name: The use case's name.
        uri: Where the table is read from.
        rows: Rows the choices were drawn from.
        target: The label column.
        task: ``classification`` or ``regression``.
        task_reason: Why that task.
        columns: What every other column becomes, in the table's order.
        split: How rows are split.
        split_reason: Why that split.
        datetime_parts: Calendar parts made of datetime features.
        search: The search space.
        max_trials: Upper bound on trials.
        slices: Columns whose values get their own metrics.
        min_slice_rows: Fewest test rows a slice needs to be reported.
        min_rows: Fewest rows a split of a later dataset version may have.
        max_duplicate_fraction: Largest share of duplicated rows in a split that passes validation.
        duplicate_share: The share of duplicated rows in this table.
        skew: Skew thresholds (numeric, categorical) between train and eval; None keeps the defaults.
        raised_skew: Per-feature skew thresholds above ``skew``, for the features whose train-vs-eval
            distance in this table exceeds it (a time split across seasons), from :func:`raise_skew_thresholds`.
    """

    name: str
    uri: str
    rows: int
    target: str
    task: str
    task_reason: str
    columns: tuple[ColumnChoice, ...]
    split: SplitSpec
    split_reason: str
    datetime_parts: tuple[str, ...]
    search: tuple[SearchSpace, ...]
    max_trials: int
    slices: tuple[str, ...]
    min_slice_rows: int
    min_rows: int
    max_duplicate_fraction: float
    duplicate_share: float
    skew: tuple[float, float] | None = None
    raised_skew: tuple[RaisedThreshold, ...] = ()

    @property
    def features(self) -> FeatureSpec:
        """The feature columns by kind."""
        return FeatureSpec(
            numeric=self.kind_columns("numeric"),
            categorical=self.kind_columns("categorical"),
            datetime=self.kind_columns("datetime"),
        )

    def kind_columns(self, kind: ColumnKind) -> tuple[str, ...]:
        """The columns of one kind, in the table's order."""
        return tuple(choice.name for choice in self.columns if choice.kind == kind)

    @property
    def dropped(self) -> tuple[str, ...]:
        """The columns the dataset leaves out."""
        return tuple(choice.name for choice in self.columns if choice.dropped)


def use_case_name(file_name: str) -> str:
    """A use-case name made from a file name: its stem in lower case, other characters as ``_``.

    Args:
        file_name: The file's name or URI (``s3://bucket/raw/Sales Data.csv.gz`` gives ``sales_data``).
    """
    stem = file_name.rstrip("/").rsplit("/", 1)[-1].split(".", 1)[0]
    name = re.sub(r"[^a-z0-9]+", "_", stem.lower()).strip("_")
    return name or "use_case"


def choose_column(values: pd.Series, settings: DraftSettings) -> ColumnChoice:
    """Decides what one column becomes: a feature of some kind, or left out with the reason.

    Args:
        values: The column's values (its name is ``values.name``).
        settings: The thresholds.
    """
    name = str(values.name)
    rows = len(values)
    present = values.dropna()
    if rows == 0 or len(present) < settings.min_present_share * rows:
        share = 0.0 if rows == 0 else len(present) / rows
        return ColumnChoice(name, "left_out", f"almost empty: present in {share:.1%} of the rows", dropped=True)
    distinct = present.nunique()
    if distinct <= 1:
        only = present.iloc[0] if len(present) else None
        return ColumnChoice(name, "left_out", f"constant: every present value is {only!r}", dropped=True)
    others = len(present) - int(present.value_counts().iloc[0])
    if others < max(settings.min_other_rows, settings.min_other_share * len(present)):
        return ColumnChoice(
            name,
            "left_out",
            f"almost constant: all but {others} of {len(present):,} present values are {present.mode().iloc[0]!r}",
            dropped=True,
        )
    if pd.api.types.is_datetime64_any_dtype(values):
        return ColumnChoice(name, "datetime", "dates and times")
    if pd.api.types.is_bool_dtype(values) or _holds_booleans(present):
        return ColumnChoice(name, "categorical", "true or false")
    if pd.api.types.is_numeric_dtype(values):
        return _numeric_choice(name, present, distinct, rows, settings)
    if distinct == len(present) and len(present) == rows:
        return ColumnChoice(name, "left_out", f"ID-like: a different text in each of the {rows:,} rows")
    if distinct > settings.max_categories:
        return ColumnChoice(
            name,
            "left_out",
            f"ID-like: {distinct:,} distinct values, too many for a category (the schema lists at most "
            f"{settings.max_categories:,})",
        )
    if distinct > max(settings.min_text_distinct, settings.max_text_distinct_share * len(present)):
        return ColumnChoice(
            name,
            "left_out",
            f"ID-like or free text: {distinct:,} distinct values in {len(present):,} rows",
            dropped=True,
        )
    return ColumnChoice(name, "categorical", f"text with {distinct:,} distinct values")


def _numeric_choice(name: str, present: pd.Series, distinct: int, rows: int, settings: DraftSettings) -> ColumnChoice:
    whole = pd.api.types.is_integer_dtype(present) or bool(np.all(np.mod(present.to_numpy(dtype=float), 1) == 0))
    if whole and distinct == len(present) == rows:
        numbers = present.to_numpy(dtype=float)
        consecutive = numbers.max() - numbers.min() + 1 == rows
        if consecutive or ID_NAME.search(name):
            why = "consecutive whole numbers" if consecutive else "its name says so"
            return ColumnChoice(name, "left_out", f"ID-like: a different whole number in each row ({why})")
    if whole and distinct <= settings.max_integer_levels:
        return ColumnChoice(
            name,
            "categorical",
            f"whole numbers with {distinct} distinct values (compared value by value; move it to numeric if "
            "the order matters to a linear model)",
        )
    return ColumnChoice(name, "numeric", f"numbers with {distinct:,} distinct values")


def _holds_booleans(present: pd.Series) -> bool:
    return present.dtype == object and set(present.map(type).unique()) <= {bool, np.bool_}


def choose_split(
    frame: pd.DataFrame, columns: tuple[ColumnChoice, ...], time_column: str | None, name: str, settings: DraftSettings
) -> tuple[SplitSpec, str]:
    """Chooses the split: by time on ``time_column`` or an obvious timestamp column, else a whole-row hash.

    The time bounds cut the rows at ``train_share`` and halfway through the rest of the time order, so the
    newest rows evaluate and test, as in production where a model predicts the future.

    Args:
        frame: The table.
        columns: What each column became (a timestamp feature is a candidate time column).
        time_column: The time column the user named, or None to look for one.
        name: The use case's name, which salts the hash.
        settings: The thresholds.

    Returns:
        The split and why it was chosen.

    Raises:
        DataError: If ``time_column`` is not a column, holds no times or cannot be cut into three splits.
    """
    hashed = SplitSpec(method="hash", key=(WHOLE_ROW,), salt=name)
    hash_reason = "no timestamp column: a salted hash of each row's content (identical rows share a split)"
    if time_column is not None:
        if time_column not in frame.columns:
            raise DataError(f"--time-column {time_column!r} is not a column of the data")
        if not pd.api.types.is_datetime64_any_dtype(frame[time_column]):
            raise DataError(
                f"--time-column {time_column!r} holds {frame[time_column].dtype}, not dates and times",
                hint="write its values as ISO dates (2024-05-31 or 2024-05-31T14:00:00)",
            )
        bounds = time_bounds(frame[time_column], settings.train_share)
        if bounds is None:
            raise DataError(f"--time-column {time_column!r} has too few distinct times to cut into three splits")
        return _time_split(time_column, bounds), f"by time on {time_column} (given): the newest rows evaluate and test"
    candidates = [c.name for c in columns if c.kind == "datetime"]
    candidates.sort(key=lambda column: (not TIME_NAME.search(column), -frame[column].nunique()))
    for column in candidates:
        bounds = time_bounds(frame[column], settings.train_share)
        if bounds is not None:
            return _time_split(column, bounds), (
                f"by time on {column}, the timestamp column: the newest rows evaluate and test, as in production"
            )
    return hashed, hash_reason


def balanced_salt(
    frame: pd.DataFrame, target: str, split: SplitSpec, place_rows: PlaceRows, candidates: int
) -> tuple[SplitSpec, float]:
    """The hash split, among ``candidates`` salts, whose splits hold the closest class shares.

    A stratified split for small data: on a few hundred rows, a test split of a dozen rows can by chance
    hold a class mix that the label-share check rightly calls shifted. The salts are the split's own and
    numbered variants of it, so the choice is deterministic.

    Args:
        frame: The table (rows without a label are left out, as ingestion leaves them out).
        target: The label column.
        split: The hash split with its first salt.
        place_rows: The ingestion's split assignment (rows -> train, eval or test).
        candidates: How many salts to try.

    Returns:
        The split with the chosen salt, and its largest class-share difference between train and eval or test.
    """
    labelled = frame[frame[target].notna()]
    salted = [replace(split, salt=split.salt if n == 0 else f"{split.salt}-{n}") for n in range(max(1, candidates))]
    shifts = [label_share_shift(labelled[target], place_rows(labelled, candidate)) for candidate in salted]
    best = int(np.argmin(shifts))  # the first of equals: the split's own salt when it is as good as any
    return salted[best], shifts[best]


def label_share_shift(labels: pd.Series, splits: pd.Series) -> float:
    """The largest difference of a class's share between train and eval or test (L-infinity)."""
    shares = pd.crosstab(splits, labels, normalize="index")
    if "train" not in shares.index:
        return 1.0
    others = [split for split in ("eval", "test") if split in shares.index]
    if len(others) < 2:
        return 1.0
    return float(max((shares.loc[split] - shares.loc["train"]).abs().max() for split in others))


def leave_out_time_proxies(
    frame: pd.DataFrame, columns: tuple[ColumnChoice, ...], split: SplitSpec, settings: DraftSettings
) -> tuple[ColumnChoice, ...]:
    """Leaves out the numeric features that follow the time of a time split (a month, a year, a counter).

    Most of their values after ``train_end`` lie outside the range seen in training, so the model never
    learns them and skew between train and eval is certain (the month: a distance of 1).

    Args:
        frame: The table.
        columns: What each column became.
        split: The split; only a time split leaves anything out.
        settings: The thresholds (``max_unseen_share``).
    """
    if split.method != "time":
        return columns
    times = frame[split.column]
    if times.dt.tz is not None:
        times = times.dt.tz_convert("UTC").dt.tz_localize(None)
    bound = pd.Timestamp(split.train_end)
    earlier, later = times < bound, times >= bound
    chosen = []
    for choice in columns:
        if choice.kind == "numeric":
            seen, unseen = frame.loc[earlier, choice.name].dropna(), frame.loc[later, choice.name].dropna()
            outside = float(((unseen < seen.min()) | (unseen > seen.max())).mean()) if len(seen) and len(unseen) else 0
            if outside > settings.max_unseen_share:
                reason = (
                    f"follows the time: {outside:.0%} of its values from {split.train_end} on lie outside the "
                    "range seen in training (a calendar part or a counter; the calendar parts of "
                    f"{split.column} stand in for it)"
                )
                choice = ColumnChoice(choice.name, "left_out", reason)
        chosen.append(choice)
    return tuple(chosen)


def _time_split(column: str, bounds: tuple[str, str]) -> SplitSpec:
    return SplitSpec(method="time", column=column, train_end=bounds[0], eval_end=bounds[1])


def time_bounds(times: pd.Series, train_share: float) -> tuple[str, str] | None:
    """The train and eval bounds that cut times at ``train_share`` and halfway through the rest.

    Bounds are wall-clock texts (UTC for times with a zone): dates when every time is a midnight.

    Returns:
        The two bounds, or None when a split would be empty.
    """
    present = times.dropna()
    if present.dt.tz is not None:
        present = present.dt.tz_convert("UTC").dt.tz_localize(None)
    if present.nunique() < 3:
        return None
    ordered = present.sort_values().reset_index(drop=True)
    cuts = [
        ordered.iloc[min(len(ordered) - 1, int(len(ordered) * share))] for share in (train_share, 0.5 + train_share / 2)
    ]
    dates = bool((ordered == ordered.dt.normalize()).all())
    bounds = [cut.normalize() if dates else cut for cut in cuts]
    if not (ordered.iloc[0] < bounds[0] < bounds[1] <= ordered.iloc[-1]):
        return None
    text = "%Y-%m-%d" if dates else "%Y-%m-%d %H:%M:%S"
    return bounds[0].strftime(text), bounds[1].strftime(text)


# Below this many rows the eval split holds a handful (20 rows: 3), and choosing among trials on it picks
# noise: linnerud's tuned Ridge lost 10% RMSE on test to the plain one. One regularised linear model is fitted.
MIN_ROWS_TO_TUNE = 100


def default_search(task: str, rows: int) -> tuple[tuple[SearchSpace, ...], int]:
    """A small search space fit for the task and the number of rows, and its trial budget.

    Under :data:`MIN_ROWS_TO_TUNE` rows: one regularised linear model, nothing to choose on a tiny eval split;
    few rows: a regularised linear model and a forest, which need no early stopping;
    more rows: gradient boosting first, with a forest only while it stays fast. Regression's linear
    family is Ridge, classification's logistic regression.

    Returns:
        The search space and the most trials to run.
    """
    boosting = SearchSpace(
        family="hist_gradient_boosting",
        params={"learning_rate": (0.1,), "max_leaf_nodes": (15, 31), "max_iter": (200,), "l2_regularization": (1.0,)},
    )
    if task == "classification":
        linear = SearchSpace(family="logistic_regression", params={"C": (0.1, 1.0, 10.0)})
        cheap = SearchSpace(family="logistic_regression", params={"C": (1.0,)})
    else:
        linear = SearchSpace(family="linear", params={"alpha": (0.1, 1.0, 10.0)})
        cheap = SearchSpace(family="linear", params={"alpha": (1.0,)})
    if rows < MIN_ROWS_TO_TUNE:
        return (cheap,), 1
    if rows < 2_000:
        forest = SearchSpace(family="random_forest", params={"n_estimators": (200,), "min_samples_leaf": (1, 3)})
        return (linear, forest), 5
    if rows < 100_000:
        forest = SearchSpace(family="random_forest", params={"n_estimators": (100,), "min_samples_leaf": (3,)})
        return (boosting, linear, forest), 5
    return (boosting, cheap), 3


def choose_slices(frame: pd.DataFrame, columns: tuple[ColumnChoice, ...], settings: DraftSettings) -> tuple[str, ...]:
    """The categorical features with the fewest values (at most ``max_slice_levels``), as slices."""
    levels = {c.name: frame[c.name].nunique() for c in columns if c.kind == "categorical"}
    eligible = sorted((count, name) for name, count in levels.items() if 2 <= count <= settings.max_slice_levels)
    return tuple(name for _, name in eligible[: settings.max_slices])


def target_labels(frame: pd.DataFrame, target: str) -> pd.Series:
    """The present values of the target column.

    Raises:
        DataError: If the target is not a column of the table.
    """
    if target not in frame.columns:
        raise DataError(
            f"--target {target!r} is not a column of the data",
            hint=f"columns are: {', '.join(map(str, frame.columns[:30]))}",
        )
    return frame[target].dropna()


def draft_use_case(
    frame: pd.DataFrame,
    target: str,
    name: str,
    uri: str,
    task: str,
    task_reason: str,
    time_column: str | None = None,
    settings: DraftSettings | None = None,
    place_rows: PlaceRows | None = None,
) -> UseCaseDraft:
    """Drafts a use case that learns ``target`` from the other columns of ``frame``.

    Args:
        frame: The table, as ingest's readers read it.
        target: The label column.
        name: The use case's name.
        uri: Where the table is read from (written into the draft's source).
        task: ``classification`` or ``regression``.
        task_reason: Why that task, for the draft's comment.
        time_column: A column to split by time on, or None to look for an obvious one.
        settings: The thresholds (defaults when None).
        place_rows: Ingestion's split assignment; given, a small classification table's hash split gets
            the salt (of ``settings.salt_candidates``) with the closest class shares across splits.

    Raises:
        DataError: If the target is not a column, is never present or has one value, or no column
            can be a feature.
    """
    settings = settings or DraftSettings()
    labels = target_labels(frame, target)
    if labels.nunique() < 2:
        raise DataError(f"the target {target!r} has {labels.nunique()} distinct value(s): there is nothing to learn")
    columns = tuple(choose_column(frame[column], settings) for column in frame.columns if column != target)
    if not any(choice.kind != "left_out" for choice in columns):
        raise DataError(
            f"no column of the data can be a feature of {target!r}",
            hint="; ".join(f"{c.name}: {c.reason}" for c in columns[:5]) or "the data has no other column",
        )
    split, split_reason = choose_split(frame, columns, time_column, name, settings)
    columns = leave_out_time_proxies(frame, columns, split, settings)
    balanced = split.method == "hash" and task == "classification" and len(frame) <= settings.max_balanced_rows
    if balanced and place_rows is not None:
        split, shift = balanced_salt(frame, target, split, place_rows, settings.salt_candidates)
        split_reason += (
            f"; the salt of {settings.salt_candidates} tried whose splits hold the closest class shares "
            f"(largest difference {shift:.3f}), as a stratified split"
        )
    rows = int(labels.size)
    search, max_trials = default_search(task, rows)
    smallest_split = round(rows * (1 - settings.train_share) / 2, 6)  # 200 rows: 20, not 19.99...
    duplicate_share = float(frame.duplicated().mean()) if len(frame) else 0.0
    times = [frame[c.name] for c in columns if c.kind == "datetime"]
    return UseCaseDraft(
        name=name,
        uri=uri,
        rows=rows,
        target=target,
        task=task,
        task_reason=task_reason,
        columns=columns,
        split=split,
        split_reason=split_reason,
        datetime_parts=calendar_parts(times, split),
        search=search,
        max_trials=max_trials,
        slices=choose_slices(frame, columns, settings),
        min_slice_rows=max(5, min(200, int(smallest_split // 10))),
        min_rows=max(1, int(smallest_split // 2)),
        max_duplicate_fraction=max(0.01, math.ceil(duplicate_share * 2 * 1000) / 1000),
        duplicate_share=duplicate_share,
        skew=settings.time_skew if split.method == "time" else None,
    )


def raise_skew_thresholds(
    distances: Mapping[str, tuple[float, float]], margin: float = 1.25, step: float = 0.05
) -> tuple[RaisedThreshold, ...]:
    """Per-feature skew thresholds for the features whose measured distance exceeds their threshold.

    Each gets ``measured * margin`` rounded up to ``step`` (at most 1.0, which measures without alerting):
    the table's own gap passes, with room for the next version's, and a much larger gap still blocks.

    Args:
        distances: Per feature, the measured train-vs-eval distance and the threshold validation applies
            to it (the configured one, or the noise floor when higher).
        margin: Factor above the measured distance.
        step: Thresholds are rounded up to a multiple of this.

    Returns:
        One raised threshold per alerting feature, by name.
    """
    raised = []
    for feature in sorted(distances):
        measured, threshold = distances[feature]
        if measured <= threshold:
            continue
        # round() first: 0.4 * 1.25 is 0.5000000000000001, which must stay 0.5
        steps = math.ceil(round(measured * margin / step, 9))
        raised.append(RaisedThreshold(feature, measured, min(1.0, round(steps * step, 6))))
    return tuple(raised)


def calendar_parts(times: list[pd.Series], split: SplitSpec) -> tuple[str, ...]:
    """The calendar parts of datetime features: the hour where times have one, day of week, weekend.

    With a time split the month is left out: the test months never occur in training, and trees would read
    one month as another.
    """
    with_hours = any((series.dropna().dt.hour != 0).any() for series in times)
    parts = ("hour",) if with_hours else ()
    parts += ("dayofweek", "weekend")
    return parts if split.method == "time" else (*parts, "month")
