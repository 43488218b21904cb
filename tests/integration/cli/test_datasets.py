"""`mlcycle ingest` and `mlcycle datasets` as a person runs them: one-line errors, nothing partial left."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import (
    LOANS_CONFIG,
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


def test_a_damaged_version_is_listed_as_such_and_a_re_ingest_repairs_it(loans_config_path, s3_env, store):
    created = mlcycle("ingest", "-c", str(loans_config_path), env=s3_env)
    version = created.stdout.split()[2]
    store.delete(store.bucket("datasets"), f"loans/{version}/data/eval.parquet")  # lost, say by a bad clean-up
    listing = mlcycle("datasets", "list", "-c", str(loans_config_path), env=s3_env)
    assert "DAMAGED: 1 file(s) missing or altered" in listing.stdout, listing.stdout
    repaired = mlcycle("ingest", "-c", str(loans_config_path), env=s3_env)
    assert repaired.returncode == 0, repaired.stderr
    assert repaired.stdout.startswith(f"dataset version {version} of 'loans' repaired (")
    listing = mlcycle("datasets", "list", "-c", str(loans_config_path), env=s3_env)
    assert version in listing.stdout and "DAMAGED" not in listing.stdout
    again = mlcycle("ingest", "-c", str(loans_config_path), env=s3_env)
    assert f"dataset version {version} of 'loans' unchanged" in again.stdout


def test_ingest_of_the_full_demo_data(s3_env):
    result = mlcycle("ingest", env=s3_env)
    assert result.returncode == 0, result.stderr
    assert "of 'flights' created" in result.stdout
    assert "rows:     327,346 (train 217,727, eval 55,628, test 53,991)" in result.stdout  # New York dates
    assert "dropped 9,430 label missing" in result.stdout
