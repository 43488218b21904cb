"""Classification metrics of binary and multiclass models, shared by tuning, analysis and monitoring."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import log_loss, mean_absolute_error, mean_squared_error, r2_score

from components.common.metrics import (
    classification_metrics,
    confusion,
    lower_is_better,
    regression_metrics,
    roc_points,
    shortfall,
)


def test_binary_metrics_match_known_values():
    labels = np.array([0, 0, 1, 1])
    proba = np.array([[0.9, 0.1], [0.3, 0.7], [0.35, 0.65], [0.2, 0.8]])
    metrics = classification_metrics(labels, proba, [0, 1])
    assert metrics["roc_auc"] == 0.75 and metrics["accuracy"] == 0.75
    assert metrics["precision"] == pytest.approx(2 / 3) and metrics["recall"] == 1.0
    assert metrics["brier"] == pytest.approx(np.mean([0.01, 0.49, 0.1225, 0.04]))
    assert confusion(labels, proba, [0, 1]) == [[1, 1], [0, 2]]
    points = roc_points(labels, proba, [0, 1])
    assert points[0][:2] == (0.0, 0.0) and points[-1][:2] == (1.0, 1.0)


def test_multiclass_metrics_with_text_labels():
    labels = np.array(["a", "b", "c", "a"], dtype=object)
    proba = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.3, 0.4, 0.3]])
    metrics = classification_metrics(labels, proba, ["a", "b", "c"])
    assert metrics["accuracy"] == 0.75 and metrics["roc_auc"] == pytest.approx(1.0)
    assert confusion(labels, proba, ["a", "b", "c"]) == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_log_loss_equals_scikit_learn_on_confidently_wrong_rows(dtype):
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 2, 500)
    positive = rng.uniform(0.05, 0.95, 500)
    wrong = np.arange(5)
    positive[wrong] = 1.0 - labels[wrong]  # probability exactly 0 of the true class
    proba = np.column_stack([1 - positive, positive]).astype(dtype)
    expected = log_loss(labels, proba)
    assert classification_metrics(labels, proba, [0, 1])["log_loss"] == expected


def test_multiclass_log_loss_equals_scikit_learn_with_probabilities_of_zero_and_one():
    labels = np.array(["a", "b", "c", "a", "b"], dtype=object)
    proba = np.array([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.2, 0.2, 0.6], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    expected = log_loss(labels, proba, labels=["a", "b", "c"])
    assert classification_metrics(labels, proba, ["a", "b", "c"])["log_loss"] == expected


def test_regression_metrics_equal_scikit_learn_and_losses_are_lower_is_better() -> None:
    truth = np.array([1.0, 2.0, 4.0, 8.0])
    predicted = np.array([1.5, 2.0, 3.0, 9.0])
    metrics = regression_metrics(truth, predicted)
    assert metrics["rmse"] == pytest.approx(np.sqrt(mean_squared_error(truth, predicted)), abs=1e-12)
    assert metrics["mae"] == pytest.approx(mean_absolute_error(truth, predicted), abs=1e-12)
    assert metrics["r2"] == pytest.approx(r2_score(truth, predicted), abs=1e-12)
    assert np.isnan(regression_metrics(np.array([3.0, 3.0]), np.array([3.0, 2.0]))["r2"])
    assert lower_is_better("rmse") and lower_is_better("mae") and not lower_is_better("r2")
    assert shortfall("rmse", 2.0, 1.5) == pytest.approx(0.5)
    assert shortfall("r2", 0.5, 0.7) == pytest.approx(0.2)
    assert shortfall("roc_auc", 0.8, 0.7) == pytest.approx(-0.1)
