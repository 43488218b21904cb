"""Monitoring and feedback settings (stage 8): counts, thresholds, named features and metrics, the window."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from components.common.config import DriftTrigger, load_use_case, parse_instant
from components.common.errors import ConfigError
from pipelines.usecases import DEMO_CONFIG


def test_demo_monitoring_settings_load_and_default_when_absent(loans, write):
    monitoring = load_use_case(DEMO_CONFIG).monitoring
    assert monitoring.retrain_on_drift == DriftTrigger(count=0, features=("carrier", "origin", "dest"))
    assert monitoring.quality.floors == {"roc_auc": 0.62}
    assert len(monitoring.schedule.split()) == 6 and sum(monitoring.feedback_split.values()) == 1
    defaults = load_use_case(write(loans())).monitoring
    assert (defaults.window_hours, defaults.min_requests, defaults.retrain_on_drift.count) == (24, 100, 1)
    assert defaults.feedback_split == {"train": 0.7, "eval": 0.15, "test": 0.15}
    assert load_use_case(write(loans())).feedback is None


@pytest.mark.parametrize(
    "monitoring, message",
    [
        (
            {"window_hour": 2},
            "unknown key 'window_hour' in use_case.yaml.monitoring (hint: did you mean 'window_hours'?)",
        ),
        ({"window_hours": 0}, "monitoring.window_hours in use_case.yaml must be at least 1"),
        (
            {"drift": {"numeric": 1.5}},
            "monitoring.drift threshold of 'numeric' in use_case.yaml is 1.5, not between 0 and 1",
        ),
        (
            {"retrain_on_drift": {"features": ["amont"]}},
            "monitoring names 'amont' in use_case.yaml, which is not a feature (hint: did you mean 'amount'?)",
        ),
        (
            {"drift": {"features": {"status": 0.2}}},
            "monitoring names 'status' in use_case.yaml, which is not a feature",
        ),
        (
            {"quality": {"floors": {"roc": 0.6}}},
            "unknown metric 'roc' in monitoring.quality of use_case.yaml (hint: did you mean 'roc_auc'?)",
        ),
        (
            {"quality": {"min_rows": 0}},
            "monitoring.quality.min_rows and min_slice_rows in use_case.yaml must be at least 1",
        ),
        (
            {"feedback_split": {"train": 0.5, "test": 0.5}},
            "monitoring.feedback_split in use_case.yaml must give train, eval and test",
        ),
        (
            {"schedule": "0 3 * * *"},
            "monitoring.schedule '0 3 * * *' in use_case.yaml is not a six-field cron expression (hint: KFP",
        ),
    ],
)
def test_invalid_monitoring_settings_name_the_key_and_the_fix(loans, write, monitoring, message):
    with pytest.raises(ConfigError) as error:
        load_use_case(write(loans(monitoring=monitoring)))
    assert str(error.value).startswith(message)


def test_a_feedback_window_is_two_iso_instants_in_order(loans, write):
    config = load_use_case(write(loans(feedback={"start": "2026-11-20T00:00:00Z", "end": "2026-11-27"})))
    assert (config.feedback.start, config.feedback.end) == ("2026-11-20T00:00:00Z", "2026-11-27")
    assert config.ingest_fingerprint() == load_use_case(write(loans())).ingest_fingerprint()
    with pytest.raises(ConfigError, match="feedback.start in use_case.yaml 'last week' is not an ISO 8601 time"):
        load_use_case(write(loans(feedback={"start": "last week", "end": "2026-11-27"})))
    with pytest.raises(ConfigError, match=r"the feedback window in use_case.yaml ends \(2026-11-01\) before it starts"):
        load_use_case(write(loans(feedback={"start": "2026-11-20", "end": "2026-11-01"})))
    with pytest.raises(ConfigError, match="missing key 'end' in use_case.yaml.feedback"):
        load_use_case(write(loans(feedback={"start": "2026-11-20"})))


def test_negative_row_limits_are_rejected(loans, write):
    with pytest.raises(ConfigError, match="monitoring.max_rows and monitoring.retrain_on_drift.count in use_case.yaml"):
        load_use_case(write(loans(monitoring={"retrain_on_drift": {"count": -1}})))


def test_an_instant_without_a_zone_is_utc_and_one_with_a_zone_is_converted_to_utc():
    assert parse_instant("2026-11-27", "start") == datetime(2026, 11, 27, tzinfo=timezone.utc)
    assert parse_instant(" 2026-11-27T10:00:00+02:00 ", "start") == datetime(2026, 11, 27, 8, tzinfo=timezone.utc)
    with pytest.raises(ConfigError, match="^end 'soon' is not an ISO 8601 time"):
        parse_instant("soon", "end")
