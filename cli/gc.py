"""``mlcycle gc``: list, and with --apply remove, what failed publications left in the version folders."""

from __future__ import annotations

from datetime import timedelta

import click

from cli.common import store


@click.command()
@click.option("--apply", "apply", is_flag=True, help="Remove the leftovers (default: only list them).")
@click.option(
    "--grace-hours",
    type=click.FloatRange(min=0),
    default=24.0,
    show_default=True,
    help="Leave objects younger than this: a publication may be under way.",
)
def gc(apply: bool, grace_hours: float) -> None:
    """List files in dataset and model version folders that no manifest names (dry run unless --apply).

    Never touches a file a manifest names, the manifests themselves, or the pointers.
    """
    from components.common.gc import collect_garbage  # deferred: pandas and minio

    report = collect_garbage(store(), timedelta(hours=grace_hours), apply=apply)
    total = 0
    for role, leftovers in report.leftovers.items():
        for leftover in leftovers:
            version = leftover.object
            modified = version.last_modified.isoformat(timespec="seconds") if version.last_modified else "?"
            click.echo(f"{role:<9} {version.key:<60} {modified:<26} {leftover.reason} (version {version.version_id})")
        total += len(leftovers)
    if total == 0:
        click.echo(f"no leftovers older than {grace_hours:g} h")
    elif not apply:
        click.echo(f"{total} leftover object version(s) older than {grace_hours:g} h; run with --apply to remove them")
    else:
        click.echo(
            f"removed {report.removed}, hidden behind a delete marker {report.hidden} (this role may not remove "
            f"object versions), kept {report.kept} (completed or changed since listed)"
        )


COMMANDS = (gc,)
