"""``mlcycle monitor`` (drift, live quality, retraining) and ``mlcycle loop`` (the whole feedback loop, locally)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cli.common import (
    config_option,
    embedded_s3_unless_configured,
    existing_schema,
    import_quietly,
    parse_sources,
    relative,
    store,
    to_stderr,
)
from components.common.config import load_use_case
from components.common.errors import UserError
from components.common.s3_settings import state_dir
from components.deploy.tools import kubectl_path

# The GitOps manifests of this checkout: the loop copies them into its scratch repository.
MANIFESTS = Path(__file__).resolve().parents[1] / "manifests"


@click.command("monitor")
@config_option
@click.option("--start", default="", help="First instant of the window (ISO 8601; UTC when no zone is given).")
@click.option("--end", default="", help="End of the window (exclusive); default now.")
@click.option(
    "--hours",
    type=click.IntRange(min=1),
    default=None,
    help="Window length when --start or --end is missing [default: monitoring.window_hours].",
)
@click.option(
    "--model",
    default="production",
    show_default=True,
    help="Monitored model: production, staging, latest or a version id.",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the HTML report (a JSON result is written beside it).",
)
@click.option(
    "--retrain",
    is_flag=True,
    help="When retraining is due: ingest the base data plus the window's feedback, validate, train, "
    "and propose a blessed model for promotion.",
)
def monitor(
    config_path: Path, start: str, end: str, hours: int | None, model: str, report_path: Path | None, retrain: bool
) -> None:
    """Monitor the served model over a window of its logs: drift, live quality, and whether to retrain.

    An empty window, too few requests or no ground truth are outcomes, not errors: the exit code is 0
    and the summary says what could not be judged.
    """
    from components.common.serving_logs import Window  # deferred: pandas and minio

    config = load_use_case(config_path)
    window = Window.resolve(start, end, hours or config.monitoring.window_hours)
    schema_file = existing_schema(config_path, config)
    click.echo("monitoring (TensorFlow loads first, ~15 s)...", err=True)
    logic, task = import_quietly("components.monitor.logic"), import_quietly("components.monitor.task")
    schema = import_quietly("components.validate.logic").load_schema(schema_file)
    object_store = store()
    result = logic.monitor(config, schema, object_store, window, model)
    report_path = (
        report_path
        or state_dir()
        / "reports"
        / config.name
        / "monitoring"
        / f"{window.start:%Y%m%dT%H%M%SZ}-{window.end:%Y%m%dT%H%M%SZ}.html"
    )
    task.write_outputs(result, config.monitoring, report_path, report_path.with_suffix(".json"))
    click.echo(result.summary())
    click.echo(f"report: {report_path}")
    if not retrain:
        return
    if not result.decision.retrain:
        click.echo("retrain:   not due")
        return
    from pipelines.retraining import retrain as retrain_from_feedback  # deferred: pandas and minio

    outcome = retrain_from_feedback(
        config_path.read_text(), schema_file.read_text(), object_store, window, str(config_path), say=to_stderr
    )
    feedback = outcome.dataset.manifest["feedback"]
    click.echo(
        f"retrain:   dataset {outcome.dataset.ref.version} = base data + {feedback['rows']} feedback rows "
        f"{feedback['rows_by_split']}"
    )
    if not outcome.valid:
        click.echo(outcome.validation)
    else:
        click.echo(
            f"           model {outcome.model_version or '(not registered)'} "
            f"{'blessed' if outcome.blessed else 'NOT blessed'}: " + "; ".join(outcome.blessing)
        )
    click.echo(f"propose:   {outcome.proposal.message}")


@click.command("loop")
@config_option
@click.option(
    "-s",
    "--source",
    "sources",
    multiple=True,
    metavar="NAME=URI",
    help="Read the primary source from URI instead (e.g. a smaller sample).",
)
@click.option(
    "--rows",
    type=click.IntRange(min=1),
    default=4000,
    show_default=True,
    help="Rows of the later months replayed as traffic.",
)
@click.option(
    "--batch", type=click.IntRange(min=1), default=100, show_default=True, help="Rows per prediction request."
)
def loop(config_path: Path, sources: tuple[str, ...], rows: int, batch: int) -> None:
    """Demonstrate the feedback loop: train on early months, serve, replay later months, monitor, retrain, promote.

    Everything happens under a derived use case (<name>_loop) and in a scratch GitOps repository
    under .local/loop/, never in your own repository; the S3 server is the embedded one unless an
    endpoint is configured. Ends with a before-and-after table.
    """
    config = load_use_case(config_path)
    overrides = parse_sources(sources)
    unknown = sorted(set(overrides) - {config.primary_source})
    if unknown:
        raise UserError(
            f"--source names {unknown[0]!r}, not the primary source {config.primary_source!r}",
            hint=f"the loop splits the months of {config.primary_source!r} only",
        )
    schema_file = existing_schema(config_path, config)
    embedded = embedded_s3_unless_configured()
    if embedded:
        click.echo(f"S3 embedded server at {embedded.endpoint_url}", err=True)
    # Deferred (scikit-learn, pandas and minio), and imported before TensorFlow: see the module.
    from pipelines import loop as feedback_loop

    click.echo("loop      TensorFlow loads first (~15 s)...", err=True)
    import_quietly("components.monitor.logic")
    outcome = feedback_loop.run_loop(
        config_path.read_text(),
        schema_file.read_text(),
        store(),
        feedback_loop.LoopPaths(state_dir() / "loop"),
        MANIFESTS,
        kubectl_path(),
        feedback_loop.LoopPlan(replay_rows=rows, batch_rows=batch),
        overrides.get(config.primary_source),
        say=to_stderr,
    )
    click.echo(outcome.monitoring_summary)
    click.echo("")
    for line in outcome.table():
        click.echo(line)
    if outcome.commit:
        click.echo(f"\npromotion commit {outcome.commit} in {relative(state_dir() / 'loop' / 'gitops')}:")
        click.echo("\n".join(f"    {line}" for line in outcome.commit_message.splitlines()))
    else:
        # The demonstration ends in a promotion; anything else is worth a non-zero exit.
        click.echo("\nno promotion: " + outcome.decision, err=True)
        sys.exit(1)


COMMANDS = (monitor, loop)
