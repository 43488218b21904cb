"""Stage 6: a model registry of immutable, content-addressed model versions and their stages.

Layout in the models bucket, per use case::

    <use_case>/<version>/model.joblib      the fitted scikit-learn pipeline
    <use_case>/<version>/model_card.md     the model card, for people
    <use_case>/<version>/model_card.json   the model card, for programs
    <use_case>/<version>/serving_schema.json  what a prediction request must contain (when given)
    <use_case>/<version>/manifest.json     written after every other file: its presence completes a version
    <use_case>/stages.json                 which version is in staging and in production, and every change

As with dataset versions, a version without a manifest is invisible to every reader here, so a crash
mid-registration never exposes half a model. The version id is derived from the model's bytes and
its lineage, so registering the same thing twice gives the same version and writes nothing.

``latest`` is the newest complete version by creation time, found by listing rather than kept in a
pointer: a pointer written after the manifest could be left stale by a crash, and re-registering
identical content (which writes nothing) could not repair it.

stages.json is rewritten whole, in one PUT (atomic in S3). Its history is authoritative; the
current version of each stage is stored beside it for readers and checked against it when read.
Changes are read-modify-write, so two simultaneous stage changes of one use case can lose one of
them: stage changes are expected from one promotion step at a time.

The pure functions (version ids, lineage normalisation, stage history, comparison) work on plain
values and are unit-tested alone; the others are the shell around them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import joblib

from components.common.config import canonical_json
from components.common.errors import IntegrityError, NotFoundError, UserError
from components.common.provenance import code_version, utc_now
from components.common.refs import VersionRef
from components.common.storage import ObjectStore, sha256_file

log = logging.getLogger(__name__)

# Bump when the manifest or stages layout changes in a way readers must know about.
FORMAT_VERSION = 1
MODEL_FILE = "model.joblib"
CARD_MARKDOWN = "model_card.md"
CARD_JSON = "model_card.json"
SERVING_SCHEMA_FILE = "serving_schema.json"  # what requests must contain; see components.serve.schema
STAGES_FILE = "stages.json"
STAGING, PRODUCTION = "staging", "production"
STAGES = (STAGING, PRODUCTION)
LATEST = "latest"
VERSION_PATTERN = re.compile(r"^m-[0-9a-f]{16}$")
USE_CASE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# Where compare_manifests looks in a lineage; everything else in it is compared as "lineage".
METRICS_KEY = "metrics"
PARAMETERS_KEY = "parameters"
REFERENCE_HINT = "use latest, staging, production or a version id such as m-0123456789abcdef"


class StageError(UserError):
    """A stage change the registry refuses: an unknown stage, an unblessed version, nothing to roll back."""


@dataclass(frozen=True)
class ModelRef(VersionRef):
    """One model version of one use case."""

    @property
    def model_key(self) -> str:
        """The key of the pickled model."""
        return self.key(MODEL_FILE)

    @property
    def card_markdown_key(self) -> str:
        """The key of the model card for people."""
        return self.key(CARD_MARKDOWN)

    @property
    def card_json_key(self) -> str:
        """The key of the model card for programs."""
        return self.key(CARD_JSON)


@dataclass(frozen=True)
class RegisterResult:
    """The outcome of registration.

    Attributes:
        ref: The model version.
        created: False when identical content had been registered before and nothing was written.
        manifest: The version's manifest.
    """

    ref: ModelRef
    created: bool
    manifest: dict[str, Any]


@dataclass(frozen=True)
class ModelVersion:
    """One complete version as a listing shows it.

    Attributes:
        version: The version id.
        created_at: When it was registered (UTC, ISO 8601).
        blessed: Whether evaluation blessed it.
        stages: The stages it currently holds (empty, or some of staging and production).
        manifest: Its manifest.
    """

    version: str
    created_at: str
    blessed: bool
    stages: tuple[str, ...]
    manifest: dict[str, Any]


@dataclass(frozen=True)
class ModelCard:
    """A version's model card in both forms, verified against its manifest."""

    markdown: str
    data: dict[str, Any]


