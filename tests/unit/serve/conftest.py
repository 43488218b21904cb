"""Fixtures of the serving unit tests: a small fitted shop model, saved as registration receives it, and
the synthetic use case fitted with every model family and encoding the fast path supports, as classifiers
and as regressors.
"""

from __future__ import annotations

import gc
import sys
import warnings
from pathlib import Path

import joblib
import pandas as pd
import pytest
from sklearn.exceptions import ConvergenceWarning
from unit.serve.synthetic import ENCODINGS, FAMILIES, REGRESSORS, config_for, fit_regressor, hard_rows, synthetic_rows

from components.serve.fastpath import compile_model
from components.serve.schema import build_serving_schema
from components.train.logic import fit
from components.train.trials import Trial


@pytest.fixture(autouse=True)
def interpreter_settings():
    """Restores what Model.load tunes for a server process (frozen objects, GC thresholds, switch interval)."""
    thresholds, interval = gc.get_threshold(), sys.getswitchinterval()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)
    sys.setswitchinterval(interval)


@pytest.fixture(scope="module")
def shop_model(config, frames, tmp_path_factory):
    """(model file, fitted pipeline, serving schema, test rows) of the shop use case."""
    pipeline, _ = fit(frames["train"], config, Trial("hist_gradient_boosting", {"max_iter": 20, "max_leaf_nodes": 7}))
    path = Path(tmp_path_factory.mktemp("shop-model")) / "model.joblib"
    joblib.dump(pipeline, path)
    return path, pipeline, build_serving_schema(config), frames["test"]


@pytest.fixture(
    scope="session",
    params=[(f, e, c) for f in FAMILIES for e in ENCODINGS for c in (2, 3)],
    ids=lambda p: f"{p[0]}-{p[1]}-{p[2]}class",
)
def fitted(request):
    """(pipeline, fast model, config, test rows) for one family, encoding and number of classes.

    Session-wide: the fast path's tests and the model class's tests share the fits.
    """
    family, encoding, classes = request.param
    config = config_for(encoding)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the fast path must equal whatever was learned
        pipeline, _ = fit(synthetic_rows(1200, seed=1, classes=classes), config, Trial(family, FAMILIES[family]))
    test = pd.concat([synthetic_rows(300, seed=2, classes=classes), hard_rows()], ignore_index=True)
    return pipeline, compile_model(pipeline), config, test


@pytest.fixture(
    scope="session", params=[(f, e) for f in REGRESSORS for e in ENCODINGS], ids=lambda p: f"{p[0]}-{p[1]}-regressor"
)
def fitted_regressor(request):
    """(pipeline, fast model, config, test rows) of a regressor for one family and encoding.

    Session-wide: the fast path's tests and the model class's tests share the fits.
    """
    family, encoding = request.param
    config = config_for(encoding)
    pipeline = fit_regressor(family, config, synthetic_rows(1200, seed=1, regression=True))
    test = pd.concat([synthetic_rows(300, seed=2, regression=True), hard_rows()], ignore_index=True)
    return pipeline, compile_model(pipeline), config, test


@pytest.fixture(scope="session")
def boosted():
    """A boosted model (one-hot, scaled) of the synthetic use case, and its fast path."""
    config = config_for("onehot")
    pipeline, _ = fit(
        synthetic_rows(1200, seed=1), config, Trial("hist_gradient_boosting", FAMILIES["hist_gradient_boosting"])
    )
    return pipeline, compile_model(pipeline)
