"""Local serving helpers that need no server: buffered metrics, options, readiness errors."""

from __future__ import annotations

import time

import pytest

from components.common.errors import UserError
from components.serve.local import _last_error, buffered_metrics, free_port, parse_parameter


class RecordingMetrics:
    """Stands in for Seldon's SeldonMetrics: records what reaches the shared store."""

    def __init__(self, worker_id_func=None):
        self.published: list[tuple[list[dict], str]] = []
        self.cleared = 0

    def update(self, custom_metrics, method):
        self.published.append((list(custom_metrics), method))

    def clear(self):
        self.cleared += 1


def test_metric_updates_are_batched_and_published_by_method():
    metrics = buffered_metrics(RecordingMetrics, flush_seconds=60)()
    metrics.update([], "predict")  # Seldon calls this on every request; nothing to publish
    metrics.update([{"key": "a", "type": "COUNTER", "value": 1}], "predict")
    metrics.update([{"key": "a", "type": "COUNTER", "value": 2}], "predict")
    metrics.update([{"key": "f", "type": "COUNTER", "value": 1}], "feedback")
    assert metrics.published == []
    metrics.publish()
    assert metrics.published == [
        ([{"key": "a", "type": "COUNTER", "value": 1}, {"key": "a", "type": "COUNTER", "value": 2}], "predict"),
        ([{"key": "f", "type": "COUNTER", "value": 1}], "feedback"),
    ]


def test_the_publisher_thread_publishes_and_clear_publishes_first():
    metrics = buffered_metrics(RecordingMetrics, flush_seconds=0.05)()
    metrics.update([{"key": "a", "type": "COUNTER", "value": 1}], "predict")
    deadline = time.monotonic() + 5
    while not metrics.published and time.monotonic() < deadline:
        time.sleep(0.01)
    assert metrics.published == [([{"key": "a", "type": "COUNTER", "value": 1}], "predict")]
    metrics.update([{"key": "b", "type": "GAUGE", "value": 3}], "health")
    metrics.clear()
    assert metrics.published[-1] == ([{"key": "b", "type": "GAUGE", "value": 3}], "health") and metrics.cleared == 1


def test_parameters_are_name_value_pairs():
    assert parse_parameter("request_log_rate=0.5") == ("request_log_rate", "0.5")
    assert parse_parameter("model_uri=s3://m/a=b") == ("model_uri", "s3://m/a=b")
    with pytest.raises(UserError, match="not name=value"):
        parse_parameter("request_log_rate")


def test_the_startup_error_quoted_is_the_servers_own_line(tmp_path):
    log = tmp_path / "server.log"
    log.write_text("booting\nerror: refusing to load x (hint: y)\nbye\n")
    assert _last_error(log) == "error: refusing to load x (hint: y)"
    log.write_text("Traceback\nValueError: boom\n")
    assert _last_error(log) == "ValueError: boom"
    assert _last_error(tmp_path / "missing.log") == "(no output)"


def test_free_ports_are_on_loopback_and_distinct():
    assert 0 < free_port() < 65536
