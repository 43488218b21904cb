"""Classification metrics of binary and multiclass models, shared by tuning, analysis and monitoring."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sklearn.metrics import log_loss, mean_absolute_error, mean_squared_error, r2_score, roc_auc_score

from components.common.metrics import (
    classification_metrics,
    confusion,
    difference_text,
    lower_is_better,
    metrics_line,
    positive_rows,
    regression_metrics,
    rmse_difference,
    roc_auc_difference,
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


def test_a_summary_line_shows_the_chosen_classification_metrics_or_every_regression_one():
    classification = {"roc_auc": 0.71234, "pr_auc": 0.4, "accuracy": 0.9, "log_loss": 0.3}
    assert metrics_line(classification, ("roc_auc", "pr_auc")) == "roc_auc 0.7123, pr_auc 0.4000"
    regression = {"rmse": 3.0, "mae": 2.0, "r2": 0.5}
    assert metrics_line(regression, ("roc_auc", "pr_auc")) == "rmse 3.0000, mae 2.0000, r2 0.5000"


def _two_models(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels and two correlated models' scores, rounded so that many scores tie."""
    rng = np.random.default_rng(seed)
    positive = rng.random(rows) < 0.3
    first = np.round(positive * 0.8 + rng.normal(size=rows), 1)
    second = np.round(positive * 0.6 + 0.5 * first + rng.normal(size=rows), 1)
    return positive, first, second


def _delong_by_definition(positive, first, second):
    """DeLong's variance of the AUC difference from every (positive, negative) pair: O(m n), no ranks."""
    components = []
    for scores in (first, second):
        above = scores[positive][:, None] - scores[~positive][None, :]
        kernel = (above > 0) + 0.5 * (above == 0)
        components.append((kernel.mean(axis=1), kernel.mean(axis=0)))
    by_positive = np.cov(components[0][0] - components[1][0]) / positive.sum()
    by_negative = np.cov(components[0][1] - components[1][1]) / (~positive).sum()
    return math.sqrt(by_positive + by_negative)


def test_the_roc_auc_difference_equals_scikit_learn_and_delongs_variance_by_its_definition():
    positive, first, second = _two_models(600, seed=1)
    found = roc_auc_difference(positive, first, second)
    assert found["first"] == pytest.approx(roc_auc_score(positive, first), abs=1e-12)
    assert found["second"] == pytest.approx(roc_auc_score(positive, second), abs=1e-12)
    assert found["difference"] == pytest.approx(found["first"] - found["second"], abs=1e-12)
    assert found["standard_error"] == pytest.approx(_delong_by_definition(positive, first, second), rel=1e-9)
    assert found["low"] < found["difference"] < found["high"]
    assert found["high"] - found["low"] == pytest.approx(2 * 1.959964 * found["standard_error"], rel=1e-6)
    assert found["rows"] == 600
    swapped = roc_auc_difference(positive, second, first)
    assert swapped["difference"] == pytest.approx(-found["difference"])
    assert swapped["p_value"] == pytest.approx(found["p_value"])


def test_the_paired_error_agrees_with_a_bootstrap_of_the_rows():
    positive, first, second = _two_models(3000, seed=2)
    rng = np.random.default_rng(3)
    differences = []
    for _ in range(300):
        rows = rng.integers(0, len(positive), len(positive))
        differences.append(roc_auc_score(positive[rows], first[rows]) - roc_auc_score(positive[rows], second[rows]))
    found = roc_auc_difference(positive, first, second)
    assert found["standard_error"] == pytest.approx(np.std(differences), rel=0.15)


def test_identical_models_differ_by_exactly_nothing_and_one_class_has_no_auc():
    positive, first, _ = _two_models(200, seed=4)
    same = roc_auc_difference(positive, first, first.copy())
    assert same["difference"] == 0 and same["standard_error"] == 0 and same["p_value"] == 1.0
    assert same["low"] == same["high"] == 0
    # Unknown figures are None, never NaN: the registry's lineage is JSON and refuses NaN.
    single = roc_auc_difference(np.ones(5, dtype=bool), np.arange(5.0), np.arange(5.0))
    assert all(single[name] is None for name in ("first", "difference", "standard_error", "p_value", "low"))
    assert difference_text(single) == "ROC-AUC difference unknown: the rows hold a single class"
    one_positive = roc_auc_difference(
        np.array([True, False, False]), np.array([0.9, 0.1, 0.2]), np.array([0.1, 0.5, 0.2])
    )
    assert one_positive["difference"] == 1.0 and one_positive["standard_error"] is None
    assert difference_text(one_positive) == "ROC-AUC +1.0000 (no interval: a class has a single row)"
    json.dumps([single, one_positive], allow_nan=False)


def test_the_difference_text_says_whether_the_gap_is_beyond_the_rows_noise():
    positive, first, _ = _two_models(3000, seed=5)
    guess = np.random.default_rng(5).normal(size=len(first))  # no signal at all
    clear = roc_auc_difference(positive, first, guess)
    assert clear["low"] > 0
    assert difference_text(clear).endswith(", p < 0.0001): higher, beyond the rows' noise")
    assert difference_text(roc_auc_difference(positive, guess, first)).endswith("lower, beyond the rows' noise")
    noise = roc_auc_difference(positive, first, first + np.random.default_rng(6).normal(scale=0.05, size=len(first)))
    text = difference_text(noise)
    assert text.startswith(f"ROC-AUC {noise['difference']:+.4f} (95% interval {noise['low']:+.4f} to ")
    assert text.endswith("not distinguishable on these rows")
    assert "single class" in difference_text(roc_auc_difference(np.ones(3, dtype=bool), np.ones(3), np.ones(3)))


