"""The Seldon Core model class: ``seldon-core-microservice components.serve.model.Model``.

Seldon's Python wrapper calls ``Model(**parameters)`` once in the server's main process (the
SeldonDeployment's ``graph.parameters``), then :meth:`Model.load` in every gunicorn worker, then
:meth:`Model.predict_raw` per prediction and :meth:`Model.send_feedback_raw` per feedback message.

Parameters (Seldon parameters win over the environment variables named in brackets):

- ``model_uri`` [MLCYCLE_MODEL_URI]: a registry version folder (Seldon's storage initializer fills
  /mnt/models from the deployment's modelUri; used when it exists and nothing else is given), or
  ``s3://<models bucket>/<use_case>/<version>/`` to read the version straight from S3;
- ``use_case`` [MLCYCLE_USE_CASE] and ``model`` [MLCYCLE_MODEL]: a version id or ``production``,
  ``staging``, ``latest`` in the registry (when no ``model_uri`` is given);
- ``model_sha256`` [MLCYCLE_MODEL_SHA256]: the digest the deployment pins; a mismatch refuses to load;
- ``request_log_rate`` [MLCYCLE_REQUEST_LOG_RATE, default 1.0]: share of requests logged to S3;
- ``feedback`` [MLCYCLE_FEEDBACK, default true]: store feedback in S3;
- ``log_flush_seconds`` [MLCYCLE_LOG_FLUSH_SECONDS, default 10] and ``log_batch_rows``
  [MLCYCLE_LOG_BATCH_ROWS, default 10000]: when a request-log batch is written (each object costs
  the worker about 15 ms of CPU however small, so batches are large);
- ``max_batch`` [MLCYCLE_MAX_BATCH]: most rows per request (default: the serving schema's);
- ``max_request_mb`` [MLCYCLE_MAX_REQUEST_MB, default 10]: largest request body; a larger one is refused
  with 413 before it is read;
- ``fast_path`` [MLCYCLE_FAST_PATH, default true]: use the compiled prediction path when the
  pipeline compiles, else scikit-learn;
- ``gc_freeze`` [MLCYCLE_GC_FREEZE, default true]: once loaded, move every object to the garbage
  collector's permanent generation (``gc.freeze``), so a full collection scans only what requests
  left behind, not the model's objects (a full collection of the loaded demo took 42 ms, a request's
  stall); with it, ``gc_threshold`` [MLCYCLE_GC_THRESHOLD, default 10000]: allocations between
  young-generation collections (Python's default is 700; 0 keeps it);
- ``switch_interval_ms`` [MLCYCLE_SWITCH_INTERVAL_MS, default 0.5]: how long a thread holds the
  interpreter lock while another waits for it (Python's default is 5 ms): a request ready to run waits at
  most this long for the log writer's or the metrics publisher's Python code (0 keeps it).

A classifier answers class probabilities, a regressor one number per row named after the target (see
:meth:`Model.predict_raw`); feedback carries the true class, or the true number.

Which path serves, and why, is logged once at load (a warning when the fast path was wanted but the
model falls back to scikit-learn), shown by ``/health/status`` (``prediction_path``,
``prediction_path_reason``) and labelled in Prometheus: the gauge ``mlcycle_prediction_path{path=...}``
(1 for the serving path) and ``path`` on ``mlcycle_predictions``.

This module imports without seldon_core (the pipeline environment uses it for the infrastructure
check); seldon_core is imported only to turn errors into Seldon's HTTP answers.
"""

from __future__ import annotations

import atexit
import gc
import logging
import math
import os
import random
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from components.common.errors import ConfigError, DataError, UserError
from components.common.models import model_task
from components.common.serving_logs import FEEDBACK, REQUESTS
from components.serve.loader import (
    REGRESSION,
    UNNAMED_TARGET,
    LoadedModel,
    VersionInfo,
    describe_folder,
    describe_version,
    fetch_version,
    load_folder,
    parse_model_uri,
)
from components.serve.logs import (
    BatchWriter,
    WriteFailed,
    prediction_lines,
    regression_lines,
    request_line,
    s3_batch_write,
)
from components.serve.schema import ServingSchema
from components.serve.validation import Batch, RequestError, model_columns, model_frame, parse_request

log = logging.getLogger(__name__)

STORAGE_INITIALIZER_FOLDER = "/mnt/models"
PREDICTIONS_METRIC = "mlcycle_predictions"
LATENCY_METRIC = "mlcycle_prediction_latency"
FEEDBACK_METRIC = "mlcycle_feedback_rows"
PREDICTION_PATH_METRIC = "mlcycle_prediction_path"
FAST_PATH = "fast"
SKLEARN_PATH = "scikit-learn"
# The paths of Seldon's wrapper whose bodies are checked for malformed JSON before Seldon reads them.
JSON_PATHS = frozenset(
    {
        "/predict",
        "/api/v1.0/predictions",
        "/api/v0.1/predictions",
        "/send-feedback",
        "/api/v1.0/feedback",
        "/api/v0.1/feedback",
    }
)


