"""`mlcycle init` as a person runs it: a file in, a use case, a dataset version and a schema out."""

from __future__ import annotations

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
