"""References to dataset versions in the datasets bucket.

Layout, per use case::

    <use_case>/<version>/data/<split>.parquet   the rows of each split
    <use_case>/<version>/manifest.json          written after every data file: its presence completes a version
    <use_case>/<version>/validation.json        the verdict of the version's last validation (and its baseline)
    <use_case>/latest.json                      pointer to the newest complete version, written last

A version without a manifest is invisible to every reader here, so a crash mid-ingestion never
exposes half a dataset.

``latest`` names the version chosen most recently: a new version when it is published, an existing one
when identical inputs are ingested again (that moves latest back to it). latest.json records when that
choice was made (``chosen_at``) and is changed by compare-and-swap (``ObjectStore.update_json``): a
pointer write that reaches S3 after a newer choice (two ingestions at once, a write retried through an
outage) leaves the newer one in place, and latest only ever names a version whose manifest exists.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from components.common import publication
from components.common.arrow import pa, read_parquet_table
from components.common.errors import NotFoundError, UserError
from components.common.provenance import utc_now
from components.common.refs import MANIFEST, VersionRef
from components.common.storage import ObjectStore

LATEST = "latest.json"
VERDICT = "validation.json"
VERSION_PATTERN = re.compile(r"^ds-[0-9a-f]{16}$")


@dataclass(frozen=True)
class DatasetRef(VersionRef):
    """One dataset version of one use case."""

    def split_key(self, split: str) -> str:
        """The key of a split's Parquet file."""
        return self.key(f"data/{split}.parquet")


def latest_key(use_case: str) -> str:
    """The key of a use case's latest-version pointer."""
    return f"{use_case}/{LATEST}"


def read_latest(store: ObjectStore, use_case: str) -> str | None:
    """Returns the version the latest pointer names, or None if there is none yet."""
    try:
        return store.get_json(store.bucket("datasets"), latest_key(use_case))["version"]
    except NotFoundError:
        return None


def write_latest(store: ObjectStore, ref: DatasetRef, chosen_at: str | None = None) -> str:
    """Points latest at a complete version, unless a newer choice is recorded already.

    Args:
        store: The object store.
        ref: The version; its manifest must exist.
        chosen_at: When the version was chosen (UTC, ISO 8601); default now.

    Returns:
        The version latest names afterwards: ``ref``'s, or the newer choice that was kept.

    Raises:
        NotFoundError: If the version has no manifest (latest never names an incomplete version).
        ConflictError: If other writers changed latest.json under every try.
    """
    if not store.exists(store.bucket("datasets"), ref.manifest_key):
        raise NotFoundError(
            f"cannot point latest at dataset version {ref.version} of {ref.use_case!r}: it has no manifest",
            hint="a version becomes latest only once it is complete; run `mlcycle ingest` again",
        )
    stamp = chosen_at or utc_now()

    def change(current: dict[str, Any] | None) -> dict[str, Any]:
        updated = latest_after(current, ref, stamp)
        if updated is None:
            raise _NewerChoice(current["version"])
        return updated

    try:
        written, _ = store.update_json(store.bucket("datasets"), latest_key(ref.use_case), change)
    except _NewerChoice as kept:
        return kept.version
    return written["version"]


class _NewerChoice(Exception):
    """Raised inside the compare-and-swap when latest names a newer choice: nothing to write."""

    def __init__(self, version: str) -> None:
        super().__init__(version)
        self.version = version


def latest_after(current: Mapping[str, Any] | None, ref: DatasetRef, chosen_at: str) -> dict[str, Any] | None:
    """Returns the latest.json that choosing a version at a moment gives, or None to keep the current one.

    The newer choice wins whatever order the writes arrive in; equal moments are broken by version id so
    that every writer agrees. A pointer without ``chosen_at`` (written before it was recorded) gives way.
    """
    proposed = {"use_case": ref.use_case, "version": ref.version, "chosen_at": chosen_at}
    if current is None or "chosen_at" not in current:
        return proposed
    ours = (datetime.fromisoformat(chosen_at), ref.version)
    theirs = (datetime.fromisoformat(current["chosen_at"]), current["version"])
    return proposed if ours > theirs else None


def resolve(store: ObjectStore, use_case: str, version: str = "latest") -> DatasetRef:
    """Turns ``latest`` or a version id into a reference to a complete version.

    Raises:
        NotFoundError: If there is no such complete version.
    """
    if version == "latest":
        latest = read_latest(store, use_case)
        if latest is None:
            raise NotFoundError(f"use case {use_case!r} has no dataset version yet", hint="run `mlcycle ingest` first")
        version = latest
    elif not VERSION_PATTERN.match(version):
        raise UserError(f"{version!r} is not a dataset version id", hint="ids look like ds-0123456789abcdef")
    ref = DatasetRef(use_case, version)
    if not store.exists(store.bucket("datasets"), ref.manifest_key):
        raise NotFoundError(
            f"dataset version {version} of {use_case!r} does not exist (or never completed)",
            hint="`mlcycle datasets list` shows the complete versions",
        )
    return ref


