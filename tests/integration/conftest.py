"""Integration fixtures: a real SeaweedFS S3 server on free loopback ports, in a temporary folder."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import settings_for

from components.common import s3_server
from components.common.s3_server import ServerPaths, ServerState
from components.common.storage import ObjectStore, RetryPolicy

_prefixes = itertools.count()


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerState]:
    """One embedded S3 server for the whole session, stopped by its PID at the end."""
    paths = ServerPaths(tmp_path_factory.mktemp("s3-server"))
    state = s3_server.start(paths)
    yield state
    s3_server.stop(paths)


@pytest.fixture
def store(s3: ServerState) -> ObjectStore:
    """An object store with this test's own, freshly created buckets."""
    store = ObjectStore.connect(
        settings_for(s3, prefix=f"t{os.getpid()}-{next(_prefixes)}-"), RetryPolicy(attempts=3, base_delay=0.05)
    )
    store.ensure_buckets()
    return store


@pytest.fixture
def s3_env(s3: ServerState, store: ObjectStore, tmp_path: Path) -> dict[str, str]:
    """Environment for a subprocess that should use the test server and this test's buckets."""
    return {
        **os.environ,
        **s3.environment(),
        "MLCYCLE_BUCKET_PREFIX": store.settings.bucket_prefix,
        "MLCYCLE_STATE_DIR": str(tmp_path / "state"),
    }
