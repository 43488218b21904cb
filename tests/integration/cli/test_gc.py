"""`mlcycle gc`: files of failed publications are listed, removed with --apply, and nothing a manifest names is."""

from __future__ import annotations

from datetime import timedelta

import pytest
from helpers import make_loans, mlcycle, write_loans_use_case

from components.common import datasets
from components.common.config import load_use_case
from components.common.errors import StorageError
from components.common.gc import collect_garbage
from components.common.s3_settings import S3Settings
from components.common.storage import ObjectStore
from components.ingest.logic import ingest_dataset


class CrashBeforeManifest(ObjectStore):
    """Dies just before the manifest and cannot clean up: an orphan folder is left."""

    def create_json(self, bucket, key, payload):
        raise StorageError("S3 went away")

    def delete(self, bucket, key, version_id=None):
        raise StorageError("S3 went away")


def orphan_and_published(store, tmp_path, loans_config_path):
    published = ingest_dataset(load_use_case(loans_config_path), store)
    changed = load_use_case(write_loans_use_case(tmp_path / "changed", make_loans(seed=3)))
    with pytest.raises(StorageError):
        ingest_dataset(changed, CrashBeforeManifest(store._client, store.settings, store.retry))
    return published


def test_gc_lists_then_removes_only_what_no_manifest_names(store, tmp_path, loans_config_path):
    published = orphan_and_published(store, tmp_path, loans_config_path)
    bucket = store.bucket("datasets")
    before = set(store.list_keys(bucket, "loans/"))
    dry = collect_garbage(store, timedelta(0))
    orphans = {leftover.object.key for leftover in dry.leftovers["datasets"]}
    assert len(orphans) == 3 and all(published.ref.version not in key for key in orphans)
    assert {leftover.reason for leftover in dry.leftovers["datasets"]} == {"no manifest"}
    assert set(store.list_keys(bucket, "loans/")) == before  # a dry run deletes nothing
    assert collect_garbage(store, timedelta(hours=1)).leftovers["datasets"] == []  # too young
    applied = collect_garbage(store, timedelta(0), apply=True)
    assert applied.removed == 3 and applied.hidden == applied.kept == 0
    assert set(store.list_keys(bucket, "loans/")) == before - orphans
    [manifest] = datasets.list_versions(store, "loans")
    assert datasets.damaged_files(store, manifest) == [] and manifest["version"] == published.ref.version
    assert collect_garbage(store, timedelta(0)).leftovers["datasets"] == []


def test_gc_command_is_a_dry_run_unless_applied(store, tmp_path, loans_config_path, s3_env):
    orphan_and_published(store, tmp_path, loans_config_path)
    dry = mlcycle("gc", "--grace-hours", "0", env=s3_env)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.count("no manifest") == 3
    assert "3 leftover object version(s) older than 0 h; run with --apply to remove them" in dry.stdout
    applied = mlcycle("gc", "--grace-hours", "0", "--apply", env=s3_env)
    assert "removed 3, hidden behind a delete marker 0" in applied.stdout, applied.stdout
    assert mlcycle("gc", env=s3_env).stdout.strip() == "no leftovers older than 24 h"


def test_a_role_that_may_not_remove_versions_hides_the_leftovers_instead(s3, store, tmp_path, loans_config_path):
    published = orphan_and_published(store, tmp_path, loans_config_path)
    access_key, secret_key = s3.keys("pipeline")
    settings = S3Settings(
        endpoint=f"127.0.0.1:{s3.ports['s3']}",
        secure=False,
        access_key=access_key,
        secret_key=secret_key,
        bucket_prefix=store.settings.bucket_prefix,
    )
    applied = collect_garbage(ObjectStore.connect(settings, store.retry), timedelta(0), apply=True)
    assert applied.hidden == 3 and applied.removed == 0
    assert store.list_keys(store.bucket("datasets"), "loans/") == sorted(
        [
            f"loans/{published.ref.version}/manifest.json",
            *datasets.manifest_files(published.manifest),
            "loans/latest.json",
        ]
    )