@dataclass(frozen=True)
class StageChange:
    """One entry of a stage's history.

    Attributes:
        stage: ``staging`` or ``production``.
        version: The version the stage holds after the change.
        previous: The version it held before (None if it held none).
        at: When (UTC, ISO 8601).
        reason: Why, as the person or pipeline gave it.
        action: ``set`` (a version was put in the stage) or ``rollback`` (the last set was undone).
        forced: Whether an unblessed version was put in the stage on purpose.
    """

    stage: str
    version: str
    previous: str | None
    at: str
    reason: str
    action: Literal["set", "rollback"]
    forced: bool = False


@dataclass(frozen=True)
class Stages:
    """A use case's stage index: every stage change in order, from which the current versions follow.

    Attributes:
        use_case: The use case.
        history: Every change, oldest first.
    """

    use_case: str
    history: tuple[StageChange, ...] = ()

    def stack(self, stage: str) -> tuple[str, ...]:
        """Returns the versions a rollback would return to, in order, the current one last.

        Replays the stage's history: a set pushes its version, a rollback pops the top one. So a
        rollback undoes the most recent change not undone yet, and a version that was rolled back
        is never returned to by a further rollback.
        """
        stack: list[str] = []
        for change in self.history:
            if change.stage != stage:
                continue
            if change.action == "set":
                stack.append(change.version)
            elif stack:
                stack.pop()
        return tuple(stack)

    def current(self, stage: str) -> str | None:
        """Returns the version a stage holds, or None."""
        stack = self.stack(stage)
        return stack[-1] if stack else None

    def holding(self, version: str) -> tuple[str, ...]:
        """Returns the stages that hold a version."""
        return tuple(stage for stage in STAGES if self.current(stage) == version)

    def to_json(self) -> dict[str, Any]:
        """Returns the stages.json document."""
        return {
            "format_version": FORMAT_VERSION,
            "kind": "model-stages",
            "use_case": self.use_case,
            "stages": {stage: self.current(stage) for stage in STAGES},
            "history": [asdict(change) for change in self.history],
        }


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


def model_version_id(model_sha256: str, lineage: Mapping[str, Any]) -> str:
    """Returns the content-derived id of a model version.

    Args:
        model_sha256: The sha256 of the model file.
        lineage: Where the model came from (normalised with :func:`normalize_lineage` first).
    """
    payload = canonical_json({"model_sha256": model_sha256, "lineage": normalize_lineage(lineage)})
    return "m-" + hashlib.sha256(payload.encode()).hexdigest()[:16]


def check_stage(stage: str) -> None:
    """Refuses a stage name other than staging and production.

    Raises:
        StageError: If the stage is unknown.
    """
    if stage not in STAGES:
        raise StageError(f"unknown stage {stage!r}", hint=f"stages are: {', '.join(STAGES)}")


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


