"""The Seldon model class in process (no seldon_core here): folder loading, digests, answers, feedback parsing,
for classifiers and regressors."""

from __future__ import annotations

import dataclasses
import gc
import gzip
import json
import logging
import shutil
import sys

import joblib
import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, OneHotEncoder
from threadpoolctl import threadpool_limits
from unit.serve.synthetic import FAMILIES, config_for, demo_like_rows, features, fit_regressor, synthetic_rows

from components.common.config import load_use_case
from components.common.errors import ConfigError, IntegrityError, NotFoundError
from components.common.serving_logs import decode_lines, encode_lines
from components.preprocess.logic import as_numbers, as_text, model_pipeline
from components.serve import fastpath
from components.serve import model as model_module
from components.serve.check import assemble_candidate, check_serving
from components.serve.client import payload, predictions, probabilities
from components.serve.model import (
    PREDICTION_PATH_METRIC,
    PREDICTIONS_METRIC,
    Model,
    ServingError,
    parse_numeric_truth,
    parse_truth,
    probe_batch,
    served_predictions,
    served_probabilities,
    serving_options,
)
from components.serve.schema import build_serving_schema
from components.serve.validation import RequestError
from components.train.logic import expand_trials, fit, split_xy
from components.train.trials import Trial
from pipelines.usecases import DEMO_CONFIG


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


class RecordingStore:
    """Keeps every object the server writes, as the bytes it sent."""

    def __init__(self):
        self.objects: dict[str, bytes] = {}

    def bucket(self, role):
        return role

    def put_bytes(self, bucket, key, data, content_type="application/octet-stream"):
        self.objects[f"{bucket}/{key}"] = data


@pytest.mark.parametrize("excluded", [(), ("channel",)])
def test_an_excluded_feature_is_in_no_byte_of_the_request_and_feedback_logs(
    shop_model, tmp_path, monkeypatch, excluded
):
    path, _, schema, rows = shop_model
    folder = assemble_candidate(path, dataclasses.replace(schema, log_exclude=excluded), tmp_path / "version")
    store = RecordingStore()
    monkeypatch.setattr(model_module, "_store", lambda: store)
    model = Model(model_uri=str(folder), request_log_rate=1.0, feedback=True, log_batch_rows=1)
    model.load()
    row = rows.head(1).assign(channel="alice.doe@example.com")  # an unseen category: the model still answers
    request = payload(row, schema.names, "jsonData", puid="r-1")
    answer = model.predict_raw(json.loads(json.dumps(request)))
    assert model.store_feedback({"request": request, "response": answer, "truth": {"data": {"ndarray": [1]}}}) == 1
    model.close()
    written = {key.split("/")[2]: data for key, data in store.objects.items()}
    assert sorted(written) == ["feedback", "requests"], sorted(store.objects)
    for kind, data in written.items():
        text = gzip.decompress(data)
        (line,) = decode_lines(data)
        assert line["request_id"] == "r-1" and ("truth" in line) == (kind == "feedback")
        if excluded:
            assert b"alice" not in text and b"example.com" not in text
            assert line["redacted"] == ["channel"] and "channel" not in line["features"]
            assert set(line["features"]) == set(schema.names) - {"channel"}
        else:  # the same row without exclusion: the value is there, so the assertions above can fail
            assert b"alice.doe@example.com" in text and "redacted" not in line


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


def test_a_loaded_server_freezes_its_objects_and_tunes_the_collector_and_switch_interval(folder):
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    sys.setswitchinterval(0.005)
    Model(model_uri=str(folder), request_log_rate=0.0, feedback=False, gc_freeze=False, switch_interval_ms=0).load()
    assert (gc.get_freeze_count(), gc.get_threshold(), sys.getswitchinterval()) == (0, (700, 10, 10), 0.005)
    model = Model(model_uri=str(folder), request_log_rate=0.0, feedback=False)
    model.load()
    assert gc.get_freeze_count() > 1000  # the loaded pipeline among them
    assert gc.get_threshold() == (10_000, 10, 10)
    assert sys.getswitchinterval() == pytest.approx(0.0005)


def test_serving_settings_of_the_process_have_defaults_and_read_the_environment():
    defaults = serving_options({"use_case": "a"}, {})
    assert (defaults.gc_freeze, defaults.gc_threshold, defaults.switch_interval_ms, defaults.log_batch_rows) == (
        True,
        10_000,
        0.5,
        10_000,
    )
    environ = {"MLCYCLE_GC_FREEZE": "false", "MLCYCLE_GC_THRESHOLD": "0", "MLCYCLE_SWITCH_INTERVAL_MS": "1.5"}
    options = serving_options({"use_case": "a"}, environ)
    assert (options.gc_freeze, options.gc_threshold, options.switch_interval_ms) == (False, 0, 1.5)


