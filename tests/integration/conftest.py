"""Integration fixtures: a real SeaweedFS S3 server on free loopback ports, in a temporary folder."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
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


ROOT = Path(__file__).resolve().parents[2]
GATED = Path(__file__).resolve().parent / "gated_mlcycle.py"


class Gated:
    """A second process whose store stops at a gate until the test says what to do."""

    def __init__(self, folder: Path, point: str, args: list[str], env: dict[str, str]) -> None:
        self.folder = folder
        folder.mkdir(parents=True)
        self.process = subprocess.Popen(
            [sys.executable, str(GATED), str(folder), point, *args],
            env={**env, "PYTHONPATH": str(ROOT)},
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def wait_at_gate(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not (self.folder / "reached").exists():
            if self.process.poll() is not None:
                raise AssertionError(f"ended before its gate: {self.process.communicate()}")
            assert time.monotonic() < deadline, "never reached its gate"
            time.sleep(0.02)

    def release(self, action: str) -> None:
        # Written whole, then renamed: the process must never read a half-written order.
        (self.folder / "go.partial").write_text(action)
        os.replace(self.folder / "go.partial", self.folder / "go")

    def finish(self, timeout: float = 60) -> tuple[int, str, str]:
        out, err = self.process.communicate(timeout=timeout)
        return self.process.returncode, out, err


@pytest.fixture
def gated(tmp_path: Path, s3_env: dict[str, str]) -> Iterator[Callable[..., Gated]]:
    """Starts processes of tests/integration/gated_mlcycle.py on the test's buckets; kills leftovers at the end."""
    started: list[Gated] = []

    def start(name: str, point: str, *args: str) -> Gated:
        process = Gated(tmp_path / "gates" / name, point, list(args), s3_env)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.process.poll() is None:
            process.process.kill()
            process.process.communicate()
