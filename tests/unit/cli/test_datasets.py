"""``mlcycle check-config``: what it says about a use case without touching data."""

from __future__ import annotations

from click.testing import CliRunner
from helpers import ORDERS_CONFIG

from cli.datasets import check_config


def test_check_config_says_which_time_zone_is_used_and_that_utc_is_the_default(tmp_path):
    path = tmp_path / "shop.yaml"
    path.write_text(ORDERS_CONFIG)
    result = CliRunner().invoke(check_config, [str(path)])
    assert result.exit_code == 0, result.output
    assert "time zone of calendar features and time-split bounds: UTC (the default" in result.output
    path.write_text(ORDERS_CONFIG + "timezone: America/New_York\n")
    result = CliRunner().invoke(check_config, [str(path)])
    assert result.output.splitlines()[-1] == "time zone of calendar features and time-split bounds: America/New_York"
