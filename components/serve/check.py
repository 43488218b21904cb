"""The infrastructure check of a candidate model: can the serving layer load and answer with it?

:func:`check_serving` lays the candidate out exactly as the registry and Seldon's storage
initializer would (a folder with model.joblib, manifest.json with its sha256, serving_schema.json),
loads it through the Seldon model class, sends sample rows in both payload shapes, and compares the
answers with the pipeline's own ``predict_proba`` (``predict`` of a regressor). A pure function over
files and a DataFrame: the task around it is in task.py; it needs no server, no S3 and no seldon_core.

:func:`serving_schema_from_text` derives the serving schema a candidate is checked with, and then
registered with (the check hands it on), from the use case and the curated schema text. It reads
TFDV's schema protos, which the serving image lacks: the server imports this module never.
"""

from __future__ import annotations

import json
import shutil
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from components.common.config import UseCaseConfig
from components.common.errors import IntegrityError
from components.common.models import MODEL_FILE, SERVING_SCHEMA_FILE
from components.common.refs import MANIFEST
from components.common.storage import sha256_file
from components.serve.client import payload, predictions, probabilities
from components.serve.loader import REGRESSION
from components.serve.model import Model  # the Seldon class; it imports without seldon_core
from components.serve.schema import ServingSchema, build_serving_schema

CANDIDATE_VERSION = "candidate"
TOLERANCE = 1e-9


@dataclass(frozen=True)
class ServingCheck:
    """The outcome of the infrastructure check.

    Attributes:
        passed: Whether every check passed.
        checks: One line per check, starting with PASS or FAIL.
        latency_ms: Median time of a single-row prediction through the model class (validation
            included, no HTTP), in milliseconds; None when the model did not load.
        prediction_path: ``fast`` or ``scikit-learn``: the path the server would take.
    """

    passed: bool
    checks: tuple[str, ...]
    latency_ms: float | None
    prediction_path: str

    def summary_lines(self) -> list[str]:
        """Returns one line per check, then the single-row latency and the prediction path."""
        latency = f"single-row latency through the model class: {self.latency_ms} ms ({self.prediction_path} path)"
        return [*self.checks, latency]

    def to_dict(self) -> dict[str, Any]:
        """Returns the result as plain data."""
        return {
            "passed": self.passed,
            "checks": list(self.checks),
            "latency_ms": self.latency_ms,
            "prediction_path": self.prediction_path,
        }


def serving_schema_from_text(config: UseCaseConfig, schema_text: str) -> ServingSchema:
    """Derives the serving schema of a use case from its curated TFDV schema, given as text protobuf.

    Args:
        config: The use case: feature names and kinds.
        schema_text: The curated schema (types and presence); empty: the use case alone decides.

    Returns:
        The serving schema (see components.serve.schema.build_serving_schema).
    """
    tfdv_schema = text_format.Parse(schema_text, schema_pb2.Schema()) if schema_text else None
    return build_serving_schema(config, tfdv_schema)


