"""Where a served model comes from: a version folder, or the registry in S3, always digest-checked.

A registry version folder (what Seldon's storage initializer copies from the SeldonDeployment's
``modelUri`` s3://models/<use_case>/<version>/ into /mnt/models) holds ``model.joblib``,
``manifest.json``, the model cards and ``serving_schema.json``. On one machine the same files are
fetched from the registry by use case and version or stage into a temporary folder, so both
sources go through one loader: the model file's sha256 is checked against the manifest (and against
the digest the deployment pins, when given) before it is unpickled, since unpickling runs code.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.base import is_regressor

from components.common import models
from components.common.errors import DataError, IntegrityError, NotFoundError, UserError
from components.common.models import SERVING_SCHEMA_FILE
from components.common.refs import MANIFEST
from components.common.storage import ObjectStore, sha256_file, split_uri
from components.common.targets import Task
from components.serve.schema import ServingFeature, ServingSchema

log = logging.getLogger(__name__)

PICKLE_HINT = "a pickle runs code when loaded; deploy the registered version again, or fix the pinned digest"
CLASSIFICATION: Task = "classification"
REGRESSION: Task = "regression"
# A regressor's answer is named after the target; a schema written before it carried the name gives this one.
UNNAMED_TARGET = "prediction"
# What scikit-learn says of an input beyond an estimator's float32 (a number the scaler lifted that far).
SKLEARN_TOO_LARGE = "a value too large for dtype('float32')"


@dataclass(frozen=True)
class VersionInfo:
    """A model version as its folder describes it, before the model is unpickled.

    Attributes:
        use_case: The use case.
        version: The registry version id.
        sha256: The model file's digest recorded in the manifest.
        schema: The serving schema, or None for versions registered without one.
        manifest: The whole manifest.
    """

    use_case: str
    version: str
    sha256: str
    schema: ServingSchema | None
    manifest: dict[str, Any]


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to serve.

    Attributes:
        info: Its version, digest and serving schema.
        pipeline: The unpickled scikit-learn pipeline.
        schema: The serving schema (from the folder, or derived from the pipeline when absent).
        classes: The class labels as JSON natives, in ``predict_proba`` column order; empty for a regressor.
        task: ``classification`` (answers class probabilities) or ``regression`` (answers a number per row).
        target: The name of a regressor's answer: the schema's target, else ``prediction``.
    """

    info: VersionInfo
    pipeline: Any
    schema: ServingSchema
    classes: tuple[Any, ...]
    task: Task = CLASSIFICATION
    target: str = UNNAMED_TARGET

    def outputs(self, frame: pd.DataFrame) -> np.ndarray:
        """The pipeline's answer: class probabilities (rows, classes), or a regressor's values (rows,).

        Raises:
            DataError: If a number, once preprocessed, exceeds the estimator's float32 input, naming the
                first such row as the fast path does.
        """
        try:
            return self._outputs(frame)
        except ValueError as error:
            if SKLEARN_TOO_LARGE not in str(error):
                raise
            row = next((row for row in range(len(frame)) if self._refuses(frame.iloc[row : row + 1])), 0)
            raise DataError(
                f"row {row}: a number is too large for the model: once preprocessed it exceeds its float32 input",
                hint="send values within the range the feature takes",
            ) from None

    def _outputs(self, frame: pd.DataFrame) -> np.ndarray:
        if self.task == REGRESSION:
            return np.asarray(self.pipeline.predict(frame), dtype="float64")
        return self.pipeline.predict_proba(frame)

    def _refuses(self, frame: pd.DataFrame) -> bool:
        try:
            self._outputs(frame)
        except ValueError:
            return True
        return False


def describe_folder(folder: Path) -> VersionInfo:
    """Reads a version folder's manifest and serving schema (digest-checked); does not unpickle.

    Raises:
        NotFoundError: If the folder has no manifest.
        IntegrityError: If the manifest is not a model manifest or the schema does not match its digest.
    """
    folder = Path(folder)
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except FileNotFoundError:
        raise NotFoundError(
            f"{folder} holds no {MANIFEST}: not a registry model version folder",
            hint="point model_uri at a folder copied from s3://<models bucket>/<use_case>/<version>/",
        ) from None
    except (OSError, json.JSONDecodeError) as error:
        raise IntegrityError(f"cannot read {folder / MANIFEST}: {error}", hint=PICKLE_HINT) from None
    if not isinstance(manifest, dict) or manifest.get("kind") != "model" or "model" not in manifest:
        raise IntegrityError(f"{folder / MANIFEST} is not a model version manifest", hint=PICKLE_HINT)
    schema = None
    entry = manifest.get("serving_schema")
    if entry:
        path = folder / SERVING_SCHEMA_FILE
        if not path.is_file() or sha256_file(path) != entry["sha256"]:
            raise IntegrityError(
                f"{path} is missing or does not match the sha256 in {MANIFEST}",
                hint="copy the whole version folder from the registry again",
            )
        schema = ServingSchema.from_dict(json.loads(path.read_text()))
    return VersionInfo(manifest["use_case"], manifest["version"], manifest["model"]["sha256"], schema, manifest)


