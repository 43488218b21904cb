"""Which objects in the version folders are leftovers: the pure core of ``mlcycle gc``.

A failed or interrupted publication may leave files in a version folder that no manifest names (the clean-up
removes only what it safely can, see components.common.publication). They are invisible to every reader; this
module tells them apart from what a manifest names, from a listing and the manifests alone.

Rules: a key a manifest names (and the manifest itself) is never a leftover, in any of its versions; any other
object version under ``<use_case>/<version>/`` is one once it is older than the grace period, whether its folder
has a manifest or not. Objects outside version folders (pointers, the stage index) are never considered.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from components.common.refs import MANIFEST
from components.common.storage import ObjectVersion

VERSION_FOLDER = re.compile(r"^(?P<folder>[^/]+/(?:ds|m)-[0-9a-f]{16}/)(?P<name>.+)$")


@dataclass(frozen=True)
class Leftover:
    """One object version that no manifest needs.

    Attributes:
        object: The version, as listed.
        folder: Its version folder (``<use_case>/<version>/``).
        reason: ``no manifest`` (its folder never completed) or ``not in the manifest``.
    """

    object: ObjectVersion
    folder: str
    reason: str


def version_folder(key: str) -> str | None:
    """Returns the version folder a key lies in (``<use_case>/<version>/``), or None outside version folders."""
    match = VERSION_FOLDER.match(key)
    return match.group("folder") if match else None


def find_leftovers(
    objects: Iterable[ObjectVersion], named: Mapping[str, Collection[str] | None], cutoff: datetime
) -> list[Leftover]:
    """Returns the object versions in version folders that no manifest names, last modified before ``cutoff``.

    Args:
        objects: A listing of object versions (delete markers left out).
        named: For each version folder, the keys its manifest names, or None when the folder has no manifest.
            A folder missing from the mapping is treated as one whose manifest is unknown: nothing in it is listed.
        cutoff: Only versions last modified before it count (the grace period protects publications under way).
    """
    found = []
    for version in objects:
        folder = version_folder(version.key)
        if folder is None or folder not in named:
            continue
        keys = named[folder]
        if keys is not None and (version.key in keys or version.key == f"{folder}{MANIFEST}"):
            continue
        if version.last_modified is None or version.last_modified >= cutoff:
            continue
        found.append(Leftover(version, folder, "no manifest" if keys is None else "not in the manifest"))
    return found
