"""Stage 5: analyse a candidate model against the model in production, and bless it or not.

On the test split: overall metrics, metrics per slice with the largest gap between slices, two baselines
computed in the same run, and the champion (the production model) scored on the same rows. What is
measured follows the task (components.common.targets, resolved on the train split as every stage does):
a classifier gets the confusion matrix and ROC curve, and the baselines majority class and a plain
logistic regression; a regressor gets RMSE, MAE and R², the predicted values against the actual ones,
residuals by slice, and the baselines train mean and a plain ridge regression, on the same features.
The candidate's gap to each baseline and the champion (ROC-AUC of a binary classifier, RMSE of a
regressor) comes with a 95% interval and a p-value (paired tests on the same rows, rows that move together
taken together), so a reader can tell a real gap from the test rows' noise. The blessing follows the
config: absolute floors (ceilings where lower is better), and "not worse than the champion by more than a
margin"; with no floors the baselines decide, and with no champion the floors (or baselines) alone. It is
a value, never an exception.

The champion is scored with its own features (it may use one the candidate's config dropped), on the
test rows it was not trained on: a test row that was in the champion's training split (it came from
another dataset version, or the split changed) would flatter it, so the comparison leaves such rows
out and says how many. When the dataset lacks a feature the champion needs, the comparison is not
made, and the blessing says so and falls back on the floors.
The model card (model_card.py) is built from the analysis; the task around both is in task.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import is_regressor
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline

from components.common.config import BlessingSpec, UseCaseConfig
from components.common.config.analysis import check_blessing_task
from components.common.errors import DataError
from components.common.metrics import (
    REGRESSION_METRICS,
    classification_metrics,
    confusion,
    lower_is_better,
    positive_rows,
    regression_metrics,
    rmse_difference,
    roc_auc_difference,
    roc_points,
    shortfall,
)
from components.common.targets import Task, resolve_task
from components.common.wallclock import local_times
from components.preprocess.logic import model_pipeline
from components.train.logic import fit_model, split_xy

# The two baselines of each task, trivial first: the candidate must beat it and stay close to the linear one.
BASELINES = {"classification": ("majority_class", "logistic_regression"), "regression": ("mean", "linear_regression")}
# The predicted-vs-actual picture draws at most this many test rows (a seeded sample), and bins all of them.
PICTURE_POINTS = 400
PICTURE_BINS = 10


@dataclass(frozen=True)
class Blessing:
    """The decision and every reason for it, each naming the metric, its value and the bar."""

    blessed: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class ChampionTraining:
    """What is known of the rows the champion was trained on.

    Attributes:
        dataset_version: The dataset version its registry manifest names (None when it names none).
        rows: That version's train split, None when it is unknown.
        unknown: Why the rows are unknown (empty when they are known).
    """

    dataset_version: str | None
    rows: pd.DataFrame | None = None
    unknown: str = ""


@dataclass(frozen=True)
class Predictions:
    """A model's answers on some rows.

    Attributes:
        task: ``classification`` or ``regression``.
        values: Class probabilities (one column per class, in ``classes`` order), or predicted values.
        classes: The classifier's classes (empty for a regressor).
    """

    task: Task
    values: np.ndarray
    classes: tuple[Any, ...] = ()

    def metrics(self, labels: np.ndarray) -> dict[str, float]:
        """The task's metrics of these answers against the true labels."""
        if self.task == "regression":
            return regression_metrics(labels, self.values)
        return classification_metrics(labels, self.values, list(self.classes))

    def rows(self, mask: np.ndarray) -> Predictions:
        """The answers of the rows ``mask`` selects."""
        return Predictions(self.task, self.values[mask], self.classes)

    def difference_against(
        self, other: Predictions, labels: np.ndarray, groups: np.ndarray | None = None
    ) -> dict[str, Any] | None:
        """These answers' ROC-AUC or RMSE less another model's on the same rows, with a 95% interval and p-value.

        Args:
            other: The other model's answers on the same rows.
            labels: The true labels of the rows.
            groups: Which rows move together (:func:`interval_groups`); None takes them as independent.

        Returns:
            A binary classifier's ROC-AUC difference (:func:`components.common.metrics.roc_auc_difference`),
            a regressor's RMSE difference (:func:`components.common.metrics.rmse_difference`); None for
            other pairs: a multiclass macro average has no such paired test here, and models of other tasks
            or other classes share no metric.
        """
        if self.task != other.task:
            return None
        if self.task == "regression":
            return rmse_difference(np.asarray(labels, dtype="float64"), self.values, other.values, groups)
        # Classes compared as text: a champion fitted on labels read as text ('0', '1') has the same classes.
        mine, theirs = [str(c) for c in self.classes], [str(c) for c in other.classes]
        if len(mine) != 2 or set(theirs) != set(mine):
            return None
        their_scores = other.values[:, theirs.index(mine[1])]
        return roc_auc_difference(positive_rows(labels, self.classes), self.values[:, 1], their_scores, groups)