def parse_stages(document: Mapping[str, Any], use_case: str) -> Stages:
    """Reads a stages.json document and checks that it is consistent.

    Raises:
        IntegrityError: If it is malformed, of another use case, or its current versions or
            history entries contradict the replayed history (a hand edit or a bug).
    """
    hint = "restore an earlier object version of stages.json (the models bucket is versioned)"
    try:
        if document["format_version"] != FORMAT_VERSION or document["use_case"] != use_case:
            raise IntegrityError(
                f"stages.json of {use_case!r} is of format {document['format_version']} for use case "
                f"{document['use_case']!r}, expected format {FORMAT_VERSION} for {use_case!r}",
                hint=hint,
            )
        history = tuple(
            StageChange(
                stage=entry["stage"],
                version=entry["version"],
                previous=entry["previous"],
                at=entry["at"],
                reason=entry["reason"],
                action=entry["action"],
                forced=bool(entry.get("forced", False)),
            )
            for entry in document["history"]
        )
        recorded = dict(document["stages"])
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise IntegrityError(f"stages.json of {use_case!r} is malformed ({error!r})", hint=hint) from None
    replayed: list[StageChange] = []
    for position, change in enumerate(history):
        before = Stages(use_case, tuple(replayed))
        stack = before.stack(change.stage)
        expected_version = stack[-2] if change.action == "rollback" and len(stack) >= 2 else change.version
        if (
            change.stage not in STAGES
            or change.action not in ("set", "rollback")
            or change.previous != (stack[-1] if stack else None)
            or change.version != expected_version
            or (change.action == "rollback" and len(stack) < 2)
        ):
            raise IntegrityError(
                f"stages.json of {use_case!r} is inconsistent at history entry {position} ({change.action} "
                f"{change.stage} to {change.version})",
                hint=hint,
            )
        replayed.append(change)
    stages = Stages(use_case, history)
    derived = {stage: stages.current(stage) for stage in STAGES}
    if recorded != derived:
        raise IntegrityError(
            f"stages.json of {use_case!r} records {recorded} but its history gives {derived}", hint=hint
        )
    return stages


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
    reader sees the version, and a failure removes what it wrote. Identical model bytes and lineage
    give the identical version, and then nothing is written.

    Args:
        store: The object store; its models bucket receives the version.
        use_case: The use case.
        model_path: The fitted scikit-learn pipeline, saved with joblib.dump.
        lineage: Where the model came from (dataset version, schema digest, parameters, metrics,
            blessing decision and reasons, model family...), stored verbatim as plain JSON.
        blessed: Whether evaluation blessed the model; only blessed versions can enter a stage.
        card_markdown: The model card for people.
        card: The model card for programs.
        serving_schema: What a prediction request must contain (components.serve.schema), written
            as serving_schema.json beside the model, for the server to check requests against.

    Returns:
        The version reference, whether it was created now, and its manifest.

    Raises:
        UserError: If the use case name, model file or lineage is unusable, or identical content
            was registered before with another blessing decision.
        StorageError: If S3 fails beyond its retries.
    """
    _check_use_case(use_case)
    model_path = Path(model_path)
    if not model_path.is_file():
        raise UserError(
            f"model file {model_path} does not exist or is not a file", hint="save the fitted model with joblib.dump"
        )
    plain = normalize_lineage(lineage)
    digest = sha256_file(model_path)
    ref = ModelRef(use_case, model_version_id(digest, plain))
    bucket = store.bucket("models")
    existing = _read_manifest_or_none(store, ref)
    if existing is not None:
        if existing["blessed"] != bool(blessed):
            raise UserError(
                f"model version {ref.version} of {use_case!r} exists with blessed={existing['blessed']}; "
                f"the same model and lineage cannot be registered with blessed={bool(blessed)}",
                hint="record the blessing decision in the lineage, so that another decision gives another version",
            )
        log.info("model version %s exists already: nothing to write", ref.version)
        return RegisterResult(ref, False, existing)

    written: list[str] = []
    try:
        model = store.put_file(bucket, ref.model_key, model_path)
        written.append(model.key)
        if model.sha256 != digest:
            # The id names the bytes hashed first; bytes that changed since would be misnamed.
            raise UserError(f"model file {model_path} changed while it was being registered", hint="register it again")
        markdown = store.put_bytes(
            bucket, ref.card_markdown_key, card_markdown.encode(), content_type="text/markdown; charset=utf-8"
        )
        written.append(markdown.key)
        card_object = store.put_json(bucket, ref.card_json_key, dict(card))
        written.append(card_object.key)
        schema_object = None
        if serving_schema is not None:
            schema_object = store.put_json(bucket, ref.key(SERVING_SCHEMA_FILE), dict(serving_schema))
            written.append(schema_object.key)
        manifest = {
            "format_version": FORMAT_VERSION,
            "kind": "model",
            "use_case": use_case,
            "version": ref.version,
            "created_at": utc_now(),
            "code_version": code_version(),
            "location": f"s3://{bucket}/{ref.prefix}",
            "model": {"key": model.key, "sha256": model.sha256, "bytes": model.size},
            "cards": {
                "markdown": {"key": markdown.key, "sha256": markdown.sha256, "bytes": markdown.size},
                "json": {"key": card_object.key, "sha256": card_object.sha256, "bytes": card_object.size},
            },
            "lineage": plain,
            "blessed": bool(blessed),
        }
        if schema_object is not None:
            manifest["serving_schema"] = {
                "key": schema_object.key,
                "sha256": schema_object.sha256,
                "bytes": schema_object.size,
            }
        store.put_json(bucket, ref.manifest_key, manifest)
    except BaseException:
        store.delete_quietly(bucket, written)
        raise
    return RegisterResult(ref, True, manifest)


# --- reading ---------------------------------------------------------------------------------


def resolve(store: ObjectStore, use_case: str, reference: str = LATEST) -> ModelRef:
    """Turns ``latest``, ``staging``, ``production`` or a version id into a complete version.

    Raises:
        UserError: If the reference is none of these.
        NotFoundError: If there is no such complete version.
    """
    _check_use_case(use_case)
    if reference == LATEST:
        manifests = _complete_manifests(store, use_case)
        if not manifests:
            raise NotFoundError(
                f"use case {use_case!r} has no model version yet", hint="train and register a model first"
            )
        return ModelRef(use_case, manifests[-1]["version"])
    if reference in STAGES:
        version = read_stages(store, use_case).current(reference)
        if version is None:
            raise NotFoundError(
                f"no model version of {use_case!r} is in {reference}",
                hint=f"put one there with set_stage(..., {reference!r}, ...)",
            )
    elif VERSION_PATTERN.match(reference):
        version = reference
    else:
        raise UserError(f"{reference!r} is not a model version reference", hint=REFERENCE_HINT)
    ref = ModelRef(use_case, version)
    if not store.exists(store.bucket("models"), ref.manifest_key):
        raise NotFoundError(
            f"model version {version} of {use_case!r} does not exist (or never completed)",
            hint="list_versions shows the complete versions",
        )
    return ref


def read_manifest(store: ObjectStore, ref: ModelRef) -> dict[str, Any]:
    """Returns a version's manifest.

    Raises:
        NotFoundError: If the version has no manifest (absent or incomplete).
        IntegrityError: If the manifest describes another version.
    """
    manifest = _read_manifest_or_none(store, ref)
    if manifest is None:
        raise NotFoundError(f"model version {ref.version} of {ref.use_case!r} does not exist (or never completed)")
    return manifest


def list_versions(store: ObjectStore, use_case: str) -> list[ModelVersion]:
    """Returns a use case's complete versions, oldest first, with the stages each holds."""
    manifests = _complete_manifests(store, use_case)
    stages = read_stages(store, use_case) if manifests else Stages(use_case)
    return [
        ModelVersion(m["version"], m["created_at"], m["blessed"], stages.holding(m["version"]), m) for m in manifests
    ]