def test_the_request_log_buffers_one_encoded_line_per_request_counted_by_its_rows(folder, shop_model):
    _, _, schema, rows = shop_model
    model = Model(model_uri=str(folder), request_log_rate=0.0, feedback=False)
    model.load()

    class Recorder:
        def __init__(self):
            self.added = []

        def add(self, lines, rows=None):
            self.added.append((lines, rows))

    model._requests = recorder = Recorder()
    model._closed = True  # nothing to flush: the recorder stands in for the writer
    model.options = dataclasses.replace(model.options, request_log_rate=1.0)
    answer = model.predict_raw(payload(rows.head(3), schema.names, puid="r-9"))
    ((lines, counted),) = recorder.added
    assert counted == 3 and len(lines) == 1 and isinstance(lines[0], bytes) and lines[0].endswith(b"\n")
    decoded = decode_lines(encode_lines(lines))
    assert [line["row"] for line in decoded] == [0, 1, 2] and {line["request_id"] for line in decoded} == {"r-9"}
    served = answer["data"]["ndarray"]
    assert [list(line["probabilities"].values()) for line in decoded] == served


def test_the_request_size_limit_is_ten_megabytes_unless_set():
    assert serving_options({"use_case": "a"}, {}).max_request_mb == 10.0
    assert serving_options({"use_case": "a"}, {"MLCYCLE_MAX_REQUEST_MB": "0.5"}).max_request_mb == 0.5
    with pytest.raises(ConfigError, match="max_request_mb is 0.0, not a positive number"):
        serving_options({"use_case": "a", "max_request_mb": 0}, {})


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


# --- which path serves: the fast path where the model compiles, scikit-learn visibly otherwise -------


def serve(pipeline, config, folder, **params) -> Model:
    """The pipeline laid out as a registered version folder and loaded by the Seldon model class."""
    folder.mkdir(parents=True, exist_ok=True)
    joblib.dump(pipeline, folder / "model.joblib")
    version = assemble_candidate(folder / "model.joblib", build_serving_schema(config), folder / "version")
    model = Model(model_uri=str(version), request_log_rate=0.0, feedback=False, **params)
    model.load()
    return model


def path_lines(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "components.serve.model" and "prediction path:" in r.getMessage()]


def path_gauge(path: str) -> dict:
    return {"type": "GAUGE", "key": PREDICTION_PATH_METRIC, "value": 1, "tags": {"path": path}}


def assert_served_by(model, path, pipeline, rows) -> None:
    """The model reports ``path``, answers as the pipeline does, and labels its metrics with the path."""
    status = model.health_status()
    assert status["prediction_path"] == path, status["prediction_path_reason"]
    answer = model.predict_raw(payload(rows, list(rows.columns)))
    np.testing.assert_allclose(probabilities(answer)[1], pipeline.predict_proba(rows), rtol=0, atol=1e-9)
    assert {m["tags"]["path"] for m in answer["meta"]["metrics"] if m["key"] == PREDICTIONS_METRIC} == {path}
    assert [m for m in model.metrics() if m["key"] == PREDICTION_PATH_METRIC] == [path_gauge(path)]


def refuse_scikit_learn(*args, **kwargs):
    raise AssertionError("the scikit-learn pipeline predicted where the fast path should")


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_every_family_and_encoding_the_fast_path_supports_is_served_on_it(fitted, tmp_path, monkeypatch):
    pipeline, _, config, test = fitted
    rows = features(test, config).tail(12)  # the hard rows: unseen, infrequent and missing values
    model = serve(pipeline, config, tmp_path)
    monkeypatch.setattr(model.loaded.pipeline, "predict_proba", refuse_scikit_learn)
    assert_served_by(model, "fast", pipeline, rows)


@pytest.fixture(scope="module")
def demo_like():
    """The demo's use case (its preprocessing and trials) on rows shaped like its data."""
    config = load_use_case(DEMO_CONFIG)
    return config, demo_like_rows(config, 1000, seed=1), demo_like_rows(config, 40, seed=2)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("family", ["hist_gradient_boosting", "logistic_regression", "random_forest"])
