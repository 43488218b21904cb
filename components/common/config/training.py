"""How a model is made (stages 3 and 4): preprocessing of the features, and the search over model families."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from components.common.errors import ConfigError

DATETIME_PARTS = ("hour", "dayofweek", "month", "dayofyear", "weekend")

# What tuning may select on, per task (lower is better for log_loss, rmse and mae; higher for the rest),
# the metric a task selects on when the config names none, and the model families of each task.
SELECTION_METRICS = {
    "classification": ("roc_auc", "pr_auc", "log_loss", "accuracy", "f1"),
    "regression": ("rmse", "mae", "r2"),
}
DEFAULT_METRIC = {"classification": "roc_auc", "regression": "rmse"}
TASK_FAMILIES = {
    "classification": ("hist_gradient_boosting", "linear", "logistic_regression", "random_forest"),
    "regression": ("hist_gradient_boosting", "linear", "random_forest"),
}


@dataclass(frozen=True)
class PreprocessSpec:
    """How features become model inputs (a scikit-learn ColumnTransformer, fitted on train only).

    Attributes:
        scale_numeric: Standardise numeric features (after median imputation).
        categorical_encoding: ``onehot`` (unseen categories ignored), ``ordinal`` (unseen become -1), or
            ``native``: families that split on categories themselves (HistGradientBoosting) get ordinal codes
            marked as categorical (unseen ones count as missing), the others one-hot columns.
        max_categories: Most frequent categories kept per feature; rarer ones share one column (at most
            255 with ``native``, HistGradientBoosting's limit of categories per feature).
        datetime_parts: Calendar parts made from datetime features: any of hour, dayofweek, month,
            dayofyear, weekend.
    """

    scale_numeric: bool = True
    categorical_encoding: Literal["onehot", "ordinal", "native"] = "onehot"
    max_categories: int = 50
    datetime_parts: tuple[str, ...] = ("hour", "dayofweek", "month")


@dataclass(frozen=True)
class SearchSpace:
    """Candidate hyperparameters of one model family; every combination is one trial.

    Attributes:
        family: ``hist_gradient_boosting``, ``random_forest`` or ``linear`` (the classifier or the regressor
            of the run's task: HistGradientBoosting*, RandomForest*, LogisticRegression or Ridge), or
            ``logistic_regression`` (classification only).
        params: Lists of values per scikit-learn parameter of that family.
    """

    family: Literal["hist_gradient_boosting", "linear", "logistic_regression", "random_forest"]
    params: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainingSpec:
    """Tuning and training (stages 3 and 4).

    Attributes:
        seed: Seed of every random draw: the same data and seed give the same model.
        metric: Score that picks the best trial on the eval split. Classification: roc_auc, pr_auc,
            log_loss, accuracy or f1; regression: rmse, mae or r2 (log_loss, rmse and mae are minimised,
            the others maximised). Empty: the task's default, roc_auc or rmse.
        search: The search space, one entry per family.
        max_trials: Upper bound on trials (the grid is cut in a seeded random order beyond it).
        parallel_trials: Trials a cluster run tunes at once; the others queue, so a run's peak
            requests stay within a laptop's budget (manifests/budget.yaml). KFP fixes it when the
            pipeline is compiled: pipelines/training_pipeline.yaml is compiled with this default.
        trial_rows: Row budget of a trial: each fits on a seeded sample of this many train rows (all of
            them when None or when the split is smaller) and is scored on the whole eval split. The
            final model always fits on the whole train split, and its own eval metrics are recorded.
    """

    seed: int = 42
    metric: Literal["roc_auc", "pr_auc", "log_loss", "accuracy", "f1", "rmse", "mae", "r2"] | None = None
    search: tuple[SearchSpace, ...] = (SearchSpace(family="hist_gradient_boosting"),)
    max_trials: int = 12
    parallel_trials: int = 2
    trial_rows: int | None = None


# HistGradientBoosting's default (and largest) max_bins: a categorical feature may hold no more categories.
NATIVE_MAX_CATEGORIES = 255


def check_preprocessing(preprocessing: PreprocessSpec, where: str) -> None:
    """Checks that only known calendar parts are asked of datetime features, and native categories fit the trees.

    Raises:
        ConfigError: Naming the first unknown datetime part, or a ``max_categories`` above 255 with ``native``.
    """
    if preprocessing.categorical_encoding == "native" and preprocessing.max_categories > NATIVE_MAX_CATEGORIES:
        raise ConfigError(
            f"preprocessing.max_categories in {where} is {preprocessing.max_categories}: native categories allow "
            f"at most {NATIVE_MAX_CATEGORIES}",
            hint=f"set max_categories to {NATIVE_MAX_CATEGORIES} or less (rarer categories share one code)",
        )
    unknown_parts = sorted(set(preprocessing.datetime_parts) - set(DATETIME_PARTS))
    if unknown_parts:
        raise ConfigError(
            f"unknown datetime part {unknown_parts[0]!r} in {where}", hint=f"parts: {', '.join(DATETIME_PARTS)}"
        )


def selection_metric(training: TrainingSpec, task: str, why: str = "") -> str:
    """The metric that picks the best trial of a ``task``: the configured one, else the task's default.

    Args:
        training: The training settings.
        task: ``classification`` or ``regression``.
        why: Why the run has this task, for the message (``set in the config``...).

    Raises:
        ConfigError: If the configured metric belongs to the other task, naming the ones allowed.
    """
    if training.metric is None:
        return DEFAULT_METRIC[task]
    allowed = SELECTION_METRICS[task]
    if training.metric not in allowed:
        because = f" ({why})" if why else ""
        raise ConfigError(
            f"training.metric {training.metric} does not score a {task}{because}; a {task} selects on "
            + ", ".join(allowed),
            hint=f"set training.metric to one of {', '.join(allowed)}, or leave it out for {DEFAULT_METRIC[task]}",
        )
    return training.metric


def check_families(training: TrainingSpec, task: str, why: str = "") -> None:
    """Checks that every searched model family exists for ``task`` (logistic_regression is classification only).

    Raises:
        ConfigError: Naming the first family of the other task and the families allowed.
    """
    allowed = TASK_FAMILIES[task]
    for space in training.search:
        if space.family not in allowed:
            because = f" ({why})" if why else ""
            raise ConfigError(
                f"training.search family {space.family} cannot fit a {task}{because}; a {task} searches "
                + ", ".join(allowed),
                hint="`linear` is Ridge for a regression and LogisticRegression for a classification",
            )


def check_training(training: TrainingSpec, where: str, task: str | None = None, why: str = "") -> None:
    """Checks that the search has at least one family, one trial, and values for every parameter.

    Args:
        training: The training settings.
        where: What to call the use case in messages.
        task: The task when the config decides it alone (``target.task`` or a derived label); then the
            metric and the families are checked against it too. None: they are checked when the labels
            decide it.
        why: Why the config has this task, for messages.

    Raises:
        ConfigError: If the search is empty, ``max_trials`` or ``parallel_trials`` is below 1, ``trial_rows``
            below 100, or a parameter lists no values; or the metric or a family does not fit the config's task.
    """
    if not training.search:
        raise ConfigError(f"training.search in {where} is empty", hint="list at least one model family")
    if training.max_trials < 1:
        raise ConfigError(f"training.max_trials in {where} must be at least 1")
    if training.parallel_trials < 1:
        raise ConfigError(f"training.parallel_trials in {where} must be at least 1")
    if training.trial_rows is not None and training.trial_rows < 100:
        raise ConfigError(
            f"training.trial_rows in {where} is {training.trial_rows}: a trial needs at least 100 rows",
            hint="leave it out to fit every trial on the whole train split",
        )
    for space in training.search:
        for name, values in space.params.items():
            if not values:
                raise ConfigError(f"training.search {space.family}.{name} in {where} has no values")
    if task is not None:
        selection_metric(training, task, why)
        check_families(training, task, why)
