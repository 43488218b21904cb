"""The storage layer against a real S3 server: digests, integrity, retries and clear failures."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from helpers import make_loans, settings_for
from minio import Minio

from components.common import s3_server
from components.common.errors import IntegrityError, NotFoundError, StorageError
from components.common.s3_server import ServerPaths
from components.common.storage import ObjectStore, RetryPolicy, sha256_file


def raw_client(store: ObjectStore) -> Minio:
    s = store.settings
    return Minio(s.endpoint, s.access_key, s.secret_key, secure=False)


def test_buckets_exist_with_versioning(store):
    for role in ("datasets", "models", "feedback", "artifacts"):
        assert store.versioning_enabled(store.bucket(role))


def test_file_round_trip_records_and_verifies_the_digest(store, tmp_path):
    source = tmp_path / "blob.bin"
    source.write_bytes(bytes(range(256)) * 5000)
    stored = store.put_file(store.bucket("datasets"), "a/blob.bin", source)
    assert stored.sha256 == sha256_file(source) and stored.version_id
    head = raw_client(store).stat_object(store.bucket("datasets"), "a/blob.bin")
    assert {k.lower(): v for k, v in head.metadata.items()}["x-amz-meta-sha256"] == stored.sha256
    copy = store.get_file(store.bucket("datasets"), "a/blob.bin", tmp_path / "out" / "copy.bin", stored.sha256)
    assert copy.read_bytes() == source.read_bytes()


def test_json_and_dataframe_round_trip(store):
    store.put_json(store.bucket("models"), "x/card.json", {"b": 1, "a": [1, 2]})
    assert store.get_json(store.bucket("models"), "x/card.json") == {"a": [1, 2], "b": 1}
    frame = make_loans(rows=50)
    store.put_dataframe(store.bucket("datasets"), "x/frame.parquet", frame)
    pd.testing.assert_frame_equal(store.get_dataframe(store.bucket("datasets"), "x/frame.parquet"), frame)


def test_replaced_content_is_refused_and_no_file_is_left(store, tmp_path):
    bucket = store.bucket("datasets")
    stored = store.put_bytes(bucket, "t/data.bin", b"original")
    # Someone overwrites the object keeping the old digest in its metadata.
    raw_client(store).put_object(bucket, "t/data.bin", io.BytesIO(b"tampered"), 8, metadata={"sha256": stored.sha256})
    destination = tmp_path / "data.bin"
    with pytest.raises(IntegrityError, match="s3://.*/t/data.bin is corrupt or was replaced"):
        store.get_file(bucket, "t/data.bin", destination)
    assert not destination.exists() and list(tmp_path.iterdir()) == []
    # A digest the caller recorded (a manifest's) is checked as well as the object's own.
    store.put_bytes(bucket, "t/other.bin", b"fresh")
    with pytest.raises(IntegrityError, match="expected by the caller"):
        store.get_bytes(bucket, "t/other.bin", expected_sha256=stored.sha256)


def test_missing_object_and_listing(store):
    bucket = store.bucket("feedback")
    with pytest.raises(NotFoundError):
        store.get_bytes(bucket, "nothing/here")
    assert store.exists(bucket, "nothing/here") is False
    store.put_bytes(bucket, "p/1", b"1")
    store.put_bytes(bucket, "p/q/2", b"2")
    assert store.list_keys(bucket, "p/") == ["p/1", "p/q/2"]
    assert store.list_keys(bucket, "p/", recursive=False) == ["p/1", "p/q/"]


def test_wrong_credentials_fail_at_once_with_a_hint(s3):
    store = ObjectStore.connect(settings_for(s3, secret="wrong-secret"))
    started = time.monotonic()
    with pytest.raises(
        StorageError, match="refused the credentials \\(SignatureDoesNotMatch\\).*AWS_SECRET_ACCESS_KEY"
    ):
        store.check()
    assert time.monotonic() - started < 2, "a credential error is not transient and must not be retried"


def test_unreachable_server_fails_after_bounded_retries(tmp_path):
    paths = ServerPaths(tmp_path / "s3")
    state = s3_server.start(paths)
    s3_server.stop(paths)
    store = ObjectStore.connect(settings_for(state), RetryPolicy(attempts=3, base_delay=0.05))
    with pytest.raises(
        StorageError, match="did not answer after 3 tries \\(connection refused\\).*is the server running"
    ):
        store.check()


def test_transient_outage_is_ridden_out_by_retries(tmp_path):
    paths = ServerPaths(tmp_path / "s3")
    state = s3_server.start(paths)
    store = ObjectStore.connect(settings_for(state), RetryPolicy(attempts=10, base_delay=0.2, max_delay=1.0))
    store.ensure_buckets(("datasets",))
    s3_server.stop(paths)
    restarter = threading.Timer(1.0, s3_server.start, args=(paths,))
    restarter.start()
    try:
        stored = store.put_bytes("datasets", "during/outage", b"kept")
        assert store.get_bytes("datasets", "during/outage", stored.sha256) == b"kept"
    finally:
        restarter.join()
        s3_server.stop(paths)


def test_retry_delays_are_bounded_and_growing():
    delays = list(RetryPolicy(attempts=6, base_delay=0.5, max_delay=2.0).delays())
    assert len(delays) == 5
    assert all(0 < d <= 2.0 for d in delays)
    assert delays[0] <= 0.5 and delays[-1] >= 1.0


def test_download_destination_appears_only_when_complete(store, tmp_path: Path):
    bucket = store.bucket("datasets")
    store.put_bytes(bucket, "k", b"x" * 1000)
    destination = tmp_path / "nested" / "k"
    store.get_file(bucket, "k", destination)
    assert [p.name for p in destination.parent.iterdir()] == ["k"]
