"""Preprocessing and training search settings: known calendar parts, a search with something to try."""

from __future__ import annotations

import pytest

from components.common.config import load_use_case
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
    assert (config.training.seed, config.training.max_trials, config.training.metric) == (7, 12, "roc_auc")
    assert config.preprocessing.datetime_parts == ("hour", "dayofweek", "month")
    assert config.training.trial_rows is None and config.preprocessing.categorical_encoding == "onehot"
