"""``mlcycle submit`` and ``mlcycle schedule``: the compiled pipeline on the Kubeflow Pipelines API at $KFP_HOST.

`make submit`, `make schedule` and `make continuous-training` call them; every option can come from
the environment variable named in its help, as make passes them. The work is pipelines/submit.py's.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import click

from components.common.errors import UserError
from components.common.provenance import code_version
from pipelines.submit import (
    DEFAULT_EXPERIMENT,
    DEFAULT_SPEC,
    PublishedVersion,
    Submission,
    api_errors,
    connect,
    experiment_id,
    prepare,
    publish_version,
    schedule_runs,
    start_run,
    validate_cron,
    version_name,
)

spec_option = click.option(
    "--spec",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_SPEC,
    envvar="PIPELINE_SPEC",
    show_default=True,
    help="Compiled pipeline (PIPELINE_SPEC).",
)
params_option = click.option(
    "--params",
    "params_text",
    envvar="PARAMS",
    help="key=value pairs; @file reads a file (PARAMS). Without use_case, the demo's (and its schema).",
)
params_file_option = click.option(
    "--params-file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="PARAMS_FILE",
    help="YAML mapping of parameters (PARAMS_FILE).",
)
experiment_option = click.option(
    "--experiment",
    envvar="KFP_EXPERIMENT",
    default=DEFAULT_EXPERIMENT,
    show_default=True,
    help="Experiment (KFP_EXPERIMENT).",
)


@click.command()
@spec_option
@params_option
@params_file_option
@experiment_option
def submit(spec: Path, params_text: str | None, params_file: Path | None, experiment: str) -> None:
    """Submit the compiled pipeline to the KFP API at $KFP_HOST: upload it as a new version and start a run."""
    submission = prepare(spec, params_text, params_file, experiment, os.environ)
    with api_errors(submission.host):
        client, version, experiment_ref = _publish(submission)
        run_id = start_run(client, experiment_ref, version, submission.params)
    click.echo(f"run       {run_id}")
    click.echo(f"          {submission.host}/#/runs/details/{run_id}")


@click.command()
@spec_option
@params_option
@params_file_option
@experiment_option
# Checked in the command rather than by click, so that its absence is one line with a hint, like every mistake.
@click.option("--cron", envvar="CRON", help='Six fields, seconds first, e.g. "0 0 3 * * *" (CRON). Required.')
@click.option(
    "--name",
    envvar="SCHEDULE_NAME",
    default=None,
    help="Recurring run name (SCHEDULE_NAME); default <pipeline>-schedule.",
)
def schedule(
    spec: Path, params_text: str | None, params_file: Path | None, experiment: str, cron: str | None, name: str | None
) -> None:
    """Schedule the compiled pipeline on the KFP API at $KFP_HOST: a new version, run on a cron (continuous training).

    At most one run at a time, no catching up on missed times; older recurring runs of the same name are removed.
    """
    if not cron:
        raise UserError("Missing option '--cron'.", hint='e.g. make schedule CRON="0 0 3 * * *"')
    cron = validate_cron(cron)
    submission = prepare(spec, params_text, params_file, experiment, os.environ)
    name = name or f"{submission.pipeline.name}-schedule"
    with api_errors(submission.host):
        client, version, experiment_ref = _publish(submission)
        recurring, replaced = schedule_runs(client, experiment_ref, version, submission.params, cron, name)
    click.echo(
        f"schedule  {name} on {cron!r} (UTC unless the server sets another zone), one run at a time, no catch-up"
    )
    click.echo(f"recurring {recurring}" + (f", replacing {', '.join(replaced)}" if replaced else ""))
    click.echo(f"          {submission.host}/#/recurringrun/details/{recurring}")


def _publish(submission: Submission) -> tuple[object, PublishedVersion, str]:
    """Uploads the spec as a new version and finds the experiment.

    Returns:
        The API client, the new version and the experiment's id.
    """
    pipeline = submission.pipeline
    if not any("AWS_SECRET_ACCESS_KEY" in env for env in pipeline.secret_env.values()):
        click.echo(f"warning: no task of {pipeline.path.name} gets S3 credentials from a Kubernetes Secret", err=True)
    client = connect(submission.host, submission.token, submission.namespace)
    version = publish_version(client, pipeline, version_name(pipeline.name, code_version(), datetime.now(timezone.utc)))
    click.echo(
        f"pipeline  {pipeline.name} ({'created' if version.created_pipeline else 'existing'} {version.pipeline_id})"
    )
    click.echo(f"version   {version.name} ({version.version_id})")
    experiment = experiment_id(client, submission.experiment, submission.namespace)
    click.echo(f"experiment {submission.experiment} ({experiment})")
    return client, version, experiment


COMMANDS = (submit, schedule)
