"""serving.log_exclude through the real HTTP server: an excluded value reaches the model, never S3 or the server log."""

from __future__ import annotations

import dataclasses
import gzip
import json
import os

import joblib
import numpy as np
import pytest
from helpers import LOANS_CONFIG, loans_with_signal, settings_for, write_loans_use_case
from integration.monitor.serving_logs import MONITORED, traffic

from components.common import models
from components.common.config import load_use_case
from components.common.serving_logs import decode_lines
from components.common.storage import BUCKET_ROLES, ObjectStore, RetryPolicy
from components.ingest.logic import ingest_dataset
from components.register import logic as registry
from components.serve.client import FEEDBACK_PATH, PREDICT_PATH, feedback_message, payload, post, probabilities
from components.serve.local import start_server
from components.validate.logic import infer_schema_for_version, load_schema, validate_dataset, write_schema
from pipelines.inprocess import run_training

EMAIL = "alice.doe@example.com"
TRACES = (EMAIL.encode(), b"alice.doe", b"example.com")


@pytest.fixture(scope="module")
def excluding_version(registered, tmp_path_factory) -> str:
    """The shop model registered again, its serving schema keeping 'channel' out of the logs."""
    schema = dataclasses.replace(registered.schema, log_exclude=("channel",))
    path = tmp_path_factory.mktemp("redaction") / "model.joblib"
    joblib.dump(registered.pipeline, path)
    result = registry.register_model(
        registered.store,
        registered.config.name,
        path,
        lineage={"dataset_version": "ds-0123456789abcdef", "variant": "redacting", "metrics": {}, "parameters": {}},
        blessed=True,
        card_markdown="# shop\n",
        card={},
        serving_schema=schema.to_dict(),
    )
    return result.ref.version


def every_object(store) -> dict[str, bytes]:
    """Every object of every bucket of this module, as stored and (for gzip) decompressed."""
    found = {}
    for role in BUCKET_ROLES:
        bucket = store.bucket(role)
        for key in store.list_keys(bucket):
            data = store.get_bytes(bucket, key)
            found[f"{bucket}/{key}"] = gzip.decompress(data) if key.endswith(".gz") else data
    return found


def test_an_excluded_feature_is_predicted_on_but_leaves_no_trace_in_s3_or_the_server_log(
    registered, excluding_version, tmp_path
):
    store, names = registered.store, registered.schema.names
    rows = registered.rows.head(2).assign(channel=[EMAIL, "web"])
    answers = []
    with start_server(
        "shop",
        excluding_version,
        env=registered.env,
        workers=1,
        log_path=tmp_path / "server.log",
        parameters={"request_log_rate": 1.0, "log_flush_seconds": 600},
    ) as server:
        for shape in ("ndarray", "jsonData"):
            request = payload(rows, names, shape, puid=f"redacted-{shape}")
            answer = post(server.url + PREDICT_PATH, request)
            assert answer.status == 200, answer.body
            stored = post(server.url + FEEDBACK_PATH, feedback_message(request, answer.body, [1, 0]))
            assert stored.status == 200 and stored.body["jsonData"]["stored"] == 2.0, stored.body
            answers.append(answer.body)
        # A refused value of the excluded feature is not quoted in the answer, so not in Seldon's error log.
        bad = post(server.url + PREDICT_PATH, payload(rows.head(1).assign(channel=[[EMAIL]]), names, "jsonData"))
        assert bad.status == 400 and "<withheld: serving.log_exclude>" in bad.body["status"]["info"]
        assert EMAIL not in bad.body["status"]["info"]
    # The model still received the excluded feature: its answers are the pipeline's on the same rows.
    expected = registered.pipeline.predict_proba(rows[list(names)])
    for answer in answers:
        np.testing.assert_allclose(probabilities(answer)[1], expected, rtol=0, atol=1e-9)

    logged = {
        kind: [
            line
            for key in store.list_keys(store.bucket("feedback"), prefix=f"shop/{kind}/")
            for line in decode_lines(store.get_bytes(store.bucket("feedback"), key))
            if str(line["request_id"]).startswith("redacted-")
        ]
        for kind in ("requests", "feedback")
    }
    assert len(logged["requests"]) == 4 and len(logged["feedback"]) == 4  # both shapes, two rows each
    for line in logged["requests"] + logged["feedback"]:
        assert line["model_version"] == excluding_version and line["redacted"] == ["channel"]
        assert set(line["features"]) == set(names) - {"channel"}
    assert [line["truth"] for line in logged["feedback"]] == [1, 0, 1, 0]
    objects = every_object(store)
    assert any("/shop/requests/" in f"/{key}" for key in objects), sorted(objects)
    for key, data in objects.items():
        assert not any(trace in data for trace in TRACES), f"{key} holds the excluded value"
    server_log = (tmp_path / "server.log").read_bytes()
    assert b"MICROSERVICE_BAD_DATA" in server_log  # Seldon logged the refused request...
    assert not any(trace in server_log for trace in TRACES)  # ...without the value


def test_a_loans_use_case_excluding_a_feature_trains_registers_and_serves_without_logging_it(s3, tmp_path):
    """The whole path on clean synthetic data: the training pipeline's serving check writes the exclusion
    into the registered serving schema, and the server started from the registry honours it."""
    config_text = LOANS_CONFIG + MONITORED + "serving: {{log_exclude: [region]}}\n"
    store = ObjectStore.connect(settings_for(s3, prefix=f"redact{os.getpid()}-"), RetryPolicy(attempts=3))
    store.ensure_buckets()
    config_path = write_loans_use_case(tmp_path / "loans", loans_with_signal(), config=config_text)
    config = load_use_case(config_path)
    schema_path = config_path.with_name("loans.schema.pbtxt")
    dataset = ingest_dataset(config, store)
    write_schema(infer_schema_for_version(config, store), schema_path)
    assert validate_dataset(config, load_schema(schema_path), store).is_valid
    run = run_training(config_path.read_text(), schema_path.read_text(), store, dataset_version=dataset.ref.version)
    assert run.candidate.blessed and run.registered  # the exclusion blocks nothing on the way
    ref = models.resolve(store, "loans", run.registered)
    document = json.loads(store.get_bytes(store.bucket("models"), ref.key(models.SERVING_SCHEMA_FILE)))
    assert document["format_version"] == 2 and document["log_exclude"] == ["region"]
    registry.set_stage(store, "loans", "production", run.registered, reason="redaction test")

    rows = traffic(4, seed=5).assign(region=EMAIL)
    env = {
        **os.environ,
        **s3.environment("serving"),
        "MLCYCLE_BUCKET_PREFIX": store.settings.bucket_prefix,
        "MLCYCLE_STATE_DIR": str(tmp_path / "state"),
    }
    with start_server("loans", "production", env=env, workers=1, log_path=tmp_path / "server.log") as server:
        request = payload(rows, list(config.features.all()), "jsonData", puid="loans-redacted")
        answer = post(server.url + PREDICT_PATH, request)
        assert answer.status == 200, answer.body
        stored = post(server.url + FEEDBACK_PATH, feedback_message(request, answer.body, rows["truth"].tolist()))
        assert stored.status == 200, stored.body
    logs = {key: data for key, data in every_object(store).items() if "/loans/" in f"/{key}" and ".jsonl" in key}
    assert {key.split("/")[2] for key in logs} == {"requests", "feedback"}, sorted(logs)
    for key, data in logs.items():
        assert not any(trace in data for trace in TRACES), key
        lines = [json.loads(line) for line in data.splitlines() if line]
        assert lines and all(line["redacted"] == ["region"] and "region" not in line["features"] for line in lines)
