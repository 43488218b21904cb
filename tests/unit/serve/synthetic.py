"""Synthetic use cases of the serving tests: every kind of feature, gaps, skewed and unseen categories.

The fast path's tests and the model class's prediction-path tests fit the project's pipelines on
these rows and compare with scikit-learn itself, the reference.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline

from components.common.config import parse_use_case
from components.preprocess.logic import model_pipeline
from components.serve.fastpath import FastModel

TOLERANCE = 1e-9
COLORS = ["red", "green", "blue", "cyan", "magenta", "yellow", "black", "white"]
COLOR_SHARES = [0.3, 0.25, 0.15, 0.1, 0.08, 0.06, 0.04, 0.02]  # with max_categories 4 the tail is infrequent

CONFIG = """
name: synth
sources: {{rows: {{uri: rows.csv}}}}
target: {{name: label}}
features:
  numeric: [amount, count, ratio, blank]
  categorical: [color, level]
  datetime: [seen_at]
split: {{method: hash, key: [row_id]}}
preprocessing:
  scale_numeric: {scale}
  categorical_encoding: {encoding}
  max_categories: 4
  datetime_parts: [hour, dayofweek, month, dayofyear, weekend]
"""

FAMILIES = {
    "hist_gradient_boosting": {"max_iter": 25, "max_leaf_nodes": 7},
    "logistic_regression": {"C": 0.5},
    "random_forest": {"n_estimators": 12},  # no depth limit: deep, uneven trees
}
ENCODINGS = {"onehot": True, "ordinal": False, "native": False}  # encoding -> scale_numeric
# The regressors of each family (built here until training has regression families): deep enough trees
# that leaves hold many distinct values, a random forest without depth limit.
REGRESSORS = {
    "hist_gradient_boosting": lambda: HistGradientBoostingRegressor(max_iter=25, max_leaf_nodes=7, random_state=0),
    "random_forest": lambda: RandomForestRegressor(n_estimators=12, random_state=0),
    "linear": lambda: Ridge(alpha=1.0),
}


def synthetic_rows(rows: int, seed: int, classes: int = 2, regression: bool = False) -> pd.DataFrame:
    """Rows with every kind of feature, gaps in each, a skewed category and a learnable label.

    ``regression``: the label is a quantity (minutes of delay, say: the score scaled, with a fraction) instead
    of one of ``classes`` classes.
    """
    rng = np.random.default_rng(seed)
    color = rng.choice(COLORS, size=rows, p=COLOR_SHARES).astype(object)
    color[rng.random(rows) < 0.05] = None
    level = pd.array(rng.integers(1, 5, size=rows), dtype="Int64")
    level[rng.random(rows) < 0.05] = pd.NA
    amount = rng.normal(100, 30, size=rows)
    amount[rng.random(rows) < 0.08] = np.nan
    count = pd.array(rng.integers(0, 20, size=rows), dtype="Int64")
    count[rng.random(rows) < 0.05] = pd.NA
    seconds = rng.integers(0, 400 * 86_400, size=rows)
    seen_at = pd.Series(pd.Timestamp("2023-06-01", tz="UTC") + pd.to_timedelta(seconds, unit="s"))
    seen_at[rng.random(rows) < 0.05] = pd.NaT
    score = (
        np.nan_to_num(amount - 100) / 25
        + np.isin(color, ["red", "cyan", "black"]) * 1.2
        - (level == 2).to_numpy(dtype=bool, na_value=False) * 0.8
        + (seen_at.dt.hour.fillna(0).to_numpy() >= 12) * 0.7
        + rng.normal(0, 0.7, size=rows)
    )
    if regression:
        label = np.round(40.0 + 15.0 * score, 2)
    else:
        label = np.digitize(score, np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1]))
    return pd.DataFrame(
        {
            "row_id": np.arange(rows),
            "amount": amount,
            "count": count,
            "ratio": rng.random(rows),
            "blank": np.full(rows, np.nan),  # never seen in training: imputed as 0 with an indicator
            "color": color,
            "level": level,
            "seen_at": seen_at,
            "label": label,
        }
    )


def hard_rows() -> pd.DataFrame:
    """Rows production sends and training never saw: unseen and rare categories, gaps everywhere."""
    rows = synthetic_rows(8, seed=99)
    rows.loc[0, "color"] = "purple"  # unseen
    rows.loc[1, "color"] = "white"  # infrequent
    rows.loc[2, ["amount", "count", "color", "level", "seen_at"]] = [np.nan, pd.NA, None, pd.NA, pd.NaT]
    rows.loc[3, "level"] = 9  # unseen integer category
    rows.loc[4, "blank"] = 3.5  # a value where training had none
    rows.loc[5, "amount"] = 1e6  # far outside the training range
    rows.loc[6, "seen_at"] = pd.Timestamp("1969-12-31T23:59:59", tz="UTC")  # before the epoch
    rows.loc[7, "color"] = "__missing__"  # the missing marker itself, sent as text
    return rows


def config_for(encoding: str):
    return parse_use_case(CONFIG.format(scale=str(ENCODINGS[encoding]).lower(), encoding=encoding))


def features(frame: pd.DataFrame, config) -> pd.DataFrame:
    return frame[list(config.features.all())]


def fit_regressor(family: str, config, rows: pd.DataFrame) -> Pipeline:
    """The project's model pipeline (preprocessing and a regressor of ``family``) fitted on ``rows``."""
    return model_pipeline(config, REGRESSORS[family]()).fit(features(rows, config), rows[config.target.name])