def test_the_demo_like_model_of_every_family_is_served_on_the_fast_path(
    demo_like, family, tmp_path, monkeypatch, caplog
):
    config, train, test = demo_like
    # The demo's own settings, or the synthetic ones for a family the demo no longer searches (served all the same).
    trial = next((t for t in expand_trials(config) if t.family == family), Trial(family, FAMILIES[family]))
    with threadpool_limits(limits=1, user_api="openmp"):  # as in serving; more threads contend on shared cores
        pipeline, _ = fit(train, config, trial)
    with caplog.at_level(logging.INFO, logger="components.serve.model"):
        model = serve(pipeline, config, tmp_path)
    [line] = path_lines(caplog)
    assert line.levelno == logging.INFO and line.getMessage().startswith("prediction path: fast (FastModel(")
    monkeypatch.setattr(model.loaded.pipeline, "predict_proba", refuse_scikit_learn)
    assert_served_by(model, "fast", pipeline, test[list(config.features.all())])


def unknown_estimator(config, train):
    return model_pipeline(config, GradientBoostingClassifier(n_estimators=10, random_state=0)).fit(
        *split_xy(train, config)
    )


def unknown_transformer(config, train):
    preprocess = ColumnTransformer(
        [
            ("numeric", make_pipeline(FunctionTransformer(as_numbers), SimpleImputer(), MinMaxScaler()), ["price"]),
            ("categorical", make_pipeline(FunctionTransformer(as_text), OneHotEncoder()), ["channel"]),
        ]
    )
    return Pipeline([("preprocess", preprocess), ("model", LogisticRegression())]).fit(*split_xy(train, config))


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (unknown_estimator, "GradientBoostingClassifier has no exact fast path"),
        (unknown_transformer, "transformer 'numeric' has a MinMaxScaler step"),
    ],
    ids=["unknown estimator", "unknown transformer"],
)
def test_a_model_the_fast_path_does_not_know_falls_back_to_scikit_learn_visibly(
    build, reason, config, frames, tmp_path, caplog
):
    pipeline = build(config, frames["train"])
    with caplog.at_level(logging.INFO, logger="components.serve.model"):
        model = serve(pipeline, config, tmp_path)
    [line] = path_lines(caplog)
    assert line.levelno == logging.WARNING
    assert line.getMessage().startswith("prediction path: scikit-learn (no fast prediction path: ")
    assert reason in line.getMessage() and reason in model.health_status()["prediction_path_reason"]
    assert_served_by(model, "scikit-learn", pipeline, frames["test"].head(20)[list(config.features.all())])


def test_the_fast_path_turned_off_serves_with_scikit_learn_and_says_why(folder, shop_model, caplog):
    _, pipeline, schema, rows = shop_model
    model = Model(model_uri=str(folder), request_log_rate=0.0, feedback=False, fast_path=False)
    with caplog.at_level(logging.INFO, logger="components.serve.model"):
        model.load()
    [line] = path_lines(caplog)
    assert line.levelno == logging.INFO
    assert line.getMessage() == "prediction path: scikit-learn (the fast_path parameter is off)"
    assert_served_by(model, "scikit-learn", pipeline, rows.head(5)[list(schema.names)])


def test_a_fast_path_that_disagrees_on_the_schemas_probe_rows_is_not_used(folder, shop_model, monkeypatch, caplog):
    _, pipeline, schema, rows = shop_model
    compile_model = fastpath.compile_model

    class Skewed:
        def __init__(self, fast):
            self.fast = fast

        def outputs(self, columns):  # what the server calls, for classifiers and regressors alike
            return self.fast.predict_proba(columns) * (1 + 1e-6)

    monkeypatch.setattr(fastpath, "compile_model", lambda pipeline: Skewed(compile_model(pipeline)))
    model = Model(model_uri=str(folder), request_log_rate=0.0, feedback=False)
    with caplog.at_level(logging.INFO, logger="components.serve.model"):
        model.load()
    [line] = path_lines(caplog)
    assert line.levelno == logging.WARNING
    assert (
        line.getMessage() == "prediction path: scikit-learn (the fast path disagrees with scikit-learn on probe rows)"
    )
    assert_served_by(model, "scikit-learn", pipeline, rows.head(5)[list(schema.names)])


