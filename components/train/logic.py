"""Stage 4: tune and train a classifier.

Tuning expands the config's search space into trials (each a model family and its parameters), fits
each on the train split and scores it on the eval split; on a cluster each trial is its own pod
(``dsl.ParallelFor``), here they are plain function calls. The best trial is fitted again on the
train split as the final model (tasks do not share memory). Everything is deterministic given the
config's seed. The tasks around these functions (data from S3, the model file) are in task.py.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from components.common.config import UseCaseConfig
from components.common.errors import ConfigError, DataError
from components.common.metrics import LOWER_IS_BETTER, classification_metrics
from components.preprocess.logic import model_pipeline

FAMILIES = {
    "hist_gradient_boosting": (HistGradientBoostingClassifier, {"early_stopping": False}),
    "logistic_regression": (LogisticRegression, {"max_iter": 2000}),
    "random_forest": (RandomForestClassifier, {"n_estimators": 200, "min_samples_leaf": 5, "n_jobs": 1}),
}


@dataclass(frozen=True)
class Trial:
    """One candidate: a model family and its parameters."""

    family: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """A short stable id (also a valid Kubernetes name part)."""
        text = json.dumps({"family": self.family, "params": self.params}, sort_keys=True)
        return f"{self.family.replace('_', '-')}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"

    def to_json(self) -> str:
        """The trial as JSON (what a pipeline passes to each ParallelFor iteration)."""
        return json.dumps({"family": self.family, "params": self.params}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Trial:
        """Reads a trial from :meth:`to_json` output."""
        data = json.loads(text)
        return cls(data["family"], data.get("params", {}))


@dataclass(frozen=True)
class TrialResult:
    """A scored trial."""

    trial: Trial
    metric: str
    score: float
    eval_metrics: dict[str, float]
    fit_seconds: float

    def to_dict(self) -> dict[str, Any]:
        """Plain data, for artifacts and the model card."""
        return {
            **asdict(self),
            "trial": {"family": self.trial.family, "params": self.trial.params, "id": self.trial.id},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrialResult:
        """Reads a result from :meth:`to_dict` output (as a task passes it to the next)."""
        trial = Trial(data["trial"]["family"], data["trial"]["params"])
        return cls(trial, data["metric"], float(data["score"]), data["eval_metrics"], float(data["fit_seconds"]))


def expand_trials(config: UseCaseConfig) -> list[Trial]:
    """Every combination of the search space, cut to ``max_trials`` in a seeded random order.

    Raises:
        ConfigError: If a family is unknown or a parameter is not one the family accepts.
    """
    trials = []
    for space in config.training.search:
        estimator, _ = FAMILIES[space.family]
        accepted = estimator().get_params()
        unknown = sorted(set(space.params) - set(accepted))
        if unknown:
            raise ConfigError(
                f"{space.family} has no parameter {unknown[0]!r}",
                hint="see the scikit-learn documentation of the estimator",
            )
        names = sorted(space.params)
        for values in itertools.product(*(space.params[name] for name in names)):
            trials.append(Trial(space.family, dict(zip(names, values, strict=True))))
    if len(trials) > config.training.max_trials:
        chosen = sorted(random.Random(config.training.seed).sample(range(len(trials)), config.training.max_trials))
        trials = [trials[i] for i in chosen]
    return trials


def make_estimator(trial: Trial, seed: int) -> Any:
    """The scikit-learn estimator of a trial, seeded."""
    estimator, defaults = FAMILIES[trial.family]
    params = {**defaults, **trial.params}
    if "random_state" in estimator().get_params():
        params["random_state"] = seed
    return estimator(**params)


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
    frame: pd.DataFrame, config: UseCaseConfig, trial: Trial, column_types: dict[str, str] | None = None
) -> tuple[Pipeline, float]:
    """Fits the full pipeline (preprocessing and estimator) of a trial; returns it and the seconds taken."""
    features, labels = split_xy(frame, config)
    if labels.nunique() < 2:
        raise DataError(
            f"the label {config.target.name!r} has a single class in the training data",
            hint="check the target rule and the split",
        )
    model = model_pipeline(config, make_estimator(trial, config.training.seed), column_types)
    started = time.perf_counter()
    model.fit(features, labels)
    return model, time.perf_counter() - started


def predict_proba(model: Pipeline, frame: pd.DataFrame, config: UseCaseConfig) -> np.ndarray:
    """Class probabilities of a split's rows, columns in ``model.classes_`` order."""
    return model.predict_proba(frame[list(config.features.all())])


def trial_sample(train: pd.DataFrame, config: UseCaseConfig) -> pd.DataFrame:
    """The train rows a trial fits on: a seeded sample of ``training.trial_rows``, or all of them."""
    budget = config.training.trial_rows
    if budget is None or len(train) <= budget:
        return train
    return train.sample(n=budget, random_state=config.training.seed).sort_index()


def eval_metrics(model: Pipeline, evaluation: pd.DataFrame, config: UseCaseConfig) -> dict[str, float]:
    """Every metric of a fitted model on the eval split."""
    _, labels = split_xy(evaluation, config)
    return classification_metrics(labels.to_numpy(), predict_proba(model, evaluation, config), model.classes_)


def run_trial(train: pd.DataFrame, evaluation: pd.DataFrame, config: UseCaseConfig, trial: Trial) -> TrialResult:
    """Fits a trial on train (within its row budget, :func:`trial_sample`) and scores it on eval."""
    model, seconds = fit(trial_sample(train, config), config, trial)
    metrics = eval_metrics(model, evaluation, config)
    return TrialResult(trial, config.training.metric, metrics[config.training.metric], metrics, seconds)


def select_best(results: Sequence[TrialResult]) -> TrialResult:
    """The best trial by its metric (lowest for losses); ties go to the earlier trial, so it is deterministic."""
    if not results:
        raise DataError("no trial results to choose from")
    sign = 1 if results[0].metric in LOWER_IS_BETTER else -1
    return min(enumerate(results), key=lambda pair: (sign * pair[1].score, pair[0]))[1]


def train_final(
    train: pd.DataFrame, config: UseCaseConfig, best: TrialResult, evaluation: pd.DataFrame | None = None
) -> tuple[Pipeline, dict[str, Any]]:
    """Fits the chosen trial on the training split: preprocessing never sees eval or test rows.

    Without a trial row budget the result is the model the best trial scored (same rows, same seed), so
    its eval metrics are the model's own. When the trial fitted on a sample, the final model (all train
    rows) is scored on the eval split again, given it, so the recorded eval metrics are still its own.

    Returns:
        The fitted pipeline and what to record: family, parameters, rows, seconds, seed, eval metrics.
    """
    model, seconds = fit(train, config, best.trial)
    metrics = best.eval_metrics
    if evaluation is not None and len(trial_sample(train, config)) < len(train):
        metrics = eval_metrics(model, evaluation, config)
    record = {
        "family": best.trial.family,
        "params": best.trial.params,
        "trial_id": best.trial.id,
        "seed": config.training.seed,
        "rows": int(len(train)),
        "fit_seconds": round(seconds, 3),
        "eval_metrics": metrics,
        "classes": [c.item() if hasattr(c, "item") else c for c in model.classes_],
    }
    return model, record
