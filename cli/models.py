"""``mlcycle models``: the model registry, its versions and their stages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cli.common import config_option, on_embedded_store, store
from components.common.config import load_use_case


@click.group()
def models() -> None:
    """Inspect the model registry and move versions between stages."""


@models.command("list")
@config_option
def models_list(config_path: Path) -> None:
    """List the registered model versions of a use case, oldest first; damaged ones are marked."""
    from components.common import models as registry  # deferred: pandas and minio

    config = load_use_case(config_path)
    object_store = store()
    versions = registry.list_versions(object_store, config.name)
    if not versions:
        click.echo(f"no model versions of {config.name!r} yet (create one with `mlcycle train`)")
        return
    # a regression's versions show their test RMSE where a classification's show ROC-AUC
    regression = any("rmse" in entry.manifest["lineage"].get("metrics", {}) for entry in versions)
    headline = "rmse" if regression else "roc_auc"
    click.echo(f"{'version':<20} {'created (UTC)':<34} {'blessed':<8} {headline:>8} {'dataset':<20} stages")
    for entry in versions:
        lineage = entry.manifest["lineage"]
        value = lineage.get("metrics", {}).get(headline, float("nan"))
        click.echo(
            f"{entry.version:<20} {entry.created_at:<34} {'yes' if entry.blessed else 'no':<8} {value:>8.4f} "
            f"{lineage.get('dataset_version', ''):<20} {','.join(entry.stages)}" + _damage(object_store, entry.manifest)
        )


@models.command("show")
@config_option
@click.argument("reference", default="latest")
def models_show(config_path: Path, reference: str) -> None:
    """Show one model version's card (REFERENCE: an id, latest, staging or production)."""
    from components.common import models as registry  # deferred: pandas and minio

    config = load_use_case(config_path)
    object_store = store()
    click.echo(registry.read_cards(object_store, registry.resolve(object_store, config.name, reference)).markdown)


@models.command("compare")
@config_option
@click.argument("left")
@click.argument("right")
def models_compare(config_path: Path, left: str, right: str) -> None:
    """Compare two model versions: metrics side by side, then what differs."""
    from components.register import logic as registry  # deferred: pandas and minio

    config = load_use_case(config_path)
    comparison = registry.compare_versions(store(), config.name, left, right)
    click.echo(f"{'metric':<12} {comparison.left:>20} {comparison.right:>20} {'difference':>11}")
    for delta in comparison.metrics:
        difference = f"{delta.difference:+.4f}" if delta.difference is not None else ""
        click.echo(f"{delta.name:<12} {_number(delta.left):>20} {_number(delta.right):>20} {difference:>11}")
    for change in (*comparison.parameters, *comparison.lineage, *comparison.manifest):
        click.echo(f"{change.key}: {change.left!r} -> {change.right!r}")


@models.command("stage")
@config_option
@click.argument("reference")
@click.option("--stage", type=click.Choice(["staging", "production"]), required=True)
@click.option("--reason", default="", help="Why (recorded in the stage history).")
def models_stage(config_path: Path, reference: str, stage: str, reason: str) -> None:
    """Put a blessed model version in a stage of the embedded store's registry (elsewhere: `mlcycle promote`)."""
    from components.register import logic as registry  # deferred: pandas and minio

    _refuse_on_shared_store("models stage", "mlcycle promote")
    config = load_use_case(config_path)
    change = registry.set_stage(store(), config.name, stage, reference, reason=reason or "set by hand")
    click.echo(
        f"{stage}: {change.version} (was {change.previous})" if change else f"{stage} holds that version already"
    )


@models.command("rollback")
@config_option
@click.option("--stage", type=click.Choice(["staging", "production"]), default="production", show_default=True)
def models_rollback(config_path: Path, stage: str) -> None:
    """Return a stage to the version it held before its last change (embedded store; elsewhere: `mlcycle rollback`)."""
    from components.register import logic as registry  # deferred: pandas and minio

    _refuse_on_shared_store("models rollback", "mlcycle rollback")
    config = load_use_case(config_path)
    change = registry.rollback_stage(store(), config.name, stage, reason="rollback by hand")
    click.echo(f"{stage}: {change.version} (was {change.previous})")


SHARED_STORE_EXIT = 2


def _refuse_on_shared_store(command: str, gitops_command: str) -> None:
    """Stops a stage change without a commit where the registry is shared: there git says what is deployed."""
    if not on_embedded_store():
        click.echo(
            f"error: `mlcycle {command}` moves stages only on the embedded store; on a shared store git is the "
            f"deployed truth: use `{gitops_command}`",
            err=True,
        )
        raise SystemExit(SHARED_STORE_EXIT)


def _damage(object_store: Any, manifest: dict[str, Any]) -> str:
    from components.common import models as registry  # deferred: pandas and minio

    damaged = registry.damaged_files(object_store, manifest)
    if not damaged:
        return ""
    return f"  DAMAGED: {len(damaged)} file(s) missing or altered (register the same model again to repair)"


def _number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


COMMANDS = (models,)
