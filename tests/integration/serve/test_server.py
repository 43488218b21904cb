"""The real HTTP server (Seldon's app under gunicorn in .venv-serving) against the real S3 server."""

from __future__ import annotations

import json
import socket
import time

import numpy as np
import pytest
from integration.serve.faulty import MARKER

from components.common import models
from components.common.serving_logs import decode_lines
from components.serve.client import FEEDBACK_PATH, PREDICT_PATH, feedback_message, get, payload, post, probabilities
from components.serve.local import ServerError, start_server

from .conftest import MAX_BATCH


def predict(server, body, **kwargs):
    return post(server.url + PREDICT_PATH, body, **kwargs)


def test_answers_equal_the_in_process_model_in_both_shapes(server, registered):
    names, rows = registered.schema.names, registered.rows.head(MAX_BATCH)
    expected = registered.pipeline.predict_proba(rows[list(names)])
    for shape in ("ndarray", "jsonData"):
        reply = predict(server, payload(rows, names, shape))
        assert reply.status == 200, reply.body
        labels, served = probabilities(reply.body)
        assert labels == ["0", "1"]
        np.testing.assert_allclose(served, expected, rtol=0, atol=1e-9)
        assert reply.body["meta"]["tags"]["model_version"] == registered.version
    single = predict(server, payload(rows.head(1), names, puid="client-42"))
    np.testing.assert_allclose(probabilities(single.body)[1], expected[:1], rtol=0, atol=1e-9)
    assert single.body["meta"]["puid"] == "client-42"


def row_body(registered, **changes):
    row = payload(registered.rows.head(1), registered.schema.names)
    values = dict(zip(row["data"]["names"], row["data"]["ndarray"][0], strict=True))
    values.update(changes)
    return {"data": {"names": list(values), "ndarray": [list(values.values())]}}


