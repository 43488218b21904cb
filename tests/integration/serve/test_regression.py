"""A regressor served by the real Seldon server (Seldon's app under gunicorn in .venv-serving) against real S3.

Its answers equal the in-process model's ``predict`` to 1e-9 in both payload shapes, named after the
target; feedback carries a numeric truth and is stored with the predicted number; the fast path serves.
"""

from __future__ import annotations

import dataclasses
import os
import time

import joblib
import numpy as np
import pandas as pd
import pytest
from helpers import make_orders, settings_for
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.linear_model import Ridge

from components.common.config import parse_use_case
from components.common.serving_logs import decode_lines
from components.common.storage import ObjectStore, RetryPolicy
from components.preprocess.logic import model_pipeline
from components.register import logic as registry
from components.serve.client import FEEDBACK_PATH, PREDICT_PATH, feedback_message, get, payload, post, predictions
from components.serve.local import start_server
from components.serve.schema import build_serving_schema

BASKET_CONFIG = """
name: basket
sources: {orders: {uri: orders.csv}}
target: {name: basket_value, task: regression}
features:
  numeric: [quantity, price]
  categorical: [channel]
  datetime: [ordered_at]
split: {method: hash, key: [order_id]}
"""
FAMILIES = {
    "hist_gradient_boosting": lambda: HistGradientBoostingRegressor(max_iter=30, max_leaf_nodes=15, random_state=0),
    "random_forest": lambda: RandomForestRegressor(n_estimators=15, random_state=0),
    "linear": lambda: Ridge(alpha=1.0),
}


def basket_orders(rows: int, seed: int) -> pd.DataFrame:
    """Orders with a quantity of money to predict: quantity times price, more by phone, with noise and gaps."""
    frame = make_orders(rows, seed=seed)
    rng = np.random.default_rng(seed + 7)
    value = frame["quantity"] * frame["price"] * np.where(frame["channel"] == "phone", 1.2, 1.0)
    frame["basket_value"] = np.round(value + rng.normal(0, 15, size=rows), 2)
    frame.loc[frame.index[::17], "price"] = np.nan
    return frame


@dataclasses.dataclass(frozen=True)
class Regressors:
    store: ObjectStore
    env: dict
    versions: dict[str, str]
    pipelines: dict[str, object]
    schema: object
    rows: pd.DataFrame


@pytest.fixture(scope="module")
def regressors(s3, serving_python, tmp_path_factory) -> Regressors:
    """A regressor of each family registered (the boosted one in production), with its serving schema."""
    config = parse_use_case(BASKET_CONFIG)
    store = ObjectStore.connect(
        settings_for(s3, prefix=f"regress{os.getpid()}-"), RetryPolicy(attempts=3, base_delay=0.05)
    )
    store.ensure_buckets()
    train = basket_orders(1500, seed=1)
    schema = build_serving_schema(config, max_batch=100)
    folder = tmp_path_factory.mktemp("regressors")
    versions, pipelines = {}, {}
    for family, estimator in FAMILIES.items():
        pipeline = model_pipeline(config, estimator()).fit(train[list(schema.names)], train["basket_value"])
        path = folder / f"{family}.joblib"
        joblib.dump(pipeline, path)
        training = {"family": family, "task": "regression", "task_reason": "set in the config"}
        result = registry.register_model(
            store,
            config.name,
            path,
            lineage={"dataset_version": "ds-0123456789abcdef", "training": training, "metrics": {}, "parameters": {}},
            blessed=True,
            card_markdown="# basket\n",
            card={},
            serving_schema=schema.to_dict(),
        )
        versions[family], pipelines[family] = result.ref.version, pipeline
    registry.set_stage(store, config.name, "production", versions["hist_gradient_boosting"], reason="serving tests")
    env = {
        **os.environ,
        **s3.environment("serving"),
        "MLCYCLE_BUCKET_PREFIX": store.settings.bucket_prefix,
        "MLCYCLE_STATE_DIR": str(folder / "state"),
    }
    return Regressors(store, env, versions, pipelines, schema, basket_orders(120, seed=3))


@pytest.fixture(scope="module")
def server(regressors, tmp_path_factory):
    log = tmp_path_factory.mktemp("regression-serve-logs") / "server.log"
    handle = start_server("basket", "production", env=regressors.env, workers=1, log_path=log)
    yield handle
    handle.stop()


def assert_answers_equal_in_process(server, regressors, family: str) -> None:
    names, rows = regressors.schema.names, regressors.rows.head(100)
    expected = regressors.pipelines[family].predict(rows[list(names)])
    for shape in ("ndarray", "jsonData"):
        reply = post(server.url + PREDICT_PATH, payload(rows, names, shape))
        assert reply.status == 200, reply.body
        served_names, served = predictions(reply.body)
        np.testing.assert_allclose(served, expected, rtol=0, atol=1e-9)
        if shape == "ndarray":
            assert served_names == ["basket_value"] and np.shape(reply.body["data"]["ndarray"]) == (100, 1)
        else:
            assert all(set(p) == {"prediction"} for p in reply.body["jsonData"]["predictions"])
        assert reply.body["meta"]["tags"]["model_version"] == regressors.versions[family]