def task_of_model(model: Any) -> Task:
    """``regression`` for a regressor (a pipeline ending in one), else ``classification``."""
    return "regression" if is_regressor(model) else "classification"


def predictions_of(model: Any, rows: pd.DataFrame, task: Task) -> Predictions:
    """A model's answers on feature rows: probabilities of a classifier, predicted values of a regressor."""
    if task == "regression":
        return Predictions(task, np.asarray(model.predict(rows), dtype="float64"))
    return Predictions(task, model.predict_proba(rows), tuple(model.classes_))


@dataclass
class Analysis:
    """What model analysis found on the test split."""

    metrics: dict[str, float]
    classes: list[Any]
    confusion: list[list[int]]
    roc: list[tuple[float, float, float]]
    slices: dict[str, list[dict[str, Any]]]
    slice_gaps: dict[str, dict[str, Any]]
    baselines: dict[str, dict[str, float]]
    champion: dict[str, Any] | None
    blessing: Blessing
    rows: int
    extra: dict[str, Any] = field(default_factory=dict)
    task: Task = "classification"
    task_reason: str = ""
    predicted_vs_actual: dict[str, Any] = field(default_factory=dict)
    # The candidate's ROC-AUC (a binary classifier's) or RMSE (a regressor's) less each baseline's, with
    # a 95% interval (Predictions.difference_against).
    baseline_differences: dict[str, dict[str, Any]] = field(default_factory=dict)
    # What the paired tests' rows are grouped by (interval_groups), empty when rows count as independent.
    differences_grouped_by: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the model card and the registry."""
        return asdict(self)

    def scalar_metrics(self) -> dict[str, float]:
        """The figures a pipeline UI shows: the test metrics, and each baseline's and the champion's.

        A classifier's baselines and champion show their ROC-AUC; a regressor's their RMSE, MAE and R². The
        candidate's gap to each (``..._gap``, candidate less it) shows with its 95% interval (``_gap_low``,
        ``_gap_high``), where known, so runs can be compared on it too.
        """
        shown = REGRESSION_METRICS if self.task == "regression" else ("roc_auc",)
        figures = dict(self.metrics)
        gaps = {f"baseline_{name}": found for name, found in self.baseline_differences.items()}
        for name, values in self.baselines.items():
            figures.update({f"baseline_{name}_{metric}": values[metric] for metric in shown})
        if self.champion and self.champion.get("metrics"):
            figures.update({f"champion_{metric}": self.champion["metrics"][metric] for metric in shown})
            if self.champion.get("difference"):
                gaps["champion"] = self.champion["difference"]
        for prefix, found in gaps.items():
            for suffix, key in (("gap", "difference"), ("gap_low", "low"), ("gap_high", "high")):
                if found[key] is not None:  # an unknown figure is left out: a metrics artifact holds numbers
                    figures[f"{prefix}_{found['metric']}_{suffix}"] = found[key]
        return figures


def bless(
    candidate: Mapping[str, float],
    champion: Mapping[str, float] | None,
    spec: BlessingSpec,
    compared_candidate: Mapping[str, float] | None = None,
    not_compared: str = "",
    baselines: Mapping[str, Mapping[str, float]] | None = None,
    task: Task = "classification",
) -> Blessing:
    """Decides whether a candidate is good enough.

    Every comparison follows the metric's direction: for a metric where lower is better (log loss, Brier
    score, RMSE, MAE) a floor is a ceiling and a loss to the champion or a baseline is an increase.

    With no floors configured, the baselines of the same run stand in for them: the candidate must beat the
    trivial baseline (majority class; train mean for a regression) and lose at most the allowed loss
    (``spec.max_loss_to_baseline``, see :meth:`BlessingSpec.allowed_loss_to_baseline`) to the linear one
    (logistic regression; ridge regression for a regression) on the baseline metric (``spec.baseline_metric``,
    by default roc_auc, or rmse for a regression), so a model worse than a plain linear one is never blessed
    by default.

    A metric that is missing (NaN) for the candidate, or for the champion it is compared with, refuses the
    blessing, and its reason says the metric is missing.

    Args:
        candidate: The candidate's test metrics (held against the floors).
        champion: The production model's metrics on the compared rows, or None when there is none or it
            could not be compared.
        spec: Floors and allowed regressions per metric.
        compared_candidate: The candidate's metrics on the rows the champion was scored on, when these are
            fewer than the test split; ``candidate`` otherwise.
        not_compared: Why a model in production could not be compared (empty when there is none, or it was).
        baselines: The baselines' test metrics by name (:data:`BASELINES` of the task).
        task: ``classification`` or ``regression``: which baselines and which default metric apply.
    """
    reasons, blessed = [], True
    if not spec.floors and baselines:
        baseline_blessed, baseline_reasons = _against_baselines(candidate, baselines, spec, task)
        blessed &= baseline_blessed
        reasons.extend(baseline_reasons)
    for metric, floor in sorted(spec.floors.items()):
        value = candidate.get(metric, float("nan"))
        lower = lower_is_better(metric)
        bound = f"the {'ceiling' if lower else 'floor'} {floor:g}"
        if math.isnan(value):
            blessed = False
            reasons.append(f"{metric} is missing (NaN): it misses {bound}, not blessed")
            continue
        ok = shortfall(metric, value, floor) <= 0
        blessed &= ok
        reasons.append(f"{metric} {value:.4f} {'meets' if ok else 'misses'} {bound}")
    if champion is None:
        deciders = "the floors alone decide" if spec.floors or not baselines else "the baselines alone decide"
        reasons.append(f"{not_compared}: {deciders}" if not_compared else f"no model in production: {deciders}")
    else:
        compared = candidate if compared_candidate is None else compared_candidate
        for metric, margin in sorted(spec.max_regression.items()):
            value, best = compared.get(metric, float("nan")), champion.get(metric, float("nan"))
            # A missing figure cannot be compared: the refusal must say so, not read "not worse".
            missing = [who for who, figure in (("candidate", value), ("champion", best)) if math.isnan(figure)]
            if missing:
                blessed = False
                reasons.append(
                    f"{metric} is missing (NaN) for the {' and the '.join(missing)}: "
                    "the comparison with the champion cannot be made, not blessed"
                )
                continue
            loss = shortfall(metric, value, best)
            ok = loss <= margin
            blessed &= ok
            reasons.append(
                f"{metric} {value:.4f} against the champion's {best:.4f}: "
                + (f"{'within' if ok else 'worse than'} the allowed loss {margin:g}" if loss > 0 else "not worse")
            )
    return Blessing(bool(blessed), tuple(reasons))


def _against_baselines(
    candidate: Mapping[str, float], baselines: Mapping[str, Mapping[str, float]], spec: BlessingSpec, task: Task
) -> tuple[bool, list[str]]:
    """The default gate when no floors are configured: beat the trivial baseline, stay near the linear one."""
    trivial_name, linear_name = BASELINES[task]
    metric = spec.baseline_metric_for(task)
    value = candidate.get(metric, float("nan"))
    trivial = baselines.get(trivial_name, {}).get(metric, float("nan"))
    linear = baselines.get(linear_name, {}).get(metric, float("nan"))
    prefix = "no floors configured, so the baselines of this run decide"
    if math.isnan(value) or math.isnan(trivial) or math.isnan(linear):
        return False, [f"{prefix}: {metric} is missing (NaN) for the candidate or a baseline, not blessed"]
    margin, how = spec.allowed_loss_to_baseline(metric, linear)
    beats = shortfall(metric, value, trivial) < 0
    loss = shortfall(metric, value, linear)
    close = loss <= margin
    return beats and close, [
        f"{prefix}: {metric} {value:.4f} {'beats' if beats else 'does not beat'} the "
        f"{trivial_name.replace('_', '-')} baseline's {trivial:.4f}",
        f"{metric} {value:.4f} against the {linear_name.replace('_', '-')} baseline's {linear:.4f}: "
        + (f"{'within' if close else 'worse than'} the allowed loss {margin:.4g}{how}" if loss > 0 else "not worse"),
    ]


def slice_metrics(
    frame: pd.DataFrame,
    labels: np.ndarray,
    proba: np.ndarray,
    classes: list[Any],
    columns: tuple[str, ...],
    min_rows: int,
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, dict[str, Any]]]:
    """A classifier's metrics for every value of each slice column with at least ``min_rows`` rows, and the largest gap.

    Returns:
        (slices by column: rows and metrics per value, largest ROC-AUC and accuracy gap per column).
    """
    return _by_slice(
        frame,
        columns,
        min_rows,
        lambda mask: {"metrics": classification_metrics(labels[mask], proba[mask], classes)},
        ("roc_auc", "accuracy"),
    )


def regression_slice_metrics(
    frame: pd.DataFrame, labels: np.ndarray, predicted: np.ndarray, columns: tuple[str, ...], min_rows: int
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, dict[str, Any]]]:
    """A regressor's metrics and residuals for every value of each slice column with at least ``min_rows`` rows.

    Returns:
        (slices by column: rows, metrics and :func:`residual_summary` per value, largest RMSE and MAE gap per
        column: the worst slice's error less the best one's).
    """
    labels = np.asarray(labels, dtype="float64")
    return _by_slice(
        frame,
        columns,
        min_rows,
        lambda mask: {
            "metrics": regression_metrics(labels[mask], predicted[mask]),
            "residuals": residual_summary(labels[mask] - predicted[mask]),
        },
        ("rmse", "mae"),
    )


def residual_summary(residuals: np.ndarray) -> dict[str, float]:
    """Mean and quantiles (10, 25, 50, 75, 90%) of residuals, actual minus predicted (positive: predicted too low)."""
    values = np.asarray(residuals, dtype="float64")
    if not len(values):
        return {name: float("nan") for name in ("mean", "p10", "p25", "median", "p75", "p90")}
    p10, p25, median, p75, p90 = np.quantile(values, [0.1, 0.25, 0.5, 0.75, 0.9])
    return {
        "mean": float(values.mean()),
        "p10": float(p10),
        "p25": float(p25),
        "median": float(median),
        "p75": float(p75),
        "p90": float(p90),
    }


def _by_slice(
    frame: pd.DataFrame,
    columns: tuple[str, ...],
    min_rows: int,
    measure: Callable[[np.ndarray], dict[str, Any]],
    gap_metrics: tuple[str, ...],
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, dict[str, Any]]]:
    """Entries (``measure`` of each large enough slice's rows) per column, and the largest gap per metric.

    A gap is how much worse the worst slice is than the best (a positive number, whichever way is better).
    """
    slices, gaps = {}, {}
    for column in columns:
        entries = []
        values = frame[column].astype(object).where(frame[column].notna(), "(missing)").to_numpy()
        for value in pd.unique(values):
            mask = values == value
            if mask.sum() < min_rows:
                continue
            entries.append(
                {"value": value.item() if hasattr(value, "item") else value, "rows": int(mask.sum()), **measure(mask)}
            )
        entries.sort(key=lambda e: -e["rows"])
        slices[column] = entries
        gap = {}
        for metric in gap_metrics:
            scored = [e for e in entries if not math.isnan(e["metrics"][metric])]
            if len(scored) >= 2:
                ordered = sorted(scored, key=lambda e: shortfall(metric, e["metrics"][metric], 0.0))
                best, worst = ordered[0], ordered[-1]
                gap[metric] = {
                    "gap": shortfall(metric, worst["metrics"][metric], best["metrics"][metric]),
                    "best": best["value"],
                    "worst": worst["value"],
                }
        gaps[column] = gap
    return slices, gaps


def predicted_vs_actual(
    labels: np.ndarray, predicted: np.ndarray, points: int = PICTURE_POINTS, bins: int = PICTURE_BINS
) -> dict[str, Any]:
    """What the predicted-vs-actual picture of a regressor draws, as plain data.

    Args:
        labels: The true values of the test rows.
        predicted: The predicted values.
        points: Most rows drawn as points (a sample seeded by 0, so the card is reproducible).
        bins: Groups of rows by predicted value (equal counts): each group's mean prediction against its mean
            true value shows where the model is biased, whatever the sample.

    Returns:
        ``rows`` (all test rows), ``points`` ([actual, predicted] pairs of the sample) and ``bins``
        (``predicted`` and ``actual`` means and ``rows`` per group, lowest predictions first).
    """
    truth = np.asarray(labels, dtype="float64")
    guess = np.asarray(predicted, dtype="float64")
    chosen = np.sort(np.random.default_rng(0).choice(len(truth), size=min(points, len(truth)), replace=False))
    groups = pd.qcut(pd.Series(guess).rank(method="first"), q=min(bins, len(guess)), labels=False)
    table = pd.DataFrame({"predicted": guess, "actual": truth, "group": groups}).groupby("group")
    summary = table.agg(predicted=("predicted", "mean"), actual=("actual", "mean"), rows=("actual", "size"))
    return {
        "rows": int(len(truth)),
        "points": [[_short(truth[i]), _short(guess[i])] for i in chosen],
        "bins": [
            {"predicted": float(row.predicted), "actual": float(row.actual), "rows": int(row.rows)}
            for row in summary.itertuples()
        ],
    }


def _short(value: float) -> float:
    """A value with 6 significant digits: plenty for a picture, a third of the JSON."""
    return float(f"{value:.6g}")


def baseline_predictions(
    train: pd.DataFrame, test: pd.DataFrame, config: UseCaseConfig, task: Task = "classification"
) -> dict[str, Predictions]:
    """The answers of two baselines on the test split, fitted on the train split.

    A classification's are the majority class (class priors) and a plain logistic regression; a regression's
    the train mean and a plain ridge regression (alpha 1). The linear ones use the candidate's preprocessing.
    """
    features, labels = split_xy(train, config)
    test_features, _ = split_xy(test, config)
    trivial_name, linear_name = BASELINES[task]
    if task == "regression":
        models = {
            trivial_name: Pipeline([("model", DummyRegressor(strategy="mean"))]),
            linear_name: model_pipeline(config, Ridge(alpha=1.0)),
        }
    else:
        models = {
            trivial_name: Pipeline([("model", DummyClassifier(strategy="prior"))]),
            linear_name: model_pipeline(config, LogisticRegression(max_iter=2000)),
        }
    return {
        name: predictions_of(fit_model(model, features, labels), test_features, task) for name, model in models.items()
    }


def interval_groups(test: pd.DataFrame, config: UseCaseConfig) -> tuple[np.ndarray | None, str]:
    """Which test rows move together, for the intervals of the paired tests, and how a reader is told.

    A time split's test rows are grouped by the local day of the split column (the day's weather and
    traffic reach every row of it: on the flights demo's regression, grouping by day made the interval of
    the RMSE gap 5.8 times wider, as wide as a bootstrap of whole days); a hash split's by its key (rows of
    one key share a split because they belong together). Otherwise rows count as independent.

    Returns:
        A group label per test row, or None; and what the groups are (empty for None).
    """
    split = config.split
    if split.method == "time" and split.column in test.columns:
        values = test[split.column]
        if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(values):
            days = local_times(values, config.timezone).dt.normalize()
            return days.to_numpy(), f"the day of `{split.column}`"
    if split.method == "hash" and split.key and not split.hashes_whole_row:
        key = list(split.key)
        if all(column in test.columns for column in key):
            return row_hashes(test, key), f"the split key ({', '.join(key)})"
    return None, ""


def champion_features(champion: Pipeline, config: UseCaseConfig) -> list[str]:
    """The columns the champion was fitted on (its own config's features), else the use case's features."""
    names = getattr(champion, "feature_names_in_", None)
    return [str(name) for name in names] if names is not None else list(config.features.all())


def overlap_columns(config: UseCaseConfig, test: pd.DataFrame, trained: pd.DataFrame) -> list[str]:
    """The columns that identify a row across dataset versions: the split key, else every shared column.

    A hash split has a key (unless it hashes the whole row). A time split has none, so a row is matched
    by all the columns both frames hold except the label (a changed label rule must not hide a row the champion saw).
    """
    if config.split.method == "hash" and config.split.key and not config.split.hashes_whole_row:
        return list(config.split.key)
    return [c for c in test.columns if c in trained.columns and c != config.target.name]


def rows_in(test: pd.DataFrame, trained: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Which test rows have values in ``columns`` that some trained row has.

    Rows are compared by a 64-bit hash of their values, each value in a form that does not depend on how
    a dataset version typed its column: numbers (and text that reads as a number) as float64, other text
    as text, instants as UTC nanoseconds. So a key read as integers in one version and as text or floats
    in another still matches.
    """
    if not columns:
        return np.zeros(len(test), dtype=bool)
    return np.isin(row_hashes(test, columns), row_hashes(trained, columns))


def row_hashes(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """A 64-bit hash per row of the values in ``columns`` (see :func:`rows_in`)."""
    combined = np.zeros(len(frame), dtype=np.uint64)
    with np.errstate(over="ignore"):  # the combination wraps around on purpose
        for column in columns:
            combined = combined * np.uint64(1_000_003) + _value_hashes(frame[column])
    return combined


def _value_hashes(values: pd.Series) -> np.ndarray:
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(values):
        instants = pd.to_datetime(values, utc=True)
        return pd.util.hash_array(instants.to_numpy(dtype="datetime64[ns]").view("int64"))
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return pd.util.hash_array(values.to_numpy(dtype="float64", na_value=np.nan))
    objects = values.astype(object)
    numbers = pd.to_numeric(objects, errors="coerce").to_numpy(dtype="float64")
    texts = pd.util.hash_array(objects.astype(str).to_numpy(dtype=object))
    hashes = np.where(np.isnan(numbers), texts, pd.util.hash_array(numbers))
    return np.where(values.isna().to_numpy(), pd.util.hash_array(np.array([np.nan]))[0], hashes)


def compare_with_champion(
    champion: Pipeline,
    version: str | None,
    test: pd.DataFrame,
    labels: np.ndarray,
    candidate: Predictions,
    config: UseCaseConfig,
    training: ChampionTraining | None = None,
    groups: np.ndarray | None = None,
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Scores the champion with its own features on the test rows it was not trained on.

    A champion of the other task (a classifier when the candidate is a regressor, or the reverse) has no
    metric in common with the candidate: it is not compared, and the record says why.

    Args:
        champion: The production model.
        version: Its registry version.
        test: The candidate's test split.
        labels: Its labels.
        candidate: The candidate's answers on it.
        config: The use case.
        training: What is known of the champion's training rows (None: nothing).
        groups: Which test rows move together (:func:`interval_groups`), for the difference's interval.

    Returns:
        The champion record (``compared``, ``not_compared``, its features, ``rows`` compared, its
        ``metrics`` and the candidate's on the same rows, the ``difference`` between them with its 95%
        interval (:meth:`Predictions.difference_against`), ``training_overlap``) and notes for the blessing.
    """
    features = champion_features(champion, config)
    record: dict[str, Any] = {
        "version": version,
        "compared": False,
        "not_compared": "",
        "features": features,
        "rows": 0,
        "metrics": None,
        "candidate_metrics": None,
        "difference": None,
    }
    record["training_overlap"], in_training, notes = _training_overlap(test, config, training)
    champion_task = task_of_model(champion)
    if champion_task != candidate.task:
        record["not_compared"] = (
            f"not compared with the champion {version}: it is a {champion_task} model and the candidate "
            f"a {candidate.task} one, so no metric is shared"
        )
        return record, notes
    missing = [name for name in features if name not in test.columns]
    if missing:
        record["not_compared"] = (
            f"not compared with the champion {version}: the test split lacks "
            f"{', '.join(map(repr, missing))}, which it needs (the dataset version no longer holds "
            f"{'these columns' if len(missing) > 1 else 'this column'})"
        )
        return record, notes
    keep = ~in_training
    if not keep.any():
        record["not_compared"] = f"not compared with the champion {version}: every test row was in its training split"
        return record, notes
    answers = predictions_of(champion, test.loc[keep, features], candidate.task)
    compared = candidate.rows(keep)
    record.update(
        compared=True,
        rows=int(keep.sum()),
        metrics=answers.metrics(labels[keep]),
        candidate_metrics=compared.metrics(labels[keep]),
        difference=compared.difference_against(answers, labels[keep], None if groups is None else groups[keep]),
    )
    return record, notes


def _training_overlap(
    test: pd.DataFrame, config: UseCaseConfig, training: ChampionTraining | None
) -> tuple[dict[str, Any], np.ndarray, tuple[str, ...]]:
    """How many test rows were in the champion's train split: the record, the rows' mask, notes for the blessing."""
    nothing = np.zeros(len(test), dtype=bool)
    if training is None:
        return {"dataset_version": None, "rows": None, "matched_by": []}, nothing, ()
    record: dict[str, Any] = {"dataset_version": training.dataset_version, "rows": None, "matched_by": []}
    if training.rows is None:
        reason = training.unknown or "its training rows were not given"
    else:
        columns = overlap_columns(config, test, training.rows)
        absent = [c for c in columns if c not in test.columns or c not in training.rows.columns]
        record["matched_by"] = columns
        reason = (
            f"the key column(s) {', '.join(absent)} are not in both splits"
            if absent
            else ("the splits share no column" if not columns else "")
        )
    if reason:
        record["unknown"] = reason
        return (
            record,
            nothing,
            (f"whether the champion was trained on test rows is unknown ({reason}): the comparison may favour it",),
        )
    mask = rows_in(test, training.rows, record["matched_by"])
    record["rows"] = int(mask.sum())
    if not mask.any():
        return record, mask, ()
    columns = record["matched_by"]
    shown = ", ".join(columns) if len(columns) <= 3 else f"{len(columns)} columns"
    return (
        record,
        mask,
        (
            f"{int(mask.sum())} of {len(test)} test rows were in the champion's training split (dataset version "
            f"{training.dataset_version}, matched by {shown}): the comparison leaves them out",
        ),
    )


def analyse_model(
    model: Pipeline,
    train: pd.DataFrame,
    test: pd.DataFrame,
    config: UseCaseConfig,
    champion: Pipeline | None = None,
    champion_version: str | None = None,
    champion_training: ChampionTraining | None = None,
) -> Analysis:
    """Analyses a candidate on the test split and decides its blessing.

    The task is resolved from the config and the train labels, as training resolved it.

    Args:
        model: The candidate (full pipeline).
        train: The rows it was trained on (for the task and the baselines).
        test: The test split.
        config: The use case (slices, thresholds).
        champion: The production model, scored on the same rows; None when there is none.
        champion_version: Its registry version, for the record.
        champion_training: What is known of the champion's training rows, to leave them out of the comparison.

    Raises:
        ConfigError: If the blessing names a metric the task does not have.
        DataError: If the candidate is not a model of the task (a classifier for a regression, or the reverse).
    """
    _, train_labels = split_xy(train, config)
    choice = resolve_task(config.target, train_labels)
    task = choice.task
    check_blessing_task(config.analysis.blessing, task, f"use case {config.name!r}")
    if task_of_model(model) != task:
        raise DataError(
            f"the candidate is a {task_of_model(model)} model, but {config.name!r} is a {task} ({choice.reason})",
            hint="train the candidate from this config and dataset version, or set target.task",
        )
    _, labels = split_xy(test, config)
    labels = labels.to_numpy()
    candidate = predictions_of(model, test[list(config.features.all())], task)
    metrics = candidate.metrics(labels)
    spec = config.analysis
    if task == "regression":
        slices, gaps = regression_slice_metrics(test, labels, candidate.values, spec.slices, spec.min_slice_rows)
    else:
        slices, gaps = slice_metrics(
            test, labels, candidate.values, list(candidate.classes), spec.slices, spec.min_slice_rows
        )
    groups, grouped_by = interval_groups(test, config)
    champion_record, notes = None, ()
    if champion is not None:
        champion_record, notes = compare_with_champion(
            champion, champion_version, test, labels, candidate, config, champion_training, groups
        )
    baseline_answers = baseline_predictions(train, test, config, task)
    baseline_metrics = {name: answers.metrics(labels) for name, answers in baseline_answers.items()}
    differences = {
        name: candidate.difference_against(answers, labels, groups) for name, answers in baseline_answers.items()
    }
    decision = bless(
        metrics,
        champion_record["metrics"] if champion_record else None,
        spec.blessing,
        compared_candidate=champion_record["candidate_metrics"] if champion_record else None,
        not_compared=champion_record["not_compared"] if champion_record else "",
        baselines=baseline_metrics,
        task=task,
    )
    classes = list(candidate.classes)
    classifier = task == "classification"
    return Analysis(
        metrics=metrics,
        classes=[c.item() if hasattr(c, "item") else c for c in classes],
        confusion=confusion(labels, candidate.values, classes) if classifier else [],
        roc=roc_points(labels, candidate.values, classes) if classifier else [],
        slices=slices,
        slice_gaps=gaps,
        baselines=baseline_metrics,
        champion=champion_record,
        blessing=Blessing(decision.blessed, decision.reasons + tuple(notes)),
        rows=int(len(test)),
        task=task,
        task_reason=choice.reason,
        predicted_vs_actual={} if classifier else predicted_vs_actual(labels, candidate.values),
        baseline_differences={name: found for name, found in differences.items() if found is not None},
        differences_grouped_by=grouped_by,
    )
