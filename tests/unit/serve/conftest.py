"""Fixtures of the serving unit tests: a small fitted shop model, saved as registration receives it."""

from __future__ import annotations

from pathlib import Path

import joblib
import pytest

from components.serve.schema import build_serving_schema
from components.train.logic import Trial, fit


@pytest.fixture(scope="module")
def shop_model(config, frames, tmp_path_factory):
    """(model file, fitted pipeline, serving schema, test rows) of the shop use case."""
    pipeline, _ = fit(frames["train"], config, Trial("hist_gradient_boosting", {"max_iter": 20, "max_leaf_nodes": 7}))
    path = Path(tmp_path_factory.mktemp("shop-model")) / "model.joblib"
    joblib.dump(pipeline, path)
    return path, pipeline, build_serving_schema(config), frames["test"]
