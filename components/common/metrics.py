"""Metrics shared by tuning, model analysis and monitoring: classification (binary and multiclass) and regression."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)
from sklearn.preprocessing import label_binarize

from components.common.config.analysis import lower_is_better

CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "log_loss", "brier")
REGRESSION_METRICS = ("rmse", "mae", "r2")
# How a reader's line names the metrics whose differences are tested (:func:`difference_text`).
METRIC_NAMES = {"roc_auc": "ROC-AUC", "rmse": "RMSE"}
# The two-sided 95% quantile of the standard normal distribution.
NORMAL_95 = 1.959963984540054


def shortfall(metric: str, value: float, reference: float) -> float:
    """How much worse ``value`` is than ``reference`` on ``metric`` (negative when it is better)."""
    return value - reference if lower_is_better(metric) else reference - value


def metrics_line(metrics: Mapping[str, Any], classification: Sequence[str]) -> str:
    """Metrics for a summary line: ``classification``'s names, or RMSE, MAE and R² for a regression's metrics.

    Args:
        metrics: Metric values by name (a regression's hold ``rmse``).
        classification: The names to show of a classification's metrics, in order.
    """
    names = REGRESSION_METRICS if "rmse" in metrics else classification
    return ", ".join(f"{name} {metrics[name]:.4f}" for name in names if name in metrics)


def regression_metrics(labels: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    """RMSE, MAE and R² of predictions against true values.

    R² is NaN when the true values are all equal (it divides by their variance).
    """
    truth = np.asarray(labels, dtype="float64")
    predicted = np.asarray(predictions, dtype="float64")
    constant = len(truth) < 2 or bool(np.all(truth == truth[0]))
    return {
        "rmse": float(np.sqrt(mean_squared_error(truth, predicted))),
        "mae": float(mean_absolute_error(truth, predicted)),
        "r2": float("nan") if constant else float(r2_score(truth, predicted)),
    }


def classification_metrics(labels: np.ndarray, proba: np.ndarray, classes: Sequence[Any]) -> dict[str, float]:
    """Accuracy, precision, recall, F1, ROC-AUC, PR-AUC, log loss and Brier score.

    Binary problems score the second class of ``classes`` as positive; multiclass problems average
    one-vs-rest scores over classes (macro). Scores undefined on the given rows (one class only) are NaN.

    Args:
        labels: True labels.
        proba: Predicted probabilities, one column per class in ``classes`` order.
        classes: The model's classes.
    """
    classes = list(classes)
    labels_obj, class_array = _aligned(labels, classes)
    predicted = class_array[proba.argmax(axis=1)]
    binary = len(classes) == 2
    average = "binary" if binary else "macro"
    positive = {"pos_label": classes[1]} if binary else {}
    metrics = {
        "accuracy": accuracy_score(labels_obj, predicted),
        "precision": precision_score(labels_obj, predicted, average=average, zero_division=0, **positive),
        "recall": recall_score(labels_obj, predicted, average=average, zero_division=0, **positive),
        "f1": f1_score(labels_obj, predicted, average=average, zero_division=0, **positive),
    }
    onehot = label_binarize(labels_obj, classes=class_array)
    onehot = np.column_stack([1 - onehot[:, 0], onehot[:, 0]]) if binary else onehot
    present = len(set(labels_obj.tolist())) > 1
    if binary:
        metrics["roc_auc"] = roc_auc_score(onehot[:, 1], proba[:, 1]) if present else float("nan")
        metrics["pr_auc"] = average_precision_score(onehot[:, 1], proba[:, 1]) if present else float("nan")
        metrics["brier"] = brier_score_loss(onehot[:, 1], proba[:, 1])
    else:
        usable = [i for i in range(len(classes)) if 0 < onehot[:, i].sum() < len(onehot)]
        metrics["roc_auc"] = (
            float(np.mean([roc_auc_score(onehot[:, i], proba[:, i]) for i in usable])) if usable else float("nan")
        )
        metrics["pr_auc"] = (
            float(np.mean([average_precision_score(onehot[:, i], proba[:, i]) for i in usable]))
            if usable
            else float("nan")
        )
        metrics["brier"] = float(np.mean(np.sum((proba - onehot) ** 2, axis=1)))
    metrics["log_loss"] = log_loss(onehot, _clipped(proba))
    return {name: float(value) for name, value in metrics.items()}


def _clipped(proba: np.ndarray) -> np.ndarray:
    """Probabilities clipped to [eps, 1 - eps], eps the machine epsilon of their float dtype.

    This is scikit-learn 1.6's own clipping in ``log_loss``; a fixed 1e-15 made a confidently wrong row
    (probability exactly 0 of its true class) cost 34.5 instead of scikit-learn's 36.0.
    """
    proba = np.asarray(proba)
    if proba.dtype not in (np.float16, np.float32, np.float64):
        proba = proba.astype(np.float64)
    eps = np.finfo(proba.dtype).eps
    return np.clip(proba, eps, 1 - eps)


def confusion(labels: np.ndarray, proba: np.ndarray, classes: Sequence[Any]) -> list[list[int]]:
    """The confusion matrix, rows true classes and columns predicted ones, in ``classes`` order."""
    labels, class_array = _aligned(labels, classes)
    return confusion_matrix(labels, class_array[proba.argmax(axis=1)], labels=class_array).tolist()


def _aligned(labels: Any, classes: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Labels and classes as arrays of one plain dtype (sklearn refuses object arrays of numbers)."""
    class_array = np.asarray(list(classes))
    if class_array.dtype.kind in "iufb":
        return np.asarray(pd.Series(labels).astype(class_array.dtype)), class_array
    return np.asarray(pd.Series(labels).astype(str)), class_array.astype(str)


def positive_rows(labels: np.ndarray, classes: Sequence[Any]) -> np.ndarray:
    """Whether each label is the positive class of a binary classifier: the second of ``classes``, as scored."""
    labels, class_array = _aligned(labels, classes)
    return np.asarray(labels == class_array[1], dtype=bool)


def roc_points(
    labels: np.ndarray, proba: np.ndarray, classes: Sequence[Any], most: int = 200
) -> list[tuple[float, float, float]]:
    """(false positive rate, true positive rate, threshold) of the positive class, at most ``most`` points.

    Multiclass models get the curve of their last class against the rest.
    """
    labels, class_array = _aligned(labels, classes)
    fpr, tpr, thresholds = roc_curve(labels == class_array[-1], proba[:, -1])
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(most, len(fpr))).round().astype(int))
    finite = np.where(np.isfinite(thresholds), thresholds, 1.0)
    return [(float(fpr[i]), float(tpr[i]), float(finite[i])) for i in keep]


