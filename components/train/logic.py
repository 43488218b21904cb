"""Stage 4: tune and train a classifier or a regressor.

The task (classification or regression) is :func:`components.common.targets.resolve_task` of the train
split's labels, as in every stage that reads the train split; a model family names the classifier or
the regressor of the task (``hist_gradient_boosting``, ``random_forest``, ``linear``).

Tuning expands the config's search space into trials (each a model family and its parameters), fits
each on the train split and scores it on the eval split; on a cluster each trial is its own pod
(``dsl.ParallelFor``), here they are plain function calls. The best trial is fitted again on the
train split as the final model (tasks do not share memory). Everything is deterministic given the
config's seed. The tasks around these functions (data from S3, the model file) are in task.py.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline

from components.common.config import SearchSpace, TrainingSpec, UseCaseConfig
from components.common.config.data import declared_task
from components.common.config.training import check_families, selection_metric
from components.common.errors import ConfigError, DataError
from components.common.metrics import classification_metrics, regression_metrics
from components.common.targets import TaskChoice, resolve_task
from components.preprocess.logic import model_pipeline
from components.train.trials import Trial, TrialResult, search_trials

# The classifiers by family name: the estimator and the defaults a trial's parameters override.
FAMILIES = {
    "hist_gradient_boosting": (HistGradientBoostingClassifier, {"early_stopping": False}),
    "linear": (LogisticRegression, {"max_iter": 2000}),
    "logistic_regression": (LogisticRegression, {"max_iter": 2000}),
    "random_forest": (RandomForestClassifier, {"n_estimators": 200, "min_samples_leaf": 5, "n_jobs": 1}),
}
# The regressors by the same names (no logistic_regression): the same defaults where they mean the same.
REGRESSION_FAMILIES = {
    "hist_gradient_boosting": (HistGradientBoostingRegressor, {"early_stopping": False}),
    "linear": (Ridge, {}),
    "random_forest": (RandomForestRegressor, {"n_estimators": 200, "min_samples_leaf": 5, "n_jobs": 1}),
}
FAMILIES_BY_TASK = {"classification": FAMILIES, "regression": REGRESSION_FAMILIES}
# A logistic regression whose solver nobody chose is solved by Newton-Cholesky up to this many coefficients
# (model columns times classes beyond two): a few exact Newton steps, each a Hessian of that size squared. On
# the demo's 217,727 rows x 139 columns it took 4 steps and 2.0 s where lbfgs took 118 iterations and 10.8 s,
# and it reaches the optimum lbfgs stops short of (test ROC-AUC 0.69372, as lbfgs at tol 1e-8, against
# lbfgs's 0.69387 at its default tolerance). Wider models keep lbfgs, whose steps cost one pass over the data.
NEWTON_MAX_COEFFICIENTS = 1000


def expand_trials(config: UseCaseConfig) -> list[Trial]:
    """The trials of the search space (:func:`components.train.trials.search_trials`), parameters checked.

    Parameters are checked against the estimator of the config's task; when the labels decide the task
    (not known here: planning reads no data), against the classifier or the regressor of the family,
    and a parameter the task's estimator lacks is refused when the trial is fitted.

    Raises:
        ConfigError: If a family is unknown or a parameter is not one the family accepts.
    """
    task = declared_task(config.target)
    for space in config.training.search:
        accepted = set(_estimator_of(space.family, task)[0]().get_params()) if task else _either_params(space.family)
        unknown = sorted(set(space.params) - accepted)
        if unknown:
            raise ConfigError(
                f"{space.family} has no parameter {unknown[0]!r}",
                hint="see the scikit-learn documentation of the estimator",
            )
    return search_trials(config)


def make_estimator(trial: Trial, seed: int, task: str = "classification") -> Any:
    """The scikit-learn estimator of a trial for a task (its classifier or its regressor), seeded.

    Raises:
        ConfigError: If the family has no estimator for the task, or lacks one of the trial's parameters.
    """
    estimator, defaults = _estimator_of(trial.family, task)
    accepted = estimator().get_params()
    unknown = sorted(set(trial.params) - set(accepted))
    if unknown:
        raise ConfigError(
            f"{trial.family} has no parameter {unknown[0]!r} for a {task} ({estimator.__name__})",
            hint="see the scikit-learn documentation of the estimator",
        )
    params = {**defaults, **trial.params}
    if "random_state" in accepted:
        params["random_state"] = seed
    return estimator(**params)


def _estimator_of(family: str, task: str) -> tuple[type, dict[str, Any]]:
    """The estimator class and defaults of a family for a task (the config's error when it has none)."""
    check_families(TrainingSpec(search=(SearchSpace(family),)), task)
    return FAMILIES_BY_TASK[task][family]


def _either_params(family: str) -> set[str]:
    """The parameters the family's classifier or regressor accepts."""
    accepted: set[str] = set()
    for families in FAMILIES_BY_TASK.values():
        if family in families:
            accepted |= set(families[family][0]().get_params())
    return accepted


def task_of(frame: pd.DataFrame, config: UseCaseConfig) -> TaskChoice:
    """The task of a run, from the config and the labels of its train split (the same in every stage).

    Raises:
        DataError: If the label is absent, or a regression is asked of labels that are not numbers.
    """
    if config.target.name not in frame.columns:
        raise DataError(f"the label {config.target.name!r} is absent from the data")
    return resolve_task(config.target, frame[config.target.name])


def split_xy(frame: pd.DataFrame, config: UseCaseConfig) -> tuple[pd.DataFrame, pd.Series]:
    """Features and label of a split.

    Raises:
        DataError: If the split is empty or the label is missing.
    """
    if frame.empty:
        raise DataError("a split to train or score on has no rows")
    if config.target.name not in frame.columns:
        raise DataError(f"the label {config.target.name!r} is absent from the data")
    labels = frame[config.target.name]
    if isinstance(labels.dtype, pd.Int64Dtype) and not labels.isna().any():
        labels = labels.astype("int64")  # scikit-learn would make nullable integers float classes
    return frame[list(config.features.all())], labels


def fit(
    frame: pd.DataFrame,
    config: UseCaseConfig,
    trial: Trial,
    column_types: dict[str, str] | None = None,
    task: TaskChoice | None = None,
) -> tuple[Pipeline, float]:
    """Fits the full pipeline (preprocessing and estimator) of a trial; returns it and the seconds taken.

    Args:
        frame: The train split.
        config: The use case.
        trial: The model family and its parameters.
        column_types: Arrow types of the columns, for preprocessing.
        task: The run's task; None resolves it from ``frame``'s labels (:func:`task_of`).

    Raises:
        DataError: If the labels hold a single class (or, for a regression, a single value or a value
            that is not finite).
        ConfigError: If the family or a parameter does not exist for the task.
    """
    features, labels = split_xy(frame, config)
    task = task or task_of(frame, config)
    if task.task == "regression":
        labels = _regression_labels(labels, config)
    elif labels.nunique() < 2:
        raise DataError(
            f"the label {config.target.name!r} has a single class in the training data",
            hint="check the target rule and the split",
        )
    model = model_pipeline(config, make_estimator(trial, config.training.seed, task.task), column_types)
    started = time.perf_counter()
    fit_model(model, features, labels, choose_solver="solver" not in trial.params)
    return model, time.perf_counter() - started


def fit_model(model: Pipeline, features: pd.DataFrame, labels: pd.Series, choose_solver: bool = True) -> Pipeline:
    """Fits a full pipeline as ``Pipeline.fit`` does: the preprocessing, then the estimator on its output.

    Between the two, a logistic regression gets its solver from the width of the preprocessed data
    (:data:`NEWTON_MAX_COEFFICIENTS`), unless ``choose_solver`` is off (a trial that set one keeps it).

    Returns:
        The same pipeline, fitted.
    """
    columns = model[:-1].fit_transform(features, labels) if len(model) > 1 else features
    estimator = model[-1]
    if choose_solver and isinstance(estimator, LogisticRegression):
        classes = labels.nunique()
        coefficients = columns.shape[1] * (classes if classes > 2 else 1)
        estimator.set_params(solver="newton-cholesky" if coefficients <= NEWTON_MAX_COEFFICIENTS else "lbfgs")
    estimator.fit(columns, labels)
    return model


def _regression_labels(labels: pd.Series, config: UseCaseConfig) -> pd.Series:
    """The labels of a regression as float64, refused when nothing varies or a value is not finite."""
    values = pd.to_numeric(labels).astype("float64")
    bad = int((~np.isfinite(values.to_numpy())).sum())
    if bad:
        raise DataError(
            f"the label {config.target.name!r} has {bad} missing or infinite values in the training data",
            hint="set target.missing: drop, or fix the source; validation reports where they are",
        )
    if values.nunique() < 2:
        raise DataError(
            f"the label {config.target.name!r} has a single value ({values.iloc[0]:g}) in the training data",
            hint="a regression needs labels that vary; check the target column and the split",
        )
    return values


def predict_proba(model: Pipeline, frame: pd.DataFrame, config: UseCaseConfig) -> np.ndarray:
    """Class probabilities of a split's rows, columns in ``model.classes_`` order."""
    return model.predict_proba(frame[list(config.features.all())])


def predict_values(model: Pipeline, frame: pd.DataFrame, config: UseCaseConfig) -> np.ndarray:
    """A regressor's predictions of a split's rows, as float64."""
    return np.asarray(model.predict(frame[list(config.features.all())]), dtype="float64")


def score(model: Pipeline, frame: pd.DataFrame, config: UseCaseConfig, task: str) -> dict[str, float]:
    """Every metric of a fitted model on a split: RMSE, MAE and R² of a regressor, else the classification ones."""
    _, labels = split_xy(frame, config)
    if task == "regression":
        return regression_metrics(labels.to_numpy(dtype="float64"), predict_values(model, frame, config))
    return classification_metrics(labels.to_numpy(), predict_proba(model, frame, config), model.classes_)


def trial_sample(train: pd.DataFrame, config: UseCaseConfig) -> pd.DataFrame:
    """The train rows a trial fits on: a seeded sample of ``training.trial_rows``, or all of them."""
    budget = config.training.trial_rows
    if budget is None or len(train) <= budget:
        return train
    return train.sample(n=budget, random_state=config.training.seed).sort_index()


def run_trial(train: pd.DataFrame, evaluation: pd.DataFrame, config: UseCaseConfig, trial: Trial) -> TrialResult:
    """Fits a trial on train (within its row budget) and scores it on eval by the task's selection metric.

    Raises:
        ConfigError: If the configured metric or the family does not fit the task the labels decided.
    """
    task = task_of(train, config)
    metric = selection_metric(config.training, task.task, task.reason)
    model, seconds = fit(trial_sample(train, config), config, trial, task=task)
    metrics = score(model, evaluation, config, task.task)
    return TrialResult(trial, metric, metrics[metric], metrics, seconds, task.task)


def train_final(
    train: pd.DataFrame, config: UseCaseConfig, best: TrialResult, evaluation: pd.DataFrame | None = None
) -> tuple[Pipeline, dict[str, Any]]:
    """Fits the chosen trial on the training split: preprocessing never sees eval or test rows.

    Without a trial row budget the result is the model the best trial scored (same rows, same seed), so
    its eval metrics are the model's own. When the trial fitted on a sample, the final model (all train
    rows) is scored on the eval split again, given it, so the recorded eval metrics are still its own.

    Returns:
        The fitted pipeline and what to record: family, parameters, rows, seconds, seed, eval metrics,
        the task and why, the selection metric, and a classifier's classes.
    """
    task = task_of(train, config)
    model, seconds = fit(train, config, best.trial, task=task)
    metrics = best.eval_metrics
    if evaluation is not None and len(trial_sample(train, config)) < len(train):
        metrics = score(model, evaluation, config, task.task)
    record = {
        "family": best.trial.family,
        "params": best.trial.params,
        "trial_id": best.trial.id,
        "seed": config.training.seed,
        "rows": int(len(train)),
        "fit_seconds": round(seconds, 3),
        "eval_metrics": metrics,
        "task": task.task,
        "task_reason": task.reason,
        "metric": best.metric,
    }
    if task.task == "classification":
        record["classes"] = [c.item() if hasattr(c, "item") else c for c in model.classes_]
    return model, record