def read_cards(store: ObjectStore, ref: ModelRef) -> ModelCard:
    """Returns a version's model card in both forms, verified against the manifest's digests."""
    manifest = read_manifest(store, ref)
    bucket = store.bucket("models")
    cards = manifest["cards"]
    markdown = store.get_bytes(bucket, cards["markdown"]["key"], expected_sha256=cards["markdown"]["sha256"])
    data = store.get_json(bucket, cards["json"]["key"], expected_sha256=cards["json"]["sha256"])
    return ModelCard(markdown.decode(), data)


def compare_versions(store: ObjectStore, use_case: str, left: str, right: str) -> ModelComparison:
    """Compares two versions given by any reference (see :func:`compare_manifests`)."""
    return compare_manifests(
        read_manifest(store, resolve(store, use_case, left)), read_manifest(store, resolve(store, use_case, right))
    )


def load_model(store: ObjectStore, use_case: str, version: str, work_dir: Path) -> Any:
    """Downloads a version's model and unpickles it, only if its bytes are the registered ones.

    Unpickling runs code, so the file is checked against the sha256 in the version's manifest
    before joblib sees it. The digest in the object's own metadata is not enough: whoever can
    replace the object can replace its metadata too.

    Args:
        store: The object store.
        use_case: The use case.
        version: A version id, or ``latest``, ``staging`` or ``production``. To know which id a
            stage named, resolve it first and pass the id.
        work_dir: Folder the model file is downloaded into.

    Returns:
        The unpickled model.

    Raises:
        NotFoundError: If there is no such complete version.
        IntegrityError: If the model file was altered after registration; it is then not loaded and
            not left on disk.
    """
    ref = resolve(store, use_case, version)
    entry = read_manifest(store, ref)["model"]
    expected = entry["sha256"]
    uri = f"s3://{store.bucket('models')}/{ref.model_key}"
    destination = Path(work_dir) / f"{ref.use_case}-{ref.version}-{MODEL_FILE}"
    try:
        store.get_file(store.bucket("models"), ref.model_key, destination, expected_sha256=expected)
    except IntegrityError as error:
        raise _altered(uri, ref, error.message) from None
    # Checked again on the very file to be unpickled, so the guarantee does not rest on the storage layer.
    actual = sha256_file(destination)
    if actual != expected:
        destination.unlink(missing_ok=True)
        raise _altered(uri, ref, f"sha256 {actual[:12]}… differs from the {expected[:12]}… in its manifest")
    return joblib.load(destination)


