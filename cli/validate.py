"""``mlcycle schema`` and ``mlcycle validate``: a use case's curated schema and the validation of its data."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cli.common import config_option, import_quietly, relative, store
from components.common.config import load_use_case, schema_path
from components.common.errors import UserError
from components.common.s3_settings import state_dir


@click.command()
@config_option
@click.option("--version", default="latest", show_default=True, help="Dataset version to infer from.")
@click.option("--force", is_flag=True, help="Replace an existing schema file.")
def schema(config_path: Path, version: str, force: bool) -> None:
    """Infer the use case's schema from a dataset version, for a person to review and commit."""
    config = load_use_case(config_path)
    target = schema_path(config_path, config)
    if target.exists() and not force:
        raise UserError(
            f"schema {relative(target)} exists already", hint="review and edit it, or pass --force to replace it"
        )
    click.echo("inferring the schema (TensorFlow loads first, ~15 s)...", err=True)
    logic = import_quietly("components.validate.logic")
    logic.write_schema(logic.infer_schema_for_version(config, store(), version), target)
    click.echo(f"wrote {relative(target)}: review it (domains, presence, environments), then commit it")


@click.command()
@config_option
@click.option("--version", default="latest", show_default=True, help="Dataset version to validate.")
@click.option(
    "--report", "report_path", type=click.Path(dir_okay=False, path_type=Path), help="Where to write the HTML report."
)
def validate(config_path: Path, version: str, report_path: Path | None) -> None:
    """Validate a dataset version against the schema; exit 1 when anomalies block training."""
    config = load_use_case(config_path)
    click.echo("validating (TensorFlow loads first, ~15 s)...", err=True)
    logic, task = import_quietly("components.validate.logic"), import_quietly("components.validate.task")
    schema_file = logic.load_schema(schema_path(config_path, config))
    result = logic.validate_dataset(config, schema_file, store(), version)
    folder = state_dir() / "reports" / config.name / result.version
    report_path = report_path or folder / "validation.html"
    task.write_outputs(result, config.name, folder / "statistics.pb", folder / "anomalies", report_path)
    click.echo(result.summary())
    top = sorted(result.distances, key=lambda d: -d.value / max(d.threshold, 1e-9))[:5]
    if top:
        click.echo(
            "closest to their thresholds: "
            + ", ".join(f"{d.check} {d.feature} {d.value:.3f}/{d.threshold:g}" for d in top)
        )
    click.echo(f"report: {report_path}")
    if not result.is_valid:
        sys.exit(1)


COMMANDS = (schema, validate)
