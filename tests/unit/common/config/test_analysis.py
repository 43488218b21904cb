"""Model analysis settings: blessing thresholds name metrics that evaluation computes."""

from __future__ import annotations

import pytest

from components.common.config import BlessingSpec, load_use_case
from components.common.config.analysis import METRICS_BY_TASK, check_blessing_task
from components.common.errors import ConfigError
from components.common.metrics import CLASSIFICATION_METRICS, REGRESSION_METRICS


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


def test_without_floors_the_baseline_rule_has_defaults_per_task(loans, write):
    blessing = load_use_case(write(loans(analysis={"blessing": {}}))).analysis.blessing
    assert (blessing.floors, blessing.baseline_metric, blessing.max_loss_to_baseline) == ({}, None, None)
    assert blessing.baseline_metric_for("classification") == "roc_auc"
    assert blessing.baseline_metric_for("regression") == "rmse"
    # Unitless metrics allow an absolute 0.02; errors in the target's units 2% of the linear baseline's.
    assert blessing.allowed_loss_to_baseline("roc_auc", 0.8) == (0.02, "")
    assert blessing.allowed_loss_to_baseline("r2", 0.4) == (0.02, "")
    assert blessing.allowed_loss_to_baseline("rmse", 50.0) == pytest.approx(
        (1.0, " (2% of the linear baseline's rmse)")
    )


def test_a_configured_baseline_rule_wins_over_the_task_defaults(loans, write):
    settings = {"blessing": {"baseline_metric": "mae", "max_loss_to_baseline": 0.5}}
    blessing = load_use_case(write(loans(analysis=settings))).analysis.blessing
    assert blessing.baseline_metric_for("regression") == "mae"
    assert blessing.allowed_loss_to_baseline("mae", 50.0) == (0.5, "")


@pytest.mark.parametrize(
    "blessing, task, message",
    [
        (
            {"floors": {"roc_auc": 0.7}},
            "regression",
            "analysis.blessing.floors of shop names roc_auc, which a regression",
        ),
        (
            {"max_regression": {"rmse": 1.0}},
            "classification",
            "max_regression of shop names rmse, which a classification",
        ),
        ({"baseline_metric": "log_loss"}, "regression", "baseline_metric of shop names log_loss"),
    ],
)
def test_a_blessing_naming_a_metric_the_task_lacks_is_refused_with_the_task_metrics(blessing, task, message):
    spec = BlessingSpec(**blessing)
    with pytest.raises(ConfigError) as raised:
        check_blessing_task(spec, task, "shop")
    assert message in str(raised.value)
    assert f"metrics of a {task}: " in str(raised.value)


def test_a_blessing_of_the_task_metrics_passes():
    check_blessing_task(BlessingSpec(floors={"rmse": 10.0}, max_regression={"r2": 0.01}), "regression", "shop")
    check_blessing_task(BlessingSpec(floors={"roc_auc": 0.7}), "classification", "shop")


def test_the_metrics_a_config_may_name_per_task_are_the_ones_computed():
    # Reading a config does not import scikit-learn, so the names are written twice: they must agree.
    assert set(METRICS_BY_TASK["classification"]) == set(CLASSIFICATION_METRICS)
    assert set(METRICS_BY_TASK["regression"]) == set(REGRESSION_METRICS)
