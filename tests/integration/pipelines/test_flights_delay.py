"""The demo regression use case (flights_delay) on a sample of the flights, end to end in process.

Every third flight of 2013 (as the demo's tests sample it; precip's skew moves with the sample, see
flights.yaml) with the committed use case and schema, through the pipeline's own steps: ingested,
validated (valid with the use case's thresholds), tuned, selected and trained as a regressor whose record
says so, evaluated on test against the train-mean and linear baselines (blessed by the default rule),
checked by the serving layer (its answers equal the in-process model's ``predict`` to 1e-9 in both payload
shapes) and registered with task regression.
"""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from helpers import demo_sample
from sklearn.base import is_regressor

from components.common import datasets, models
from components.common.config import load_use_case, schema_path
from components.common.metrics import regression_metrics
from pipelines.inprocess import run_training
from pipelines.usecases import DEMO_CONFIG

DELAY_CONFIG = DEMO_CONFIG.with_name("flights_delay.yaml")
# Small trials of each family: what is tested is the wiring, not the search
SMALL_SEARCH = """  search:
    - family: hist_gradient_boosting
      params: {max_iter: [30], max_leaf_nodes: [15]}
    - family: linear
      params: {alpha: [1.0]}
    - family: random_forest
      params: {n_estimators: [10], max_depth: [6]}
"""


def small_use_case(folder: Path) -> str:
    text = DELAY_CONFIG.read_text()
    start = text.index("  search:\n")
    end = text.index("\nanalysis:")
    return text[:start] + SMALL_SEARCH + text[end:]


def whole_minutes(sample: Path) -> Path:
    """The sample with its delays written as whole minutes, as the package has them.

    pandas reads a column with missing values as floats and writes 10.0 for 10; the schema says INT.
    """
    frame = pd.read_csv(sample, dtype={"arr_delay": "Int64"})
    frame.to_csv(sample, index=False)
    return sample


def test_flights_delay_trains_evaluates_checks_serving_and_registers_a_regressor(store, tmp_path):
    use_case = small_use_case(tmp_path)
    config = load_use_case(DELAY_CONFIG)
    schema_text = schema_path(DELAY_CONFIG, config).read_text()
    sample = whole_minutes(demo_sample(tmp_path))
    run = run_training(use_case, schema_text, store, sources={"flights": str(sample)}, work_dir=tmp_path / "run")

    assert 105_000 < run.ingested.manifest["rows"] < 112_259  # every third flight, less the cancelled ones
    validation = run.validation
    assert validation.is_valid, validation.summary()
    assert "arr_delay" in {d.feature for d in validation.distances if d.check == "skew"}
    assert validation.label_shares == []  # no classes to count
    assert run.steps[-5:] == ("select-trial", "train-model", "evaluate-model", "check-serving", "register-model")

    candidate = run.candidate
    assert {t.metric for t in candidate.trials} == {"rmse"}
    assert candidate.best.score == min(t.score for t in candidate.trials)
    record = candidate.record
    assert record["task"] == "regression" and "classes" not in record
    assert record["task_reason"] == "set in the config (target.task)"
    model_file = tmp_path / "run" / "train-model" / "model.joblib"
    model = joblib.load(model_file)
    assert is_regressor(model) and not hasattr(model, "predict_proba")

    # Evaluated on test against the baselines of the same run; the default rule blesses it.
    analysis = candidate.analysis
    assert analysis.task == "regression" and set(analysis.metrics) >= {"rmse", "mae", "r2"}
    assert set(analysis.baselines) == {"mean", "linear_regression"}
    mean, linear = analysis.baselines["mean"], analysis.baselines["linear_regression"]
    assert analysis.metrics["rmse"] < mean["rmse"] and analysis.metrics["r2"] > 0
    assert analysis.metrics["rmse"] <= linear["rmse"] + config.analysis.blessing.max_loss_to_baseline
    assert candidate.blessed, analysis.blessing.reasons
    frames = datasets.load_splits(store, config.name, run.dataset_version, ("train", "test"), tmp_path / "splits")
    test = frames["test"]
    truth = test["arr_delay"].to_numpy(dtype="float64")
    train_mean = np.full(len(truth), frames["train"]["arr_delay"].mean())
    assert regression_metrics(truth, train_mean)["rmse"] == pytest.approx(mean["rmse"], rel=1e-9)
    assert regression_metrics(truth, model.predict(test))["rmse"] == pytest.approx(analysis.metrics["rmse"], rel=1e-9)

    # The serving layer (the Seldon model class on the candidate's folder) answers as the model, to 1e-9.
    serving = candidate.serving
    assert serving.passed and serving.prediction_path == "fast", serving.checks
    compared = [line for line in serving.checks if "rows equals predict" in line]
    assert [line.split()[1] for line in compared] == ["ndarray", "jsonData"], serving.checks
    assert all(line.startswith("PASS") for line in compared)

    # Registered as a regressor; the stored model is the one trained, and answers as it does.
    registration = candidate.registration
    assert registration is not None and registration.created
    manifest = models.read_manifest(store, registration.ref)
    assert manifest["blessed"] and models.model_task(manifest) == "regression"
    assert manifest["lineage"]["training"]["task"] == "regression"
    stored = models.load_model(store, config.name, registration.ref.version, tmp_path / "load")
    rows = test.head(200)
    np.testing.assert_allclose(stored.predict(rows), model.predict(rows), rtol=0, atol=1e-9)
