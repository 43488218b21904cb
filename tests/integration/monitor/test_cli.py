"""`mlcycle monitor` as a person runs it: the whole loop on a small sample, and one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from integration.monitor.serving_logs import serve, traffic

from components.common import models


@pytest.fixture
def env(s3, served, tmp_path):
    return {
        **os.environ,
        **s3.environment(),
        "MLCYCLE_BUCKET_PREFIX": served.store.settings.bucket_prefix,
        "MLCYCLE_STATE_DIR": str(tmp_path / "state"),
    }


def mlcycle(*args, env):
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )


def test_monitor_finds_drift_retrains_on_the_feedback_and_proposes_promotion(served, window_day, env, tmp_path):
    serve(
        served,
        traffic(500, seed=41, amount_shift=20_000, purposes={"car": 0.1, "home": 0.1, "study": 0.8}),
        window_day + timedelta(hours=6),
    )
    report = tmp_path / "monitoring.html"

    done = mlcycle(
        "monitor",
        "-c",
        str(served.config_path),
        "--end",
        (window_day + timedelta(days=1)).isoformat(),
        "--hours",
        "24",
        "--report",
        str(report),
        "--retrain",
        env=env,
    )

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"monitoring loans model {served.version}, ") and ": RETRAIN (retrain: yes)" in lines[0]
    assert any(line.startswith("  reason: 2 features drifted") for line in lines)
    assert report.exists() and report.with_suffix(".json").exists() and f"report: {report}" in lines
    retrained = next(line for line in lines if line.startswith("retrain:   dataset ds-"))
    assert "= base data + " in retrained and "feedback rows {'train':" in retrained
    proposed = next(line for line in lines if line.startswith("propose:   model m-"))
    version = proposed.split()[2]
    assert proposed.endswith(
        f"propose it for production: mlcycle promote -c {served.config_path} {version} --to production "
        f"--branch retrain/loans-{version}"
    )
    assert models.current_version(served.store, "loans", "staging") is None  # a candidate, like any run's
    assert (
        models.current_version(served.store, "loans", "production") == served.version
    )  # promotion is a person's (or a PR's) call


def test_a_bad_window_is_one_line_and_exit_2(served, env):
    done = mlcycle("monitor", "-c", str(served.config_path), "--start", "2026-03-02", "--end", "2026-03-01", env=env)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "error: the window ends (2026-03-01T00:00:00+00:00) before it starts (2026-03-02T00:00:00+00:00) "
        "(hint: swap the bounds)"
    ]
