"""``mlcycle s3``: the embedded S3 server (SeaweedFS) of local runs."""

from __future__ import annotations

import sys

import click

from cli.common import ensure_buckets, server_paths, start_embedded_s3
from components.common import s3_server
from components.common.s3_settings import s3_settings


@click.group()
def s3() -> None:
    """Manage the embedded S3 server (SeaweedFS) for local runs."""


@s3.command("up")
@click.option("--port", type=int, default=0, help="S3 API port (default: the last one used, or a free one).")
def s3_up(port: int) -> None:
    """Start the embedded S3 server on 127.0.0.1 and create the buckets (idempotent)."""
    state = start_embedded_s3({"s3": port} if port else None)
    settings = s3_settings()
    click.echo(f"S3 server ready at {state.endpoint_url} (pid {state.pid}, key {settings.masked_key()})")
    click.echo(f"  credentials: {server_paths().role_credentials('<role>')} (mode 0600, one per role)")
    click.echo(f"  buckets:     {', '.join(ensure_buckets(settings))}")


@s3.command("down")
def s3_down() -> None:
    """Stop the embedded S3 server started from this folder."""
    stopped = s3_server.stop(server_paths())
    click.echo("S3 server stopped" if stopped else "no S3 server was running")


@s3.command("status")
def s3_status() -> None:
    """Show whether the embedded S3 server runs and where."""
    state = s3_server.read_state(server_paths())
    if state is None:
        click.echo("not running (start it with `make s3-up`)")
        sys.exit(1)
    click.echo(f"running at {state.endpoint_url} (pid {state.pid}); data in {server_paths().data}")


COMMANDS = (s3,)
