"""``mlcycle gc``'s work on S3: list the leftovers of the datasets and models buckets, and remove them if asked.

The decision is :func:`components.common.leftovers.find_leftovers`'s; this module reads the listings and the
manifests, and deletes. Each folder's manifest is read again just before anything in it is deleted, so a
publication that completed in between keeps its files. A leftover is removed by its version id; where the role may
not remove object versions (components/common/s3_roles.py), it is hidden behind a delete marker instead, and only
while it is still the object's current version (checked just before: a write landing between that check and the
delete would be hidden too, and its version then shows as damaged until the same publication runs again). Where the
role may not list versions, the current objects are considered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from components.common import datasets, models
from components.common.errors import NotFoundError
from components.common.leftovers import Leftover, find_leftovers, version_folder
from components.common.refs import MANIFEST
from components.common.storage import AccessDeniedError, ObjectStore

log = logging.getLogger(__name__)

MANIFEST_FILES: dict[str, Callable[[Mapping[str, Any]], dict[str, str]]] = {
    "datasets": datasets.manifest_files,
    "models": models.manifest_files,
}


@dataclass
class CollectionReport:
    """What a gc run found and did.

    Attributes:
        leftovers: The leftovers found, by bucket.
        removed: How many object versions were removed for good.
        hidden: How many were hidden behind a delete marker (the role may not remove versions).
        kept: How many were kept after all (their folder completed, or they changed, since the listing).
    """

    leftovers: dict[str, list[Leftover]] = field(default_factory=dict)
    removed: int = 0
    hidden: int = 0
    kept: int = 0


def collect_garbage(
    store: ObjectStore, grace: timedelta, apply: bool = False, now: datetime | None = None
) -> CollectionReport:
    """Lists the leftovers older than ``grace`` in the datasets and models buckets; removes them when ``apply``.

    Raises:
        StorageError: If S3 fails beyond its retries.
    """
    cutoff = (now or datetime.now(timezone.utc)) - grace
    report = CollectionReport()
    for role, files_of in MANIFEST_FILES.items():
        bucket = store.bucket(role)
        try:
            objects = store.list_object_versions(bucket)
        except AccessDeniedError:
            # Roles may list only the current objects (components/common/s3_roles.py): older versions stay unseen.
            objects = store.list_current_objects(bucket)
        folders = {folder for folder in (version_folder(o.key) for o in objects) if folder is not None}
        named = {folder: _named_keys(store, bucket, folder, files_of) for folder in sorted(folders)}
        report.leftovers[role] = find_leftovers(objects, named, cutoff)
        if apply:
            _remove(store, bucket, report.leftovers[role], files_of, cutoff, report)
    return report


def _named_keys(store: ObjectStore, bucket: str, folder: str, files_of: Callable) -> set[str] | None:
    try:
        return set(files_of(store.get_json(bucket, f"{folder}{MANIFEST}")))
    except NotFoundError:
        return None


def _remove(
    store: ObjectStore,
    bucket: str,
    leftovers: list[Leftover],
    files_of: Callable,
    cutoff: datetime,
    report: CollectionReport,
) -> None:
    by_folder: dict[str, list[Leftover]] = {}
    for leftover in leftovers:
        by_folder.setdefault(leftover.folder, []).append(leftover)
    for folder, listed in by_folder.items():
        # Read again: a publication may have completed this folder since the listing.
        named = _named_keys(store, bucket, folder, files_of)
        still = find_leftovers([leftover.object for leftover in listed], {folder: named}, cutoff)
        report.kept += len(listed) - len(still)
        for leftover in still:
            version = leftover.object
            version_id = version.version_id
            if version_id is None:  # listed without versions: the one current now, if it is still as old
                current = store.stat(bucket, version.key)
                if current is None or current.last_modified is None or current.last_modified >= cutoff:
                    report.kept += 1
                    continue
                version_id = current.version_id
            try:
                store.delete(bucket, version.key, version_id)
                report.removed += 1
            except AccessDeniedError:
                current = store.stat(bucket, version.key)
                if current is None or current.version_id != version_id:
                    report.kept += 1
                    continue
                store.delete(bucket, version.key)
                report.hidden += 1