# --- stages ----------------------------------------------------------------------------------


def stages_key(use_case: str) -> str:
    """The key of a use case's stage index."""
    return f"{use_case}/{STAGES_FILE}"


def read_stages(store: ObjectStore, use_case: str) -> Stages:
    """Returns a use case's stage index (empty if no stage was ever set).

    Raises:
        IntegrityError: If stages.json is malformed or inconsistent.
    """
    try:
        document = store.get_json(store.bucket("models"), stages_key(use_case))
    except NotFoundError:
        return Stages(use_case)
    return parse_stages(document, use_case)


def current_version(store: ObjectStore, use_case: str, stage: str) -> str | None:
    """Returns the version id a stage holds, or None.

    Raises:
        StageError: If the stage is unknown.
    """
    check_stage(stage)
    return read_stages(store, use_case).current(stage)


def set_stage(
    store: ObjectStore, use_case: str, stage: str, reference: str, reason: str = "", force: bool = False
) -> StageChange | None:
    """Puts a complete version in a stage and records the change in the stage history.

    Args:
        store: The object store.
        use_case: The use case.
        stage: ``staging`` or ``production``.
        reference: The version: an id, ``latest``, or the other stage (to promote what it holds).
        reason: Why, recorded in the history.
        force: Put an unblessed version in the stage anyway; needs a reason.

    Returns:
        The change, or None when the stage already held that version (then nothing is written).

    Raises:
        StageError: If the stage is unknown, or the version is not blessed and not forced with a reason.
        NotFoundError: If the version does not exist or never completed.
    """
    check_stage(stage)
    ref = resolve(store, use_case, reference)
    blessed = read_manifest(store, ref)["blessed"]
    if not blessed and not force:
        raise StageError(
            f"model version {ref.version} of {use_case!r} is not blessed, so it cannot go to {stage}",
            hint="register a model that passed evaluation, or pass force=True with a reason",
        )
    if not blessed and not reason.strip():
        raise StageError(
            f"forcing unblessed model version {ref.version} into {stage} needs a reason",
            hint="pass reason='...'; it is recorded in the stage history",
        )
    stages = read_stages(store, use_case)
    updated = with_stage(stages, stage, ref.version, utc_now(), reason, forced=not blessed)
    if updated is stages:
        return None
    _write_stages(store, updated)
    return updated.history[-1]


def rollback_stage(store: ObjectStore, use_case: str, stage: str, reason: str = "") -> StageChange:
    """Returns a stage to the version it held before its most recent change.

    Repeated rollbacks walk further back; a version that was rolled back from is not returned to.
    The earlier version was vetted when it entered the stage, so its blessing is not checked again.

    Raises:
        StageError: If the stage is unknown or holds no earlier version.
        NotFoundError: If the earlier version no longer exists.
    """
    updated = rolled_back(read_stages(store, use_case), stage, utc_now(), reason)
    change = updated.history[-1]
    resolve(store, use_case, change.version)
    _write_stages(store, updated)
    return change


