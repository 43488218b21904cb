"""Fixtures of the unit tests of training, preprocessing and evaluation: the shop use case, learnable."""

from __future__ import annotations

import pytest
from helpers import ORDERS_CONFIG, SHOP_TRAINING, learnable_orders

from components.common.config import parse_use_case


@pytest.fixture(scope="module")
def config():
    """The shop use case with small trials of every family (modules may override it)."""
    return parse_use_case(ORDERS_CONFIG + SHOP_TRAINING)


@pytest.fixture(scope="module")
def frames():
    """Train, eval and test splits whose label depends on price and channel."""
    return {
        "train": learnable_orders(seed=1),
        "eval": learnable_orders(600, seed=2),
        "test": learnable_orders(900, seed=3),
    }
