"""The embedded SeaweedFS server: loopback only, secret credentials, idempotent start, stop by PID."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from minio import Minio
from minio.error import S3Error

from components.common import s3_server
from components.common.errors import UserError
from components.common.s3_server import ServerPaths
from components.common.s3_settings import ROLES, embedded_server_environment, s3_settings


def listening_addresses(pid: int) -> set[tuple[str, int]]:
    """The (address, port) pairs a process listens on, read from /proc."""
    inodes = set()
    for fd in (Path(f"/proc/{pid}/fd")).iterdir():
        try:
            target = fd.readlink().as_posix()
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A: LISTEN
                address, port = local.split(":")
                found.add((address, int(port, 16)))
    return found


def test_server_listens_on_loopback_only_and_on_the_recorded_ports(s3):
    listening = listening_addresses(s3.pid)
    assert listening, "the server listens nowhere"
    assert {address for address, _ in listening} == {"0100007F"}  # 127.0.0.1, and nothing else
    assert {port for _, port in listening} <= set(s3.ports.values())


def test_credentials_file_is_private_and_rejects_wrong_or_anonymous_clients(s3, tmp_path_factory):
    folder = next(tmp_path_factory.getbasetemp().glob("s3-server*"))
    private = [folder / "credentials.env", folder / "s3-config.json", *(folder / f"credentials-{r}.env" for r in ROLES)]
    for path in private:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    endpoint = f"127.0.0.1:{s3.ports['s3']}"
    Minio(endpoint, s3.access_key, s3.secret_key, secure=False).list_buckets()
    for client in (Minio(endpoint, s3.access_key, "wrong", secure=False), Minio(endpoint, secure=False)):
        with pytest.raises(S3Error) as error:
            client.list_buckets()
        assert error.value.code in {"SignatureDoesNotMatch", "AccessDenied", "InvalidAccessKeyId"}


def test_start_is_idempotent_and_stop_uses_the_recorded_pid(tmp_path, monkeypatch):
    paths = ServerPaths(tmp_path / "s3")
    # Keys in the starting process's environment must not become one more identity of the server.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "intruderkey123")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "intrudersecret123456")
    first = s3_server.start(paths)
    try:
        again = s3_server.start(paths)
        assert again.pid == first.pid and again.ports == first.ports
        assert again.access_key == first.access_key and again.roles == first.roles
        endpoint = f"127.0.0.1:{first.ports['s3']}"
        with pytest.raises(S3Error) as refused:
            Minio(endpoint, "intruderkey123", "intrudersecret123456", secure=False).list_buckets()
        assert refused.value.code == "InvalidAccessKeyId"
        # Without an endpoint in the environment, a process gets the role it asks for (pipeline by default).
        state = {"MLCYCLE_STATE_DIR": str(tmp_path)}
        for role in ROLES:
            settings = s3_settings(state, role=role)
            assert (settings.endpoint, settings.access_key, settings.secret_key) == (endpoint, *first.keys(role))
        assert s3_settings(state).access_key == first.keys("pipeline")[0]
        # A process started against this server gets the serving keys whatever keys its starter holds...
        starter = {**state, **first.environment("pipeline")}
        assert embedded_server_environment("serving", starter)["AWS_ACCESS_KEY_ID"] == first.keys("serving")[0]
        # ...but an environment naming another store keeps its own keys.
        elsewhere = {**starter, "AWS_ENDPOINT_URL": "http://object-store:9000"}
        assert embedded_server_environment("serving", elsewhere) == {}
        assert s3_settings(elsewhere, role="serving").access_key == first.keys("pipeline")[0]
    finally:
        assert s3_server.stop(paths) is True
    assert s3_server.read_state(paths) is None
    assert not s3_server._alive(first.pid)
    assert s3_server.stop(paths) is False
    restarted = s3_server.start(paths)
    try:
        # The same credentials on the next start; the ports are the last ones unless the kernel still
        # holds them (TIME_WAIT), and the state file always names the ones in use.
        assert restarted.access_key == first.access_key and restarted.roles == first.roles
        assert s3_server.read_state(paths).ports == restarted.ports
        assert {port for _, port in listening_addresses(restarted.pid)} <= set(restarted.ports.values())
        Minio(f"127.0.0.1:{restarted.ports['s3']}", first.access_key, first.secret_key, secure=False).list_buckets()
    finally:
        s3_server.stop(paths)


def test_requested_port_in_use_is_refused(s3, tmp_path):
    with pytest.raises(UserError, match=f"port {s3.ports['s3']} for the S3 server's s3 is in use"):
        s3_server.start(ServerPaths(tmp_path / "other"), ports={"s3": s3.ports["s3"]})
