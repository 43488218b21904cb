"""Fixtures of the evaluation tests: a regression on the shop orders (unit.evaluate.spend)."""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline
from unit.evaluate.spend import SPEND_CONFIG, fit_regressor, orders_with_spend

from components.common.config import UseCaseConfig, parse_use_case


@pytest.fixture(scope="module")
def spend_config() -> UseCaseConfig:
    return parse_use_case(SPEND_CONFIG)


@pytest.fixture(scope="module")
def spend_frames() -> dict[str, pd.DataFrame]:
    return {"train": orders_with_spend(1500, seed=1), "test": orders_with_spend(900, seed=3)}


@pytest.fixture(scope="module")
def boosted(spend_config, spend_frames) -> Pipeline:
    """A good regressor of spend."""
    estimator = HistGradientBoostingRegressor(max_iter=200, random_state=0)
    return fit_regressor(spend_frames["train"], spend_config, estimator)


@pytest.fixture(scope="module")
def ridge(spend_config, spend_frames) -> Pipeline:
    return fit_regressor(spend_frames["train"], spend_config, Ridge())