def test_the_rmse_difference_equals_the_two_rmses_and_its_error_agrees_with_a_bootstrap():
    rng = np.random.default_rng(7)
    truth = rng.gamma(2.0, 50.0, size=2000)  # skewed, as spend or prices are
    first = truth + rng.normal(scale=20.0, size=len(truth))
    second = 0.7 * first + 0.3 * truth.mean() + rng.normal(scale=10.0, size=len(truth))
    found = rmse_difference(truth, first, second)
    assert found["metric"] == "rmse" and found["rows"] == 2000
    assert found["first"] == pytest.approx(np.sqrt(mean_squared_error(truth, first)))
    assert found["second"] == pytest.approx(np.sqrt(mean_squared_error(truth, second)))
    differences = []
    for _ in range(400):
        rows = rng.integers(0, len(truth), len(truth))
        differences.append(
            np.sqrt(mean_squared_error(truth[rows], first[rows]))
            - np.sqrt(mean_squared_error(truth[rows], second[rows]))
        )
    assert found["standard_error"] == pytest.approx(np.std(differences), rel=0.15)
    assert found["low"] < found["difference"] < found["high"]
    text = difference_text(found)
    decimals = 3 - int(np.floor(np.log10(max(abs(found["low"]), abs(found["high"])))))
    assert text.startswith(f"RMSE {found['difference']:+.{decimals}f} (95% interval {found['low']:+.{decimals}f} to ")
    assert difference_text({**found, "difference": -1234.5, "low": -2000.0, "high": 12.0}).startswith(
        "RMSE -1234 (95% interval -2000 to +12, "
    )


def test_an_rmse_difference_of_identical_or_perfect_models_and_of_no_rows():
    truth = np.array([1.0, 2.0, 4.0])
    same = rmse_difference(truth, truth + 1, truth + 1)
    assert same["difference"] == 0 and same["standard_error"] == 0 and same["p_value"] == 1.0
    perfect = rmse_difference(truth, truth, truth + 1)
    assert perfect["difference"] == -1.0 and perfect["standard_error"] is None
    assert difference_text(perfect) == "RMSE -1.000 (no interval: a model predicts every row exactly)"
    empty = rmse_difference(np.array([]), np.array([]), np.array([]))
    assert difference_text(empty) == "RMSE difference unknown: there are no rows"
    json.dumps([perfect, empty], allow_nan=False)


def _days_of_traffic(days: int, rows_per_day: int, seed: int) -> tuple[np.ndarray, ...]:
    """Rows in days that each share a shock (weather): both models miss it, one more than the other."""
    rng = np.random.default_rng(seed)
    day = np.repeat(np.arange(days), rows_per_day)
    shock = rng.gamma(1.0, 20.0, size=days)[day]
    truth = rng.normal(size=len(day)) * 5 + shock
    first = truth - 0.8 * shock + rng.normal(size=len(day)) * 4
    second = truth - 0.6 * shock + rng.normal(size=len(day)) * 4
    return day, truth, first, second


def test_grouped_intervals_match_a_bootstrap_of_whole_groups_where_rows_alone_can_understate_them():
    day, truth, first, second = _days_of_traffic(60, 50, seed=8)
    late = truth > np.quantile(truth, 0.75)
    rng = np.random.default_rng(9)
    rmse_gaps, auc_gaps = [], []
    for _ in range(300):
        rows = np.concatenate([np.flatnonzero(day == d) for d in rng.integers(0, 60, 60)])
        rmse_gaps.append(rmse_difference(truth[rows], first[rows], second[rows])["difference"])
        auc_gaps.append(roc_auc_score(late[rows], first[rows]) - roc_auc_score(late[rows], second[rows]))
    grouped = rmse_difference(truth, first, second, groups=day)
    assert grouped["groups"] == 60 and grouped["standard_error"] == pytest.approx(np.std(rmse_gaps), rel=0.2)
    assert rmse_difference(truth, first, second)["standard_error"] < 0.5 * grouped["standard_error"]
    grouped = roc_auc_difference(late, first, second, groups=day)
    assert grouped["groups"] == 60 and grouped["standard_error"] == pytest.approx(np.std(auc_gaps), rel=0.2)


def test_one_row_per_group_is_the_independent_rows_variance_and_one_group_has_no_interval():
    positive, first, second = _two_models(500, seed=10)
    alone = roc_auc_difference(positive, first, second, groups=np.arange(500))
    assert alone["standard_error"] == pytest.approx(
        roc_auc_difference(positive, first, second)["standard_error"], rel=0.01
    )
    truth = first * 3
    rows = rmse_difference(truth, first, second, groups=np.arange(500))
    assert rows["standard_error"] == pytest.approx(rmse_difference(truth, first, second)["standard_error"], rel=1e-9)
    one = roc_auc_difference(positive, first, second, groups=np.zeros(500))
    assert one["groups"] == 1 and one["low"] is None and "single group" in difference_text(one)


def test_positive_rows_are_the_second_class_whatever_the_label_type():
    assert positive_rows(np.array(["no", "yes", "yes"]), ["no", "yes"]).tolist() == [False, True, True]
    assert positive_rows(np.array([1.0, 0.0]), [0, 1]).tolist() == [True, False]