def read_manifest(store: ObjectStore, ref: DatasetRef) -> dict[str, Any]:
    """Returns a version's manifest.

    Raises:
        NotFoundError: If the version has no manifest (absent or incomplete).
    """
    try:
        return store.get_json(store.bucket("datasets"), ref.manifest_key)
    except NotFoundError:
        raise NotFoundError(f"dataset version {ref.version} of {ref.use_case!r} does not exist") from None


def read_manifest_or_none(store: ObjectStore, ref: DatasetRef) -> dict[str, Any] | None:
    """Returns a version's manifest, or None when the version is absent or never completed."""
    try:
        return store.get_json(store.bucket("datasets"), ref.manifest_key)
    except NotFoundError:
        return None


def manifest_files(manifest: Mapping[str, Any]) -> dict[str, str]:
    """The files a dataset manifest names: sha256 by key."""
    return {entry["key"]: entry["sha256"] for entry in manifest["splits"].values()}


def damaged_files(store: ObjectStore, manifest: Mapping[str, Any]) -> list[str]:
    """The keys of a complete version's files that are missing or differ from its manifest (one HEAD each)."""
    return publication.damaged_files(store, store.bucket("datasets"), manifest_files(manifest))


def list_versions(store: ObjectStore, use_case: str) -> list[dict[str, Any]]:
    """Returns the manifests of a use case's complete versions, oldest first."""
    bucket = store.bucket("datasets")
    folders = store.list_keys(bucket, prefix=f"{use_case}/", recursive=False)
    manifests = []
    for folder in folders:
        version = folder.rstrip("/").rsplit("/", 1)[-1]
        if VERSION_PATTERN.match(version) and store.exists(bucket, f"{folder}{MANIFEST}"):
            manifests.append(read_manifest(store, DatasetRef(use_case, version)))
    return sorted(manifests, key=lambda m: m["created_at"])


def write_verdict(store: ObjectStore, ref: DatasetRef, valid: bool, drift_baseline: str | None) -> None:
    """Records a validation's verdict with the version (the last validation's verdict is the version's)."""
    document = {"version": ref.version, "valid": valid, "validated_at": utc_now(), "drift_baseline": drift_baseline}
    store.put_json(store.bucket("datasets"), ref.key(VERDICT), document)


def read_verdict(store: ObjectStore, ref: DatasetRef) -> dict[str, Any] | None:
    """The verdict of a version's last validation, or None when it was never validated."""
    try:
        return store.get_json(store.bucket("datasets"), ref.key(VERDICT))
    except NotFoundError:
        return None


def last_valid_version(store: ObjectStore, use_case: str, before: Mapping[str, Any]) -> str | None:
    """The newest version created before the given manifest's whose last validation passed, or None.

    Drift is measured against it: a version that validation rejected is never the baseline of the next one.
    """
    earlier = [m for m in list_versions(store, use_case) if m["created_at"] < before["created_at"]]
    for manifest in reversed(earlier):
        verdict = read_verdict(store, DatasetRef(use_case, manifest["version"]))
        if verdict and verdict.get("valid"):
            return manifest["version"]
    return None


def download_split(store: ObjectStore, manifest: dict[str, Any], split: str, destination: Path) -> Path:
    """Downloads one split's Parquet file, verified against the manifest's sha256."""
    entry = manifest["splits"][split]
    return store.get_file(store.bucket("datasets"), entry["key"], destination, expected_sha256=entry["sha256"])


def to_frame(table: pa.Table | pa.RecordBatch) -> pd.DataFrame:
    """Converts Arrow data to pandas with nullable integers.

    An integer column keeps its type whether or not a chunk or split happens to hold a missing value
    (plain pandas would turn it into float there), so statistics and schemas see the same type.
    """
    integer = pd.Int64Dtype()
    mapping = {pa.int8(): integer, pa.int16(): integer, pa.int32(): integer, pa.int64(): integer}
    return table.to_pandas(types_mapper=mapping.get)


def read_parquet(path: Path) -> pd.DataFrame:
    """Reads a Parquet file of a dataset version (see :func:`to_frame`)."""
    return to_frame(read_parquet_table(path))


def load_split(store: ObjectStore, manifest: dict[str, Any], split: str, work_dir: Path) -> pd.DataFrame:
    """Reads one split into a DataFrame (downloaded and verified first)."""
    path = download_split(store, manifest, split, work_dir / f"{manifest['version']}-{split}.parquet")
    return read_parquet(path)


def load_splits(
    store: ObjectStore, use_case: str, version: str, splits: tuple[str, ...], work_dir: Path
) -> dict[str, pd.DataFrame]:
    """Reads splits of a dataset version by id (each downloaded and verified against the manifest)."""
    manifest = read_manifest(store, resolve(store, use_case, version))
    return {split: load_split(store, manifest, split, work_dir) for split in splits}
