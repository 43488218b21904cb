"""`mlcycle init` as a person runs it: a file in, a use case, a dataset version and a schema out."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from helpers import assert_one_line_error, mlcycle


def orders(rows: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    amount = rng.normal(50, 15, rows).round(2)
    return pd.DataFrame(
        {
            "order_id": np.arange(1, rows + 1),
            "amount": amount,
            "channel": rng.choice(["web", "shop", "phone"], rows),
            "campaign": ["spring"] * rows,
            "returned": np.where(amount + rng.normal(0, 10, rows) > 55, "yes", "no"),
        }
    )


def test_init_from_s3_writes_a_loadable_use_case_ingests_and_infers_the_schema(tmp_path, store, s3_env):
    local = tmp_path / "orders.csv"
    orders().to_csv(local, index=False)
    bucket = store.bucket("datasets")
    store.put_file(bucket, "raw/orders.csv", local)
    config = tmp_path / "use" / "orders.yaml"

    result = mlcycle(
        "init", f"s3://{bucket}/raw/orders.csv", "--target", "returned", "-o", str(config), env=s3_env, timeout=600
    )

    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "task:     classification" in out
    assert "numeric:  amount" in out and "categorical: channel" in out
    assert "left out: order_id (ID-like" in out and "left out: campaign (constant" in out
    assert "split:    no timestamp column: a salted hash of each row's content" in out
    assert "dataset version ds-" in out and "rows:     300" in out
    assert f"next:     mlcycle run -c {config}" in out
    assert (tmp_path / "use" / "orders.schema.pbtxt").read_text().count("feature {") >= 3
    check = mlcycle("check-config", str(config), env=s3_env)
    assert check.returncode == 0 and ": OK: use case 'orders'" in check.stdout, check.stdout + check.stderr

    again = mlcycle("init", str(local), "--target", "returned", "-o", str(config), env=s3_env)
    assert_one_line_error(again, "orders.yaml exists already")
    assert again.returncode == 2


def test_init_refuses_a_target_that_is_not_a_column_in_one_line(tmp_path, s3_env):
    local = tmp_path / "orders.csv"
    orders().to_csv(local, index=False)
    result = mlcycle("init", str(local), "--target", "refund", "-o", str(tmp_path / "o.yaml"), env=s3_env)
    assert_one_line_error(result, "--target 'refund' is not a column of the data")
    assert not (tmp_path / "o.yaml").exists()


def rainfall(days: int = 730) -> pd.DataFrame:
    """Two years of days whose rain is heavy from August to October: a season, not a data fault."""
    rng = np.random.default_rng(11)
    day = pd.date_range("2022-01-01", periods=days, freq="D")
    wet = day.month.isin([8, 9, 10])
    x = rng.normal(0, 1, days)
    return pd.DataFrame(
        {
            "day": day,
            "rain": np.where(wet, rng.normal(30, 3, days), rng.normal(10, 3, days)).round(2),
            "x": x.round(3),
            "yield": (3 * x + rng.normal(0, 0.5, days)).round(3),
        }
    )


def test_init_on_a_seasonal_time_split_raises_the_skew_it_measures_so_the_first_run_passes_validation(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["MLCYCLE_STATE_DIR"] = str(tmp_path / "state")
    local = tmp_path / "rainfall.csv"
    rainfall().to_csv(local, index=False)
    config = tmp_path / "rainfall.yaml"
    try:
        init = mlcycle("init", str(local), "--target", "yield", "-o", str(config), env=env, timeout=600)
        assert init.returncode == 0, init.stdout + init.stderr
        assert "split:    " in init.stdout and "(train before 2023-" in init.stdout
        assert "skew:     raised where this file's own seasons exceed the time split's default:" in init.stdout
        raised = init.stdout.split("skew:     raised")[1].split("wrote ")[0]
        assert "rain: " in raised and "x: " not in raised, init.stdout
        text = config.read_text()
        assert "a time split across seasons (train before 2023-" in text and "# measured 0." in text

        run = mlcycle("run", "-c", str(config), "--no-serve", env=env, timeout=900)

        assert ": VALID (0 errors" in run.stdout, run.stdout + run.stderr
        assert "register  m-" in run.stdout, run.stdout + run.stderr
    finally:
        mlcycle("s3", "down", env=env)
