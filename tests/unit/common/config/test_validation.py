"""Data validation settings: thresholds are distances in [0, 1], severities name known anomaly kinds."""

from __future__ import annotations

import pytest

from components.common.config import load_use_case
from components.common.errors import ConfigError


@pytest.mark.parametrize(
    "validation, message",
    [
        ({"drift": {"numeric": 1.5}}, "validation.drift threshold of 'numeric' in use_case.yaml is 1.5, not between"),
        ({"skew": {"features": {"age": -0.1}}}, "validation.skew threshold of 'age' in use_case.yaml is -0.1, not"),
        ({"max_duplicate_fraction": 2}, "validation.max_duplicate_fraction in use_case.yaml must be between 0 and 1"),
        ({"noise": {"quantile": 1.5}}, "validation.noise.quantile in use_case.yaml is 1.5, not between 0 and 1"),
        ({"label": {"max_share_shift": -1}}, "validation.label.max_share_shift in use_case.yaml is -1.0, not between"),
        ({"correlation": {"ignore": [["a", "b", "c"]]}}, "validation.correlation.ignore in use_case.yaml lists"),
        ({"noise": {"draws": -1}}, "validation.noise.draws and label.min_class_rows in use_case.yaml must be"),
        (
            {"severity": {"DUPLICATE_ROW": "warning"}},
            "unknown anomaly kind 'DUPLICATE_ROW' in validation.severity of use_case.yaml (hint: did you mean "
            "'DUPLICATE_ROWS'?)",
        ),
    ],
)
def test_invalid_validation_settings_name_the_key_and_the_fix(loans, write, validation, message):
    with pytest.raises(ConfigError) as error:
        load_use_case(write(loans(validation=validation)))
    assert str(error.value).startswith(message)


def test_severity_takes_tfdv_kinds_and_the_platform_own_kinds(loans, write):
    severity = {"COMPARATOR_L_INFTY_HIGH": "warning", "TOO_FEW_ROWS": "error"}
    config = load_use_case(write(loans(validation={"severity": severity, "statistics": {"engine": "beam"}})))
    assert config.validation.severity == severity and config.validation.statistics.engine == "beam"


def test_new_gates_have_defaults_and_their_kinds_take_a_severity(loans, write):
    severity = {"TARGET_LEAKAGE": "warning", "LABEL_SHARE_SHIFT": "error", "CORRELATED_FEATURES": "error"}
    validation = {"severity": severity, "correlation": {"ignore": [["a", "b"]]}, "noise": {"draws": 0}}
    config = load_use_case(write(loans(validation=validation)))
    assert config.validation.severity == severity and config.validation.correlation.ignore == (("a", "b"),)
    assert config.validation.noise.draws == 0 and config.validation.label.min_class_rows == 5
