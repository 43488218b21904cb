"""Preprocessing and training search settings: known calendar parts, a search with something to try."""

from __future__ import annotations

import pytest

from components.common.config import SearchSpace, TrainingSpec, load_use_case
from components.common.config.training import check_families, selection_metric
from components.common.errors import ConfigError


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"preprocessing": {"datetime_parts": ["hour", "minute"]}},
            "unknown datetime part 'minute' in use_case.yaml (hint: parts: hour, dayofweek, month",
        ),
        ({"training": {"search": []}}, "training.search in use_case.yaml is empty (hint: list at least one model"),
        ({"training": {"max_trials": 0}}, "training.max_trials in use_case.yaml must be at least 1"),
        (
            {"training": {"trial_rows": 99}},
            "training.trial_rows in use_case.yaml is 99: a trial needs at least 100 rows (hint: leave it out",
        ),
        (
            {"preprocessing": {"categorical_encoding": "native", "max_categories": 256}},
            "preprocessing.max_categories in use_case.yaml is 256: native categories allow at most 255",
        ),
        (
            {"training": {"search": [{"family": "random_forest", "params": {"max_depth": []}}]}},
            "training.search random_forest.max_depth in use_case.yaml has no values",
        ),
        (
            {"training": {"search": [{"family": "xgboost"}]}},
            "use_case.yaml.training.search[0].family is 'xgboost', expected one of",
        ),
    ],
)
def test_invalid_training_settings_name_the_key_and_the_fix(loans, write, change, message):
    with pytest.raises(ConfigError) as error:
        load_use_case(write(loans(**change)))
    assert str(error.value).startswith(message)


def test_search_values_become_tuples_and_defaults_fill_the_rest(loans, write):
    search = [{"family": "logistic_regression", "params": {"C": [0.1, 1.0]}}]
    config = load_use_case(write(loans(training={"search": search, "seed": 7})))
    assert config.training.search[0].params == {"C": (0.1, 1.0)}
    assert (config.training.seed, config.training.max_trials, config.training.metric) == (7, 12, None)
    assert config.preprocessing.datetime_parts == ("hour", "dayofweek", "month")
    assert config.training.trial_rows is None and config.preprocessing.categorical_encoding == "onehot"


def test_the_selection_metric_defaults_by_task_and_a_configured_one_wins():
    assert selection_metric(TrainingSpec(), "classification") == "roc_auc"
    assert selection_metric(TrainingSpec(), "regression") == "rmse"
    assert selection_metric(TrainingSpec(metric="mae"), "regression") == "mae"
    assert selection_metric(TrainingSpec(metric="log_loss"), "classification") == "log_loss"


@pytest.mark.parametrize(
    "metric, task, allowed",
    [("rmse", "classification", "roc_auc, pr_auc, log_loss, accuracy, f1"), ("roc_auc", "regression", "rmse, mae, r2")],
)
def test_a_metric_of_the_other_task_is_one_line_naming_the_allowed_ones(metric, task, allowed):
    with pytest.raises(ConfigError) as error:
        selection_metric(TrainingSpec(metric=metric), task, "inferred from the labels")
    assert str(error.value).startswith(
        f"training.metric {metric} does not score a {task} (inferred from the labels); a {task} selects on {allowed}"
    )
    assert "\n" not in str(error.value)


def test_logistic_regression_is_a_classification_family_only():
    check_families(TrainingSpec(search=(SearchSpace("linear"), SearchSpace("logistic_regression"))), "classification")
    check_families(TrainingSpec(search=(SearchSpace("linear"), SearchSpace("random_forest"))), "regression")
    with pytest.raises(ConfigError, match="family logistic_regression cannot fit a regression; a regression searches"):
        check_families(TrainingSpec(search=(SearchSpace("logistic_regression"),)), "regression")


def test_a_config_that_decides_its_task_is_checked_against_it_when_loaded(loans, write):
    # loans derives its label: a classification, which rmse cannot score
    with pytest.raises(ConfigError, match="training.metric rmse does not score a classification .target.derive"):
        load_use_case(write(loans(training={"metric": "rmse"})))
    regression = loans(target={"name": "amount_paid", "task": "regression"}, training={"metric": "r2"})
    regression["features"] = {"numeric": ["term", "age"], "categorical": ["purpose", "region"]}
    assert load_use_case(write(regression)).training.metric == "r2"
    regression["training"] = {"metric": "accuracy"}
    with pytest.raises(ConfigError, match="does not score a regression .target.task in use_case.yaml."):
        load_use_case(write(regression))
    regression["training"] = {"search": [{"family": "logistic_regression"}]}
    with pytest.raises(ConfigError, match="family logistic_regression cannot fit a regression"):
        load_use_case(write(regression))


def test_a_config_that_leaves_the_task_to_the_labels_accepts_any_metric_until_they_decide(loans, write):
    data = loans(target={"name": "amount_paid"}, training={"metric": "rmse", "search": [{"family": "linear"}]})
    data["features"] = {"numeric": ["term", "age"], "categorical": ["purpose", "region"]}
    assert load_use_case(write(data)).training.metric == "rmse"
