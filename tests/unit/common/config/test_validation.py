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
