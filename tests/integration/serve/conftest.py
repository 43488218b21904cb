"""Fixtures of the serving tests: a tiny registered model and the real HTTP server in .venv-serving.

The tests run in the pipeline environment; the server runs in the serving environment, created with
`make serving-env` when missing (never skipped). The model is trained on the synthetic shop use case
and registered in this module's own buckets of the session's S3 server; the server holds only the
serving role's keys (read models, write its logs and feedback).
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from pathlib import Path

import joblib
import pytest
from helpers import ORDERS_CONFIG, SHOP_TRAINING, learnable_orders, settings_for
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from components.common.config import parse_use_case
from components.common.storage import ObjectStore, RetryPolicy
from components.register import logic as registry
from components.serve.local import ensure_serving_env, start_server
from components.serve.schema import ServingFeature, build_serving_schema
from components.train.logic import fit
from components.train.trials import Trial

_modules = itertools.count()
MAX_BATCH = 50


@dataclasses.dataclass(frozen=True)
class Registered:
    store: ObjectStore
    env: dict
    version: str
    faulty_version: str
    pipeline: object
    schema: object
    rows: object
    config: object


@pytest.fixture(scope="session")
def serving_python() -> Path:
    return ensure_serving_env()


@pytest.fixture(scope="module")
def registered(s3, serving_python, tmp_path_factory) -> Registered:
    """The shop model in production, and a faulty copy, registered with their serving schemas."""
    config = parse_use_case(ORDERS_CONFIG + SHOP_TRAINING)
    store = ObjectStore.connect(
        settings_for(s3, prefix=f"serve{os.getpid()}-{next(_modules)}-"), RetryPolicy(attempts=3, base_delay=0.05)
    )
    store.ensure_buckets()
    pipeline, _ = fit(
        learnable_orders(seed=1), config, Trial("hist_gradient_boosting", {"max_iter": 20, "max_leaf_nodes": 7})
    )
    schema = build_serving_schema(config, max_batch=MAX_BATCH)
    strict = {
        "quantity": ServingFeature("quantity", "numeric", "int", False),
        "channel": ServingFeature("channel", "categorical", "string", False),
    }
    schema = dataclasses.replace(schema, features=tuple(strict.get(f.name, f) for f in schema.features))
    folder = tmp_path_factory.mktemp("serve-models")
    versions = []
    for name, model in (("good", pipeline), ("faulty", faulty(pipeline))):
        path = folder / f"{name}.joblib"
        joblib.dump(model, path)
        lineage = {"dataset_version": "ds-0123456789abcdef", "variant": name, "metrics": {}, "parameters": {}}
        result = registry.register_model(
            store,
            config.name,
            path,
            lineage=lineage,
            blessed=True,
            card_markdown="# shop\n",
            card={},
            serving_schema=schema.to_dict(),
        )
        versions.append(result.ref.version)
    registry.set_stage(store, config.name, "production", versions[0], reason="serving tests")
    # The server signs with the serving role's keys, as on a cluster: every test here runs under them.
    env = {
        **os.environ,
        **s3.environment("serving"),
        "MLCYCLE_BUCKET_PREFIX": store.settings.bucket_prefix,
        "MLCYCLE_STATE_DIR": str(folder / "state"),
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    return Registered(store, env, versions[0], versions[1], pipeline, schema, learnable_orders(200, seed=3), config)


def faulty(pipeline):
    """The pipeline behind a step that raises on a marker quantity (a stand-in for a model bug)."""
    from integration.serve.faulty import fail_on_marker  # importable in the server: tests/ is on its PYTHONPATH

    return Pipeline([("guard", FunctionTransformer(fail_on_marker)), ("model", pipeline)])


@pytest.fixture(scope="module")
def server(registered, tmp_path_factory):
    """The production model served over HTTP by the real Seldon app under gunicorn, stopped by PID."""
    log = tmp_path_factory.mktemp("serve-logs") / "server.log"
    handle = start_server("shop", "production", env=registered.env, workers=1, log_path=log)
    yield handle
    handle.stop()
