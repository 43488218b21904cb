"""Two real `mlcycle ingest` processes against the real embedded server, interrupted at chosen moments.

Each test asserts: nothing published is lost (every manifest's files verify), every process told the truth (what
it printed matches the store), and the history is complete. The moments are made deterministic by a gate in the
store of one process (tests/integration/gated_mlcycle.py), not by anything in the product.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import make_loans, mlcycle, write_loans_use_case

from components.common import datasets
from components.common.config import SPLITS, load_use_case
from components.common.errors import StorageError
from components.common.storage import ObjectStore
from components.ingest.logic import ingest_dataset


def assert_nothing_published_is_lost(store: ObjectStore, tmp_path: Path) -> list[dict]:
    """Every complete version's files are there and match its manifest, downloaded and verified."""
    manifests = datasets.list_versions(store, "loans")
    for manifest in manifests:
        assert datasets.damaged_files(store, manifest) == [], manifest["version"]
        for split in SPLITS:
            datasets.download_split(store, manifest, split, tmp_path / "check" / f"{manifest['version']}-{split}")
    return manifests


def told(stdout: str) -> tuple[str, str]:
    """The version and what happened to it, as the command printed them."""
    first = stdout.splitlines()[0]
    match = re.match(r"dataset version (ds-[0-9a-f]{16}) of 'loans' (.+)$", first)
    assert match, stdout
    return match.group(1), match.group(2)


def printed_created_at(stdout: str) -> str:
    return re.search(r"created:\s+(\S+) by code", stdout).group(1)


def test_ctrl_c_to_one_of_two_identical_ingests_after_the_other_published_loses_nothing(
    gated, loans_config_path, s3_env, store, tmp_path
):
    interrupted = gated("a", "before-manifest", "ingest", "-c", str(loans_config_path))
    interrupted.wait_at_gate()  # its splits are written, its manifest not yet
    other = mlcycle("ingest", "-c", str(loans_config_path), env=s3_env, timeout=60)
    assert other.returncode == 0, other.stderr
    version, outcome = told(other.stdout)
    assert outcome == "created"
    interrupted.release("interrupt")
    code, _, err = interrupted.finish()
    assert code == 130 and "interrupted" in err and "Traceback" not in err
    [manifest] = assert_nothing_published_is_lost(store, tmp_path)
    assert manifest["version"] == version and datasets.read_latest(store, "loans") == version
    assert printed_created_at(other.stdout) == manifest["created_at"]


def test_ctrl_c_to_one_while_the_other_is_about_to_publish_loses_nothing(gated, loans_config_path, store, tmp_path):
    interrupted = gated("a", "before-manifest", "ingest", "-c", str(loans_config_path))
    publishing = gated("b", "before-manifest", "ingest", "-c", str(loans_config_path))
    interrupted.wait_at_gate()
    publishing.wait_at_gate()  # both wrote the same splits; the interrupted one cleans up first
    interrupted.release("interrupt")
    assert interrupted.finish()[0] == 130
    publishing.release("continue")
    code, out, err = publishing.finish()
    assert code == 0, err
    version, outcome = told(out)
    assert outcome == "created"
    [manifest] = assert_nothing_published_is_lost(store, tmp_path)
    assert manifest["version"] == version and datasets.read_latest(store, "loans") == version


def test_identical_ingests_at_the_same_moment_one_creates_and_the_other_is_told(
    gated, loans_config_path, store, tmp_path
):
    processes = [gated(name, "before-manifest", "ingest", "-c", str(loans_config_path)) for name in ("a", "b")]
    for process in processes:
        process.wait_at_gate()
    for process in processes:
        process.release("continue")
    results = [process.finish() for process in processes]
    assert [code for code, _, _ in results] == [0, 0], results
    outcomes = sorted(told(out)[1] for _, out, _ in results)
    [manifest] = assert_nothing_published_is_lost(store, tmp_path)
    version = manifest["version"]
    assert outcomes == ["created", f"unchanged: another run created version {version} at the same moment"]
    # Both print the one stored manifest: the loser did not overwrite created_at.
    assert {printed_created_at(out) for _, out, _ in results} == {manifest["created_at"]}
    assert datasets.read_latest(store, "loans") == version