def assemble_candidate(model_file: Path, serving_schema: ServingSchema, folder: Path) -> Path:
    """Writes a version folder as the storage initializer would fill it: model, schema, manifest last."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(model_file, folder / MODEL_FILE)
    schema_path = folder / SERVING_SCHEMA_FILE
    schema_path.write_text(json.dumps(serving_schema.to_dict(), indent=2, sort_keys=True) + "\n")
    prefix = f"{serving_schema.use_case}/{CANDIDATE_VERSION}/"
    manifest = {
        "format_version": 1,
        "kind": "model",
        "use_case": serving_schema.use_case,
        "version": CANDIDATE_VERSION,
        "model": {
            "key": prefix + MODEL_FILE,
            "sha256": sha256_file(folder / MODEL_FILE),
            "bytes": (folder / MODEL_FILE).stat().st_size,
        },
        "serving_schema": {
            "key": prefix + SERVING_SCHEMA_FILE,
            "sha256": sha256_file(schema_path),
            "bytes": schema_path.stat().st_size,
        },
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return folder


def check_serving(
    model_file: Path,
    serving_schema: ServingSchema | Mapping[str, Any],
    sample: pd.DataFrame,
    labels: Sequence[Any] | None,
    work_dir: Path,
    max_rows: int = 50,
    latency_calls: int = 30,
) -> ServingCheck:
    """Checks that the serving layer loads a candidate model and answers as the pipeline predicts.

    Args:
        model_file: The fitted pipeline saved with joblib.
        serving_schema: Its serving schema (object or the JSON document).
        sample: Rows with the features (for example from the test split); at most ``max_rows`` are sent.
        labels: The class labels a classifier's answers must name (for example the label's classes in the
            schema), or None to take the model's; a regressor's answers name its target, whatever is given.
        work_dir: A scratch folder.
        max_rows: Rows sent per request.
        latency_calls: Single-row calls timed for the latency figure.

    Returns:
        The verdict with one line per check.
    """
    schema = serving_schema if isinstance(serving_schema, ServingSchema) else ServingSchema.from_dict(serving_schema)
    lines: list[str] = []
    work_dir = Path(work_dir)
    folder = assemble_candidate(Path(model_file), schema, work_dir / "candidate")

    def record(ok: bool, text: str) -> bool:
        lines.append(f"{'PASS' if ok else 'FAIL'} {text}")
        return ok

    try:
        # gc_freeze is for servers: in a pipeline task it would keep the task's later garbage from being collected.
        model = Model(model_uri=str(folder), request_log_rate=0.0, feedback=False, gc_freeze=False)
        model.load()
    except Exception as error:
        record(False, f"the model loads through the Seldon model class: {type(error).__name__}: {error}")
        return ServingCheck(False, tuple(lines), None, "none")
    record(
        True,
        "the model loads through the Seldon model class after its sha256 check "
        f"({model.health_status()['prediction_path']} path)",
    )

    tampered = assemble_candidate(Path(model_file), schema, work_dir / "tampered")
    with open(tampered / MODEL_FILE, "ab") as handle:
        handle.write(b"\0")
    try:
        Model(model_uri=str(tampered), request_log_rate=0.0, feedback=False, gc_freeze=False).load()
        record(False, "a model file altered after registration is refused")
    except IntegrityError:
        record(True, "a model file altered after registration is refused")

    rows = sample.head(max_rows)
    pipeline = joblib.load(Path(model_file))
    regressor = model.loaded.task == REGRESSION
    features = rows[list(schema.names)]
    expected = (
        np.asarray(pipeline.predict(features), dtype="float64") if regressor else pipeline.predict_proba(features)
    )
    classes = [str(c) for c in model.loaded.classes]
    if regressor:
        target = schema.target or model.loaded.target
        record(model.class_names() == [target], f"a regressor's answers name its target {target!r}")
    elif labels is not None:
        record(
            [str(label) for label in labels] == classes,
            f"the answers name the classes {classes} (expected {[str(x) for x in labels]})",
        )
    reference = "predict" if regressor else "predict_proba"
    for shape in ("ndarray", "jsonData"):
        try:
            body = json.loads(json.dumps(payload(rows, schema.names, shape)))  # as an HTTP client sends it
            answer = model.predict_raw(body)
            if regressor:
                names, served = predictions(answer)
                named = names == (model.class_names() if shape == "ndarray" else [])
            else:
                names, served = probabilities(answer)
                named = names == classes
            gap = float(np.max(np.abs(served - expected))) if served.shape == expected.shape else float("inf")
            record(
                named and gap <= TOLERANCE,
                f"{shape} request of {len(rows)} rows equals {reference} (largest gap {gap:.2e})",
            )
        except Exception as error:
            record(False, f"{shape} request of {len(rows)} rows is answered: {type(error).__name__}: {error}")

    bad = payload(rows.head(1), schema.names[1:], "ndarray")
    try:
        model.predict_raw(bad)
        record(False, f"a request without feature {schema.names[0]!r} is rejected")
    except Exception as error:
        status = getattr(error, "status_code", None)
        record(status == 400, f"a request without feature {schema.names[0]!r} is rejected with HTTP {status}")

    single = json.loads(json.dumps(payload(rows.head(1), schema.names)))
    timings = []
    try:
        for _ in range(latency_calls):
            started = time.perf_counter()
            model.predict_raw(single)
            timings.append((time.perf_counter() - started) * 1000.0)
    except Exception:  # the failure is recorded above already
        timings = []
    path = model.health_status()["prediction_path"]
    model.close()
    passed = all(line.startswith("PASS") for line in lines)
    return ServingCheck(passed, tuple(lines), round(statistics.median(timings), 3) if timings else None, path)
