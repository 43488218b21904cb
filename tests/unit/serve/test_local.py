"""Local serving helpers that need no server: buffered metrics, options, readiness errors."""

from __future__ import annotations

import time

import numpy as np
import pytest

from components.common.errors import UserError
from components.serve.local import _last_error, add_to_histogram, buffered_metrics, free_port, parse_parameter


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


# Seldon's bins (seldon_core.metrics.BINS, in seconds): 0, 50 edges from 1 ms to 30 s, infinity.
SELDON_BINS = [0, *np.logspace(-3, np.log10(30), 50), np.inf]


def test_histogram_counts_equal_numpy_histogram_edges_included():
    values = [0.0, 0.0004, 1e-3, float(SELDON_BINS[7]), 0.0123, 2.5, 30.0, 31.0, 1e9, -1.0]
    values += list(np.random.default_rng(0).lognormal(-6, 2, 500))
    counts, total = [0.0] * (len(SELDON_BINS) - 1), 0.0
    expected = np.zeros(len(SELDON_BINS) - 1)
    for value in values:
        counts, total = add_to_histogram(value, counts, total, SELDON_BINS)
        expected = expected + np.histogram([value], SELDON_BINS)[0]
    assert counts == list(expected) and total == pytest.approx(sum(values))
    assert add_to_histogram(5.0, [0, 0], 1.0, [0, 1, 5]) == ([0, 1], 6.0)  # the last bin holds its right edge
    assert add_to_histogram(6.0, [0, 0], 0.0, [0, 1, 5]) == ([0, 0], 6.0)  # beyond the bins: summed, not counted


def test_timer_values_are_counted_by_bisection_when_the_bins_are_given():
    class HistogramMetrics(RecordingMetrics):
        def update(self, custom_metrics, method):
            self.hist = ([0.0] * 3, 0.0)
            for metric in custom_metrics:
                self.hist = self._update_hist(metric["value"] / 1000, *self.hist)

        @staticmethod
        def _update_hist(x, vals, sumv):
            raise AssertionError("Seldon's numpy.histogram per value")

    metrics = buffered_metrics(HistogramMetrics, flush_seconds=60, histogram_bins=[0, 0.001, 0.01, 1])()
    metrics.update([{"key": "t", "type": "TIMER", "value": 0.5}, {"key": "t", "type": "TIMER", "value": 2.0}], "p")
    metrics.publish()
    assert metrics.hist == ([1.0, 1.0, 0.0], pytest.approx(0.0025))
    with pytest.raises(AssertionError, match="numpy.histogram"):
        buffered_metrics(HistogramMetrics, flush_seconds=60)()._update_hist(0.1, [0.0] * 3, 0.0)


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
