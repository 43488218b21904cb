"""Publishing an immutable version (dataset or model): files first, then the manifest as the commit point.

Both stages that publish versions share these rules, so that nothing a manifest names is ever lost:

- the manifest is created with ``If-None-Match: *``: of two processes publishing the same version at the same
  moment exactly one creates it; the other is told so and keeps the winner's manifest (its ``created_at``
  included);
- clean-up after a failure removes only the object *versions this process wrote* (by version id) that no
  existing manifest names with the same digest, so an identical object another process wrote survives;
  when it cannot tell whether a manifest exists, or the store gives no version id, or the role may not delete a
  version, it leaves the files: without a manifest naming them no reader sees them (``mlcycle gc`` lists them);
- a version whose manifest exists but whose files are missing or differ from its digests is *damaged*; one
  HEAD request per file tells (:func:`damaged_files`), and publishing the same content again repairs it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from components.common.errors import IntegrityError, NotFoundError, StorageError
from components.common.storage import ConflictError, ObjectStore, StoredObject

log = logging.getLogger(__name__)

Outcome = Literal["created", "unchanged", "repaired", "raced"]


@dataclass(frozen=True)
class Upload:
    """One file of a version, ready to be written.

    Attributes:
        key: Its object key.
        sha256: The digest of the bytes ``write`` uploads (known before uploading, so a repair writes only bytes
            that match the manifest).
        write: Uploads the bytes and returns what was stored.
    """

    key: str
    sha256: str
    write: Callable[[], StoredObject]


@dataclass(frozen=True)
class Publication:
    """The outcome of publishing one version.

    Attributes:
        outcome: ``created`` (this process created the manifest), ``raced`` (another process created the same
            version at the same moment; its manifest stands), ``unchanged`` (it existed complete already) or
            ``repaired`` (it existed, and the files named in ``repaired_keys`` were written again).
        manifest: The version's manifest as stored.
        repaired_keys: The keys written again by a repair.
    """

    outcome: Outcome
    manifest: dict[str, Any]
    repaired_keys: tuple[str, ...] = ()


class PublishedThenInterrupted(KeyboardInterrupt):
    """An interruption that arrived after the manifest was written: the version is complete."""


def damaged_files(store: ObjectStore, bucket: str, named: Mapping[str, str]) -> list[str]:
    """Returns the keys among a manifest's files that are missing or whose recorded sha256 differs.

    One HEAD per file, comparing the sha256 in the object's metadata with the manifest's (nothing is downloaded;
    readers still verify the bytes themselves when they download).

    Args:
        store: The object store.
        bucket: The bucket.
        named: The manifest's files: sha256 by key.
    """
    damaged = []
    for key, digest in sorted(named.items()):
        found = store.stat(bucket, key)
        if found is None or found.sha256 != digest:
            damaged.append(key)
    return damaged


def publish(
    store: ObjectStore,
    bucket: str,
    manifest_key: str,
    uploads: Sequence[Upload],
    build_manifest: Callable[[Mapping[str, StoredObject]], dict[str, Any]],
    named_files: Callable[[Mapping[str, Any]], dict[str, str]],
) -> Publication:
    """Writes a version's files, then creates its manifest; cleans up only what is safe to remove.

    Args:
        store: The object store.
        bucket: The bucket.
        manifest_key: Where the manifest goes.
        uploads: The files, written in this order.
        build_manifest: Makes the manifest from what was stored (by key).
        named_files: The files a manifest names: sha256 by key.

    Returns:
        ``created``, or ``raced`` with the winner's manifest.

    Raises:
        IntegrityError: If a file's bytes changed while it was written.
        StorageError: If S3 fails beyond its retries (after the clean-up described in the module docstring).
        PublishedThenInterrupted: If an interruption arrived once the manifest was written.
    """
    written: list[StoredObject] = []
    manifest: dict[str, Any] | None = None
    try:
        for upload in uploads:
            stored = upload.write()
            written.append(stored)
            if stored.sha256 != upload.sha256:
                raise IntegrityError(
                    f"s3://{bucket}/{upload.key} changed while it was being written", hint="publish it again"
                )
        manifest = build_manifest({stored.key: stored for stored in written})
        try:
            store.create_json(bucket, manifest_key, manifest)
        except ConflictError:
            winner = store.get_json(bucket, manifest_key)
            _withdraw(store, bucket, written, winner, named_files)
            log.info("s3://%s/%s was created by another process at the same moment", bucket, manifest_key)
            return Publication("raced", winner)
        return Publication("created", manifest)
    except BaseException as error:
        stored_manifest = _clean_up(store, bucket, manifest_key, written, named_files)
        if manifest is not None and stored_manifest is not None and _same(stored_manifest, manifest):
            # The manifest write went through though its answer (or the process) was interrupted.
            if isinstance(error, KeyboardInterrupt):
                raise PublishedThenInterrupted(f"{manifest_key} was written first: that version is complete") from error
            if isinstance(error, StorageError):
                return Publication("created", manifest)
        raise


def repair(
    store: ObjectStore, bucket: str, manifest: Mapping[str, Any], uploads: Sequence[Upload], named: Mapping[str, str]
) -> Publication:
    """Completes an existing version: rewrites its missing or altered files from this run's identical bytes.

    Args:
        store: The object store.
        bucket: The bucket.
        manifest: The version's manifest.
        uploads: This run's files (only those the manifest names with the same digest are used).
        named: The manifest's files: sha256 by key.

    Returns:
        ``unchanged`` when every file verifies, else ``repaired`` with the keys written again.

    Raises:
        IntegrityError: If a damaged file cannot be rewritten because this run's bytes differ from the manifest's.
    """
    damaged = damaged_files(store, bucket, named)
    if not damaged:
        return Publication("unchanged", dict(manifest))
    by_key = {upload.key: upload for upload in uploads}
    for key in damaged:
        upload = by_key.get(key)
        if upload is None or upload.sha256 != named[key]:
            raise IntegrityError(
                f"s3://{bucket}/{key} is missing or altered, and this run's file differs from the one its manifest "
                "names, so it cannot be repaired from here",
                hint="restore the object's earlier version (the bucket is versioned), or publish from the original "
                "inputs",
            )
    for key in damaged:
        stored = by_key[key].write()
        if stored.sha256 != named[key]:
            raise IntegrityError(f"s3://{bucket}/{key} changed while it was being written", hint="run again")
        log.info("repaired s3://%s/%s", bucket, key)
    return Publication("repaired", dict(manifest), tuple(damaged))


# --- helpers ---------------------------------------------------------------------------------


def _clean_up(
    store: ObjectStore,
    bucket: str,
    manifest_key: str,
    written: list[StoredObject],
    named_files: Callable[[Mapping[str, Any]], dict[str, str]],
) -> dict[str, Any] | None:
    """Removes what this failed publication wrote and no manifest needs; returns the manifest found, if any."""
    try:
        existing = store.get_json(bucket, manifest_key)
    except NotFoundError:
        existing = None
    except BaseException:  # noqa: BLE001 - unknown state (S3 down, interrupted again): remove nothing
        log.warning("could not tell whether s3://%s/%s exists: leaving this run's files", bucket, manifest_key)
        return None
    try:
        _withdraw(store, bucket, written, existing, named_files)
    except BaseException:  # noqa: BLE001 - a clean-up never hides the failure that caused it
        log.warning("clean-up of s3://%s/%s interrupted: leaving the rest", bucket, manifest_key)
    return existing


def _withdraw(
    store: ObjectStore,
    bucket: str,
    written: list[StoredObject],
    manifest: Mapping[str, Any] | None,
    named_files: Callable[[Mapping[str, Any]], dict[str, str]],
) -> None:
    """Removes the versions we wrote that the manifest (if any) does not name with the same digest.

    Removing by version id leaves whatever another process wrote under the same key: when a manifest names the key,
    its writer's own version was stored before that manifest, so it is what remains.
    """
    named = named_files(manifest) if manifest is not None else {}
    store.delete_quietly(bucket, [stored for stored in written if named.get(stored.key) != stored.sha256])


def _same(stored: Mapping[str, Any], ours: Mapping[str, Any]) -> bool:
    return stored == json.loads(json.dumps(ours, sort_keys=True, default=str))
