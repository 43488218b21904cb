"""S3 settings: where the object store is and how to sign requests, read from the environment.

They come from the AWS_* names every S3 tool understands. Where no endpoint is set, the embedded S3
server that ``mlcycle s3 up`` started is used, read from its state folder, with the identity of a role
(components/common/s3_roles.py: pipeline unless asked otherwise). Set variables always win, so on a
cluster the Secret mounted into a pod decides the identity.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from components.common.errors import ConfigError


@dataclass(frozen=True)
class S3Settings:
    """Where the object store is and how to sign requests.

    Attributes:
        endpoint: ``host:port`` of the S3 API.
        secure: Whether to use HTTPS.
        access_key: The access key id.
        secret_key: The secret key (never printed; see :meth:`masked_key`).
        region: The region to sign for.
        bucket_prefix: Prefix of every bucket name, to share one store between installations.
    """

    endpoint: str
    secure: bool
    access_key: str
    secret_key: str = field(repr=False)
    region: str = "us-east-1"
    bucket_prefix: str = ""

    def bucket(self, role: str) -> str:
        """Returns the bucket name for a role: datasets, models, feedback or artifacts."""
        return f"{self.bucket_prefix}{role}"

    def masked_key(self) -> str:
        """Returns the access key with all but its first four characters hidden."""
        return self.access_key[:4] + "…" if self.access_key else "(none)"

    @property
    def url(self) -> str:
        """Returns the endpoint as a URL."""
        return f"{'https' if self.secure else 'http'}://{self.endpoint}"


BUCKET_ROLES = ("datasets", "models", "feedback", "artifacts")
# The identities of the object store, one per role (what each may do: components/common/s3_roles.py).
ROLES = ("admin", "pipeline", "serving", "monitoring", "storage-initializer")
DEFAULT_ROLE = "pipeline"
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "S3_ENDPOINT_URL")


def state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Returns the git-ignored folder that holds local state (embedded S3 server, credentials)."""
    environ = os.environ if environ is None else environ
    return Path(environ.get("MLCYCLE_STATE_DIR", ".local")).resolve()


def s3_settings(environ: Mapping[str, str] | None = None, role: str = DEFAULT_ROLE) -> S3Settings:
    """Reads the S3 settings from the environment, falling back to the embedded server's state.

    The endpoint comes from AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL or S3_ENDPOINT_URL; the keys from
    AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; the region from AWS_REGION or AWS_DEFAULT_REGION.
    MLCYCLE_BUCKET_PREFIX prefixes bucket names. With no endpoint set, the settings of the embedded
    server that ``mlcycle s3 up`` started are used, with the identity of ``role``.

    Args:
        environ: The environment (this process's when None).
        role: The embedded server's identity to use when no endpoint is set (see ROLES); ignored when
            the environment sets the endpoint, since then its keys decide.

    Raises:
        ConfigError: If no endpoint is configured and no embedded server has been set up, the role is
            unknown, or the endpoint or keys are incomplete.
    """
    environ = os.environ if environ is None else environ
    if role not in ROLES:
        raise ConfigError(f"unknown S3 role {role!r}", hint=f"roles: {', '.join(ROLES)}")
    url = endpoint_url(environ)
    access_key = environ.get("AWS_ACCESS_KEY_ID", "")
    secret_key = environ.get("AWS_SECRET_ACCESS_KEY", "")
    if not url:
        local = _embedded_server_settings(state_dir(environ), role)
        if local is None:
            raise ConfigError(
                "no S3 endpoint configured",
                hint="set AWS_ENDPOINT_URL (and AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), or run `make s3-up`",
            )
        url, access_key, secret_key = local
    parsed = urlparse(url if "://" in url else f"http://{url}")
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ConfigError(f"S3 endpoint {url!r} is not an http(s) URL", hint="for example http://127.0.0.1:8333")
    if not access_key or not secret_key:
        raise ConfigError("S3 credentials are incomplete", hint="set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
    return S3Settings(
        endpoint=parsed.netloc,
        secure=parsed.scheme == "https",
        access_key=access_key,
        secret_key=secret_key,
        region=environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        bucket_prefix=environ.get("MLCYCLE_BUCKET_PREFIX", ""),
    )


def endpoint_url(environ: Mapping[str, str]) -> str:
    """Returns the endpoint the environment sets, or an empty string."""
    return next((environ[v] for v in ENDPOINT_VARIABLES if environ.get(v)), "")


def embedded_server_environment(role: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """AWS_* variables that give a process the embedded server's identity of a role.

    For a process this one starts against the embedded server (the local model server runs as
    ``serving`` while the CLI that starts it holds the ``pipeline`` keys). Empty when the environment
    points at another store, whose keys then stay, or when no embedded server was set up.

    Args:
        role: One of ROLES.
        environ: The environment the process would get (this process's when None).

    Raises:
        ConfigError: If the role is unknown, or the embedded server has no identity of it yet.
    """
    environ = os.environ if environ is None else environ
    if role not in ROLES:
        raise ConfigError(f"unknown S3 role {role!r}", hint=f"roles: {', '.join(ROLES)}")
    local = _embedded_server_settings(state_dir(environ), role)
    url = endpoint_url(environ)
    if local is None or (url and url.rstrip("/") != local[0]):
        return {}
    url, access_key, secret_key = local
    return {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": access_key, "AWS_SECRET_ACCESS_KEY": secret_key}


def role_credentials_file(server_folder: Path, role: str) -> Path:
    """The 0600 file of a role's keys in the embedded server's folder: ``credentials-<role>.env``."""
    return server_folder / f"credentials-{role}.env"


def read_env_file(path: Path) -> dict[str, str]:
    """Reads ``KEY=value`` lines (the credentials file format); missing file gives an empty dict."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return {}
    pairs = (line.split("=", 1) for line in lines if "=" in line and not line.lstrip().startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def _embedded_server_settings(folder: Path, role: str) -> tuple[str, str, str] | None:
    """Returns (url, access key, secret key) of a role on the embedded server, or None if never set up.

    Raises:
        ConfigError: If the server was set up before it had this role's identity.
    """
    try:
        server = json.loads((folder / "s3" / "server.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    credentials = read_env_file(role_credentials_file(folder / "s3", role))
    if not credentials.get("AWS_ACCESS_KEY_ID"):
        raise ConfigError(
            f"the embedded S3 server in {folder / 's3'} has no {role} identity yet",
            hint="restart it so it creates one: `make s3-down s3-up`",
        )
    return (
        f"http://127.0.0.1:{server['ports']['s3']}",
        credentials["AWS_ACCESS_KEY_ID"],
        credentials.get("AWS_SECRET_ACCESS_KEY", ""),
    )