def roc_auc_difference(
    positive: np.ndarray, first: np.ndarray, second: np.ndarray, groups: np.ndarray | None = None
) -> dict[str, Any]:
    """The difference of two classifiers' ROC-AUCs on the same rows, with a 95% interval and a p-value.

    The test rows are a sample: a candidate a hair behind a baseline on them may be as good on the rows
    to come. The two AUCs are correlated (same rows), which the paired error accounts for; DeLong, DeLong
    and Clarke-Pearson (1988) give the variance of the difference from each row's share of the other
    class it outranks (ties count half), computed here from midranks (Sun and Xu, 2014) in O(n log n).
    The interval and the p-value (of "the two AUCs are equal", two-sided) use the normal approximation,
    sound for the hundreds of rows of each class a test split holds.

    DeLong's variance takes the rows as independent. Rows that share a day (its weather, its holidays) or
    a customer are not: both models miss on them together, and the difference moves by whole groups. With
    ``groups``, each row's share of the difference is summed by group and the variance is that of the
    group sums (the cluster-robust form of the same estimate, as Obuchowski (1997) gives for clustered
    ROC data). On the flights demo's test months, grouping by day made the standard error of the gap to the
    logistic regression 0.0095 instead of 0.0019, as a bootstrap of whole days does (0.0096).

    Args:
        positive: Whether each row is of the positive class.
        first: The first model's scores (its probability of the positive class).
        second: The second model's scores of the same rows.
        groups: A group label per row (None: every row is its own group, DeLong's variance).

    Returns:
        ``metric`` (roc_auc), ``rows``, ``first`` and ``second`` (the two ROC-AUCs), ``difference`` (first
        less second), ``standard_error``, ``low`` and ``high`` (the 95% interval of the difference) and
        ``p_value``, and ``groups`` (how many, None without). A figure that cannot be known is None (JSON,
        and so the registry's lineage, has no NaN), and ``unknown`` says why: the rows hold a single class
        (no figure at all), or a class has a single row or there is a single group (no interval).
    """
    positive = np.asarray(positive, dtype=bool)
    scores = np.vstack([np.asarray(first, dtype="float64"), np.asarray(second, dtype="float64")])
    positives, negatives = int(positive.sum()), int((~positive).sum())
    if not positives or not negatives:
        return _unknown("roc_auc", len(positive), "the rows hold a single class")
    ranks = rankdata(scores, axis=1)
    above_negatives = (ranks[:, positive] - rankdata(scores[:, positive], axis=1)) / negatives
    below_positives = 1.0 - (ranks[:, ~positive] - rankdata(scores[:, ~positive], axis=1)) / positives
    aucs = above_negatives.mean(axis=1)
    if positives < 2 or negatives < 2:
        return _unknown("roc_auc", len(positive), "a class has a single row", aucs)
    if groups is None:
        contrast = np.array([1.0, -1.0])
        variance = (
            contrast @ np.cov(above_negatives) @ contrast / positives
            + contrast @ np.cov(below_positives) @ contrast / negatives
        )
        return _with_interval("roc_auc", len(positive), aucs, variance)
    difference = aucs[0] - aucs[1]
    shares = np.empty(len(positive))
    shares[positive] = (above_negatives[0] - above_negatives[1] - difference) / positives
    shares[~positive] = (below_positives[0] - below_positives[1] - difference) / negatives
    return _with_grouped_interval("roc_auc", aucs, shares, groups)


