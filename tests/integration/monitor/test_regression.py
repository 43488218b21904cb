"""Monitoring a regressor against a real S3 server and real TFDV: live RMSE, MAE and R² on numeric feedback.

The loans data set with the loan amount as a regression target; the regressor is fitted here and
registered with a training record naming the task (as training registers it), and the serving logs are
written in the contract's format for a regressor (a predicted number, no probabilities; a numeric truth).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import joblib
import numpy as np
import pytest
from helpers import loans_with_signal, make_customers, settings_for, write_loans_use_case
from integration.monitor.serving_logs import write_batches
from sklearn.ensemble import HistGradientBoostingRegressor

from components.common import datasets
from components.common.config import load_use_case
from components.common.metrics import regression_metrics
from components.common.serving_logs import Window
from components.common.storage import ObjectStore, RetryPolicy
from components.ingest.logic import ingest_dataset
from components.monitor.logic import monitor
from components.monitor.results import HEALTHY, RETRAIN
from components.preprocess.logic import model_pipeline
from components.register import logic as registry
from components.validate.logic import infer_schema_for_version

AMOUNTS_CONFIG = """\
name: amounts
sources:
  loans: {{uri: "{loans}"}}
  customers: {{uri: "{customers}"}}
joins:
  - source: customers
    keys: [customer_id]
    columns: [age, region]
target: {{name: amount, task: regression}}
features:
  numeric: [term, age]
  categorical: [purpose, region]
drop: [status, paid_back_at]
split: {{method: time, column: opened_at, train_end: "2024-07-01", eval_end: "2024-10-01"}}
analysis: {{slices: [purpose]}}
monitoring:
  min_requests: 100
  max_rows: 0
  drift: {{numeric: 0.3, categorical: 0.3}}
  quality:
    min_rows: 100
    floors: {{r2: 0.8}}
    max_drop: {{rmse: 2000, mae: 2000}}
    min_slice_rows: 20
"""
FEATURES = ["term", "age", "purpose", "region"]


def loans_with_amounts(rows: int, seed: int):
    """Loans whose amount follows the purpose and term, so a regressor can learn it."""
    loans = loans_with_signal(rows, seed=seed)
    rng = np.random.default_rng(seed + 50)
    base = loans["purpose"].map({"car": 12_000, "home": 35_000, "study": 8_000})
    loans["amount"] = (base + loans["term"] * 150 + rng.normal(0, 1_500, size=rows)).round().astype(int)
    return loans


@pytest.fixture(scope="module")
def regressor(s3, tmp_path_factory):
    """A boosted regressor of the loan amount in production, registered as training registers one."""
    store = ObjectStore.connect(
        settings_for(s3, prefix=f"mreg{os.getpid()}-"), RetryPolicy(attempts=3, base_delay=0.05)
    )
    store.ensure_buckets()
    folder = tmp_path_factory.mktemp("amounts")
    config_path = write_loans_use_case(folder / "amounts", loans_with_amounts(1500, seed=0), config=AMOUNTS_CONFIG)
    config = load_use_case(config_path)
    dataset = ingest_dataset(config, store)
    schema = infer_schema_for_version(config, store)
    manifest = datasets.read_manifest(store, dataset.ref)
    train = datasets.load_split(store, manifest, "train", folder)
    test = datasets.load_split(store, manifest, "test", folder)
    estimator = HistGradientBoostingRegressor(max_iter=50, random_state=0)
    pipeline = model_pipeline(config, estimator).fit(train[FEATURES], train["amount"])
    offline = regression_metrics(test["amount"], pipeline.predict(test[FEATURES]))
    assert offline["r2"] > 0.8  # the amount is learnable: live quality is judged against a good model
    joblib.dump(pipeline, folder / "model.joblib")
    training = {"family": "hist_gradient_boosting", "task": "regression", "task_reason": "set in the config"}
    result = registry.register_model(
        store,
        config.name,
        folder / "model.joblib",
        lineage={"dataset_version": dataset.ref.version, "training": training, "metrics": offline, "parameters": {}},
        blessed=True,
        card_markdown="# amounts\n",
        card={"task": "regression"},
    )
    registry.set_stage(store, config.name, "production", result.ref.version, reason="monitoring tests")
    return store, config, schema, pipeline, result.ref.version, offline


def serve_window(regressor, start: datetime, seed: int, truth_shift: float = 0.0) -> None:
    """Logs served rows as a regressor's server does: requests, and feedback with numeric truth."""
    store, _, _, pipeline, version, _ = regressor
    frame = loans_with_amounts(400, seed=seed).merge(make_customers(), on="customer_id")
    predicted = pipeline.predict(frame[FEATURES])
    requests, feedback = [], []
    for index, (record, value, truth) in enumerate(
        zip(frame[FEATURES].to_dict("records"), predicted, frame["amount"], strict=True)
    ):
        line = {
            "time": (start + index * timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "request_id": f"{seed}-{index:06x}",
            "row": 0,
            "model_version": version,
            "features": {k: v.item() if hasattr(v, "item") else v for k, v in record.items()},
            "prediction": float(value),
        }
        requests.append(line)
        feedback.append({**line, "truth": float(truth) + truth_shift})
    write_batches(store, "amounts", "requests", requests)
    write_batches(store, "amounts", "feedback", feedback)


def run(regressor, day: datetime):
    store, config, schema, *_ = regressor
    return monitor(config, schema, store, Window(day, day + timedelta(hours=24)))


def test_a_regressor_served_as_well_as_offline_is_healthy_with_live_errors(regressor):
    day = datetime(2026, 5, 1, tzinfo=timezone.utc)
    serve_window(regressor, day + timedelta(hours=1), seed=21)

    result = run(regressor, day)

    quality = result.quality
    assert result.decision.status == HEALTHY, result.summary()
    assert quality.task == "regression" and set(quality.metrics) == {"rmse", "mae", "r2"}
    assert quality.rows == 400 and quality.metrics["r2"] > 0.8
    assert abs(quality.metrics["rmse"] - quality.offline["rmse"]) < 2000
    assert {entry["value"] for entry in quality.slices["purpose"]} == {"car", "home", "study"}
    assert "live:   rmse " in result.summary() and result.metrics()["live_rmse"] == round(quality.metrics["rmse"], 6)


def test_a_regressor_whose_errors_grew_makes_retraining_due(regressor):
    day = datetime(2026, 5, 4, tzinfo=timezone.utc)
    serve_window(regressor, day + timedelta(hours=1), seed=22, truth_shift=6_000)  # the world moved, the model not

    result = run(regressor, day)

    assert result.decision.status == RETRAIN and result.decision.retrain, result.summary()
    reasons = result.decision.reasons
    assert any(r.startswith("live rmse ") and "worse than offline" in r for r in reasons), reasons
    assert any(r.startswith("live mae ") and "worse than offline" in r for r in reasons), reasons
    assert any(r.startswith("live r2 ") and "below the floor 0.8" in r for r in reasons), reasons
