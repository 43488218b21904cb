"""``mlcycle check-config``: what it says about a use case without touching data."""

from __future__ import annotations

from click.testing import CliRunner
from helpers import ORDERS_CONFIG

from cli.datasets import check_config
from components.common.errors import ConfigError


def declared(config: str, task: str) -> str:
    """The orders use case with its task declared."""
    return config.replace("target: {name: returned}", f"target: {{name: returned, task: {task}}}")


def test_check_config_says_which_time_zone_is_used_and_that_utc_is_the_default(tmp_path):
    path = tmp_path / "shop.yaml"
    path.write_text(ORDERS_CONFIG)
    result = CliRunner().invoke(check_config, [str(path)])
    assert result.exit_code == 0, result.output
    assert "time zone of calendar features and time-split bounds: UTC (the default" in result.output
    path.write_text(ORDERS_CONFIG + "timezone: America/New_York\n")
    result = CliRunner().invoke(check_config, [str(path)])
    assert result.output.splitlines()[-1] == "time zone of calendar features and time-split bounds: America/New_York"


def test_check_config_says_the_task_and_why_or_that_the_labels_will_decide(tmp_path):
    path = tmp_path / "shop.yaml"
    path.write_text(ORDERS_CONFIG)
    result = CliRunner().invoke(check_config, [str(path)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1].startswith(
        "task: inferred from the train labels when a run reads them (numbers with fractions or more than 20 "
        "distinct values: regression;"
    )
    path.write_text(declared(ORDERS_CONFIG, "regression"))
    result = CliRunner().invoke(check_config, [str(path)])
    expected = "task: regression (set in the config (target.task)); trials are selected on rmse (the task's default)"
    assert result.output.splitlines()[1] == expected
    derived = ORDERS_CONFIG.replace(
        "target: {name: returned}", "target: {name: late, derive: {column: price, op: '>', value: 60}}"
    )
    path.write_text(derived + "training: {metric: pr_auc}\n")
    result = CliRunner().invoke(check_config, [str(path)])
    expected = "task: classification (a true/false label from target.derive); trials are selected on pr_auc"
    assert result.output.splitlines()[1] == expected


def test_check_config_fails_when_the_blessing_names_a_metric_the_declared_task_does_not_have(tmp_path):
    path = tmp_path / "shop.yaml"
    blessing = "analysis:\n  blessing:\n    floors: {roc_auc: 0.6}\n    max_regression: {rmse: 1.0}\n"
    path.write_text(declared(ORDERS_CONFIG, "regression") + blessing)
    result = CliRunner().invoke(check_config, [str(path)])
    assert result.exit_code != 0 and isinstance(result.exception, ConfigError), result.output
    assert str(result.exception).startswith(
        "analysis.blessing.floors of use case 'shop' names roc_auc, which a regression does not have"
    ), result.exception
    assert "metrics of a regression: rmse, mae, r2" in str(result.exception)
    path.write_text(declared(ORDERS_CONFIG, "classification") + blessing)
    result = CliRunner().invoke(check_config, [str(path)])
    assert "names rmse, which a classification does not have" in str(result.exception), result.output
    path.write_text(ORDERS_CONFIG + blessing)
    result = CliRunner().invoke(check_config, [str(path)])
    assert result.exit_code == 0, result.output  # the task is not known without data: the run decides
    path.write_text(declared(ORDERS_CONFIG, "regression") + blessing.replace("roc_auc", "mae"))
    result = CliRunner().invoke(check_config, [str(path)])
    assert result.exit_code == 0, result.output