def rmse_difference(
    truth: np.ndarray, first: np.ndarray, second: np.ndarray, groups: np.ndarray | None = None
) -> dict[str, Any]:
    """The difference of two regressors' RMSEs on the same rows, with a 95% interval and a p-value.

    The paired counterpart of :func:`roc_auc_difference`: each row's two squared errors are a pair, and the
    variance of the difference of the square roots of their means follows by the delta method (the
    normal approximation again, as the Diebold-Mariano test of equal accuracy does without its
    correction for errors correlated in time; ``groups`` is that correction's cluster-robust form).
    Heavy-tailed errors that both models share (rare huge misses) make the interval too narrow: simulated
    on 2,000 rows, a 95% interval held the true difference 97% of the time with normal errors, 92% with
    lognormal ones and 76% with Student-t ones of 3 degrees of freedom.

    Args:
        truth: The true values.
        first: The first model's predictions.
        second: The second model's predictions of the same rows.
        groups: A group label per row, as for :func:`roc_auc_difference` (None: rows are independent).

    Returns:
        The fields of :func:`roc_auc_difference`, ``metric`` rmse; ``unknown`` says why figures are None:
        no rows, a single row, or a model without error on every row (the RMSE's slope is infinite there).
    """
    truth = np.asarray(truth, dtype="float64")
    squared = np.vstack(
        [(np.asarray(first, dtype="float64") - truth) ** 2, (np.asarray(second, dtype="float64") - truth) ** 2]
    )
    if not len(truth):
        return _unknown("rmse", 0, "there are no rows")
    rmses = np.sqrt(squared.mean(axis=1))
    if len(truth) < 2:
        return _unknown("rmse", 1, "there is a single row", rmses)
    if not rmses.all():
        return _unknown("rmse", len(truth), "a model predicts every row exactly", rmses)
    slope = np.array([0.5 / rmses[0], -0.5 / rmses[1]])
    if groups is None:
        return _with_interval("rmse", len(truth), rmses, slope @ np.cov(squared) @ slope / len(truth))
    contrast = slope @ squared
    return _with_grouped_interval("rmse", rmses, (contrast - contrast.mean()) / len(truth), groups)