BAD_REQUESTS = {
    "malformed JSON": (None, b'{"data": {"names": ["quantity"],', "malformed JSON at line 1 column 33"),
    "empty body": (None, b"", "malformed JSON: the request body is empty"),
    "not an object": ([1, 2, 3], None, "must be a JSON object, not a list"),
    "missing feature": ("drop:price", None, "missing feature 'price' in data.names"),
    "unknown feature": ({"colour": "red"}, None, "unknown feature 'colour' in data.names"),
    "wrong type": (
        {"quantity": "three"},
        None,
        "feature 'quantity' in row 0: expected whole number, got a string 'three'",
    ),
    "forbidden null": ({"channel": None}, None, "feature 'channel' in row 0 is null, but the model needs a value"),
    "bad timestamp": (
        {"ordered_at": "not a time"},
        None,
        "feature 'ordered_at' in row 0: 'not a time' is not a date and time",
    ),
    "empty batch": (
        {"data": {"names": ["quantity", "price", "channel", "ordered_at"], "ndarray": []}},
        None,
        "empty batch",
    ),
    "oversized batch": ("oversized", None, f"the limit is {MAX_BATCH}"),
    "empty records": ({"jsonData": []}, None, "empty batch: jsonData has no rows"),
    "unsupported tensor": (
        {"data": {"tensor": {"shape": [1, 1], "values": [1]}}},
        None,
        "data.tensor is not supported",
    ),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_each_bad_request_gets_a_400_naming_the_field_and_the_server_keeps_serving(server, registered, case):
    change, raw, message = BAD_REQUESTS[case]
    names = registered.schema.names
    if change == "oversized":
        body = payload(registered.rows.head(MAX_BATCH + 1), names)
    elif change == "drop:price":
        body = payload(registered.rows.head(1), [n for n in names if n != "price"])
    elif isinstance(change, dict) and not ({"data", "jsonData"} & set(change)):
        body = row_body(registered, **change)
    else:
        body = change
    reply = predict(server, body, raw=raw)
    assert reply.status == 400, reply.body
    assert message in reply.body["status"]["info"]
    assert reply.body["status"]["reason"] == "MICROSERVICE_BAD_DATA"
    assert predict(server, payload(registered.rows.head(1), names)).status == 200


def test_feedback_is_stored_in_s3_with_features_prediction_and_truth_before_the_answer(server, registered):
    names, rows = registered.schema.names, registered.rows.head(2)
    request = payload(rows, names, "jsonData")
    answer = predict(server, request).body
    truth = rows["returned"].tolist()
    reply = post(server.url + FEEDBACK_PATH, feedback_message(request, answer, truth))
    assert reply.status == 200, reply.body
    assert reply.body["jsonData"] == {"stored": 2.0, "model_version": registered.version}
    store = registered.store
    keys = store.list_keys(store.bucket("feedback"), prefix="shop/feedback/")
    lines = [line for key in keys for line in decode_lines(store.get_bytes(store.bucket("feedback"), key))]
    mine = [line for line in lines if line["request_id"] == answer["meta"]["puid"]]
    assert [line["row"] for line in mine] == [0, 1]
    assert all(key.endswith(".jsonl.gz") and f"-{registered.version}-" in key for key in keys)
    expected = registered.pipeline.predict_proba(rows[list(names)])
    for line, record, probs, true in zip(mine, request["jsonData"], expected, truth, strict=True):
        assert line["features"] == record and line["truth"] == true and line["model_version"] == registered.version
        assert line["prediction"] == int(np.argmax(probs))
        assert line["probabilities"]["1"] == pytest.approx(probs[1], abs=1e-9)
        assert line["time"].endswith("Z")


def test_bad_feedback_gets_a_400_naming_the_problem(server, registered):
    request = payload(registered.rows.head(1), registered.schema.names)
    for message, expected in (
        (feedback_message(request, None, [5]), "feedback truth row 0: 5.0 is not a class of the model"),
        (feedback_message(request, None, [0, 1]), "feedback truth has 2 rows but its request has 1"),
        ({"truth": {"data": {"ndarray": [1]}}}, "feedback has no request"),
    ):
        reply = post(server.url + FEEDBACK_PATH, message)
        assert reply.status == 400 and expected in reply.body["status"]["info"], reply.body


def test_health_metadata_and_prometheus_metrics(server, registered):
    names = registered.schema.names
    assert predict(server, payload(registered.rows.head(5), names)).status == 200
    health = get(server.url + "/health/status")
    assert health.status == 200 and health.body["jsonData"]["model_version"] == registered.version
    assert health.body["jsonData"]["prediction_path"] == "fast"
    assert get(server.url + "/health/ping").body == "pong"
    metadata = get(server.url + "/metadata").body
    assert metadata["versions"] == [registered.version] and [i["name"] for i in metadata["inputs"]] == list(names)
    deadline = time.monotonic() + 10  # workers publish their metrics once a second
    expected = ("mlcycle_predictions_total{", "mlcycle_prediction_path{")
    while (
        not all(name in (exposition := get(server.metrics_url).body) for name in expected)
        and time.monotonic() < deadline
    ):
        time.sleep(0.2)
    assert "mlcycle_predictions_total{" in exposition and 'class="' in exposition
    assert "mlcycle_prediction_latency_bucket{" in exposition
    gauges = [line for line in exposition.splitlines() if line.startswith("mlcycle_prediction_path{")]
    assert gauges and all('path="fast"' in line and line.endswith(" 1.0") for line in gauges)
    predictions = [line for line in exposition.splitlines() if line.startswith("mlcycle_predictions_total{")]
    assert predictions and all('path="fast"' in line for line in predictions)


def test_an_internal_error_is_a_500_without_internals_and_the_server_keeps_serving(registered, tmp_path):
    names = registered.schema.names
    with start_server(
        "shop",
        registered.faulty_version,
        env=registered.env,
        workers=1,
        log_path=tmp_path / "server.log",
        parameters={"request_log_rate": 0},
    ) as server:
        body = row_body(registered, quantity=MARKER)
        reply = predict(server, body)
        assert reply.status == 500
        info = reply.body["status"]["info"]
        assert info.startswith("internal error while predicting (incident ") and "secret" not in json.dumps(reply.body)
        assert "Traceback" not in json.dumps(reply.body)
        assert predict(server, payload(registered.rows.head(3), names)).status == 200
    log = (tmp_path / "server.log").read_text()
    assert "secret internal detail" in log  # the details stay in the server's log
    # the faulty model wraps the pipeline in a step the fast path does not know: it says so and why
    assert "prediction path: scikit-learn (no fast prediction path: only a ColumnTransformer" in log


def test_request_logs_are_flushed_to_s3_on_a_graceful_shutdown(registered, tmp_path):
    names, rows = registered.schema.names, registered.rows.head(4)
    store = registered.store
    before = set(store.list_keys(store.bucket("feedback"), prefix="shop/requests/"))
    server = start_server(
        "shop",
        "production",
        env=registered.env,
        workers=2,
        log_path=tmp_path / "server.log",
        parameters={"log_flush_seconds": 600, "request_log_rate": 1.0},
    )
    puids = [predict(server, payload(rows, names, puid=f"flush-{n}")).body["meta"]["puid"] for n in range(6)]
    assert server.stop() == 0
    keys = sorted(set(store.list_keys(store.bucket("feedback"), prefix="shop/requests/")) - before)
    lines = [line for key in keys for line in decode_lines(store.get_bytes(store.bucket("feedback"), key))]
    lines = [line for line in lines if line["request_id"].startswith("flush-")]  # the module's server logs too
    assert sorted({line["request_id"] for line in lines}) == sorted(puids)
    assert len(lines) == 6 * 4 and {line["row"] for line in lines} == {0, 1, 2, 3}
    assert all("truth" not in line and line["model_version"] == registered.version for line in lines)


def test_a_tampered_model_refuses_to_load(registered, tmp_path):
    store = registered.store
    ref = models.resolve(store, "shop", registered.version)
    original = store.get_bytes(store.bucket("models"), ref.model_key)
    store.put_bytes(store.bucket("models"), ref.model_key, original + b"\0")  # its own metadata digest is consistent
    try:
        with pytest.raises(ServerError) as caught:
            start_server("shop", registered.version, env=registered.env, workers=1, log_path=tmp_path / "server.log")
        assert "exited with code 3" in str(caught.value)
        assert "sha256" in str(caught.value) and (
            "corrupt or was replaced" in str(caught.value) or "refusing to load" in str(caught.value)
        )
    finally:
        store.put_bytes(store.bucket("models"), ref.model_key, original)


def test_a_version_folder_with_a_wrong_pinned_digest_refuses_to_load(registered, tmp_path):
    from components.serve.loader import fetch_version

    folder = fetch_version(registered.store, "shop", registered.version, tmp_path / "version")
    with pytest.raises(ServerError, match="pinned by the deployment"):
        start_server(
            model_uri=str(folder),
            parameters={"model_sha256": "ab" * 32, "request_log_rate": 0, "feedback": "false"},
            env=registered.env,
            workers=1,
            log_path=tmp_path / "server.log",
        )


def test_the_demo_of_make_run_predicts_refuses_and_stores_feedback(server, registered):
    from components.serve.local import demo_requests

    said: list[str] = []
    answers = demo_requests(server.url, registered.rows, registered.schema.names, "returned", say=said.append)
    assert answers["feedback"]["jsonData"]["stored"] == 1
    assert len(answers["batch"]["jsonData"]["predictions"]) == 3
    assert said[0].startswith("predict   1 row (ndarray): classes ['0', '1']") and registered.version in said[0]
    assert any(
        line.startswith("refused   a request without 'quantity': HTTP 400: missing feature 'quantity'") for line in said
    )
    assert said[-1].startswith("feedback  truth ") and "stored 1 row(s)" in said[-1]


def test_a_stage_without_a_model_stops_the_start_with_one_line(registered, tmp_path):
    with pytest.raises(ServerError) as caught:
        start_server("shop", "staging", env=registered.env, workers=1, log_path=tmp_path / "server.log")
    assert "exited with code 2: error: no model version of 'shop' is in staging (hint: train and promote one" in str(
        caught.value
    )


def _raw_exchange(url: str, head: bytes, chunks: tuple[bytes, ...] = ()) -> tuple[int, dict]:
    """Sends a hand-written request (headers, then optional body chunks) and reads the status and JSON answer."""
    host, port = url.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(head)
        for chunk in chunks:
            connection.sendall(chunk)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < _content_length(answer):
            block = connection.recv(65536)
            if not block:
                break
            answer += block
    status = int(answer.split(b" ", 2)[1])
    return status, json.loads(answer.split(b"\r\n\r\n", 1)[1])


def _content_length(answer: bytes) -> int:
    for line in answer.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    return 0


def test_a_body_over_the_size_limit_gets_a_413_before_it_is_sent(server, registered):
    # The headers announce 50 MB and no byte of the body follows: the answer can only come from the headers.
    head = (
        f"POST {PREDICT_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {50 * 1024 * 1024}\r\nConnection: close\r\n\r\n"
    ).encode()

    status, body = _raw_exchange(server.url, head)

    assert status == 413
    assert body["status"]["reason"] == "REQUEST_TOO_LARGE"
    assert body["status"]["info"].startswith("the request body is over the 10 MB limit (hint: send fewer rows")
    assert predict(server, payload(registered.rows.head(1), registered.schema.names)).status == 200


def test_a_chunked_body_under_the_limit_is_answered(server, registered):
    names, rows = registered.schema.names, registered.rows.head(2)
    data = json.dumps(payload(rows, names)).encode()
    half = len(data) // 2
    chunks = tuple(f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in (data[:half], data[half:])) + (
        b"0\r\n\r\n",
    )
    head = (
        f"POST {PREDICT_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode()

    status, body = _raw_exchange(server.url, head, chunks)

    assert status == 200, body
    np.testing.assert_allclose(
        probabilities(body)[1], registered.pipeline.predict_proba(rows[list(names)]), rtol=0, atol=1e-9
    )
