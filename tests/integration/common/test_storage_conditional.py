"""Conditional writes against the real embedded S3 server: the compare-and-swap every pointer relies on."""

from __future__ import annotations

import threading

import pytest

from components.common.storage import ConflictError, ObjectStore


def _race(workers: int, work) -> list:
    """Runs ``work(i)`` in ``workers`` threads released at the same instant; returns what each returned."""
    barrier = threading.Barrier(workers)
    results: list = [None] * workers

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = work(index)
        except ConflictError as error:
            results[index] = error

    threads = [threading.Thread(target=run, args=(index,)) for index in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_create_only_if_absent(store: ObjectStore) -> None:
    bucket = store.bucket("datasets")
    first = store.put_bytes(bucket, "pointer.json", b"first", if_absent=True)
    assert first.etag

    with pytest.raises(ConflictError, match="another writer changed it first"):
        store.put_bytes(bucket, "pointer.json", b"second", if_absent=True)
    assert store.get_bytes(bucket, "pointer.json") == b"first"


def test_identical_bytes_written_first_by_another_writer_are_a_conflict(store: ObjectStore) -> None:
    # Two identical manifests written in the same second: the second writer did not create the object.
    bucket = store.bucket("datasets")
    store.put_bytes(bucket, "pointer.json", b"same", if_absent=True)

    with pytest.raises(ConflictError):
        store.put_bytes(bucket, "pointer.json", b"same", if_absent=True)


def test_write_only_if_unchanged_since_read(store: ObjectStore) -> None:
    bucket = store.bucket("datasets")
    store.put_json(bucket, "stages.json", {"production": "v1"})
    _, etag = store.get_json_with_etag(bucket, "stages.json")
    store.put_json(bucket, "stages.json", {"production": "v2"})  # another writer

    with pytest.raises(ConflictError):
        store.put_bytes(bucket, "stages.json", b'{"production": "v3"}', if_match=etag)
    assert store.get_json(bucket, "stages.json") == {"production": "v2"}


def test_a_condition_on_a_missing_object_fails(store: ObjectStore) -> None:
    with pytest.raises(ConflictError):
        store.put_bytes(store.bucket("datasets"), "absent.json", b"x", if_match="0123456789abcdef")


def test_exactly_one_of_racing_creators_wins(store: ObjectStore) -> None:
    bucket = store.bucket("datasets")
    for round_ in range(5):
        results = _race(
            6,
            lambda index, key=f"manifest-{round_}.json": store.put_bytes(
                bucket, key, f"{index}".encode(), if_absent=True
            ),
        )
        winners = [result for result in results if not isinstance(result, ConflictError)]
        assert len(winners) == 1, f"round {round_}: {len(winners)} creators won"


def test_racing_updates_lose_nothing(store: ObjectStore) -> None:
    bucket = store.bucket("datasets")
    workers, updates = 6, 8

    def append(index: int) -> None:
        for step in range(updates):
            store.update_json(
                bucket,
                "history.json",
                lambda current, entry=f"{index}-{step}": {"history": [*(current or {"history": []})["history"], entry]},
                attempts=60,
            )

    results = _race(workers, append)

    assert not [result for result in results if isinstance(result, ConflictError)]
    history = store.get_json(bucket, "history.json")["history"]
    assert sorted(history) == sorted(f"{index}-{step}" for index in range(workers) for step in range(updates))
    for index in range(workers):  # each writer's own updates keep their order
        mine = [entry for entry in history if entry.startswith(f"{index}-")]
        assert mine == [f"{index}-{step}" for step in range(updates)]


def test_an_update_that_keeps_losing_says_so(store: ObjectStore) -> None:
    bucket = store.bucket("datasets")
    store.put_json(bucket, "busy.json", {"n": 0})

    def change_while_someone_else_writes(current):
        store.put_json(bucket, "busy.json", {"n": current["n"] + 100})  # another writer, every time
        return {"n": current["n"] + 1}

    with pytest.raises(ConflictError, match="changed under every one of 3 tries"):
        store.update_json(bucket, "busy.json", change_while_someone_else_writes, attempts=3)