def test_ctrl_c_as_the_manifest_write_returns_says_the_version_is_complete(
    gated, loans_config_path, s3_env, store, tmp_path
):
    interrupted = gated("a", "after-manifest", "ingest", "-c", str(loans_config_path))
    interrupted.wait_at_gate()
    interrupted.release("interrupt")
    code, _, err = interrupted.finish()
    assert code == 130 and "manifest.json was written first: that version is complete" in err, err
    [manifest] = assert_nothing_published_is_lost(store, tmp_path)
    assert datasets.read_latest(store, "loans") is None  # interrupted before the pointer moved
    again = mlcycle("ingest", "-c", str(loans_config_path), env=s3_env, timeout=60)
    assert told(again.stdout) == (
        manifest["version"],
        "unchanged (identical inputs were ingested before; nothing written)",
    )
    assert datasets.read_latest(store, "loans") == manifest["version"]


def test_different_ingests_at_the_same_moment_both_publish(gated, loans_config_path, store, tmp_path):
    changed = write_loans_use_case(tmp_path / "changed", make_loans(seed=3))
    processes = [
        gated("a", "before-manifest", "ingest", "-c", str(loans_config_path)),
        gated("b", "before-manifest", "ingest", "-c", str(changed)),
    ]
    for process in processes:
        process.wait_at_gate()
    for process in processes:
        process.release("continue")
    results = [process.finish() for process in processes]
    assert [code for code, _, _ in results] == [0, 0], results
    versions = {told(out) for _, out, _ in results}
    manifests = assert_nothing_published_is_lost(store, tmp_path)
    assert versions == {(m["version"], "created") for m in manifests} and len(manifests) == 2
    assert datasets.read_latest(store, "loans") in {m["version"] for m in manifests}


# --- an outage before each write of a publication (one process, a fault-injecting store) -----------


class OutageBefore(ObjectStore):
    """S3 stops answering just before the n-th write (splits, manifest, latest pointer)."""

    def __init__(self, store: ObjectStore, write: int, answer_lost: bool = False) -> None:
        super().__init__(store._client, store.settings, store.retry)
        self.write, self.answer_lost, self.writes = write, answer_lost, 0

    def _count(self) -> None:
        self.writes += 1
        if self.writes == self.write and not self.answer_lost:
            raise StorageError("cannot upload: S3 did not answer after 3 tries (connection refused)")

    def put_file(self, *args, **kwargs):
        self._count()
        return super().put_file(*args, **kwargs)

    def put_bytes(self, *args, **kwargs):
        self._count()
        stored = super().put_bytes(*args, **kwargs)
        if self.writes == self.write and self.answer_lost:
            raise StorageError("cannot upload: the connection broke before the answer came")
        return stored


@pytest.mark.parametrize("write", [1, 2, 3, 4])
def test_an_outage_before_any_write_up_to_the_manifest_publishes_nothing_and_says_so(
    store, loans_config_path, tmp_path, write
):
    config = load_use_case(loans_config_path)
    with pytest.raises(StorageError, match="did not answer"):
        ingest_dataset(config, OutageBefore(store, write))
    assert assert_nothing_published_is_lost(store, tmp_path) == []
    # What it wrote (its own object versions) was removed; the folder is empty again.
    assert store.list_keys(store.bucket("datasets"), "loans/") == []
    retried = ingest_dataset(config, store)
    assert retried.outcome == "created" and [m["version"] for m in assert_nothing_published_is_lost(store, tmp_path)]


def test_an_outage_before_the_latest_pointer_leaves_a_complete_version_and_says_the_pointer_did_not_move(
    store, loans_config_path, tmp_path
):
    config = load_use_case(loans_config_path)
    result = ingest_dataset(config, OutageBefore(store, 5))
    assert result.outcome == "created" and "did not answer" in result.latest_error
    [manifest] = assert_nothing_published_is_lost(store, tmp_path)
    assert manifest == result.manifest and datasets.read_latest(store, "loans") is None
    again = ingest_dataset(config, store)
    assert again.outcome == "unchanged" and again.latest_error is None
    assert datasets.read_latest(store, "loans") == manifest["version"]


def test_a_manifest_whose_answer_was_lost_is_reported_as_created(store, loans_config_path, tmp_path):
    result = ingest_dataset(load_use_case(loans_config_path), OutageBefore(store, 4, answer_lost=True))
    assert result.outcome == "created"
    [manifest] = assert_nothing_published_is_lost(store, tmp_path)
    assert manifest == result.manifest and datasets.read_latest(store, "loans") == manifest["version"]
