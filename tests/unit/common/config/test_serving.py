"""Serving settings: the features kept out of the request and feedback logs."""

from __future__ import annotations

import pytest

from components.common.config import ServingSpec, load_use_case
from components.common.errors import ConfigError


def test_log_exclude_names_features_of_every_kind_and_defaults_to_none(loans, write):
    config = load_use_case(write(loans(serving={"log_exclude": ["age", "region"]})))
    assert config.serving == ServingSpec(log_exclude=("age", "region"))
    assert load_use_case(write(loans())).serving.log_exclude == ()
    assert load_use_case(write(loans(serving={}))).serving.log_exclude == ()
    # The loader's usual shorthand: one name where a list is expected is a list of one.
    assert load_use_case(write(loans(serving={"log_exclude": "purpose"}))).serving.log_exclude == ("purpose",)


@pytest.mark.parametrize(
    "serving, message",
    [
        (
            {"log_exclude": ["amont"]},
            "serving.log_exclude names 'amont' in use_case.yaml, which is not a feature (hint: did you mean 'amount'?)",
        ),
        (
            {"log_exclude": ["status"]},  # a dropped column is never served, so never logged
            "serving.log_exclude names 'status' in use_case.yaml, which is not a feature (hint: features: amount,",
        ),
        (
            {"log_exclude": {"age": True}},
            "use_case.yaml.serving.log_exclude must be a list, not a mapping",
        ),
        (
            {"log_exclude": [["age"]]},
            "use_case.yaml.serving.log_exclude[0] must be str, not a list",
        ),
        (
            {"log_exclud": ["age"]},
            "unknown key 'log_exclud' in use_case.yaml.serving (hint: did you mean 'log_exclude'?)",
        ),
        (["age"], "use_case.yaml.serving must be a mapping of settings, not a list"),
    ],
)
def test_invalid_serving_settings_name_the_key_and_the_fix(loans, write, serving, message):
    with pytest.raises(ConfigError) as error:
        load_use_case(write(loans(serving=serving)))
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    "monitoring", [{"retrain_on_drift": {"features": ["region"]}}, {"drift": {"features": {"region": 0.2}}}]
)
def test_monitoring_cannot_watch_the_drift_of_a_feature_kept_out_of_the_logs(loans, write, monitoring):
    with pytest.raises(ConfigError) as error:
        load_use_case(write(loans(serving={"log_exclude": ["region"]}, monitoring=monitoring)))
    assert str(error.value) == (
        "monitoring names 'region' in use_case.yaml, which serving.log_exclude keeps out of the logs "
        "(hint: its drift is never measured: remove it from monitoring or from serving.log_exclude)"
    )
    assert load_use_case(write(loans(monitoring=monitoring))).monitoring  # the same settings without the exclusion
