"""The latest dataset pointer on the real embedded S3 server: compare-and-swap, newest choice kept."""

from __future__ import annotations

import threading

import pytest

from components.common import datasets
from components.common.datasets import DatasetRef
from components.common.errors import NotFoundError
from components.common.storage import ObjectStore


def complete(store: ObjectStore, version: str) -> DatasetRef:
    ref = DatasetRef("loans", version)
    store.put_json(store.bucket("datasets"), ref.manifest_key, {"version": version})
    return ref


def test_a_pointer_write_that_arrives_after_a_newer_choice_leaves_it(store):
    first, second = complete(store, "ds-000000000000000a"), complete(store, "ds-000000000000000b")
    assert datasets.write_latest(store, second, "2026-01-01T00:00:02+00:00") == second.version
    # Chosen earlier, written later (a slow ingestion, a write retried through an outage).
    assert datasets.write_latest(store, first, "2026-01-01T00:00:01+00:00") == second.version
    assert datasets.read_latest(store, "loans") == second.version
    # Chosen again now (identical inputs ingested again): latest moves back to it.
    assert datasets.write_latest(store, first) == first.version
    assert datasets.read_latest(store, "loans") == first.version


def test_latest_never_names_a_version_without_a_manifest(store):
    complete_one = complete(store, "ds-000000000000000a")
    datasets.write_latest(store, complete_one)
    with pytest.raises(NotFoundError, match="ds-000000000000000b of 'loans': it has no manifest"):
        datasets.write_latest(store, DatasetRef("loans", "ds-000000000000000b"))
    assert datasets.read_latest(store, "loans") == complete_one.version


def test_writers_racing_agree_on_the_newest_choice(store):
    refs = [complete(store, f"ds-{index:016x}") for index in range(6)]
    moments = [f"2026-01-01T00:00:0{index}+00:00" for index in range(6)]
    barrier, answers = threading.Barrier(len(refs)), [None] * len(refs)

    def write(index: int) -> None:
        barrier.wait()
        answers[index] = datasets.write_latest(store, refs[index], moments[index])

    threads = [threading.Thread(target=write, args=(index,)) for index in range(len(refs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert datasets.read_latest(store, "loans") == refs[-1].version
    # Every writer was told what latest named once its write (or its decision to keep) went through.
    assert answers[-1] == refs[-1].version
    assert all(answer in {ref.version for ref in refs[index:]} for index, answer in enumerate(answers))