@dataclass(frozen=True)
class PredictionPath:
    """How predictions are computed, and why.

    Attributes:
        name: ``fast`` (the compiled path) or ``scikit-learn`` (the pipeline's own ``predict_proba``, or
            ``predict`` of a regressor).
        reason: Why this path serves, in one phrase.
        model: The compiled model on the fast path, else None.
    """

    name: str
    reason: str
    model: Any = None


class ServingError(UserError):
    """An error the server answers with an HTTP status other than 400."""

    def __init__(
        self, message: str, hint: str = "", status_code: int = 500, reason: str = "MICROSERVICE_INTERNAL_ERROR"
    ) -> None:
        super().__init__(message, hint)
        self.status_code = status_code
        self.reason = reason


@dataclass(frozen=True)
class ServingOptions:
    """The model class's settings, from Seldon parameters and the environment (see the module doc)."""

    model_uri: str = ""
    use_case: str = ""
    model: str = "production"
    model_sha256: str = ""
    request_log_rate: float = 1.0
    feedback: bool = True
    log_flush_seconds: float = 10.0
    log_batch_rows: int = 10_000
    max_batch: int = 0
    max_request_mb: float = 10.0
    fast_path: bool = True
    gc_freeze: bool = True
    gc_threshold: int = 10_000
    switch_interval_ms: float = 0.5


