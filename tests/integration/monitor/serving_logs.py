"""Helpers of the monitoring tests: a served loans model in a real S3 server, and serving logs.

The logs are written here in the exact format of the serving contract (gzip JSON Lines under
``<use_case>/<kind>/date=<YYYY-MM-DD>/<HHMMSS>-<model_version>-<8 hex>.jsonl.gz``), by a writer of
the tests' own: monitoring is tested against the contract, not against serving's code.
"""

from __future__ import annotations

import gzip
import itertools
import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from helpers import LOANS_CONFIG, loans_with_signal, make_customers, settings_for, write_loans_use_case

from components.common import models
from components.common.config import load_use_case
from components.common.storage import ObjectStore, RetryPolicy
from components.ingest.logic import ingest_dataset
from components.register import logic as registry
from components.validate.logic import infer_schema_for_version, validate_dataset, write_schema
from pipelines.inprocess import run_training

MONITORED = """
preprocessing: {{datetime_parts: [dayofweek]}}
training:
  seed: 3
  search:
    - family: logistic_regression
      params: {{C: [1.0]}}
analysis:
  slices: [region]
  min_slice_rows: 10
  blessing:
    floors: {{roc_auc: 0.6}}
    max_regression: {{roc_auc: 0.2}}
monitoring:
  min_requests: 100
  max_rows: 0
  drift: {{numeric: 0.15, categorical: 0.15}}
  retrain_on_drift: {{count: 2}}
  quality:
    min_rows: 100
    floors: {{roc_auc: 0.7}}
    max_drop: {{roc_auc: 0.1}}
    min_slice_rows: 20
  feedback_split: {{train: 0.6, eval: 0.2, test: 0.2}}
"""
FEATURES = ["amount", "term", "age", "purpose", "region"]
_windows = itertools.count()


@dataclass
class Served:
    """A loans model in production, its use case and schema, in one test module's buckets."""

    store: ObjectStore
    config_path: Path
    schema_path: Path
    model: Any
    version: str
    dataset_version: str

    @property
    def config(self):
        return load_use_case(self.config_path)


@pytest.fixture(scope="module")
def served(s3, tmp_path_factory) -> Served:
    """Trains and promotes a loans model once per module (each test then logs its own window)."""
    store = ObjectStore.connect(
        settings_for(s3, prefix=f"m{os.getpid()}-{next(_windows)}-"), RetryPolicy(attempts=3, base_delay=0.05)
    )
    store.ensure_buckets()
    folder = tmp_path_factory.mktemp("served")
    config_path = write_loans_use_case(folder / "loans", loans_with_signal(), config=LOANS_CONFIG + MONITORED)
    config = load_use_case(config_path)
    dataset = ingest_dataset(config, store)
    schema_path = config_path.with_name("loans.schema.pbtxt")  # where the CLI looks for it
    write_schema(infer_schema_for_version(config, store), schema_path)
    from components.validate.logic import load_schema

    assert validate_dataset(config, load_schema(schema_path), store).is_valid  # stores the training statistics
    run = run_training(config_path.read_text(), schema_path.read_text(), store, dataset_version=dataset.ref.version)
    assert run.candidate.blessed and run.registered
    registry.set_stage(store, "loans", "production", run.registered, reason="monitoring tests")
    model = models.load_model(store, "loans", "production", folder / "model")
    return Served(store, config_path, schema_path, model, run.registered, dataset.ref.version)


@pytest.fixture
def window_day() -> datetime:
    """A day of its own for each test, so tests sharing a module's buckets never read each other's logs."""
    return datetime(2026, 3, 1, tzinfo=timezone.utc) + timedelta(days=3 * next(_windows))


def traffic(rows: int, seed: int, amount_shift: int = 0, purposes=None) -> pd.DataFrame:
    """Loans as a client sends them: the served features (customers joined) and the true label.

    A shift of the amounts and another mix of purposes make drift; the label keeps its rule.
    """
    loans = loans_with_signal(rows, seed=seed).dropna(subset=["status"]).merge(make_customers(), on="customer_id")
    rng = np.random.default_rng(seed)
    loans["amount"] = loans["amount"] + amount_shift
    if purposes is not None:
        loans["purpose"] = rng.choice(list(purposes), size=len(loans), p=list(purposes.values()))
    loans["truth"] = ((loans["amount"] > 30_000) | (loans["purpose"] == "study")).astype(int)
    return loans[FEATURES + ["truth"]].reset_index(drop=True)


def log_lines(frame: pd.DataFrame, model, version: str, start: datetime, spacing: timedelta, truth: bool) -> list[dict]:
    """One log line per row, as the server writes it; rows arrive ``spacing`` apart from ``start``."""
    probabilities = model.predict_proba(frame[FEATURES])
    lines = []
    for index, (record, proba) in enumerate(zip(frame.to_dict("records"), probabilities, strict=False)):
        line = {
            "time": (start + index * spacing).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "request_id": f"{index // 4:08x}",
            "row": index % 4,
            "model_version": version,
            "features": {name: _native(record[name]) for name in FEATURES},
            "probabilities": {str(c): float(p) for c, p in zip(model.classes_, proba, strict=False)},
            "prediction": int(model.classes_[int(np.argmax(proba))]),
        }
        if truth:
            line["truth"] = int(record["truth"])
        lines.append(line)
    return lines


def write_object(
    store: ObjectStore, use_case: str, kind: str, lines: list[dict], written: datetime, number: int = 0
) -> str:
    """Writes one batch of lines as the server does at time ``written``; returns its key."""
    version = lines[-1].get("model_version") or "unknown"
    key = f"{use_case}/{kind}/date={written:%Y-%m-%d}/{written:%H%M%S}-{version}-{number:08x}.jsonl.gz"
    data = gzip.compress("".join(json.dumps(line) + "\n" for line in lines).encode())
    store.put_bytes(store.bucket("feedback"), key, data, content_type="application/gzip")
    return key


def write_batches(store: ObjectStore, use_case: str, kind: str, lines: list[dict], batch: int = 50) -> list[str]:
    """Writes lines in batches, each written a second after its last line arrived."""
    keys = []
    for number, first in enumerate(range(0, len(lines), batch)):
        chunk = lines[first : first + batch]
        written = datetime.strptime(chunk[-1]["time"], "%Y-%m-%dT%H:%M:%S.%fZ") + timedelta(seconds=1)
        keys.append(write_object(store, use_case, kind, chunk, written, number))
    return keys


def serve(
    served: Served,
    frame: pd.DataFrame,
    start: datetime,
    spacing=timedelta(seconds=30),
    feedback=True,
    truths=None,
    redacted=(),
) -> None:
    """Logs a frame as requests and (when asked) as feedback, possibly with other truths.

    ``redacted`` features are left out of every line and listed under ``redacted``, as a server
    whose serving schema excludes them from its logs writes them.
    """
    lines = redact(log_lines(frame, served.model, served.version, start, spacing, truth=False), redacted)
    write_batches(served.store, "loans", "requests", lines)
    if feedback:
        labelled = frame if truths is None else frame.assign(truth=truths)
        lines = log_lines(labelled, served.model, served.version, start, spacing, truth=True)
        write_batches(served.store, "loans", "feedback", redact(lines, redacted))


def redact(lines: list[dict], features) -> list[dict]:
    if not features:
        return lines
    return [
        {
            **line,
            "features": {k: v for k, v in line["features"].items() if k not in features},
            "redacted": list(features),
        }
        for line in lines
    ]


def _native(value):
    return value.item() if hasattr(value, "item") else value
