"""The Seldon model class in process (no seldon_core here): folder loading, digests, answers, feedback parsing."""

from __future__ import annotations

import json

import numpy as np
import pytest

from components.common.errors import ConfigError, IntegrityError, NotFoundError
from components.serve.check import assemble_candidate, check_serving
from components.serve.client import payload, probabilities
from components.serve.model import Model, ServingError, parse_truth, probe_batch, served_probabilities, serving_options
from components.serve.validation import RequestError


@pytest.fixture
def folder(shop_model, tmp_path):
    path, _, schema, _ = shop_model
    return assemble_candidate(path, schema, tmp_path / "version")


@pytest.fixture
def model(folder):
    model = Model(model_uri=str(folder), request_log_rate=0.0, feedback=False)
    model.load()
    yield model
    model.close()


def test_answers_equal_the_pipeline_in_both_shapes(model, shop_model):
    _, pipeline, schema, rows = shop_model
    rows = rows.head(40)
    expected = pipeline.predict_proba(rows[list(schema.names)])
    for shape in ("ndarray", "jsonData"):
        answer = model.predict_raw(json.loads(json.dumps(payload(rows, schema.names, shape, puid="p-1"))))
        names, served = probabilities(answer)
        assert names == ["0", "1"]
        np.testing.assert_allclose(served, expected, rtol=0, atol=1e-9)
        assert answer["meta"]["puid"] == "p-1"
        assert answer["meta"]["tags"] == {"use_case": "shop", "model_version": "candidate"}
    predictions = answer["jsonData"]["predictions"]
    assert [p["prediction"] for p in predictions] == list(pipeline.classes_[expected.argmax(axis=1)])


def test_answers_carry_prediction_and_latency_metrics(model, shop_model):
    _, _, schema, rows = shop_model
    metrics = model.predict_raw(payload(rows.head(10), schema.names))["meta"]["metrics"]
    counted = sum(m["value"] for m in metrics if m["key"] == "mlcycle_predictions")
    assert counted == 10 and {m["tags"]["class"] for m in metrics if m["key"] == "mlcycle_predictions"} <= {"0", "1"}
    assert [m["type"] for m in metrics if m["key"] == "mlcycle_prediction_latency"] == ["TIMER"]


def test_a_request_without_an_id_gets_a_new_one(model, shop_model):
    _, _, schema, rows = shop_model
    first = model.predict_raw(payload(rows.head(1), schema.names))["meta"]["puid"]
    second = model.predict_raw(payload(rows.head(1), schema.names))["meta"]["puid"]
    assert len(first) == 32 and first != second


def test_bad_requests_are_request_errors_and_counted(model, shop_model):
    _, _, schema, rows = shop_model
    with pytest.raises(RequestError, match="missing feature 'quantity'"):
        model.predict_raw(payload(rows.head(1), schema.names[1:]))
    assert model.health_status()["bad_requests"] == 1


def test_health_names_the_version_and_digest(model, folder):
    status = model.health_status()
    assert status["status"] == "ok" and status["model_version"] == "candidate"
    assert status["model_sha256"] == json.loads((folder / "manifest.json").read_text())["model"]["sha256"]
    assert status["request_log"] == "off" and status["feedback_log"] == "off"


def test_metadata_comes_from_the_manifest_without_loading(folder):
    metadata = Model(model_uri=str(folder), request_log_rate=0.0, feedback=False).init_metadata()
    assert metadata["name"] == "shop" and metadata["versions"] == ["candidate"]
    assert [i["name"] for i in metadata["inputs"]] == ["quantity", "price", "channel", "ordered_at"]


def test_a_model_file_altered_after_registration_is_not_unpickled(folder):
    with open(folder / "model.joblib", "r+b") as handle:
        handle.seek(100)
        byte = handle.read(1)
        handle.seek(100)
        handle.write(bytes([byte[0] ^ 1]))
    model = Model(model_uri=str(folder), request_log_rate=0.0, feedback=False)
    with pytest.raises(IntegrityError, match="refusing to load .* differs from the .* recorded in its manifest"):
        model.load()
    assert model.loaded is None


def test_a_pinned_digest_that_differs_refuses_to_load(folder):
    model = Model(model_uri=str(folder), model_sha256="0" * 64, request_log_rate=0.0, feedback=False)
    with pytest.raises(IntegrityError, match="pinned by the deployment"):
        model.load()


def test_an_altered_serving_schema_is_refused(folder):
    path = folder / "serving_schema.json"
    path.write_text(path.read_text().replace('"nullable": true', '"nullable": false'))
    with pytest.raises(IntegrityError, match="serving_schema.json is missing or does not match"):
        Model(model_uri=str(folder), request_log_rate=0.0, feedback=False).load()


