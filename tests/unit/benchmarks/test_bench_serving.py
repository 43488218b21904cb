"""The serving benchmark's reading of wrk and its verdicts (no server, no wrk)."""

from __future__ import annotations

import pytest

from benchmarks.bench_serving import KEY_CASE, LARGE_CASE, Load, choose, parse_wrk, verdicts, wrk_script

WRK_OUTPUT = """Running 20s test @ http://127.0.0.1:9000/api/v1.0/predictions
  2 threads and 2 connections
  Latency Distribution
     50%    1.20ms
     99%    2.80ms
  36000 requests in 20.00s, 20.1MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:   1800.50
Transfer/sec:      1.00MB
percentiles-us 1203 1900 2805 9100
"""


def test_wrk_output_gives_requests_rate_percentiles_and_errors():
    assert parse_wrk(WRK_OUTPUT) == {
        "requests": 36000,
        "rps": 1800.5,
        "p50_ms": 1.203,
        "p90_ms": 1.9,
        "p99_ms": 2.805,
        "p999_ms": 9.1,
        "errors": 7,
    }
    with pytest.raises(ValueError, match="no percentiles"):
        parse_wrk(WRK_OUTPUT.replace("percentiles-us", "something else"))


def test_the_script_posts_the_body_and_prints_the_percentiles(tmp_path):
    script = wrk_script(tmp_path / "body.json")
    assert 'wrk.method = "POST"' in script and str(tmp_path / "body.json") in script
    assert "latency:percentile(99.9)" in script and "percentiles-us" in script


def load(server="s", rows=1, connections=2, rps=1000.0, p99=2.0):
    return Load(server, rows, connections, 100, rps, 1.0, 1.5, p99, 2 * p99, 0, 1.0)


def test_the_choice_is_the_lowest_p99_among_settings_ten_times_stock():
    trials = {(1, 1): load(rps=1500, p99=2.5), (2, 1): load(rps=1800, p99=2.0), (2, 2): load(rps=900, p99=1.0)}
    assert choose(trials, stock_rps=100) == (2, 1)  # (2, 2) has the lowest p99 but only 9x stock
    assert choose(trials, stock_rps=1000) == (2, 1)  # none is 10x: the highest throughput


def test_each_target_is_met_only_by_every_measurement_of_its_case():
    stock = {KEY_CASE: load(rps=100, p99=40), LARGE_CASE: load(rows=100, rps=50, p99=50)}
    ours = {
        KEY_CASE: [load(rps=1500, p99=2.5), load(rps=1500, p99=3.5)],
        LARGE_CASE: [load(rows=100, rps=160, p99=45)],
    }
    unlogged = {KEY_CASE: load(rps=1600), LARGE_CASE: load(rows=100, rps=200)}
    met = [ok for _, ok in verdicts(ours, stock, unlogged)]
    assert met == [True, False, True, True, False]  # 2nd key run: p99 3.5 ms; logging at 100 rows: 20%