# --- helpers ---------------------------------------------------------------------------------


def _write_stages(store: ObjectStore, stages: Stages) -> None:
    # One PUT of the whole document: a reader sees the old index or the new one, never a mix.
    store.put_json(store.bucket("models"), stages_key(stages.use_case), stages.to_json())


def _complete_manifests(store: ObjectStore, use_case: str) -> list[dict[str, Any]]:
    """The manifests of a use case's complete versions, oldest first (ties, within a microsecond, by id)."""
    folders = store.list_keys(store.bucket("models"), prefix=f"{use_case}/", recursive=False)
    manifests = []
    for folder in folders:
        version = folder.rstrip("/").rsplit("/", 1)[-1]
        if folder.endswith("/") and VERSION_PATTERN.match(version):
            manifest = _read_manifest_or_none(store, ModelRef(use_case, version))
            if manifest is not None:
                manifests.append(manifest)
    return sorted(manifests, key=lambda m: (m["created_at"], m["version"]))


def _read_manifest_or_none(store: ObjectStore, ref: ModelRef) -> dict[str, Any] | None:
    try:
        manifest = store.get_json(store.bucket("models"), ref.manifest_key)
    except NotFoundError:
        return None
    described = (manifest.get("kind"), manifest.get("use_case"), manifest.get("version"))
    if described != ("model", ref.use_case, ref.version):
        raise IntegrityError(
            f"s3://{store.bucket('models')}/{ref.manifest_key} does not describe model version {ref.version} "
            f"of {ref.use_case!r}",
            hint="restore the manifest's earlier object version (the models bucket is versioned)",
        )
    return manifest


def _altered(uri: str, ref: ModelRef, detail: str) -> IntegrityError:
    return IntegrityError(
        f"{uri} (model version {ref.version} of {ref.use_case!r}) was altered after registration and must not be "
        f"loaded: {detail}",
        hint="a pickle runs code when loaded; register the model again from its training run",
    )


def _check_use_case(use_case: str) -> None:
    if not USE_CASE_PATTERN.match(use_case or ""):
        raise UserError(
            f"{use_case!r} is not a usable use case name",
            hint="use letters, digits, '.', '_' and '-', starting with a letter or digit",
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


def register_model_task(
    use_case_yaml: str, model_path: Path, analysis_path: Path, schema_text: str = ""
) -> tuple[RegisterResult, bool]:
    """Registers a model as a pipeline task, from the analysis artifact; blessed versions enter staging.

    The serving schema is derived from the use case and, when ``schema_text`` (the curated TFDV
    schema as text) is given, from its types and presence too.

    Returns:
        The registration and whether staging now holds the version.
    """
    import json

    from components.common.config import parse_use_case
    from components.common.s3_settings import s3_settings
    from components.evaluate.model_card import render_markdown
    from components.serve.schema import build_serving_schema

    config = parse_use_case(use_case_yaml)
    analysis = json.loads(analysis_path.read_text())
    tfdv_schema = None
    if schema_text:
        from google.protobuf import text_format
        from tensorflow_metadata.proto.v0 import schema_pb2

        tfdv_schema = text_format.Parse(schema_text, schema_pb2.Schema())
    store = ObjectStore.connect(s3_settings())
    result = register_model(
        store,
        config.name,
        model_path,
        lineage=analysis["lineage"],
        blessed=analysis["blessed"],
        card_markdown=render_markdown(analysis["card"]),
        card=analysis["card"],
        serving_schema=build_serving_schema(config, tfdv_schema).to_dict(),
    )
    staged = bool(analysis["blessed"]) and (
        set_stage(
            store,
            config.name,
            STAGING,
            result.ref.version,
            reason=f"blessed by training on {analysis['lineage']['dataset_version']}",
        )
        is not None
        or current_version(store, config.name, STAGING) == result.ref.version
    )
    return result, staged
