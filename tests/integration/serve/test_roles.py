"""The local model server holds the serving role's keys, whatever keys the process that starts it holds."""

from __future__ import annotations

from pathlib import Path

from components.common.serving_logs import decode_lines
from components.serve.client import FEEDBACK_PATH, PREDICT_PATH, feedback_message, payload, post
from components.serve.local import start_server


def process_environment(pid: int) -> dict[str, str]:
    entries = Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0")
    return dict(entry.split("=", 1) for entry in entries if "=" in entry)


def test_a_server_started_with_the_pipeline_keys_runs_as_serving_loads_the_model_and_stores_feedback(
    s3, registered, tmp_path, tmp_path_factory
):
    # A state folder whose embedded server is the session's, as `make run` leaves it for `mlcycle run`.
    state = tmp_path / "state"
    state.mkdir()
    (state / "s3").symlink_to(next(tmp_path_factory.getbasetemp().glob("s3-server*")))
    starter = {**registered.env, **s3.environment("pipeline"), "MLCYCLE_STATE_DIR": str(state)}
    with start_server("shop", "production", env=starter, workers=1, log_path=tmp_path / "server.log") as server:
        environ = process_environment(server.pid)
        assert (environ["AWS_ACCESS_KEY_ID"], environ["AWS_SECRET_ACCESS_KEY"]) == s3.keys("serving")
        names, rows = registered.schema.names, registered.rows.head(1)
        request = payload(rows, names, "jsonData")
        answer = post(server.url + PREDICT_PATH, request)
        assert answer.status == 200 and answer.body["meta"]["tags"]["model_version"] == registered.version
        stored = post(server.url + FEEDBACK_PATH, feedback_message(request, answer.body, rows["returned"].tolist()))
        assert stored.status == 200, stored.body
    store = registered.store
    keys = store.list_keys(store.bucket("feedback"), prefix="shop/feedback/")
    lines = [line for key in keys for line in decode_lines(store.get_bytes(store.bucket("feedback"), key))]
    assert [line["request_id"] for line in lines if line["request_id"] == answer.body["meta"]["puid"]] == [
        answer.body["meta"]["puid"]
    ]
