"""Read access to the model registry: its layout, version references, manifests, model cards and stages.

Layout in the models bucket, per use case::

    <use_case>/<version>/model.joblib      the fitted scikit-learn pipeline
    <use_case>/<version>/model_card.md     the model card, for people
    <use_case>/<version>/model_card.json   the model card, for programs
    <use_case>/<version>/serving_schema.json  what a prediction request must contain (when given)
    <use_case>/<version>/manifest.json     written after every other file: its presence completes a version
    <use_case>/stages.json                 which version is in staging and in production, and every change

A version without a manifest is invisible to every reader here, so a crash mid-registration never
exposes half a model. components.register.logic writes versions and stages.

``latest`` is the newest complete version by creation time, found by listing rather than kept in a
pointer: a pointer written after the manifest could be left stale by a crash, and re-registering
identical content (which writes nothing) could not repair it.

stages.json's history is authoritative; the current version of each stage is stored beside it for
readers and checked against it when read.

This is the registry as every stage above training reads it (evaluation's champion, serving's
loader, deployment, monitoring), as components.common.datasets is for dataset versions; the
serving image ships it, so it imports nothing outside components.common.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import joblib

from components.common import publication
from components.common.errors import IntegrityError, NotFoundError, UserError
from components.common.refs import VersionRef
from components.common.storage import ObjectStore, sha256_file

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


# --- pure functions --------------------------------------------------------------------------


def check_stage(stage: str) -> None:
    """Refuses a stage name other than staging and production.

    Raises:
        StageError: If the stage is unknown.
    """
    if stage not in STAGES:
        raise StageError(f"unknown stage {stage!r}", hint=f"stages are: {', '.join(STAGES)}")


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


# --- reading ---------------------------------------------------------------------------------


def resolve(store: ObjectStore, use_case: str, reference: str = LATEST) -> ModelRef:
    """Turns ``latest``, ``staging``, ``production`` or a version id into a complete version.

    Raises:
        UserError: If the reference is none of these.
        NotFoundError: If there is no such complete version.
    """
    check_use_case(use_case)
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
    manifest = read_manifest_or_none(store, ref)
    if manifest is None:
        raise NotFoundError(f"model version {ref.version} of {ref.use_case!r} does not exist (or never completed)")
    return manifest


def read_manifest_or_none(store: ObjectStore, ref: ModelRef) -> dict[str, Any] | None:
    """Returns a version's manifest, or None when the version is absent or never completed.

    Raises:
        IntegrityError: If the manifest describes another version.
    """
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


def model_task(manifest: Mapping[str, Any]) -> Literal["classification", "regression"]:
    """The task of a registered version: ``classification`` or ``regression``.

    The manifest's ``task``, else its training record's (``lineage.training.task``); a version that records
    neither was registered before regression existed, and is a classifier.

    Raises:
        IntegrityError: If the manifest records a task that is neither.
    """
    task = manifest.get("task") or manifest.get("lineage", {}).get("training", {}).get("task") or "classification"
    if task not in ("classification", "regression"):
        raise IntegrityError(
            f"the manifest of model version {manifest.get('version')} records the unknown task {task!r}",
            hint="a manifest records classification or regression; restore its earlier object version",
        )
    return task


def list_versions(store: ObjectStore, use_case: str) -> list[ModelVersion]:
    """Returns a use case's complete versions, oldest first, with the stages each holds."""
    manifests = _complete_manifests(store, use_case)
    stages = read_stages(store, use_case) if manifests else Stages(use_case)
    return [
        ModelVersion(m["version"], m["created_at"], m["blessed"], stages.holding(m["version"]), m) for m in manifests
    ]


def manifest_files(manifest: Mapping[str, Any]) -> dict[str, str]:
    """The files a model manifest names (model, both cards, serving schema): sha256 by key."""
    entries = [manifest["model"], *manifest["cards"].values()]
    if "serving_schema" in manifest:
        entries.append(manifest["serving_schema"])
    return {entry["key"]: entry["sha256"] for entry in entries}


def damaged_files(store: ObjectStore, manifest: Mapping[str, Any]) -> list[str]:
    """The keys of a complete version's files that are missing or differ from its manifest (one HEAD each)."""
    return publication.damaged_files(store, store.bucket("models"), manifest_files(manifest))


def recorded_task(manifest: Mapping[str, Any]) -> Any:
    """The raw ``lineage.training.task`` of a manifest, or None where the record names none."""
    lineage = manifest.get("lineage")
    training = lineage.get("training") if isinstance(lineage, Mapping) else None
    return training.get("task") if isinstance(training, Mapping) else None


def read_cards(store: ObjectStore, ref: ModelRef) -> ModelCard:
    """Returns a version's model card in both forms, verified against the manifest's digests."""
    manifest = read_manifest(store, ref)
    bucket = store.bucket("models")
    cards = manifest["cards"]
    markdown = store.get_bytes(bucket, cards["markdown"]["key"], expected_sha256=cards["markdown"]["sha256"])
    data = store.get_json(bucket, cards["json"]["key"], expected_sha256=cards["json"]["sha256"])
    return ModelCard(markdown.decode(), data)


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


def check_use_case(use_case: str) -> None:
    """Refuses a use case name that cannot be a key prefix in the registry.

    Raises:
        UserError: If the name is empty or holds characters other than letters, digits, '.', '_' and '-'.
    """
    if not USE_CASE_PATTERN.match(use_case or ""):
        raise UserError(
            f"{use_case!r} is not a usable use case name",
            hint="use letters, digits, '.', '_' and '-', starting with a letter or digit",
        )


# --- helpers ---------------------------------------------------------------------------------


def _complete_manifests(store: ObjectStore, use_case: str) -> list[dict[str, Any]]:
    """The manifests of a use case's complete versions, oldest first (ties, within a microsecond, by id)."""
    folders = store.list_keys(store.bucket("models"), prefix=f"{use_case}/", recursive=False)
    manifests = []
    for folder in folders:
        version = folder.rstrip("/").rsplit("/", 1)[-1]
        if folder.endswith("/") and VERSION_PATTERN.match(version):
            manifest = read_manifest_or_none(store, ModelRef(use_case, version))
            if manifest is not None:
                manifests.append(manifest)
    return sorted(manifests, key=lambda m: (m["created_at"], m["version"]))


def _altered(uri: str, ref: ModelRef, detail: str) -> IntegrityError:
    return IntegrityError(
        f"{uri} (model version {ref.version} of {ref.use_case!r}) was altered after registration and must not be "
        f"loaded: {detail}",
        hint="a pickle runs code when loaded; register the model again from its training run",
    )
