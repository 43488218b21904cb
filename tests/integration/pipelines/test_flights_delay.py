"""The demo regression use case (flights_delay) on a sample of the flights, through the pipeline's own tasks.

Every third flight of 2013 (as the demo's tests sample it; precip's skew moves with the sample, see
flights.yaml) with the committed use case and schema: ingested, validated (valid with the use case's
thresholds), tuned, selected and trained as a regressor whose record says so, and whose eval error is
below a train-mean prediction's. Model analysis, registration and serving of regressors are
tested in their own areas.
"""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from helpers import demo_sample
from sklearn.base import is_regressor

from components.common import datasets
from components.common.config import load_use_case, schema_path
from components.common.metrics import regression_metrics
from components.ingest.logic import ingest_dataset
from components.train.task import plan_trials_task, run_trial_task, select_trial_task, train_model_task
from components.validate.logic import load_schema, validate_dataset
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


def test_flights_delay_validates_and_trains_a_regressor_that_beats_the_train_mean(store, tmp_path):
    use_case = small_use_case(tmp_path)
    config = load_use_case(DELAY_CONFIG)
    sample = whole_minutes(demo_sample(tmp_path))
    ingested = ingest_dataset(config.with_source_uris({"flights": str(sample)}), store)
    assert 105_000 < ingested.manifest["rows"] < 112_259  # every third flight, less the cancelled ones

    validation = validate_dataset(config, load_schema(schema_path(DELAY_CONFIG, config)), store, ingested.ref.version)
    assert validation.is_valid, validation.summary()
    assert "arr_delay" in {d.feature for d in validation.distances if d.check == "skew"}
    assert validation.label_shares == []  # no classes to count

    version = ingested.ref.version
    results = [run_trial_task(use_case, trial, version, store=store) for trial in plan_trials_task(use_case)]
    tuning = json.loads(select_trial_task(results))
    assert {t["metric"] for t in tuning["trials"]} == {"rmse"} and {t["task"] for t in tuning["trials"]} == {
        "regression"
    }
    assert tuning["best"]["score"] == min(t["score"] for t in tuning["trials"])

    record = train_model_task(use_case, json.dumps(tuning), version, tmp_path / "model.joblib", store=store)
    assert record["task"] == "regression" and "classes" not in record
    assert record["task_reason"] == "set in the config (target.task)"
    model = joblib.load(tmp_path / "model.joblib")
    assert is_regressor(model) and not hasattr(model, "predict_proba")

    frames = datasets.load_splits(store, config.name, version, ("train", "eval"), tmp_path / "splits")
    truth = frames["eval"]["arr_delay"].to_numpy(dtype="float64")
    mean = regression_metrics(truth, np.full(len(truth), frames["train"]["arr_delay"].mean()))
    assert record["eval_metrics"]["rmse"] < mean["rmse"] and record["eval_metrics"]["r2"] > 0