def test_a_served_regressor_answers_as_the_in_process_model_in_both_shapes(server, regressors):
    assert_answers_equal_in_process(server, regressors, "hist_gradient_boosting")
    health = get(server.url + "/health/status").body["jsonData"]
    assert health["task"] == "regression" and health["prediction_path"] == "fast", health
    metadata = get(server.url + "/metadata").body
    assert metadata["outputs"] == [{"name": "basket_value", "datatype": "FP64", "shape": [-1, 1]}]
    deadline = time.monotonic() + 10  # workers publish their metrics once a second
    while "mlcycle_predictions_total{" not in (exposition := get(server.metrics_url).body):
        assert time.monotonic() < deadline, exposition
        time.sleep(0.2)
    counted = [line for line in exposition.splitlines() if line.startswith("mlcycle_predictions_total{")]
    assert counted and all('path="fast"' in line and "class=" not in line for line in counted), counted


@pytest.mark.parametrize("family", ["random_forest", "linear"])
def test_every_regressor_family_is_served_as_the_in_process_model(regressors, family, tmp_path):
    with start_server(
        "basket",
        regressors.versions[family],
        env=regressors.env,
        workers=1,
        log_path=tmp_path / "server.log",
        parameters={"request_log_rate": 0, "feedback": False},
    ) as server:
        assert get(server.url + "/health/status").body["jsonData"]["prediction_path"] == "fast"
        assert_answers_equal_in_process(server, regressors, family)


def test_feedback_with_a_numeric_truth_is_stored_beside_the_predicted_number(server, regressors):
    names, rows = regressors.schema.names, regressors.rows.head(3)
    request = payload(rows, names, "jsonData")
    answer = post(server.url + PREDICT_PATH, request).body
    truth = rows["basket_value"].tolist()
    reply = post(server.url + FEEDBACK_PATH, feedback_message(request, answer, truth))
    assert reply.status == 200, reply.body
    assert reply.body["jsonData"]["stored"] == 3.0
    store = regressors.store
    bucket = store.bucket("feedback")
    lines = [
        line
        for key in store.list_keys(bucket, prefix="basket/feedback/")
        for line in decode_lines(store.get_bytes(bucket, key))
        if line["request_id"] == answer["meta"]["puid"]
    ]
    expected = regressors.pipelines["hist_gradient_boosting"].predict(rows[list(names)])
    assert [line["truth"] for line in lines] == pytest.approx(truth, abs=1e-12)
    assert [line["prediction"] for line in lines] == pytest.approx(list(expected), abs=1e-9)
    assert all("probabilities" not in line for line in lines)


def test_feedback_whose_truth_is_not_a_number_gets_a_400(server, regressors):
    request = payload(regressors.rows.head(1), regressors.schema.names)
    for message, expected in (
        (feedback_message(request, None, ["late"]), "feedback truth row 0: 'late' is not a finite number"),
        (feedback_message(request, None, [1.0, 2.0]), "feedback truth has 2 rows but its request has 1"),
    ):
        reply = post(server.url + FEEDBACK_PATH, message)
        assert reply.status == 400 and expected in reply.body["status"]["info"], reply.body


def test_a_regressors_request_log_holds_the_predicted_numbers(regressors, tmp_path):
    names, rows = regressors.schema.names, regressors.rows.head(4)
    store = regressors.store
    server = start_server(
        "basket",
        "production",
        env=regressors.env,
        workers=1,
        log_path=tmp_path / "server.log",
        parameters={"log_flush_seconds": 600, "request_log_rate": 1.0},
    )
    puid = post(server.url + PREDICT_PATH, payload(rows, names, puid="regress-flush")).body["meta"]["puid"]
    assert server.stop() == 0  # a graceful shutdown flushes the request log
    bucket = store.bucket("feedback")
    lines = [
        line
        for key in store.list_keys(bucket, prefix="basket/requests/")
        for line in decode_lines(store.get_bytes(bucket, key))
        if line["request_id"] == puid
    ]
    expected = regressors.pipelines["hist_gradient_boosting"].predict(rows[list(names)])
    assert [line["prediction"] for line in sorted(lines, key=lambda line: line["row"])] == pytest.approx(
        list(expected), abs=1e-9
    )


def test_the_demo_of_make_run_says_a_regressors_numbers_and_stores_numeric_feedback(server, regressors):
    from components.serve.local import demo_requests

    said: list[str] = []
    answers = demo_requests(server.url, regressors.rows, regressors.schema.names, "basket_value", say=said.append)
    expected = regressors.pipelines["hist_gradient_boosting"].predict(
        regressors.rows.head(3)[list(regressors.schema.names)]
    )
    assert said[0].startswith(f"predict   1 row (ndarray): basket_value {round(expected[0], 4)} (model ")
    assert said[1] == f"predict   row 0 (jsonData): basket_value {round(expected[0], 4)}"
    assert answers["feedback"]["jsonData"]["stored"] == 1
    assert (
        said[-1].startswith(f"feedback  truth {regressors.rows['basket_value'].iloc[0]!r}") and "stored 1" in said[-1]
    )