def test_a_folder_without_manifest_is_not_a_version(tmp_path):
    with pytest.raises(NotFoundError, match="holds no manifest.json"):
        Model(model_uri=str(tmp_path), request_log_rate=0.0, feedback=False).load()


def test_not_loaded_answers_503(folder):
    model = Model(model_uri=str(folder))
    for call in (model.health_status, lambda: model.predict_raw({"jsonData": []}), lambda: model.store_feedback({})):
        with pytest.raises(ServingError) as caught:
            call()
        assert caught.value.status_code == 503 and "not loaded yet" in str(caught.value)


def test_feedback_without_storage_is_refused_with_503(model, shop_model):
    _, _, schema, rows = shop_model
    with pytest.raises(ServingError) as caught:
        model.store_feedback({"request": payload(rows.head(1), schema.names), "truth": {"data": {"ndarray": [1]}}})
    assert caught.value.status_code == 503


def test_options_come_from_parameters_then_environment():
    environ = {"MLCYCLE_REQUEST_LOG_RATE": "0.25", "MLCYCLE_FEEDBACK": "false", "MLCYCLE_USE_CASE": "flights"}
    options = serving_options({"model": "m-0123456789abcdef", "max_batch": 50}, environ)
    assert (options.request_log_rate, options.feedback, options.use_case, options.model, options.max_batch) == (
        0.25,
        False,
        "flights",
        "m-0123456789abcdef",
        50,
    )
    with pytest.raises(ConfigError, match="unknown model parameter 'modle'"):
        serving_options({"modle": "x", "use_case": "a"}, {})
    with pytest.raises(ConfigError, match="not between 0 and 1"):
        serving_options({"use_case": "a", "request_log_rate": 2}, {})
    with pytest.raises(ConfigError, match="no model to serve"):
        serving_options({}, {})


def test_truth_is_matched_to_the_model_classes():
    assert parse_truth({"data": {"ndarray": [1.0, [0], "1"]}}, 3, (0, 1)) == [1, 0, 1]
    assert parse_truth({"jsonData": {"truth": ["late"]}}, 1, ("late", "on_time")) == ["late"]
    with pytest.raises(RequestError, match="truth row 0: 7 is not a class"):
        parse_truth({"data": {"ndarray": [7]}}, 1, (0, 1))
    with pytest.raises(RequestError, match="truth has 1 rows but its request has 2"):
        parse_truth({"data": {"ndarray": [1]}}, 2, (0, 1))
    with pytest.raises(RequestError, match="feedback has no truth"):
        parse_truth(None, 1, (0, 1))


def test_served_probabilities_are_read_from_either_answer_shape():
    ndarray = {"data": {"names": ["0", "1"], "ndarray": [[0.25, 0.75]]}}
    records = {"jsonData": {"predictions": [{"prediction": 1, "probabilities": {"0": 0.25, "1": 0.75}}]}}
    for answer in (ndarray, records):
        np.testing.assert_array_equal(served_probabilities(answer, 1, (0, 1)), [[0.25, 0.75]])
    assert served_probabilities(ndarray, 2, (0, 1)) is None
    assert served_probabilities({"data": {"names": ["a", "b"], "ndarray": [[0.5, 0.5]]}}, 1, (0, 1)) is None


def test_probe_rows_fit_the_schema(shop_model):
    from components.serve.validation import model_frame

    _, pipeline, schema, _ = shop_model
    assert pipeline.predict_proba(model_frame(probe_batch(schema), schema)).shape == (3, 2)


def test_check_serving_passes_a_good_candidate(shop_model, tmp_path):
    path, _, schema, rows = shop_model
    result = check_serving(path, schema.to_dict(), rows, [0, 1], tmp_path)
    assert result.passed, result.checks
    assert len(result.checks) == 6 and result.latency_ms > 0


def test_check_serving_fails_a_candidate_whose_classes_or_schema_do_not_fit(shop_model, tmp_path):
    path, _, schema, rows = shop_model
    wrong_labels = check_serving(path, schema, rows, ["no", "yes"], tmp_path / "labels")
    assert not wrong_labels.passed and any(
        line.startswith("FAIL the answers name the classes") for line in wrong_labels.checks
    )
    no_channel = rows.assign(channel=None)
    strict = type(schema)(
        schema.use_case,
        tuple(f if f.name != "channel" else type(f)(f.name, f.kind, "string", False) for f in schema.features),
    )
    refused = check_serving(path, strict, no_channel, None, tmp_path / "strict")
    assert not refused.passed and any("FAIL ndarray request" in line and "null" in line for line in refused.checks)
