"""`mlcycle run` as a person runs it: the training pipeline with kfp.local, deployment and serving."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import assert_one_line_error, demo_sample, make_loans, mlcycle, write_loans_use_case


def test_run_trains_deploys_and_a_second_run_meets_the_first_model_as_champion(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["MLCYCLE_STATE_DIR"] = str(tmp_path / "state")
    sample = demo_sample(tmp_path)
    try:
        first = mlcycle("run", "--source", f"flights={sample}", env=env, timeout=900)
        assert first.returncode == 0, first.stdout + first.stderr
        out = first.stdout
        assert "S3        embedded server at http://127.0.0.1:" in out
        assert "validate  dataset ds-" in out and ": VALID (0 errors" in out
        assert "baseline majority class: roc_auc 0.5000" in out
        assert "blessed   yes" in out and "no model in production" in out
        version = out.split("register  ")[1].split()[0]
        assert version.startswith("m-") and f"deploy    production is {version}" in out
        assert (Path(out.split("report: ")[1].split()[0])).is_file()
        assert "serving   PASS" in out
        # The real Seldon server answered the promoted model, refused a bad request and stored feedback.
        assert f"serve     {version} at http://127.0.0.1:" in out
        assert (
            "predict   1 row (ndarray): classes ['0', '1']" in out or "predict   1 row (ndarray): classes [0, 1]" in out
        )
        assert "refused   a request without 'sched_dep_time': HTTP 400" in out
        assert "stored 1 row(s)" in out

        second = mlcycle("run", "--no-serve", "--source", f"flights={sample}", env=env, timeout=900)
        assert second.returncode == 0, second.stdout + second.stderr
        assert f"champion {version}:" in second.stdout
        assert first.stdout.split("dataset   ")[1].split()[0] == second.stdout.split("dataset   ")[1].split()[0]
        log = (tmp_path / "state" / "pipeline-runs" / "last-run.log").read_text()
        for task in ("configure-run", "plan-trials", "tune-model", "select-trial", "train-model"):
            assert f"Task {task} cache hit" in log, task  # deterministic and content-addressed
        assert "serve     " not in second.stdout
        for task in ("ingest-data", "validate-data", "evaluate-model", "check-serving", "register-model"):
            assert f"Task {task} cache hit" not in log, task  # changing sources, the registry, the report

        credentials = tmp_path / "state" / "s3" / "credentials.env"
        secret = credentials.read_text().split("AWS_SECRET_ACCESS_KEY=")[1].strip()
        assert secret not in first.stdout + first.stderr + second.stdout + second.stderr
    finally:
        mlcycle("s3", "down", env=env)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--set", "analysis.blessing.floors.roc_auc"], "--set 'analysis.blessing.floors.roc_auc' is not PATH=VALUE"),
        (["--set", "features.numeric=[a]"], "override 'features.numeric' is not allowed"),
        (["--set", "analysis.blessing.floors.roc_auc=high"], "with overrides analysis.blessing.floors.roc_auc"),
    ],
)
def test_run_refuses_a_bad_override_before_starting_anything(tmp_path, arguments, message):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["MLCYCLE_STATE_DIR"] = str(tmp_path / "state")
    result = mlcycle("run", *arguments, env=env)
    assert_one_line_error(result, message)
    assert not (tmp_path / "state" / "s3").exists()  # no server was started, nothing was written


def test_run_stopped_by_a_gate_exits_1_and_names_the_gate(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["MLCYCLE_STATE_DIR"] = str(tmp_path / "state")
    config_path = write_loans_use_case(tmp_path / "loans")
    try:
        assert mlcycle("s3", "up", env=env).returncode == 0
        assert mlcycle("ingest", "-c", str(config_path), env=env).returncode == 0
        assert mlcycle("schema", "-c", str(config_path), env=env).returncode == 0
        write_loans_use_case(tmp_path / "loans", make_loans(seed=3).assign(status="paid"))  # a single class

        result = mlcycle("run", "-c", str(config_path), "--no-serve", env=env, timeout=900)

        assert result.returncode == 1, result.stdout + result.stderr
        assert "LABEL_SINGLE_CLASS" in result.stdout and "train     skipped: the data is invalid" in result.stdout
        assert "stopped   at data validation (the dataset is invalid): nothing was registered" in result.stderr
    finally:
        mlcycle("s3", "down", env=env)