def test_a_value_that_overflows_the_random_forests_float32_is_a_bad_request(tmp_path):
    config = config_for("ordinal")  # unscaled: the value reaches the trees as sent
    pipeline, _ = fit(synthetic_rows(300, seed=1), config, Trial("random_forest", {"n_estimators": 3}))
    rows = features(synthetic_rows(2, seed=2), config)
    model = serve(pipeline, config, tmp_path)
    request = payload(rows, list(rows.columns))
    request["data"]["ndarray"][1][list(rows.columns).index("amount")] = 1e39
    with pytest.raises(RequestError, match="feature 'amount' in row 1: .* too large") as caught:
        model.predict_raw(request)
    assert caught.value.status_code == 400 and model.health_status()["bad_requests"] == 1


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("path", ["fast", "scikit-learn"])
def test_a_served_model_reads_request_times_in_the_zone_it_was_trained_in(tmp_path, monkeypatch, path):
    config = dataclasses.replace(config_for("onehot"), timezone="America/New_York")
    pipeline, _ = fit(synthetic_rows(1200, seed=1), config, Trial("logistic_regression", {"C": 0.5}))
    if path == "scikit-learn":
        monkeypatch.setattr(fastpath, "compile_model", lambda _: (_ for _ in ()).throw(fastpath.UnsupportedModel("x")))
    model = serve(pipeline, config, tmp_path)
    assert model.health_status()["prediction_path"] == path
    row = features(synthetic_rows(1, seed=2), config)
    # Friday 22:30 in New York, spelt as its local time, in UTC (Saturday) and with New York's offset.
    spellings = ["2013-08-30 22:30:00", "2013-08-31T02:30:00Z", "2013-08-30T22:30:00-04:00"]
    rows = row.loc[row.index.repeat(3)].assign(seen_at=spellings)
    answer = probabilities(model.predict_raw(payload(rows, list(rows.columns))))[1]
    np.testing.assert_allclose(answer, [answer[0]] * 3, rtol=0, atol=1e-12)
    saturday_utc = rows.head(1).assign(seen_at="2013-08-31 02:30:00")  # naive: 02:30 on Saturday in New York
    assert not np.allclose(probabilities(model.predict_raw(payload(saturday_utc, list(rows.columns))))[1], answer[:1])


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast", "scikit-learn"])
def test_a_value_the_scaler_lifts_beyond_the_random_forests_float32_is_a_bad_request(tmp_path, fast_path):
    # Within the server's bound (float32's range), but (x - mean) / scale is not: ratio's scale is ~0.29.
    # Found by tests/property/test_fastpath.py; it answered 500 (bug 11's bound is on the value as sent), and
    # scikit-learn's own path (fast_path off) answered 500 until it said the same.
    config = config_for("onehot")  # scaled numbers
    pipeline, _ = fit(synthetic_rows(300, seed=1), config, Trial("random_forest", {"n_estimators": 3}))
    rows = features(synthetic_rows(2, seed=2), config)
    model = serve(pipeline, config, tmp_path, fast_path=fast_path)
    assert model.prediction_path.name == ("fast" if fast_path else "scikit-learn")
    request = payload(rows, list(rows.columns))
    request["data"]["ndarray"][1][list(rows.columns).index("ratio")] = 3e38
    with pytest.raises(RequestError, match="row 1: .*too large for the model") as caught:
        model.predict_raw(request)
    assert caught.value.status_code == 400 and model.health_status()["bad_requests"] == 1


# --- regressors: one number per row, named after the target; numeric truth in feedback -------------


def regression_payload_rows(test, config, rows=12):
    return features(test, config).tail(rows)  # the hard rows: unseen, infrequent and missing values


def assert_regressor_answers(model, pipeline, rows, target="label") -> None:
    """Both answer shapes carry the pipeline's predict to 1e-9, named after the target."""
    expected = pipeline.predict(rows)
    for shape in ("ndarray", "jsonData"):
        answer = model.predict_raw(json.loads(json.dumps(payload(rows, list(rows.columns), shape))))
        names, served = predictions(answer)
        np.testing.assert_allclose(served, expected, rtol=0, atol=1e-9)
        if shape == "ndarray":
            assert names == [target] and all(len(row) == 1 for row in answer["data"]["ndarray"])
        else:
            assert all(set(p) == {"prediction"} for p in answer["jsonData"]["predictions"])


@pytest.mark.parametrize("path", ["fast", "scikit-learn"])
def test_every_regressor_family_is_served_as_the_pipeline_predicts(fitted_regressor, tmp_path, monkeypatch, path):
    pipeline, _, config, test = fitted_regressor
    model = serve(pipeline, config, tmp_path, fast_path=path == "fast")
    status = model.health_status()
    assert status["prediction_path"] == path, status["prediction_path_reason"]
    assert status["task"] == "regression" and model.class_names() == ["label"] and model.loaded.classes == ()
    if path == "fast":
        monkeypatch.setattr(model.loaded.pipeline, "predict", refuse_scikit_learn)
    assert_regressor_answers(model, pipeline, regression_payload_rows(test, config))