def serving_options(params: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> ServingOptions:
    """Reads the settings: Seldon parameters first, then MLCYCLE_* environment variables, then defaults.

    Raises:
        ConfigError: If a parameter is unknown or a value does not parse.
    """
    environ = os.environ if environ is None else environ
    defaults = ServingOptions()
    unknown = sorted(set(params) - set(defaults.__dataclass_fields__))
    if unknown:
        raise ConfigError(
            f"unknown model parameter {unknown[0]!r}", hint=f"parameters: {', '.join(defaults.__dataclass_fields__)}"
        )
    values: dict[str, Any] = {}
    for name, default in defaults.__dict__.items():
        raw = params.get(name, environ.get(f"MLCYCLE_{name.upper()}"))
        if raw is None or raw == "":
            continue
        try:
            if isinstance(default, bool):
                value: Any = raw if isinstance(raw, bool) else str(raw).strip().lower() in ("1", "true", "yes", "on")
            else:
                value = type(default)(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"model parameter {name} is {raw!r}, not a {type(default).__name__}") from None
        values[name] = value
    options = replace(defaults, **values)
    if not 0.0 <= options.request_log_rate <= 1.0:
        raise ConfigError(f"request_log_rate is {options.request_log_rate}, not between 0 and 1")
    if not options.max_request_mb > 0:
        raise ConfigError(f"max_request_mb is {options.max_request_mb}, not a positive number of megabytes")
    if not options.model_uri and not options.use_case and Path(STORAGE_INITIALIZER_FOLDER).is_dir():
        options = replace(options, model_uri=STORAGE_INITIALIZER_FOLDER)
    if not options.model_uri and not options.use_case:
        raise ConfigError(
            "no model to serve: neither model_uri nor use_case is set",
            hint="set the model_uri parameter (a version folder or s3:// URI) or use_case and model",
        )
    return options


class Model:
    """A registered model version served through Seldon Core's Python wrapper.

    Args:
        **params: Seldon parameters (see the module docstring).
    """

    def __init__(self, **params: Any) -> None:
        self.options = serving_options(params)
        self.loaded: LoadedModel | None = None
        self.schema: ServingSchema | None = None
        self.prediction_path: PredictionPath | None = None
        self._requests: BatchWriter | None = None
        self._feedback: BatchWriter | None = None
        self._writers_pid: int | None = None
        self._lock = threading.Lock()
        self._bad_requests = 0
        self._internal_errors = 0
        self._closed = False

    # --- Seldon hooks: life cycle ----------------------------------------------------------------

    def load(self) -> None:
        """Seldon's load hook (once per gunicorn worker): the model, then this process's log writers.

        Raises:
            IntegrityError: If the model file is not the registered one; nothing is served.
            NotFoundError: If the version does not exist.
        """
        self.load_model()
        self.start_logging()
        if self.options.gc_freeze:
            freeze_loaded_objects(self.options.gc_threshold)
        if self.options.switch_interval_ms > 0:
            sys.setswitchinterval(self.options.switch_interval_ms / 1000.0)

    def load_model(self) -> None:
        """Loads the model, its digest checked before unpickling (idempotent; safe before a fork).

        Raises:
            IntegrityError: If the model file is not the registered one; nothing is served.
            NotFoundError: If the version does not exist.
        """
        if self.loaded is not None:
            return
        options = self.options
        with tempfile.TemporaryDirectory(prefix="mlcycle-model-") as scratch:
            loaded = load_folder(self._local_folder(Path(scratch)), options.model_sha256)
        schema = loaded.schema
        if options.max_batch:
            schema = replace(schema, max_batch=options.max_batch)
        if options.fast_path:
            path = compile_fast_path(loaded, schema)
        else:
            path = PredictionPath(SKLEARN_PATH, "the fast_path parameter is off")
        self.prediction_path, self.loaded, self.schema = path, loaded, schema
        log.log(
            logging.WARNING if options.fast_path and path.name != FAST_PATH else logging.INFO,
            "prediction path: %s (%s)",
            path.name,
            path.reason,
        )
        log.info(
            "serving model version %s of %r (sha256 %s…, %s path, request log rate %.2f)",
            loaded.info.version,
            loaded.info.use_case,
            loaded.info.sha256[:12],
            path.name,
            options.request_log_rate,
        )

    def start_logging(self) -> None:
        """Starts this process's request and feedback log writers, flushed at exit.

        Threads do not survive a fork, so each gunicorn worker starts its own.
        """
        if self._writers_pid == os.getpid():
            return
        self._writers_pid = os.getpid()
        self._requests = self._feedback = None
        self._closed = False
        self._start_writers()
        atexit.register(self.close)

    def close(self) -> None:
        """Flushes the request and feedback logs (runs at a graceful shutdown; idempotent)."""
        if self._closed or self._writers_pid != os.getpid():
            return
        self._closed = True
        for writer in (self._requests, self._feedback):
            if writer is not None:
                stats = writer.close()
                log.info("log writer closed: %s", stats)

    # --- Seldon hooks: requests ------------------------------------------------------------------

    def predict_raw(self, request: Any) -> dict[str, Any]:
        """Answers a prediction request (a SeldonMessage as JSON) with class probabilities or predicted values.

        A classifier: ``data.names`` + ``data.ndarray`` in gives ``data.names`` (class labels) +
        ``data.ndarray`` (one probability per class and row) out; ``jsonData`` records in give
        ``jsonData.predictions`` (per row ``prediction`` and ``probabilities``) out. A regressor:
        ``data.names`` (the target) + ``data.ndarray`` (``[[value], ...]``) out, or ``jsonData.predictions``
        (per row ``prediction``, a number). ``meta.puid`` is the client's, or a new id to quote in
        feedback; ``meta.tags`` name the model version.

        Raises:
            SeldonMicroserviceException: 400 naming the field and problem for a bad request;
                500 without internals for anything else (logged with its traceback).
        """
        received = datetime.now(timezone.utc)
        started = time.perf_counter()
        try:
            loaded, schema = self._require_loaded()
            batch = parse_request(request, schema)
            outputs = self._predict(batch)
        except RequestError as error:
            self._count("_bad_requests")
            raise http_error(error) from None
        except ServingError as error:
            raise http_error(error) from None
        except Exception:
            raise self._internal_error("predicting") from None
        request_id = batch.request_id or uuid.uuid4().hex
        if self._requests is not None and random.random() < self.options.request_log_rate:
            # Encoded here, one line per request: a buffer of bytes keeps the writer thread's work off the
            # interpreter lock and gives the garbage collector no objects to scan.
            classes = None if loaded.task == REGRESSION else loaded.classes
            line = request_line(
                batch.values, outputs, classes, loaded.info.version, received, request_id, schema.log_exclude
            )
            self._requests.add([line], rows=batch.rows)
        return self._answer(batch, outputs, request_id, time.perf_counter() - started)

    def send_feedback_raw(self, feedback: Any) -> Any:
        """Stores ground truth with the original features and the prediction; answers once durable.

        Args:
            feedback: Seldon's Feedback proto (``request``, ``response``, ``truth``, ``reward``).

        Returns:
            A SeldonMessage proto whose jsonData says how many rows were stored.

        Raises:
            SeldonMicroserviceException: 400 for a bad message, 503 when the feedback could not be
                stored (nothing was acknowledged), 500 for anything else.
        """
        from google.protobuf import json_format
        from seldon_core.proto import prediction_pb2

        document = json_format.MessageToDict(feedback)
        try:
            stored = self.store_feedback(document)
        except (RequestError, ServingError) as error:
            if isinstance(error, RequestError):
                self._count("_bad_requests")
            raise http_error(error) from None
        except Exception:
            raise self._internal_error("storing feedback") from None
        answer = {
            "jsonData": {"stored": stored, "model_version": self.loaded.info.version},
            "meta": {"metrics": [{"type": "COUNTER", "key": FEEDBACK_METRIC, "value": stored}]},
        }
        return json_format.ParseDict(answer, prediction_pb2.SeldonMessage())

    def store_feedback(self, document: Mapping[str, Any]) -> int:
        """The core of feedback: validates, builds the log lines and waits until they are stored.

        Args:
            document: ``{"request": SeldonMessage, "response": SeldonMessage, "truth": SeldonMessage}``
                as plain JSON data (``response`` optional: without it the prediction is recomputed).

        Returns:
            The number of rows stored.

        Raises:
            RequestError: If the request or truth is malformed or does not fit the model.
            ServingError: 503 if feedback is not stored here or the store failed.
        """
        received = datetime.now(timezone.utc)
        loaded, schema = self._require_loaded()
        if self._feedback is None:
            raise ServingError(
                "this server does not store feedback",
                hint="start it with S3 settings and feedback enabled",
                status_code=503,
                reason="FEEDBACK_UNAVAILABLE",
            )
        if not isinstance(document.get("request"), Mapping):
            raise RequestError(
                "feedback has no request", hint="send the request the prediction answered, under 'request'"
            )
        try:
            batch = parse_request(document["request"], schema)
        except RequestError as error:
            raise RequestError(f"feedback request: {error.message}", hint=error.hint) from None
        regressor = loaded.task == REGRESSION
        truth_message = document.get("truth")
        if regressor:
            truth: list[Any] = parse_numeric_truth(truth_message, batch.rows)
        else:
            truth = parse_truth(truth_message, batch.rows, loaded.classes)
        response = document.get("response") if isinstance(document.get("response"), Mapping) else {}
        if regressor:
            served = served_predictions(response, batch.rows, loaded.target)
        else:
            served = served_probabilities(response, batch.rows, loaded.classes)
        version = loaded.info.version
        if served is None:
            served = self._predict(batch)
        else:
            tags = response.get("meta", {}).get("tags", {}) if isinstance(response.get("meta"), Mapping) else {}
            version = str(tags.get("model_version") or version)
        request_id = batch.request_id or _puid(response)
        records = [batch.record(row) for row in range(batch.rows)]
        lines = log_lines(loaded, records, served, version, received, request_id, schema, truth)
        try:
            self._feedback.add_and_wait(lines)
        except WriteFailed as error:
            raise ServingError(
                f"feedback not stored: {error}",
                hint="send it again later",
                status_code=503,
                reason="FEEDBACK_NOT_STORED",
            ) from None
        return batch.rows

    # --- Seldon hooks: description ---------------------------------------------------------------

    def tags(self) -> dict[str, str]:
        """Tags Seldon adds to answers of the non-raw paths: the use case and model version."""
        if self.loaded is None:
            return {}
        return {"use_case": self.loaded.info.use_case, "model_version": self.loaded.info.version}

    def class_names(self) -> list[str]:
        """The answer's ``data.names``: the class labels as text, or a regressor's target."""
        if self.loaded is None:
            return []
        if self.loaded.task == REGRESSION:
            return [self.loaded.target]
        return [str(c) for c in self.loaded.classes]

    def health_status(self) -> dict[str, Any]:
        """``/health/status``: the model version and the log writers' counters; 503 until loaded."""
        try:
            loaded, _ = self._require_loaded()
        except ServingError as error:
            raise http_error(error) from None
        status: dict[str, Any] = {
            "status": "ok",
            "use_case": loaded.info.use_case,
            "model_version": loaded.info.version,
            "model_sha256": loaded.info.sha256,
            "task": loaded.task,
            "prediction_path": self.prediction_path.name,
            "prediction_path_reason": self.prediction_path.reason,
            "bad_requests": self._bad_requests,
            "internal_errors": self._internal_errors,
        }
        for name, writer in (("request_log", self._requests), ("feedback_log", self._feedback)):
            status[name] = writer.stats().__dict__ if writer is not None else "off"
        return status

    def metrics(self) -> list[dict[str, Any]]:
        """Seldon's metrics hook (it runs on health checks too, so only gauges of running totals)."""
        gauges = [
            {"type": "GAUGE", "key": "mlcycle_bad_requests", "value": self._bad_requests},
            {"type": "GAUGE", "key": "mlcycle_internal_errors", "value": self._internal_errors},
        ]
        if self.prediction_path is not None:
            path = {"path": self.prediction_path.name}
            gauges.append({"type": "GAUGE", "key": PREDICTION_PATH_METRIC, "value": 1, "tags": path})
        if self._requests is not None:
            stats = self._requests.stats()
            gauges += [
                {"type": "GAUGE", "key": "mlcycle_request_log_buffered_rows", "value": stats.buffered},
                {"type": "GAUGE", "key": "mlcycle_request_log_dropped_rows", "value": stats.dropped},
            ]
        return gauges

    def init_metadata(self) -> dict[str, Any]:
        """``/metadata``: the model version, its inputs and outputs, read from the manifest (no unpickling).

        Before the model is loaded, its task is the one its training record names (none: a classifier).
        """
        info = self._describe()
        types = {"int": "INT64", "float": "FP64", "string": "BYTES", "datetime": "BYTES", "label": "BYTES"}
        inputs = [
            {"name": f.name, "datatype": types[f.value_type], "shape": [-1]}
            for f in (info.schema.features if info.schema else ())
        ]
        task = self.loaded.task if self.loaded is not None else model_task(info.manifest)
        if task == REGRESSION:
            target = (info.schema.target if info.schema else "") or UNNAMED_TARGET
            outputs = [{"name": target, "datatype": "FP64", "shape": [-1, 1]}]
        else:
            outputs = [{"name": "probabilities", "datatype": "FP64", "shape": [-1, -1]}]
        return {
            "name": info.use_case,
            "versions": [info.version],
            "platform": "sklearn",
            "inputs": inputs,
            "outputs": outputs,
            "custom": {"model_sha256": info.sha256},
        }

    @property
    def model_error_handler(self) -> Any:
        """A Flask blueprint Seldon registers: refuses oversized bodies (413) and malformed JSON (400, saying where)."""
        return json_check_blueprint(int(self.options.max_request_mb * BYTES_PER_MB))

    # --- internals -------------------------------------------------------------------------------

    def _predict(self, batch: Batch) -> np.ndarray:
        """Class probabilities (rows, classes) of a classifier, predicted values (rows,) of a regressor."""
        loaded, schema, fast = self.loaded, self.schema, self.prediction_path.model
        try:
            if fast is not None:
                outputs = np.asarray(fast.outputs(model_columns(batch, schema)))
            else:
                outputs = loaded.outputs(model_frame(batch, schema))
        except DataError as error:
            # After validation, only the request's values make either path refuse: a number the scaler lifts
            # beyond a random forest's float32 input, for one.
            raise RequestError(error.message, hint=error.hint) from None
        finite = np.isfinite(outputs)
        if not finite.all():
            # Values within float32's range can still take a linear model's sum past float64's: JSON has no
            # infinity, so the row is refused rather than answered (or logged) as something else.
            row = int(np.flatnonzero(~finite.reshape(len(outputs), -1).all(axis=1))[0])
            raise RequestError(
                f"the model's output for row {row} is not a finite number",
                hint="its values are far outside the training data's: check its numbers and their units",
            )
        return outputs

    def _answer(self, batch: Batch, outputs: np.ndarray, request_id: str, seconds: float) -> dict[str, Any]:
        metrics: list[dict[str, Any]] = [{"type": "TIMER", "key": LATENCY_METRIC, "value": seconds * 1000.0}]
        if self.loaded.task == REGRESSION:
            return self._regression_answer(batch, outputs, request_id, metrics)
        probabilities = outputs
        classes = self.loaded.classes
        predicted = np.argmax(probabilities, axis=1)
        # bincount rather than np.unique, which sorts: 0.3 against 5 us of a single-row request
        for index, count in enumerate(np.bincount(predicted, minlength=len(classes)).tolist()):
            if count:
                metrics.append(
                    {
                        "type": "COUNTER",
                        "key": PREDICTIONS_METRIC,
                        "value": count,
                        "tags": {"class": str(classes[index]), "path": self.prediction_path.name},
                    }
                )
        meta = {"puid": request_id, "tags": self.tags(), "metrics": metrics}
        rows = probabilities.tolist()
        if batch.shape == "jsonData":
            labels = [str(c) for c in classes]
            predictions = [
                {"prediction": classes[best], "probabilities": dict(zip(labels, row, strict=True))}
                for best, row in zip(predicted.tolist(), rows, strict=True)
            ]
            return {"jsonData": {"predictions": predictions}, "meta": meta}
        return {"data": {"names": [str(c) for c in classes], "ndarray": rows}, "meta": meta}

    def _regression_answer(
        self, batch: Batch, predictions: np.ndarray, request_id: str, metrics: list[dict[str, Any]]
    ) -> dict[str, Any]:
        tags = {"path": self.prediction_path.name}
        metrics.append({"type": "COUNTER", "key": PREDICTIONS_METRIC, "value": batch.rows, "tags": tags})
        meta = {"puid": request_id, "tags": self.tags(), "metrics": metrics}
        values = [float(value) for value in predictions]
        if batch.shape == "jsonData":
            return {"jsonData": {"predictions": [{"prediction": value} for value in values]}, "meta": meta}
        return {"data": {"names": [self.loaded.target], "ndarray": [[value] for value in values]}, "meta": meta}

    def _require_loaded(self) -> tuple[LoadedModel, ServingSchema]:
        if self.loaded is None or self.schema is None:
            raise ServingError("the model is not loaded yet", hint="retry shortly", status_code=503, reason="NOT_READY")
        return self.loaded, self.schema

    def _internal_error(self, doing: str) -> Exception:
        incident = uuid.uuid4().hex[:12]
        log.exception("internal error %s while %s", incident, doing)
        self._count("_internal_errors")
        return http_error(
            ServingError(f"internal error while {doing} (incident {incident})", hint="the server log has the details")
        )

    def _count(self, counter: str) -> None:
        with self._lock:
            setattr(self, counter, getattr(self, counter) + 1)

    def _local_folder(self, scratch: Path) -> Path:
        options = self.options
        location = parse_model_uri(options.model_uri) if options.model_uri else (options.use_case, options.model)
        if location is None:
            return Path(options.model_uri)
        return fetch_version(_store(), location[0], location[1], scratch)

    def _describe(self) -> VersionInfo:
        if self.loaded is not None:
            return replace(self.loaded.info, schema=self.schema)
        options = self.options
        location = parse_model_uri(options.model_uri) if options.model_uri else (options.use_case, options.model)
        if location is None:
            return describe_folder(Path(options.model_uri))
        return describe_version(_store(), location[0], location[1])

    def _start_writers(self) -> None:
        options = self.options
        if options.request_log_rate <= 0 and not options.feedback:
            return
        try:
            store = _store()
        except ConfigError as error:
            log.warning("request and feedback logs are off: %s", error)
            return
        info = self.loaded.info
        if options.request_log_rate > 0:
            self._requests = BatchWriter(
                s3_batch_write(store, info.use_case, REQUESTS, info.version),
                max_rows=options.log_batch_rows,
                max_seconds=options.log_flush_seconds,
                name="request-log",
            )
        if options.feedback:
            self._feedback = BatchWriter(
                s3_batch_write(store, info.use_case, FEEDBACK, info.version), name="feedback-log"
            )


def freeze_loaded_objects(young_threshold: int = 0) -> None:
    """Keeps the garbage collector off what is loaded: collects, then freezes every object (``gc.freeze``).

    A full collection scans every tracked object; frozen ones are skipped, so after the model is
    loaded it costs what the requests left behind instead of the model's 100,000-odd objects.

    Args:
        young_threshold: Allocations between young-generation collections (0 keeps the current one).
    """
    gc.collect()
    gc.freeze()
    if young_threshold > 0:
        gc.set_threshold(young_threshold, *gc.get_threshold()[1:])


def compile_fast_path(loaded: LoadedModel, schema: ServingSchema) -> PredictionPath:
    """The prediction path of a pipeline: the compiled one, or scikit-learn where it is unavailable or disagrees.

    The fast path must give scikit-learn's probabilities (a regressor's values) to 1e-9; that is checked
    here on probe rows built from the schema (typical values and, where allowed, missing ones) before it
    is used.
    """
    try:
        # The fast path reads scikit-learn's internals: where they are absent, the server still serves.
        from components.serve.fastpath import UnsupportedModel, compile_model
    except ImportError as error:
        return PredictionPath(SKLEARN_PATH, f"the fast path does not import ({error})")
    try:
        fast = compile_model(loaded.pipeline)
    except UnsupportedModel as error:
        return PredictionPath(SKLEARN_PATH, f"no fast prediction path: {error.reason}")
    probe = probe_batch(schema)
    try:
        expected = loaded.outputs(model_frame(probe, schema))
        actual = np.asarray(fast.outputs(model_columns(probe, schema)))
        agrees = actual.shape == expected.shape and np.allclose(actual, expected, rtol=0, atol=1e-9)
    except Exception as error:  # a fast path that fails on valid rows is not used
        return PredictionPath(SKLEARN_PATH, f"the fast path failed on probe rows ({type(error).__name__}: {error})")
    if not agrees:
        return PredictionPath(SKLEARN_PATH, "the fast path disagrees with scikit-learn on probe rows")
    return PredictionPath(FAST_PATH, f"{fast!r} equals scikit-learn on probe rows", fast)


def probe_batch(schema: ServingSchema) -> Batch:
    """Rows every schema accepts: typical values, then nulls where allowed, then other values."""
    typical = {"int": 1, "float": 0.5, "string": "a", "datetime": "2024-03-01T12:00:00Z", "label": "a"}
    other = {"int": 7, "float": -3.25, "string": "zz", "datetime": "2023-12-30T23:00:00Z", "label": 3}
    values = {
        f.name: [typical[f.value_type], None if f.nullable else typical[f.value_type], other[f.value_type]]
        for f in schema.features
    }
    return Batch("ndarray", 3, values)


def log_lines(
    loaded: LoadedModel,
    records: list[dict[str, Any]],
    outputs: np.ndarray,
    version: str,
    received: datetime,
    request_id: str | None,
    schema: ServingSchema,
    truth: list[Any] | None = None,
) -> list[dict[str, Any]]:
    """The request or feedback log lines of an answer: a classifier's probabilities, or a regressor's values."""
    if loaded.task == REGRESSION:
        return regression_lines(records, outputs, version, received, request_id, truth, schema.log_exclude)
    return prediction_lines(
        records, outputs, loaded.classes, version, received, request_id, truth=truth, exclude=schema.log_exclude
    )


def served_predictions(response: Mapping[str, Any], rows: int, target: str) -> np.ndarray | None:
    """A regressor's values a prediction answer carried (either shape), or None if it carries none that fit."""
    try:
        data = response.get("data")
        if isinstance(data, Mapping) and data.get("names") == [target]:
            values = np.asarray(data["ndarray"], dtype="float64")
            values = values.reshape(-1) if values.ndim == 2 and values.shape[1:] == (1,) else values
        elif isinstance(response.get("jsonData"), Mapping):
            predictions = response["jsonData"]["predictions"]
            if any(isinstance(p["prediction"], bool) for p in predictions):
                return None
            values = np.asarray([p["prediction"] for p in predictions], dtype="float64")
        else:
            return None
    except (KeyError, TypeError, ValueError):
        return None
    if values.shape != (rows,) or not np.all(np.isfinite(values)):
        return None
    return values


def parse_numeric_truth(truth: Any, rows: int) -> list[float]:
    """The true value of each row of a regressor's feedback.

    Accepts a SeldonMessage with ``data.ndarray`` (``[12.5, 3]`` or ``[[12.5], [3]]``) or ``jsonData``
    (a list, or ``{"truth": [...]}``).

    Raises:
        RequestError: If it is missing, has another number of rows, or a value is not a finite number.
    """
    hint = 'send "truth": {"data": {"ndarray": [<true value of row 0>, ...]}}'
    values = _truth_values(truth, rows, hint)
    numbers = []
    for row, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise RequestError(f"feedback truth row {row}: {value!r} is not a finite number", hint=hint)
        numbers.append(float(value))
    return numbers


def served_probabilities(response: Mapping[str, Any], rows: int, classes: tuple[Any, ...]) -> np.ndarray | None:
    """The probabilities a prediction answer carried (either shape), or None if it carries none that fit."""
    labels = [str(c) for c in classes]
    try:
        data = response.get("data")
        if isinstance(data, Mapping) and data.get("names") == labels:
            values = np.asarray(data["ndarray"], dtype="float64")
        elif isinstance(response.get("jsonData"), Mapping):
            predictions = response["jsonData"]["predictions"]
            values = np.asarray([[p["probabilities"][label] for label in labels] for p in predictions], dtype="float64")
        else:
            return None
    except (KeyError, TypeError, ValueError):
        return None
    if values.shape != (rows, len(classes)) or not np.all(np.isfinite(values)):
        return None
    return values


def parse_truth(truth: Any, rows: int, classes: tuple[Any, ...]) -> list[Any]:
    """The true class of each row, as the model's class labels.

    Accepts a SeldonMessage with ``data.ndarray`` (``[1, 0]`` or ``[[1], [0]]``) or ``jsonData``
    (a list, or ``{"truth": [...]}``).

    Raises:
        RequestError: If it is missing, has another number of rows, or names an unknown class.
    """
    hint = 'send "truth": {"data": {"ndarray": [<class of row 0>, ...]}}'
    values = _truth_values(truth, rows, hint)
    by_text = {str(c): c for c in classes}
    labels = []
    for row, value in enumerate(values):
        label = _match_class(value, classes, by_text)
        if label is _NO_CLASS:
            raise RequestError(
                f"feedback truth row {row}: {value!r} is not a class of the model",
                hint=f"classes: {', '.join(map(str, classes))}",
            )
        labels.append(label)
    return labels


def _truth_values(truth: Any, rows: int, hint: str) -> list[Any]:
    """The per-row values of a feedback's truth message (``[[v], ...]`` unwrapped), one per request row."""
    values: Any = None
    if isinstance(truth, Mapping):
        data = truth.get("data")
        if isinstance(data, Mapping) and "ndarray" in data:
            values = data["ndarray"]
        elif "jsonData" in truth:
            values = truth["jsonData"]
            values = values.get("truth") if isinstance(values, Mapping) else values
    if not isinstance(values, list):
        raise RequestError("feedback has no truth", hint=hint)
    values = [v[0] if isinstance(v, list) and len(v) == 1 else v for v in values]
    if len(values) != rows:
        raise RequestError(f"feedback truth has {len(values)} rows but its request has {rows}", hint=hint)
    return values


_NO_CLASS = object()


def _match_class(value: Any, classes: tuple[Any, ...], by_text: dict[str, Any]) -> Any:
    if isinstance(value, bool) or value is None:
        return _NO_CLASS
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)  # Seldon's protobuf turns every JSON number into a double
    for label in classes:
        if type(label) is type(value) and label == value:
            return label
    if isinstance(value, str) and value in by_text:
        return by_text[value]
    if isinstance(value, int):
        return by_text.get(str(value), _NO_CLASS)
    return _NO_CLASS