def assert_same(fast: FastModel, pipeline: Pipeline, columns) -> None:
    """The fast path's answers (probabilities, a regressor's values) equal scikit-learn's on the same rows, to 1e-9."""
    frame = columns if isinstance(columns, pd.DataFrame) else pd.DataFrame(columns)
    regressor = fast.task == "regression"
    expected = pipeline.predict(frame) if regressor else pipeline.predict_proba(frame)
    actual = fast.predict(columns) if regressor else fast.predict_proba(columns)
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=0, atol=TOLERANCE)


SERVING_FORM = {  # what request validation hands over: typed numpy arrays
    "amount": np.array([120.5, np.nan, 80.0]),
    "count": np.array([3.0, 7.0, np.nan]),
    "ratio": np.array([0.1, 0.5, 0.9]),
    "blank": np.array([np.nan, np.nan, 1.0]),
    "color": np.array(["red", None, "purple"], dtype=object),
    "level": np.array([2, None, 4], dtype=object),
    "seen_at": np.array(["2024-01-05T13:00:00", "NaT", "2023-07-01T08:30:00"], dtype="datetime64[ns]"),
}


def demo_like_rows(config, rows: int, seed: int) -> pd.DataFrame:
    """Rows of any use case's features shaped like the demo's data after ingestion.

    Numbers with gaps (every other one a nullable integer), text categories with skewed shares and
    some many enough for the demo's max_categories to group the rarest (the last category a nullable
    integer, as the demo's engines), tz-aware hourly timestamps with gaps, and a learnable binary label.
    """
    rng = np.random.default_rng(seed)
    frame: dict[str, object] = {}
    score = rng.normal(0, 0.7, size=rows)
    for i, name in enumerate(config.features.numeric):
        values = rng.normal(50 * (i + 1), 10 * (i + 1), size=rows)
        score += (values - 50 * (i + 1)) / (10 * (i + 1)) * (0.5 if i % 3 == 0 else 0.0)
        values[rng.random(rows) < 0.05] = np.nan
        frame[name] = pd.array(np.round(values), dtype="Int64") if i % 2 else values
    categorical = config.features.categorical
    for j, name in enumerate(categorical):
        count = 3 + (j * 25) % 110  # 3, 28, 53, 78, 103, ... categories
        shares = 1 / np.arange(1, count + 1)
        codes = rng.choice(count, size=rows, p=shares / shares.sum())
        score += (codes % 3 == 0) * 0.6
        if j == len(categorical) - 1:
            values = pd.array(codes + 1, dtype="Int64")
            values[rng.random(rows) < 0.05] = pd.NA
        else:
            values = np.array([f"{name}-{code}" for code in codes], dtype=object)
            values[rng.random(rows) < 0.05] = None
        frame[name] = values
    for name in config.features.datetime:
        hours = rng.integers(0, 365 * 24, size=rows)
        moments = pd.Series(pd.Timestamp("2013-01-01", tz="UTC") + pd.to_timedelta(hours, unit="h"))
        score += (moments.dt.dayofweek.to_numpy() >= 4) * 0.8
        moments[rng.random(rows) < 0.02] = pd.NaT
        frame[name] = moments
    frame[config.target.name] = (score > np.quantile(score, 0.7)).astype(int)
    return pd.DataFrame(frame)