def test_a_regressors_answer_counts_its_rows_by_path(fitted_regressor, tmp_path):
    pipeline, _, config, test = fitted_regressor
    model = serve(pipeline, config, tmp_path)
    metrics = model.predict_raw(payload(regression_payload_rows(test, config, 7), list(config.features.all())))
    counters = [m for m in metrics["meta"]["metrics"] if m["key"] == PREDICTIONS_METRIC]
    assert counters == [{"type": "COUNTER", "key": PREDICTIONS_METRIC, "value": 7, "tags": {"path": "fast"}}]


@pytest.fixture(scope="module")
def regressor(tmp_path_factory):
    """(version folder, pipeline, config, test rows) of a boosted regressor of the synthetic use case."""
    config = config_for("onehot")
    pipeline = fit_regressor("hist_gradient_boosting", config, synthetic_rows(600, seed=1, regression=True))
    folder = tmp_path_factory.mktemp("regressor")
    joblib.dump(pipeline, folder / "model.joblib")
    version = assemble_candidate(folder / "model.joblib", build_serving_schema(config), folder / "version")
    return version, pipeline, config, synthetic_rows(20, seed=2, regression=True)


def test_a_regressors_logs_hold_its_number_and_the_numeric_truth(regressor, monkeypatch):
    folder, pipeline, config, test = regressor
    store = RecordingStore()
    monkeypatch.setattr(model_module, "_store", lambda: store)
    model = Model(model_uri=str(folder), request_log_rate=1.0, feedback=True, log_batch_rows=1)
    model.load()
    names = list(config.features.all())
    request = json.loads(json.dumps(payload(test.head(2), names, "jsonData", puid="r-7")))
    answer = model.predict_raw(request)
    truth = {"data": {"ndarray": [[41.5], 12]}}
    assert model.store_feedback({"request": request, "response": answer, "truth": truth}) == 2
    alone = payload(test.head(1), names)  # no response: the server predicts again
    assert model.store_feedback({"request": alone, "truth": {"jsonData": {"truth": [7.25]}}}) == 1
    model.close()
    lines: dict[str, list[dict]] = {"requests": [], "feedback": []}
    for key, data in store.objects.items():
        lines[key.split("/")[2]] += decode_lines(data)
    expected = pipeline.predict(features(test.head(2), config))
    requests = lines["requests"]
    assert [line["prediction"] for line in requests] == pytest.approx(list(expected), abs=1e-9)
    assert all("probabilities" not in line and line["request_id"] == "r-7" for line in requests)
    feedback = sorted(lines["feedback"], key=lambda line: (line["request_id"] is None, line["row"]))
    assert [line["truth"] for line in feedback] == [41.5, 12.0, 7.25]
    assert [line["prediction"] for line in feedback] == pytest.approx([*expected, expected[0]], abs=1e-9)
    assert all(isinstance(line["truth"], float) and "probabilities" not in line for line in feedback)


@pytest.mark.parametrize(
    ("truth", "problem"),
    [
        ({"data": {"ndarray": ["late"]}}, "truth row 0: 'late' is not a finite number"),
        ({"data": {"ndarray": [True]}}, "truth row 0: True is not a finite number"),
        ({"data": {"ndarray": [None]}}, "truth row 0: None is not a finite number"),
        ({"data": {"ndarray": [1.5, 2.5]}}, "truth has 2 rows but its request has 1"),
        ({"strData": "3"}, "feedback has no truth"),
    ],
)
def test_a_regressors_feedback_needs_one_finite_number_per_row(regressor, monkeypatch, truth, problem):
    folder, _, config, test = regressor
    monkeypatch.setattr(model_module, "_store", RecordingStore)
    model = Model(model_uri=str(folder), request_log_rate=0.0, feedback=True)
    model.load()
    with pytest.raises(RequestError, match=problem):
        model.store_feedback({"request": payload(test.head(1), list(config.features.all())), "truth": truth})
    model.close()


def test_numeric_truth_accepts_numbers_in_either_message_shape():
    assert parse_numeric_truth({"data": {"ndarray": [1, [2.5], -3.0]}}, 3) == [1.0, 2.5, -3.0]
    assert parse_numeric_truth({"jsonData": [0.5]}, 1) == [0.5]
    with pytest.raises(RequestError, match="not a finite number"):
        parse_numeric_truth({"data": {"ndarray": [float("inf")]}}, 1)