def load_folder(folder: Path, expected_sha256: str = "") -> LoadedModel:
    """Loads the model of a version folder, only if its bytes are the registered ones.

    Args:
        folder: The version folder.
        expected_sha256: The digest the deployment pins (for example from the GitOps overlay);
            empty to trust the manifest alone.

    Raises:
        NotFoundError: If the folder lacks the manifest or the model file.
        IntegrityError: If the model file differs from the manifest's digest or the pinned one;
            the file is then not unpickled.
    """
    folder = Path(folder)
    info = describe_folder(folder)
    path = folder / models.MODEL_FILE
    if not path.is_file():
        raise NotFoundError(
            f"{folder} holds no {models.MODEL_FILE}", hint="copy the whole version folder from the registry"
        )
    actual = sha256_file(path)
    for what, wanted in (("recorded in its manifest", info.sha256), ("pinned by the deployment", expected_sha256)):
        if wanted and actual != wanted.lower():
            raise IntegrityError(
                f"refusing to load {path} (model version {info.version} of {info.use_case!r}): sha256 "
                f"{actual[:12]}… differs from the {wanted[:12]}… {what}",
                hint=PICKLE_HINT,
            )
    pipeline = joblib.load(path)
    task = served_task(pipeline, info)
    schema = info.schema or schema_from_pipeline(pipeline, info.use_case)
    if task == REGRESSION:
        return LoadedModel(info, pipeline, schema, (), REGRESSION, schema.target or UNNAMED_TARGET)
    classes = tuple(c.item() if hasattr(c, "item") else c for c in pipeline.classes_)
    return LoadedModel(info, pipeline, schema, classes, CLASSIFICATION, schema.target or UNNAMED_TARGET)


def served_task(pipeline: Any, info: VersionInfo) -> Task:
    """Whether an unpickled model answers as a classifier or a regressor, checked against its record.

    Raises:
        UserError: If the model is neither a regressor nor a classifier with ``predict_proba``.
        IntegrityError: If the training record names another task than the model has.
    """
    regressor = is_regressor(pipeline)
    if not regressor and not hasattr(pipeline, "predict_proba"):
        raise UserError(
            f"model version {info.version} is neither a regressor nor a classifier with predict_proba",
            hint="serve a model trained by the pipeline",
        )
    task = REGRESSION if regressor else CLASSIFICATION
    recorded = models.recorded_task(info.manifest)
    if recorded and recorded != task:
        raise IntegrityError(
            f"model version {info.version} of {info.use_case!r} records task {recorded!r} but its model is a "
            f"{'regressor' if regressor else 'classifier'}",
            hint="register the model again from its training run",
        )
    return task


def fetch_version(store: ObjectStore, use_case: str, reference: str, folder: Path) -> Path:
    """Copies a registry version into a folder laid out as Seldon's storage initializer lays it out.

    Args:
        store: The object store.
        use_case: The use case.
        reference: A version id, or ``latest``, ``staging`` or ``production``.
        folder: Where the files go (created).

    Returns:
        The folder.

    Raises:
        NotFoundError: If there is no such complete version.
        IntegrityError: If a file differs from the manifest's digest.
    """
    ref = models.resolve(store, use_case, reference)
    manifest = models.read_manifest(store, ref)
    bucket = store.bucket("models")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    entries = [manifest["model"]] + ([manifest["serving_schema"]] if manifest.get("serving_schema") else [])
    for entry in entries:
        name = entry["key"].rsplit("/", 1)[-1]
        store.get_file(bucket, entry["key"], folder / name, expected_sha256=entry["sha256"])
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return folder


def describe_version(store: ObjectStore, use_case: str, reference: str) -> VersionInfo:
    """Reads a registry version's manifest and serving schema without downloading the model."""
    ref = models.resolve(store, use_case, reference)
    manifest = models.read_manifest(store, ref)
    schema = None
    entry = manifest.get("serving_schema")
    if entry:
        schema = ServingSchema.from_dict(
            store.get_json(store.bucket("models"), entry["key"], expected_sha256=entry["sha256"])
        )
    return VersionInfo(manifest["use_case"], manifest["version"], manifest["model"]["sha256"], schema, manifest)


def parse_model_uri(uri: str) -> tuple[str, str] | None:
    """Returns (use case, version) of an ``s3://<bucket>/<use_case>/<version>/`` URI, None for a path."""
    if not uri.startswith("s3://"):
        return None
    _, key = split_uri(uri.rstrip("/") + "/")
    parts = [part for part in key.split("/") if part]
    if len(parts) != 2:
        raise UserError(
            f"model URI {uri!r} does not name one model version", hint="use s3://<models bucket>/<use_case>/<version>/"
        )
    return parts[0], parts[1]


def schema_from_pipeline(pipeline: Any, use_case: str) -> ServingSchema:
    """A permissive serving schema read from the pipeline's ColumnTransformer.

    For versions registered without serving_schema.json: every feature nullable, categories strings
    or integers.

    Raises:
        UserError: If the pipeline has no ColumnTransformer with named column groups.
    """
    transformer = getattr(pipeline, "named_steps", {}).get("preprocess")
    groups = getattr(transformer, "transformers", None)
    if not groups:
        raise UserError(
            f"a model version of {use_case!r} has no serving_schema.json and no preprocess step to read one from",
            hint="register the model again: registration writes serving_schema.json",
        )
    kinds = {
        "numeric": ("numeric", "float"),
        "categorical": ("categorical", "label"),
        "datetime": ("datetime", "datetime"),
    }
    features = []
    for name, _, columns in groups:
        if name in kinds:
            kind, value_type = kinds[name]
            features.extend(ServingFeature(str(column), kind, value_type, True) for column in columns)
    log.warning("model of %r has no serving_schema.json: using a permissive schema read from its pipeline", use_case)
    return ServingSchema(use_case, tuple(features))