def _unknown(metric: str, rows: int, why: str, values: np.ndarray | None = None) -> dict[str, Any]:
    """A difference without its interval (and without any figure unless the two ``values`` are given)."""
    found: dict[str, Any] = {"metric": metric, "rows": rows, "first": None, "second": None, "difference": None}
    if values is not None and np.isfinite(values).all():
        found.update(first=float(values[0]), second=float(values[1]), difference=float(values[0] - values[1]))
    return {**found, "standard_error": None, "low": None, "high": None, "p_value": None, "groups": None, "unknown": why}


def _with_grouped_interval(metric: str, values: np.ndarray, shares: np.ndarray, groups: np.ndarray) -> dict[str, Any]:
    """The difference of the two ``values`` with the cluster-robust variance of the rows' ``shares`` of it.

    Each group's shares are summed; the variance is the sum of the squared group sums, times G/(G-1) for
    G groups (the usual small-sample correction, which with one row per group gives back the variance of
    independent rows).
    """
    codes, labels = pd.factorize(np.asarray(groups), use_na_sentinel=False)
    if len(labels) < 2:
        return {**_unknown(metric, len(shares), "the rows form a single group", values), "groups": len(labels)}
    sums = np.bincount(codes, weights=shares, minlength=len(labels))
    variance = len(labels) / (len(labels) - 1) * float(np.square(sums).sum())
    return {**_with_interval(metric, len(shares), values, variance), "groups": len(labels)}


def _with_interval(metric: str, rows: int, values: np.ndarray, variance: float) -> dict[str, Any]:
    """The difference of the two ``values`` with its standard error, 95% interval and two-sided p-value."""
    if not (np.isfinite(values).all() and math.isfinite(variance)):
        return _unknown(metric, rows, "a model's answers are not all finite numbers", values)
    difference = float(values[0] - values[1])
    error = math.sqrt(max(float(variance), 0.0))
    if error > 0:
        p_value = math.erfc(abs(difference) / error / math.sqrt(2))
    else:  # the per-row contrast between the models is the same on every row: the difference is exact
        p_value = 1.0 if difference == 0 else 0.0
    return {
        "metric": metric,
        "rows": rows,
        "first": float(values[0]),
        "second": float(values[1]),
        "difference": difference,
        "standard_error": error,
        "low": difference - NORMAL_95 * error,
        "high": difference + NORMAL_95 * error,
        "p_value": p_value,
        "groups": None,
    }


def difference_text(found: Mapping[str, Any]) -> str:
    """A difference for a reader: the gap, its 95% interval and p-value, and what they allow to say.

    For example ``ROC-AUC -0.0013 (95% interval -0.0041 to +0.0015, p 0.37): not distinguishable on these
    rows``. An RMSE, in the label's units, gets four significant digits rather than four decimals.

    Args:
        found: A :func:`roc_auc_difference` or :func:`rmse_difference`.

    Returns:
        One line, saying why when a figure is unknown.
    """
    metric = found["metric"]
    name = METRIC_NAMES.get(metric, metric)
    difference, low, high = found["difference"], found["low"], found["high"]
    if difference is None:
        return f"{name} difference unknown: {found['unknown']}"
    shape = "+.4f" if metric == "roc_auc" else _shape_of(difference, low or 0.0, high or 0.0)
    if low is None or high is None:
        return f"{name} {difference:{shape}} (no interval: {found['unknown']})"
    verdict = (
        "higher, beyond the rows' noise"
        if low > 0
        else "lower, beyond the rows' noise"
        if high < 0
        else "not distinguishable on these rows"
    )
    p_value = found["p_value"]
    chance = "p < 0.0001" if p_value < 1e-4 else f"p {p_value:.2g}"
    return f"{name} {difference:{shape}} (95% interval {low:{shape}} to {high:{shape}}, {chance}): {verdict}"


def _shape_of(*values: float) -> str:
    """A signed fixed-point format: four significant digits for the largest of ``values``, as many decimals for all."""
    largest = max((abs(value) for value in values if math.isfinite(value) and value), default=1.0)
    return f"+.{max(0, 3 - math.floor(math.log10(largest)))}f"
