"""A regressor through the evaluation component and task, and registration, against a real S3 server.

A dataset version of orders whose spend is a number (the task is inferred from the train split), a
regressor fitted on it, evaluated against the run's baselines, registered with its task, then put in
production and held against the next candidate on the same rows.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from kfp import dsl
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import Ridge

from components.common import datasets, models, runs
from components.common.config import load_use_case
from components.evaluate.component import evaluate_model
from components.evaluate.task import evaluate_model_task
from components.ingest.logic import ingest_dataset
from components.preprocess.logic import model_pipeline
from components.register import logic as registry
from components.register.task import register_model_task

# The candidate's gap to a baseline, with its 95% interval, as the Metrics artifact names them.
GAP_FIGURES = ("gap", "gap_low", "gap_high")
CONFIG = """\
name: spend
description: Predict what an order is worth.
sources: {{orders: {{uri: "{orders}"}}}}
target: {{name: spend}}
features:
  numeric: [quantity, price]
  categorical: [channel]
split: {{method: hash, key: [order_id], fractions: {{train: 0.6, eval: 0.1, test: 0.3}}}}
analysis: {{slices: [channel], min_slice_rows: 30}}
"""


def write_use_case(folder: Path, rows: int = 1500) -> Path:
    rng = np.random.default_rng(5)
    orders = pd.DataFrame(
        {
            "order_id": np.arange(rows),
            "quantity": rng.integers(1, 10, size=rows),
            "price": rng.normal(50, 10, size=rows).round(2),
            "channel": rng.choice(["web", "shop", "phone"], size=rows),
        }
    )
    phone = np.where(orders["channel"] == "phone", 30.0, 0.0)
    orders["spend"] = (orders["quantity"] * orders["price"] + phone + rng.normal(0, 5, size=rows)).round(2)
    orders.to_csv(folder / "orders.csv", index=False)
    path = folder / "spend.yaml"
    path.write_text(CONFIG.format(orders=folder / "orders.csv"))
    return path


def fitted(store, config, version: str, estimator, path: Path) -> tuple[Path, dict]:
    train = datasets.load_splits(store, config.name, version, ("train",), path.parent)["train"]
    model = model_pipeline(config, estimator).fit(train[list(config.features.all())], train["spend"])
    joblib.dump(model, path)
    record = {"family": type(estimator).__name__, "params": {}, "seed": 0, "rows": len(train), "fit_seconds": 0.1}
    return path, record


def test_a_regressor_is_evaluated_registered_with_its_task_and_compared_as_champion(store, tmp_path):
    config_path = write_use_case(tmp_path)
    config = load_use_case(config_path)
    yaml = config_path.read_text()
    version = ingest_dataset(config, store).ref.version
    schema = tmp_path / "serving_schema.json"
    schema.write_text(json.dumps({"features": []}))

    model_path, record = fitted(
        store, config, version, HistGradientBoostingRegressor(max_iter=200, random_state=0), tmp_path / "hgb.joblib"
    )
    analysis_path = tmp_path / "first" / "analysis.json"
    analysis, card, markdown = evaluate_model_task(
        yaml, "", version, model_path, record, analysis_path, store=store, run_id="run-1"
    )

    assert analysis.task == "regression" and analysis.blessing.blessed, analysis.blessing.reasons
    assert (
        analysis.metrics["rmse"] < analysis.baselines["linear_regression"]["rmse"] < analysis.baselines["mean"]["rmse"]
    )
    assert "beats the mean baseline's" in analysis.blessing.reasons[0]
    document = json.loads(analysis_path.read_text())
    assert document["card"]["task"] == "regression" and document["card"]["predicted_vs_actual"]["bins"]
    images = re.findall(r"data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)", document["card_markdown"])
    assert len(images) == 2 and all(base64.b64decode(image).startswith(b"<svg") for image in images)
    part = runs.read_run(store, "spend", "run-1").parts["analysis"]
    assert part["task"] == "regression" and set(part["baselines"]) == {"mean", "linear_regression"}

    registered = register_model_task(yaml, model_path, analysis_path, schema, store=store)
    manifest = models.read_manifest(store, registered.ref)
    assert manifest["task"] == "regression" and models.model_task(manifest) == "regression"
    stored_card = models.read_cards(store, registered.ref)
    assert "Predicts `spend`, a number" in stored_card.markdown

    # In production, it is the champion the next candidate (a plain ridge) is held against, on the same rows.
    registry.set_stage(store, "spend", models.PRODUCTION, registered.ref.version)
    ridge_path, ridge_record = fitted(store, config, version, Ridge(), tmp_path / "ridge.joblib")
    second, _, second_markdown = evaluate_model_task(
        yaml, "", version, ridge_path, ridge_record, tmp_path / "second" / "analysis.json", store=store
    )
    champion = second.champion
    assert champion["compared"] and champion["version"] == registered.ref.version
    assert champion["metrics"]["rmse"] == analysis.metrics["rmse"]  # the same model on the same test rows
    assert second.scalar_metrics()["champion_rmse"] == champion["metrics"]["rmse"]
    # The baselines decide (no floors), and the ridge is the linear baseline itself: blessed, and "not worse".
    assert second.blessing.blessed and f"champion {registered.ref.version}" in second_markdown


def test_the_evaluate_component_logs_regression_figures_and_no_classification_metrics(store, s3, tmp_path, monkeypatch):
    for name, value in s3.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MLCYCLE_BUCKET_PREFIX", store.settings.bucket_prefix)
    config_path = write_use_case(tmp_path)
    config = load_use_case(config_path)
    version = ingest_dataset(config, store).ref.version
    model_path, record = fitted(store, config, version, Ridge(), tmp_path / "ridge.joblib")
    figures, classification = dsl.Metrics(uri=str(tmp_path / "metrics")), dsl.ClassificationMetrics(uri="c")
    card, summary = dsl.Markdown(uri=str(tmp_path / "card.md")), tmp_path / "summary"

    blessed = evaluate_model.python_func(
        use_case=config_path.read_text(),
        schema="",
        record=json.dumps(record),
        dataset_version=version,
        model=dsl.Model(uri=str(model_path)),
        metrics=figures,
        classification=classification,
        model_card=card,
        analysis=dsl.Artifact(uri=str(tmp_path / "analysis.json")),
        summary=str(summary),
    )

    assert blessed is True
    assert set(figures.metadata) == {
        "rmse", "mae", "r2",
        *(f"baseline_{name}_{metric}" for name in ("mean", "linear_regression") for metric in ("rmse", "mae", "r2")),
        *(f"baseline_{name}_rmse_{end}" for name in ("mean", "linear_regression") for end in GAP_FIGURES),
    }  # fmt: skip
    assert figures.metadata["rmse"] == figures.metadata["baseline_linear_regression_rmse"]  # the ridge is the baseline
    # The same model: no gap, and an exact one (every row's two errors are equal, up to rounding).
    gap = [figures.metadata[f"baseline_linear_regression_rmse_{end}"] for end in GAP_FIGURES]
    assert gap == pytest.approx([0.0, 0.0, 0.0], abs=1e-9)
    assert classification.metadata == {}  # no confusion matrix or ROC curve for a regressor
    assert "## Predicted against actual" in Path(card.path).read_text()
    assert "beats the mean baseline's" in summary.read_text()
