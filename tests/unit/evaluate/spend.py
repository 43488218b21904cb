"""A regression on the shop orders (how much an order is worth), for the evaluation tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
from helpers import ORDERS_CONFIG, learnable_orders
from sklearn.pipeline import Pipeline

from components.common.config import UseCaseConfig
from components.preprocess.logic import model_pipeline

# The shop use case predicting an order's spend (a number): the baselines decide the blessing (no floors).
SPEND_CONFIG = ORDERS_CONFIG.replace("target: {name: returned}", "target: {name: spend}") + (
    "analysis:\n  slices: [channel]\n  min_slice_rows: 50\n"
)


def orders_with_spend(rows: int, seed: int) -> pd.DataFrame:
    """Orders whose spend follows quantity, price and channel (phone orders 30 more), with noise."""
    frame = learnable_orders(rows, seed=seed)
    noise = np.random.default_rng(seed + 200).normal(0, 5, size=rows)
    frame["spend"] = frame["quantity"] * frame["price"] + np.where(frame["channel"] == "phone", 30.0, 0.0) + noise
    return frame


def fit_regressor(frame: pd.DataFrame, config: UseCaseConfig, estimator: object) -> Pipeline:
    """The project's preprocessing and a regressor, fitted on a frame's features and spend."""
    model = model_pipeline(config, estimator)
    return model.fit(frame[list(config.features.all())], frame[config.target.name])
