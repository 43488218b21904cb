"""Model analysis settings: blessing thresholds name metrics that evaluation computes."""

from __future__ import annotations

import pytest

from components.common.config import load_use_case
from components.common.errors import ConfigError


@pytest.mark.parametrize(
    "blessing, message",
    [
        (
            {"floors": {"roc": 0.6}},
            "unknown metric 'roc' in analysis.blessing of use_case.yaml (hint: did you mean 'roc_auc'?)",
        ),
        (
            {"max_regression": {"speed": 0.1}},
            "unknown metric 'speed' in analysis.blessing of use_case.yaml (hint: metrics: accuracy, precision",
        ),
        (
            {"baseline_metric": "auc"},
            "unknown metric 'auc' in analysis.blessing of use_case.yaml (hint: did you mean 'pr_auc'?)",
        ),
        (
            {"max_loss_to_baseline": -0.1},
            "analysis.blessing.max_loss_to_baseline of use_case.yaml is -0.1, not >= 0",
        ),
    ],
)
def test_unknown_blessing_metrics_are_rejected(loans, write, blessing, message):
    with pytest.raises(ConfigError) as error:
        load_use_case(write(loans(analysis={"blessing": blessing})))
    assert str(error.value).startswith(message)


def test_blessing_thresholds_and_slices_load(loans, write):
    analysis = {"slices": ["purpose"], "blessing": {"floors": {"roc_auc": 0.6}, "max_regression": {"log_loss": 0.02}}}
    config = load_use_case(write(loans(analysis=analysis)))
    assert config.analysis.slices == ("purpose",) and config.analysis.min_slice_rows == 200
    assert config.analysis.blessing.floors == {"roc_auc": 0.6}


def test_without_floors_the_baseline_rule_has_defaults(loans, write):
    blessing = load_use_case(write(loans(analysis={"blessing": {}}))).analysis.blessing
    assert (blessing.floors, blessing.baseline_metric, blessing.max_loss_to_baseline) == ({}, "roc_auc", 0.02)
