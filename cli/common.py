"""What the command groups share: the -c option, the object store and the embedded S3 server, quiet imports.

Throughout cli/, modules that load pandas, minio, scikit-learn or TensorFlow are imported inside the
commands that need them ("deferred"), so that `mlcycle --help` and the light commands answer at once.
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import click

from components.common import s3_server
from components.common.config import SPLITS, UseCaseConfig, schema_path
from components.common.errors import UserError
from components.common.s3_settings import ENDPOINT_VARIABLES, S3Settings, s3_settings, state_dir
from pipelines.usecases import DEMO_CONFIG

config_option = click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEMO_CONFIG,
    show_default=True,
    help="Use-case YAML file.",
)


def to_stderr(line: str) -> None:
    """Prints a progress line on stderr, keeping stdout for the result."""
    click.echo(line, err=True)


def store():
    """The object store that the environment (or the embedded server's credentials) designates."""
    from components.common.storage import ObjectStore  # deferred: pandas and minio

    return ObjectStore.connect(s3_settings())


def ensure_buckets(settings: S3Settings) -> list[str]:
    """Creates the platform's buckets where missing; returns their names."""
    from components.common.storage import ObjectStore  # deferred: pandas and minio

    return ObjectStore.connect(settings).ensure_buckets()


def server_paths() -> s3_server.ServerPaths:
    """Where the embedded S3 server of this folder keeps its data, credentials and state."""
    return s3_server.ServerPaths(state_dir() / "s3")


def start_embedded_s3(ports: dict[str, int] | None = None) -> s3_server.ServerState:
    """Starts the embedded S3 server on 127.0.0.1 (or finds it running), creates the buckets, returns its state.

    Only the admin role creates buckets; every other process uses its own role's keys.
    """
    state = s3_server.start(server_paths(), ports)
    ensure_buckets(s3_settings({**os.environ, **state.environment("admin")}))
    return state


def embedded_s3_unless_configured() -> s3_server.ServerState | None:
    """Starts the embedded S3 server when no endpoint is configured, and exports its settings.

    Returns:
        The server's state, or None when the environment names an endpoint.
    """
    if any(os.environ.get(variable) for variable in ENDPOINT_VARIABLES):
        return None
    state = start_embedded_s3()
    for name, value in state.environment("pipeline").items():
        # The processes this command starts inherit the pipeline role's keys (the cluster uses a Secret);
        # a model server started from here swaps them for the serving role's.
        os.environ[name] = value
    return state


def on_embedded_store() -> bool:
    """Whether the commands talk to the embedded S3 server of this folder, not to a shared store.

    No endpoint in the environment means the embedded server (``store()`` falls back to its state); an
    endpoint counts as embedded only when it is the one the running embedded server recorded.
    """
    endpoint = next((os.environ[variable] for variable in ENDPOINT_VARIABLES if os.environ.get(variable)), "")
    if not endpoint:
        return True
    state = s3_server.read_state(server_paths())
    return state is not None and endpoint.rstrip("/") == state.endpoint_url.rstrip("/")


def existing_schema(config_path: Path, config: UseCaseConfig) -> Path:
    """The use case's curated schema file.

    Raises:
        UserError: If it does not exist yet.
    """
    schema_file = schema_path(config_path, config)
    if not schema_file.exists():
        raise UserError(
            f"schema {relative(schema_file)} does not exist",
            hint=f"create it with `mlcycle schema -c {relative(config_path)}` (after `mlcycle ingest -c "
            f"{relative(config_path)}`), review it, commit it",
        )
    return schema_file


def import_quietly(module: str) -> Any:
    """Imports a TensorFlow-based module with the chatter TensorFlow prints while loading hidden.

    The hidden output is shown after all if the import fails.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        sys.stderr.flush()
        os.dup2(sink.fileno(), 2)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return importlib.import_module(module)
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.buffer.write(sink.read())
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def relative(path: Path) -> Path:
    """The path relative to the working directory when it lies below it, else as given."""
    try:
        return path.resolve().relative_to(Path.cwd())
    except ValueError:
        return path


def parse_sources(pairs: tuple[str, ...]) -> dict[str, str]:
    """Parses repeated ``--source NAME=URI`` options into source URIs by name.

    Raises:
        UserError: If a pair lacks its name, its ``=`` or its URI.
    """
    parsed = {}
    for pair in pairs:
        name, sep, uri = pair.partition("=")
        if not sep or not name or not uri:
            raise UserError(f"--source {pair!r} is not NAME=URI", hint="for example --source flights=/data/flights.csv")
        parsed[name] = uri
    return parsed


PUBLICATION_OUTCOMES = {
    "created": "created",
    "unchanged": "unchanged (identical inputs were ingested before; nothing written)",
    "repaired": "repaired (it existed, but files were missing or altered: those were written again)",
    "raced": "unchanged: another run created version {version} at the same moment",
}


def print_dataset(manifest: dict[str, Any], outcome: str | None) -> None:
    """Prints a dataset version's summary: rows per split, what was dropped, sources, location.

    Args:
        manifest: The dataset version's manifest.
        outcome: What this command did (a key of PUBLICATION_OUTCOMES), or None when it only reads the version.
    """
    status = PUBLICATION_OUTCOMES[outcome].format(version=manifest["version"]) if outcome else ""
    per_split = ", ".join(f"{split} {manifest['splits'][split]['rows']:,}" for split in SPLITS)
    click.echo(f"dataset version {manifest['version']} of {manifest['use_case']!r} {status}".rstrip())
    click.echo(f"  rows:     {manifest['rows']:,} ({per_split})")
    dropped = ", ".join(
        f"{count:,} {reason.replace('_', ' ')}" for reason, count in manifest["rows_dropped"].items() if count
    )
    click.echo(f"  read:     {manifest['rows_read']:,} rows" + (f"; dropped {dropped}" if dropped else ""))
    click.echo(f"  columns:  {len(manifest['columns'])} (target {manifest['target']!r})")
    click.echo("  sources:  " + ", ".join(f"{s['name']} sha256 {s['sha256'][:12]}…" for s in manifest["sources"]))
    click.echo(f"  location: {manifest['location']}")
    click.echo(f"  created:  {manifest['created_at']} by code {manifest['code_version']}")
