"""The pure core of `mlcycle gc`: which object versions in version folders no manifest needs."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from components.common.leftovers import find_leftovers, version_folder
from components.common.storage import ObjectVersion

NOW = datetime(2026, 1, 2, tzinfo=timezone.utc)
CUTOFF = NOW - timedelta(hours=24)
OLD, FRESH = NOW - timedelta(days=3), NOW - timedelta(hours=1)
DONE, ORPHAN = "uc/ds-0123456789abcdef/", "uc/m-fedcba9876543210/"


def version(key: str, when: datetime = OLD, version_id: str = "v1") -> ObjectVersion:
    return ObjectVersion(key, version_id, when, True)


def keys(found) -> list[tuple[str, str]]:
    return [(leftover.object.key, leftover.reason) for leftover in found]


def test_version_folders_are_recognised_and_nothing_else():
    assert version_folder(f"{DONE}data/train.parquet") == DONE
    assert version_folder(f"{ORPHAN}model.joblib") == ORPHAN
    assert version_folder("uc/latest.json") is None
    assert version_folder("uc/stages.json") is None
    assert version_folder("uc/requests/2026/a.jsonl") is None


def test_what_a_manifest_names_is_never_a_leftover_in_any_version():
    named = {DONE: {f"{DONE}data/train.parquet"}}
    listing = [
        version(f"{DONE}data/train.parquet", version_id="v1"),
        version(f"{DONE}data/train.parquet", version_id="v0"),
        version(f"{DONE}manifest.json"),
        version(f"{DONE}data/stray.parquet"),
    ]
    assert keys(find_leftovers(listing, named, CUTOFF)) == [(f"{DONE}data/stray.parquet", "not in the manifest")]


def test_a_folder_without_manifest_is_all_leftovers_once_older_than_the_grace_period():
    listing = [version(f"{ORPHAN}model.joblib"), version(f"{ORPHAN}model_card.md", FRESH)]
    assert keys(find_leftovers(listing, {ORPHAN: None}, CUTOFF)) == [(f"{ORPHAN}model.joblib", "no manifest")]


def test_pointers_and_folders_of_unknown_state_are_left_alone():
    listing = [version("uc/latest.json"), version(f"{ORPHAN}model.joblib")]
    assert find_leftovers(listing, {}, CUTOFF) == []


def test_a_version_without_a_modification_time_is_kept():
    listing = [ObjectVersion(f"{ORPHAN}model.joblib", "v1", None, True)]
    assert find_leftovers(listing, {ORPHAN: None}, CUTOFF) == []
