"""Stage 6: registration in the model registry, stage changes and comparisons: the writing side.

Versions are immutable and content-addressed, laid out as components.common.models describes (the
reading side, which every stage above training uses). The version id is derived from the model's
bytes and its lineage (timings left out), so registering the same thing twice gives the same version and
writes nothing; the manifest is written last and is the commit point (components.common.publication), so
a crash mid-registration never exposes half a model, and registering again completes the folder it left.

stages.json is rewritten whole, in one PUT (atomic in S3), so a reader sees the old index or the new
one. Every change is a compare-and-swap on the object's ETag (``ObjectStore.update_json``): the change is
worked out again from a fresh read whenever another writer got in between, so two processes changing
stages at once both land, in some order, with the history complete; a rollback undoes the most recent
change of the index it read, not of an older one. A writer that loses every try is told so
(ConflictError) and nothing of its change is written.

The pure functions (version ids, lineage normalisation, stage history, comparison) work on plain
values and are unit-tested alone; the others are the shell around them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from components.common import publication
from components.common.config import canonical_json
from components.common.errors import NotFoundError, UserError
from components.common.models import (
    FORMAT_VERSION,
    SERVING_SCHEMA_FILE,
    STAGES,
    ModelRef,
    StageChange,
    StageError,
    Stages,
    check_stage,
    check_use_case,
    manifest_files,
    model_task,
    parse_stages,
    read_manifest,
    read_manifest_or_none,
    resolve,
    stages_key,
)
from components.common.provenance import code_version, utc_now
from components.common.publication import Outcome
from components.common.storage import ObjectStore, StoredObject, sha256_file

log = logging.getLogger(__name__)

# Where compare_manifests looks in a lineage; everything else in it is compared as "lineage".
METRICS_KEY = "metrics"
PARAMETERS_KEY = "parameters"
# Lineage entries whose names end so are measurements of time, kept out of version ids.
RUN_ID_KEY = "run_id"  # which run registered a version: lineage, not identity
TIMING_SUFFIX = "_seconds"


@dataclass(frozen=True)
class RegisterResult:
    """The outcome of registration.

    Attributes:
        ref: The model version.
        created: True only when this run created the version's manifest.
        manifest: The version's manifest.
        outcome: ``created``, ``unchanged`` (identical content was registered before and every file verifies:
            nothing written), ``repaired`` (missing or altered files were written again) or ``raced`` (another
            run registered the very same version at the same moment: its manifest stands).
    """

    ref: ModelRef
    created: bool
    manifest: dict[str, Any]
    outcome: Outcome = "created"


@dataclass(frozen=True)
class MetricDelta:
    """One metric of two versions side by side.

    Attributes:
        name: The metric's dotted path under the lineage's ``metrics``.
        left: Its value in the left version (None when absent).
        right: Its value in the right version (None when absent).
        difference: right minus left when both are numbers, else None.
    """

    name: str
    left: Any
    right: Any
    difference: float | None


@dataclass(frozen=True)
class Change:
    """A value that differs between two versions.

    Attributes:
        key: Its dotted path.
        left: The left version's value (None when absent there).
        right: The right version's value (None when absent there).
        status: ``changed``, ``added`` (only in right) or ``removed`` (only in left).
    """

    key: str
    left: Any
    right: Any
    status: Literal["changed", "added", "removed"]


@dataclass(frozen=True)
class ModelComparison:
    """What differs between two model versions.

    Attributes:
        left: The left version id.
        right: The right version id.
        same_model: Whether both hold the very same model bytes.
        metrics: Every metric of either version, side by side, sorted by name.
        parameters: The parameters that differ.
        lineage: The other lineage entries that differ (dataset version, schema digest, family...).
        manifest: Differences outside the lineage (blessed, code version, model digest and size).
    """

    left: str
    right: str
    same_model: bool
    metrics: tuple[MetricDelta, ...]
    parameters: tuple[Change, ...]
    lineage: tuple[Change, ...]
    manifest: tuple[Change, ...]

    def to_json(self) -> dict[str, Any]:
        """Returns the comparison as plain data."""
        return asdict(self)


# --- pure functions --------------------------------------------------------------------------


def normalize_lineage(lineage: Mapping[str, Any]) -> dict[str, Any]:
    """Returns the lineage as plain JSON data, exactly as it will be stored and hashed.

    Tuples become lists and keys become text, so equal lineages give equal ids however they were
    built; anything JSON cannot hold is refused rather than silently turned into text.

    Raises:
        UserError: If the lineage is not a mapping, holds values JSON cannot represent, or NaN/infinity.
    """
    if not isinstance(lineage, Mapping):
        raise UserError(f"lineage must be a mapping, not {type(lineage).__name__}")
    try:
        return json.loads(json.dumps(lineage, allow_nan=False))
    except TypeError as error:
        raise UserError(
            f"lineage holds a value JSON cannot represent: {error}",
            hint="convert numpy numbers with float()/int() and other objects to text before registering",
        ) from None
    except ValueError:
        raise UserError(
            "lineage holds NaN or infinity, which JSON cannot represent", hint="record a missing metric as None"
        ) from None


def lineage_identity(lineage: Any) -> Any:
    """Returns the lineage without its timings (every ``*_seconds`` entry, at any depth) and its run id.

    How long a fit took, and which run produced it, differ between two runs that produce the very same model;
    the id must not, so that registering identical bytes and lineage again finds (and completes) the same
    version. The version keeps the id of the run that first registered it.
    """
    if isinstance(lineage, Mapping):
        return {
            k: lineage_identity(v) for k, v in lineage.items() if not str(k).endswith(TIMING_SUFFIX) and k != RUN_ID_KEY
        }
    if isinstance(lineage, list):
        return [lineage_identity(value) for value in lineage]
    return lineage


def model_version_id(model_sha256: str, lineage: Mapping[str, Any]) -> str:
    """Returns the content-derived id of a model version: the model's bytes and its lineage, timings left out.

    Args:
        model_sha256: The sha256 of the model file.
        lineage: Where the model came from (dataset version, schema digest, parameters, metrics...),
            normalised with :func:`normalize_lineage` first; see :func:`lineage_identity`.
    """
    identity = lineage_identity(normalize_lineage(lineage))
    payload = canonical_json({"model_sha256": model_sha256, "lineage": identity})
    return "m-" + hashlib.sha256(payload.encode()).hexdigest()[:16]


def task_to_record(lineage: Mapping[str, Any], card: Mapping[str, Any]) -> str:
    """The task a version's manifest records: the training record's, else the model card's, else classification.

    Train writes the task into its record (``lineage.training``); evaluation resolves the same task from the
    same rows into the card. Neither says it for a model trained before regression existed: a classifier.
    """
    return lineage.get("training", {}).get("task") or card.get("task") or "classification"


def with_stage(stages: Stages, stage: str, version: str, at: str, reason: str = "", forced: bool = False) -> Stages:
    """Returns the index with a stage set to a version (the same index if it holds it already).

    Raises:
        StageError: If the stage is unknown.
    """
    check_stage(stage)
    previous = stages.current(stage)
    if previous == version:
        return stages
    change = StageChange(stage, version, previous, at, reason, "set", forced)
    return Stages(stages.use_case, stages.history + (change,))


def rolled_back(stages: Stages, stage: str, at: str, reason: str = "") -> Stages:
    """Returns the index with a stage's most recent change undone.

    Raises:
        StageError: If the stage is unknown or holds no earlier version to return to.
    """
    check_stage(stage)
    stack = stages.stack(stage)
    if len(stack) < 2:
        held = f"holds only {stack[-1]}" if stack else "holds no version"
        raise StageError(
            f"cannot roll back {stage} of {stages.use_case!r}: it {held} and no earlier one",
            hint=f"put a version in {stage} with set_stage instead",
        )
    change = StageChange(stage, stack[-2], stack[-1], at, reason, "rollback")
    return Stages(stages.use_case, stages.history + (change,))


def compare_manifests(left: Mapping[str, Any], right: Mapping[str, Any]) -> ModelComparison:
    """Compares two model manifests: metrics side by side, then everything else that differs.

    Metrics are read from the lineage's ``metrics`` and parameters from its ``parameters``
    (nested mappings are flattened into dotted names); the rest of the lineage is compared as is.
    """
    left_lineage, right_lineage = left.get("lineage", {}), right.get("lineage", {})
    left_metrics = _flatten(left_lineage.get(METRICS_KEY, {}))
    right_metrics = _flatten(right_lineage.get(METRICS_KEY, {}))
    metrics = tuple(
        MetricDelta(name, a, b, _difference(a, b))
        for name in sorted(set(left_metrics) | set(right_metrics))
        for a, b in [(left_metrics.get(name), right_metrics.get(name))]
    )
    rest = (METRICS_KEY, PARAMETERS_KEY)
    return ModelComparison(
        left=left.get("version", ""),
        right=right.get("version", ""),
        same_model=left.get("model", {}).get("sha256") == right.get("model", {}).get("sha256"),
        metrics=metrics,
        parameters=_changes(
            _flatten(left_lineage.get(PARAMETERS_KEY, {})), _flatten(right_lineage.get(PARAMETERS_KEY, {}))
        ),
        lineage=_changes(
            _flatten({k: v for k, v in left_lineage.items() if k not in rest}),
            _flatten({k: v for k, v in right_lineage.items() if k not in rest}),
        ),
        manifest=_changes(_flatten(_facts(left)), _flatten(_facts(right))),
    )


# --- registering -----------------------------------------------------------------------------


def register_model(
    store: ObjectStore,
    use_case: str,
    model_path: Path,
    *,
    lineage: Mapping[str, Any],
    blessed: bool,
    card_markdown: str,
    card: Mapping[str, Any],
    serving_schema: Mapping[str, Any] | None = None,
) -> RegisterResult:
    """Registers a fitted model as an immutable version of a use case.

    The model file, then both cards, then the manifest are written; until the manifest exists no
    reader sees the version, and a failure removes only the object versions it wrote that no manifest
    names (components.common.publication). Identical model bytes and lineage (timings left out) give the
    identical version: nothing is written when it is complete, its missing or altered files are written
    again when it is damaged, and a folder a killed registration left without manifest is completed.

    Args:
        store: The object store; its models bucket receives the version.
        use_case: The use case.
        model_path: The fitted scikit-learn pipeline, saved with joblib.dump.
        lineage: Where the model came from (dataset version, schema digest, parameters, metrics,
            blessing decision and reasons, model family...), stored verbatim as plain JSON.
        blessed: Whether evaluation blessed the model; only blessed versions can enter a stage.
        card_markdown: The model card for people.
        card: The model card for programs (its ``task`` is recorded when the lineage's training record has
            none; see :func:`registered_task`).
        serving_schema: What a prediction request must contain (components.serve.schema), written
            as serving_schema.json beside the model, for the server to check requests against.

    Returns:
        The version reference, whether it was created now, and its manifest.

    Raises:
        UserError: If the use case name, model file or lineage is unusable, or identical content
            was registered before with another blessing decision.
        StorageError: If S3 fails beyond its retries.
    """
    check_use_case(use_case)
    model_path = Path(model_path)
    if not model_path.is_file():
        raise UserError(
            f"model file {model_path} does not exist or is not a file", hint="save the fitted model with joblib.dump"
        )
    plain = normalize_lineage(lineage)
    digest = sha256_file(model_path)
    ref = ModelRef(use_case, model_version_id(digest, plain))
    bucket = store.bucket("models")
    existing = read_manifest_or_none(store, ref)
    if existing is not None and existing["blessed"] != bool(blessed):
        raise UserError(
            f"model version {ref.version} of {use_case!r} exists with blessed={existing['blessed']}; "
            f"the same model and lineage cannot be registered with blessed={bool(blessed)}",
            hint="record the blessing decision in the lineage, so that another decision gives another version",
        )
    uploads = [
        _file_upload(store, bucket, ref.model_key, model_path),
        _bytes_upload(store, bucket, ref.card_markdown_key, card_markdown.encode(), "text/markdown; charset=utf-8"),
        _bytes_upload(store, bucket, ref.card_json_key, _json_bytes(card), "application/json"),
    ]
    if serving_schema is not None:
        uploads.append(_bytes_upload(store, bucket, ref.key(SERVING_SCHEMA_FILE), _json_bytes(serving_schema)))
    if existing is not None:
        repaired = publication.repair(store, bucket, existing, uploads, manifest_files(existing))
        if repaired.outcome == "unchanged":
            log.info("model version %s exists already: nothing to write", ref.version)
        return RegisterResult(ref, False, existing, repaired.outcome)

    def complete(stored: Mapping[str, StoredObject]) -> dict[str, Any]:
        def entry(key: str) -> dict[str, Any]:
            return {"key": key, "sha256": stored[key].sha256, "bytes": stored[key].size}

        manifest = {
            "format_version": FORMAT_VERSION,
            "kind": "model",
            "use_case": use_case,
            "version": ref.version,
            "created_at": utc_now(),
            "code_version": code_version(),
            "location": f"s3://{bucket}/{ref.prefix}",
            "model": entry(ref.model_key),
            "cards": {"markdown": entry(ref.card_markdown_key), "json": entry(ref.card_json_key)},
            "lineage": plain,
            "blessed": bool(blessed),
            "task": task_to_record(plain, card),
        }
        if serving_schema is not None:
            manifest["serving_schema"] = entry(ref.key(SERVING_SCHEMA_FILE))
        return manifest

    published = publication.publish(store, bucket, ref.manifest_key, uploads, complete, manifest_files)
    return RegisterResult(ref, published.outcome == "created", published.manifest, published.outcome)


def compare_versions(store: ObjectStore, use_case: str, left: str, right: str) -> ModelComparison:
    """Compares two versions given by any reference (see :func:`compare_manifests`)."""
    return compare_manifests(
        read_manifest(store, resolve(store, use_case, left)), read_manifest(store, resolve(store, use_case, right))
    )


# --- stages ----------------------------------------------------------------------------------


def set_stage(
    store: ObjectStore,
    use_case: str,
    stage: str,
    reference: str,
    reason: str = "",
    force: bool = False,
    attempts: int = 8,
) -> StageChange | None:
    """Puts a complete version in a stage and records the change in the stage history.

    The change is a compare-and-swap of stages.json: if another process changed the index since it was
    read, the change is worked out again from the new index (a stage named as ``reference`` is resolved
    again too), so no other change is lost and the returned change is the one recorded.

    Args:
        store: The object store.
        use_case: The use case.
        stage: ``staging`` or ``production``.
        reference: The version: an id, ``latest``, or the other stage (to promote what it holds).
        reason: Why, recorded in the history.
        force: Put an unblessed version in the stage anyway; needs a reason.
        attempts: Tries of the compare-and-swap before giving up to other writers.

    Returns:
        The change, or None when the stage already held that version (then nothing is written).

    Raises:
        StageError: If the stage is unknown, or the version is not blessed and not forced with a reason.
        NotFoundError: If the version does not exist or never completed.
        ConflictError: If other writers changed stages.json under every try.
    """
    check_stage(stage)
    # Versions are immutable: whether one is complete and blessed does not change between tries.
    blessing: dict[str, bool] = {}

    def blessed(version: str) -> bool:
        if version not in blessing:
            blessing[version] = read_manifest(store, resolve(store, use_case, version))["blessed"]
        return blessing[version]

    fixed = None if reference in STAGES else resolve(store, use_case, reference).version
    if fixed is not None:
        _check_blessing(use_case, stage, fixed, blessed(fixed), reason, force)

    def change(document: Mapping[str, Any] | None) -> dict[str, Any]:
        stages = _parsed(document, use_case)
        version = fixed or _held(stages, reference, use_case)
        if fixed is None:
            _check_blessing(use_case, stage, version, blessed(version), reason, force)
        updated = with_stage(stages, stage, version, utc_now(), reason, forced=not blessed(version))
        if updated is stages:
            raise _Unchanged
        return updated.to_json()

    try:
        written, _ = store.update_json(store.bucket("models"), stages_key(use_case), change, attempts)
    except _Unchanged:
        return None
    return parse_stages(written, use_case).history[-1]


def rollback_stage(store: ObjectStore, use_case: str, stage: str, reason: str = "") -> StageChange:
    """Returns a stage to the version it held before its most recent change.

    Repeated rollbacks walk further back; a version that was rolled back from is not returned to.
    The earlier version was vetted when it entered the stage, so its blessing is not checked again.
    The rollback is a compare-and-swap of stages.json: it undoes the most recent change of the index
    as it is when written, so two rollbacks at once walk back two steps, both recorded.

    Raises:
        StageError: If the stage is unknown or holds no earlier version.
        NotFoundError: If the earlier version no longer exists.
        ConflictError: If other writers changed stages.json under every try.
    """
    check_stage(stage)
    complete: set[str] = set()  # versions seen complete in an earlier try: they stay so

    def change(document: Mapping[str, Any] | None) -> dict[str, Any]:
        updated = rolled_back(_parsed(document, use_case), stage, utc_now(), reason)
        version = updated.history[-1].version
        if version not in complete:
            complete.add(resolve(store, use_case, version).version)
        return updated.to_json()

    written, _ = store.update_json(store.bucket("models"), stages_key(use_case), change)
    return parse_stages(written, use_case).history[-1]


# --- helpers ---------------------------------------------------------------------------------


def _file_upload(store: ObjectStore, bucket: str, key: str, path: Path) -> publication.Upload:
    # The id names the bytes hashed before; bytes that change since fail the upload's digest check.
    return publication.Upload(key, sha256_file(path), lambda: store.put_file(bucket, key, path))


def _bytes_upload(
    store: ObjectStore, bucket: str, key: str, data: bytes, content_type: str = "application/json"
) -> publication.Upload:
    return publication.Upload(
        key, hashlib.sha256(data).hexdigest(), lambda: store.put_bytes(bucket, key, data, content_type=content_type)
    )


def _json_bytes(document: Mapping[str, Any]) -> bytes:
    # As ObjectStore.put_json writes it.
    return (json.dumps(dict(document), indent=2, sort_keys=True, default=str) + "\n").encode()


class _Unchanged(Exception):
    """Raised inside a compare-and-swap when the stage holds the version already: nothing to write."""


def _parsed(document: Mapping[str, Any] | None, use_case: str) -> Stages:
    return Stages(use_case) if document is None else parse_stages(document, use_case)


def _held(stages: Stages, stage: str, use_case: str) -> str:
    version = stages.current(stage)
    if version is None:
        raise NotFoundError(
            f"no model version of {use_case!r} is in {stage}",
            hint=f"put one there with set_stage(..., {stage!r}, ...)",
        )
    return version


def _check_blessing(use_case: str, stage: str, version: str, blessed: bool, reason: str, force: bool) -> None:
    if not blessed and not force:
        raise StageError(
            f"model version {version} of {use_case!r} is not blessed, so it cannot go to {stage}",
            hint="register a model that passed evaluation, or pass force=True with a reason",
        )
    if not blessed and not reason.strip():
        raise StageError(
            f"forcing unblessed model version {version} into {stage} needs a reason",
            hint="pass reason='...'; it is recorded in the stage history",
        )


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Flattens nested mappings into dotted keys; other values (lists included) are leaves."""
    if not isinstance(value, Mapping):
        return {prefix: value} if prefix else {}
    if not value and prefix:
        return {prefix: {}}
    flat: dict[str, Any] = {}
    for key, inner in value.items():
        flat.update(_flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def _facts(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest entries outside the lineage worth comparing (object keys name the version, so differ always)."""
    model = {k: v for k, v in manifest.get("model", {}).items() if k != "key"}
    return {
        "use_case": manifest.get("use_case"),
        "task": model_task(manifest),  # a version from before regression is a classifier
        "blessed": manifest.get("blessed"),
        "code_version": manifest.get("code_version"),
        "model": model,
    }


def _changes(left: Mapping[str, Any], right: Mapping[str, Any]) -> tuple[Change, ...]:
    changes = []
    for key in sorted(set(left) | set(right)):
        if key not in right:
            changes.append(Change(key, left[key], None, "removed"))
        elif key not in left:
            changes.append(Change(key, None, right[key], "added"))
        elif not _same(left[key], right[key]):
            changes.append(Change(key, left[key], right[key], "changed"))
    return tuple(changes)


def _same(left: Any, right: Any) -> bool:
    # Python holds True == 1; a parameter switching from 1 to true has still changed.
    return left == right and isinstance(left, bool) == isinstance(right, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _difference(left: Any, right: Any) -> float | None:
    return right - left if _is_number(left) and _is_number(right) else None
