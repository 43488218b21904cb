"""The real server while its S3 store is down: answers go on, feedback is refused, request logs wait.

This module runs its own embedded S3 server (it is stopped in the middle of a test), so the fixtures of
tests/integration/serve/conftest.py register the shop model there instead of in the session's server.
"""

from __future__ import annotations

import time

import pytest

from components.common import s3_server
from components.common.s3_server import ServerPaths
from components.common.serving_logs import decode_lines
from components.serve.client import FEEDBACK_PATH, PREDICT_PATH, feedback_message, payload, post
from components.serve.local import start_server


@pytest.fixture(scope="module")
def s3_paths(tmp_path_factory) -> ServerPaths:
    return ServerPaths(tmp_path_factory.mktemp("s3-outage"))


@pytest.fixture(scope="module")
def s3(s3_paths):
    """This module's own S3 server (overrides the session's), stopped by its PID at the end."""
    state = s3_server.start(s3_paths)
    yield state
    s3_server.stop(s3_paths)


def _request_ids(store, use_case: str) -> set[str]:
    bucket = store.bucket("feedback")
    keys = store.list_keys(bucket, prefix=f"{use_case}/requests/")
    return {line["request_id"] for key in keys for line in decode_lines(store.get_bytes(bucket, key))}


def test_an_outage_refuses_feedback_keeps_answering_and_delays_request_logs(s3, s3_paths, registered, tmp_path):
    names, rows = registered.schema.names, registered.rows.head(2)
    env = {**registered.env, "MLCYCLE_LOG_FLUSH_SECONDS": "0.5"}
    server = start_server("shop", "production", env=env, workers=1, log_path=tmp_path / "server.log")
    try:
        assert post(server.url + PREDICT_PATH, payload(rows, names, puid="before-outage")).status == 200

        s3_server.stop(s3_paths)
        during = payload(rows, names, puid="during-outage")
        answer = post(server.url + PREDICT_PATH, during)
        assert answer.status == 200, answer.body  # predictions never wait for the store
        refused = post(server.url + FEEDBACK_PATH, feedback_message(during, answer.body, [0, 1]), timeout=60)
        assert refused.status == 503, refused.body  # not acknowledged and then lost
        assert refused.body["status"]["reason"] == "FEEDBACK_NOT_STORED"
        assert "send it again later" in refused.body["status"]["info"]

        s3_server.start(s3_paths, ports=s3.ports)
        deadline = time.monotonic() + 60
        while "during-outage" not in _request_ids(registered.store, "shop") and time.monotonic() < deadline:
            time.sleep(0.5)
        assert {"before-outage", "during-outage"} <= _request_ids(registered.store, "shop")
        stored = post(server.url + FEEDBACK_PATH, feedback_message(during, answer.body, [0, 1]), timeout=60)
        assert stored.status == 200, stored.body
    finally:
        server.stop()