def _puid(message: Mapping[str, Any]) -> str | None:
    meta = message.get("meta") if isinstance(message, Mapping) else None
    puid = meta.get("puid") if isinstance(meta, Mapping) else None
    return puid if isinstance(puid, str) and puid else None


def _store() -> Any:
    from components.common.s3_settings import s3_settings
    from components.common.storage import ObjectStore

    return ObjectStore.connect(s3_settings())


def http_error(error: UserError) -> Exception:
    """Seldon's exception for an HTTP error answer (400 for a request error).

    Where seldon_core is not installed (the pipeline environment), the error itself.
    """
    try:
        from seldon_core.flask_utils import SeldonMicroserviceException
    except ImportError:
        return error
    status = getattr(error, "status_code", 400)
    reason = getattr(error, "reason", "MICROSERVICE_BAD_DATA")
    return SeldonMicroserviceException(str(error), status_code=status, reason=reason)


BYTES_PER_MB = 1024 * 1024


def json_check_blueprint(max_body_bytes: int = 10 * BYTES_PER_MB) -> Any:
    """A Flask blueprint that refuses oversized bodies with a 413 and malformed JSON with a 400 saying where.

    A body over ``max_body_bytes`` is refused by its Content-Length before a byte of it is read (a chunked
    body without one is read up to the limit and no further). Seldon's own answer to bad JSON is "Can't find
    JSON in data"; this one names the line and column. A body that parses is cached by Flask, so Seldon
    does not parse it again.

    Args:
        max_body_bytes: The largest request body accepted.
    """
    import json

    from flask import Blueprint, request
    from seldon_core.flask_utils import SeldonMicroserviceException

    blueprint = Blueprint("mlcycle_json_check", __name__)

    def too_large() -> Exception:
        return SeldonMicroserviceException(
            f"the request body is over the {max_body_bytes / BYTES_PER_MB:g} MB limit "
            "(hint: send fewer rows per request; the server's max_request_mb parameter sets the limit)",
            status_code=413,
            reason="REQUEST_TOO_LARGE",
        )

    @blueprint.before_app_request
    def check_size() -> None:
        if request.method != "POST":
            return
        if request.content_length is not None:
            if request.content_length > max_body_bytes:
                raise too_large()
            return
        # No Content-Length (chunked): read one byte past the limit at most, and keep what was read for Flask.
        body = request.stream.read(max_body_bytes + 1)
        if len(body) > max_body_bytes:
            raise too_large()
        request._cached_data = body  # werkzeug's cache of get_data(); the stream is spent

    @blueprint.before_app_request
    def check_json() -> None:
        if request.method != "POST" or request.path not in JSON_PATHS:
            return
        if (
            "multipart/form-data" in (request.content_type or "")
            or request.form.get("json")
            or request.args.get("json")
        ):
            return
        body = request.get_data(cache=True)
        if not body.strip():
            raise SeldonMicroserviceException("malformed JSON: the request body is empty (hint: send a JSON object)")
        parsed = request.get_json(force=True, silent=True)
        if isinstance(parsed, dict):
            return
        if parsed is not None:
            raise SeldonMicroserviceException(
                f"the request body must be a JSON object, not a {type(parsed).__name__} "
                '(hint: send {"data": ...} or {"jsonData": ...})'
            )
        try:
            json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            where = f" at line {error.lineno} column {error.colno}" if isinstance(error, json.JSONDecodeError) else ""
            problem = error.msg if isinstance(error, json.JSONDecodeError) else "the body is not UTF-8 text"
            raise SeldonMicroserviceException(
                f"malformed JSON{where}: {problem} (hint: send the body as one JSON object)"
            ) from None
        raise SeldonMicroserviceException("malformed JSON: the body is null (hint: send a JSON object)")

    return blueprint