def test_served_predictions_are_read_from_either_answer_shape():
    ndarray = {"data": {"names": ["delay"], "ndarray": [[12.5], [-3.0]]}}
    records = {"jsonData": {"predictions": [{"prediction": 12.5}, {"prediction": -3}]}}
    for answer in (ndarray, records):
        np.testing.assert_array_equal(served_predictions(answer, 2, "delay"), [12.5, -3.0])
    assert served_predictions(ndarray, 3, "delay") is None  # another number of rows
    assert served_predictions(ndarray, 2, "price") is None  # another target: not this model's answer
    assert served_predictions({"jsonData": {"predictions": [{"prediction": True}]}}, 1, "delay") is None
    assert served_predictions({"data": {"names": ["delay"], "ndarray": [[1.0, 2.0]]}}, 1, "delay") is None


def test_a_regressor_without_a_target_in_its_schema_answers_prediction(regressor, tmp_path):
    folder, pipeline, config, test = regressor
    schema = dataclasses.replace(build_serving_schema(config), target="")
    version = assemble_candidate(folder / "model.joblib", schema, tmp_path / "version")
    model = Model(model_uri=str(version), request_log_rate=0.0, feedback=False)
    model.load()
    assert_regressor_answers(model, pipeline, features(test, config).head(3), target="prediction")


def test_a_regressors_metadata_names_its_output_after_the_target(regressor, tmp_path):
    folder, _, config, _ = regressor
    manifest = json.loads((folder / "manifest.json").read_text())
    recorded = tmp_path / "recorded"
    shutil.copytree(folder, recorded)
    manifest["lineage"] = {"training": {"task": "regression", "task_reason": "set in the config"}}
    (recorded / "manifest.json").write_text(json.dumps(manifest))
    unloaded = Model(model_uri=str(recorded), request_log_rate=0.0, feedback=False).init_metadata()
    assert unloaded["outputs"] == [{"name": "label", "datatype": "FP64", "shape": [-1, 1]}]
    model = Model(model_uri=str(folder), request_log_rate=0.0, feedback=False)
    model.load()  # a record without a task: the loaded model decides
    assert model.init_metadata()["outputs"] == unloaded["outputs"]


def test_a_model_whose_record_names_another_task_is_refused(regressor, folder, tmp_path):
    for source, recorded in ((regressor[0], "classification"), (folder, "regression")):
        copy = tmp_path / f"{recorded}-record"
        shutil.copytree(source, copy)
        manifest = json.loads((copy / "manifest.json").read_text())
        manifest["lineage"] = {"training": {"task": recorded}}
        (copy / "manifest.json").write_text(json.dumps(manifest))
        with pytest.raises(IntegrityError, match=f"records task '{recorded}' but its model is a"):
            Model(model_uri=str(copy), request_log_rate=0.0, feedback=False).load()


def test_a_classifier_whose_record_names_its_task_loads(folder, tmp_path):
    copy = tmp_path / "recorded"
    shutil.copytree(folder, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["lineage"] = {"training": {"task": "classification"}}
    (copy / "manifest.json").write_text(json.dumps(manifest))
    model = Model(model_uri=str(copy), request_log_rate=0.0, feedback=False)
    model.load()
    assert model.health_status()["task"] == "classification" and model.class_names() == ["0", "1"]


def test_check_serving_passes_a_good_regressor_and_compares_with_predict(regressor, tmp_path):
    folder, _, config, test = regressor
    result = check_serving(folder / "model.joblib", build_serving_schema(config), test, [0.5, 99.0], tmp_path)
    assert result.passed, result.checks
    assert "PASS a regressor's answers name its target 'label'" in result.checks
    assert any(line.startswith("PASS jsonData request of 20 rows equals predict ") for line in result.checks)


def test_check_serving_fails_a_regressor_whose_answers_differ(regressor, tmp_path, monkeypatch):
    folder, _, config, test = regressor
    original = model_module.Model._regression_answer

    def shifted(self, batch, values, request_id, metrics):
        return original(self, batch, values + 1e-6, request_id, metrics)

    monkeypatch.setattr(model_module.Model, "_regression_answer", shifted)
    result = check_serving(folder / "model.joblib", build_serving_schema(config), test, None, tmp_path)
    assert not result.passed
    assert sum(line.startswith("FAIL") and "equals predict" in line for line in result.checks) == 2
