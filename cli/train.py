"""``mlcycle train`` (in process) and ``mlcycle run`` (the training pipeline with kfp.local, then serving)."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import click
import yaml

from cli.common import (
    config_option,
    embedded_s3_unless_configured,
    ensure_buckets,
    existing_schema,
    parse_sources,
    relative,
    store,
    to_stderr,
)
from components.common import errors
from components.common.config import UseCaseConfig, apply_overrides, load_use_case, schema_path
from components.common.errors import UserError
from components.common.s3_settings import s3_settings, state_dir
from components.serve.local import demo_requests, start_server
from components.serve.schema import build_serving_schema

REGISTRATION_OUTCOMES = {
    "created": "registered",
    "unchanged": "unchanged",
    "repaired": "repaired (it was registered before, but files were missing or altered: those were written again)",
    "raced": "unchanged: another run registered it at the same moment",
}


@click.command()
@config_option
@click.option("--version", default="latest", show_default=True, help="Dataset version to train on.")
def train(config_path: Path, version: str) -> None:
    """Tune, train, analyse against production, check serving; register a blessed and servable model as a candidate.

    The training pipeline's own tasks, run in this process in the pipeline's order (pipelines/inprocess.py).
    """
    from components.common.metrics import difference_text, metrics_line  # deferred: scikit-learn
    from pipelines import inprocess  # deferred: scikit-learn, pandas and minio

    config = load_use_case(config_path)
    schema_file = schema_path(config_path, config)
    schema_text = schema_file.read_text() if schema_file.exists() else ""
    run = inprocess.run_training(config_path.read_text(), schema_text, store(), dataset_version=version, say=to_stderr)
    candidate = run.candidate
    analysis = candidate.analysis
    metrics = analysis.metrics
    if candidate.registration:
        click.echo(
            f"model version {candidate.registration.ref.version} of {config.name!r} "
            + REGISTRATION_OUTCOMES[candidate.registration.outcome]
        )
    else:
        reason = "not blessed" if not candidate.blessed else "the serving check failed"
        click.echo(f"model of {config.name!r} not registered: {reason}")
    click.echo(
        f"  trained on: dataset {run.dataset_version}; {candidate.best.trial.family} {candidate.best.trial.params}"
    )
    click.echo(f"  test:       {metrics_line(metrics, ('roc_auc', 'pr_auc', 'accuracy', 'log_loss'))}")
    for name, values in analysis.baselines.items():
        click.echo(f"  baseline:   {name.replace('_', ' ')}: {metrics_line(values, ('roc_auc', 'pr_auc'))}")
        if name in analysis.baseline_differences:
            click.echo(f"              candidate against it: {difference_text(analysis.baseline_differences[name])}")
    if analysis.champion and analysis.champion.get("metrics"):
        champion = analysis.champion["metrics"]
        click.echo(f"  champion:   {analysis.champion['version']}: {metrics_line(champion, ('roc_auc', 'pr_auc'))}")
        if analysis.champion.get("difference"):
            click.echo(f"              candidate against it: {difference_text(analysis.champion['difference'])}")
    elif analysis.champion:
        click.echo(f"  champion:   {analysis.champion['not_compared']}")
    click.echo(f"  blessed:    {'yes' if analysis.blessing.blessed else 'NO'}: " + "; ".join(analysis.blessing.reasons))
    failed = [line for line in candidate.serving.checks if line.startswith("FAIL")]
    click.echo(f"  serving:    {'PASS' if candidate.servable else 'FAIL'}" + "".join(f"; {line}" for line in failed))
    if candidate.registration:
        click.echo(
            f"  stage:      none (a candidate; stage it with "
            f"`mlcycle promote {candidate.registration.ref.version} --to staging -c {relative(config_path)}`)"
        )
    click.echo(f"  run record: `mlcycle runs show {run.run_id} -c {relative(config_path)}`")


@click.command()
@config_option
@click.option("-s", "--source", "sources", multiple=True, metavar="NAME=URI", help="As for `ingest`.")
@click.option("--seed", type=int, default=None, help="Seed of this run (default: the use case's).")
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="PATH=VALUE",
    help="Override a gate's threshold for this run, e.g. --set analysis.blessing.floors.roc_auc=0.7.",
)
@click.option(
    "--serve/--no-serve",
    "serve_result",
    default=True,
    show_default=True,
    help="End by serving the production model locally and sending it requests.",
)
def run(
    config_path: Path, sources: tuple[str, ...], seed: int | None, settings: tuple[str, ...], serve_result: bool
) -> None:
    """Run the training pipeline on this machine (kfp.local) against the embedded S3 server (or AWS_ENDPOINT_URL).

    Blessed models are deployed locally: the registry's production stage moves to them, so the next
    run compares its candidate with this one.

    Exit codes: 0 a model was registered; 1 a gate stopped the run (invalid data, not blessed, not servable);
    2 bad input; 3 storage; 4 another process changed the registry first; 5 a task crashed (a bug: its
    traceback is in the run's log).
    """
    config = load_use_case(config_path)
    overrides = _parse_settings(settings)
    # Checked here as well as in the pipeline's first step, so a typo fails before any process starts.
    apply_overrides(
        config_path.read_text(), {**overrides, **({} if seed is None else {"training.seed": seed})}, config_path.name
    )
    schema_file = existing_schema(config_path, config)
    with ThreadPoolExecutor(max_workers=1) as background:
        # The S3 server boots (about a second) while kfp.local loads and builds the pipeline graph.
        starting = background.submit(embedded_s3_unless_configured)
        # Deferred: kfp.local. Imported before pandas and scikit-learn, which make building the graph slower.
        from pipelines.local import describe, planned_trials, run_training, stopping_gate
    embedded = starting.result()
    if embedded:
        click.echo(f"S3        embedded server at {embedded.endpoint_url}")
    ensure_buckets(s3_settings())
    click.echo(
        "running the training pipeline with kfp.local (each task is a process; full log: "
        f"{relative(state_dir() / 'pipeline-runs' / RUN_LOG)})...",
        err=True,
    )
    summary = _quietly_run(
        run_training,
        config_path.read_text(),
        schema_file.read_text(),
        parse_sources(sources),
        state_dir() / "pipeline-runs",
        seed,
        overrides,
        trials=planned_trials(config_path.read_text(), overrides),
    )
    analysis = summary.run_dir and next(iter(sorted(summary.run_dir.rglob("evaluate-model/analysis"))), None)
    card = json.loads(analysis.read_text())["card"] if analysis else None
    for line in describe(summary, config, card):
        click.echo(line)
    if summary.registered:
        from components.register import logic as registry  # deferred: pandas and minio, after the graph is built

        change = registry.set_stage(
            store(),
            config.name,
            "production",
            summary.registered,
            reason="make run: local deployment, no GitOps commit",
        )
        click.echo(
            f"deploy    production is {summary.registered}"
            + ("" if change else " (unchanged)")
            + " (a local deployment, not a GitOps one)"
        )
    if serve_result:
        _serve_production(config, summary.dataset["version"])
    click.echo(f"\nEvery artifact of this run: {summary.run_dir}")
    gate = stopping_gate(summary)
    if gate:
        click.echo(f"stopped   at {gate}: nothing was registered", err=True)
        sys.exit(GATE_STOPPED_EXIT)


def _parse_settings(pairs: tuple[str, ...]) -> dict[str, Any]:
    parsed = {}
    for pair in pairs:
        path, sep, value = pair.partition("=")
        if not sep or not path or not value:
            raise UserError(
                f"--set {pair!r} is not PATH=VALUE", hint="for example --set analysis.blessing.floors.roc_auc=0.7"
            )
        parsed[path] = yaml.safe_load(value)
    return parsed


def _quietly_run(function: Callable[..., Any], *args: Any, trials: int = 0) -> Any:
    """Runs a kfp.local pipeline with its task logs in a file and one line per task start and end on stderr.

    A failed task's own error line is raised.
    """
    from pipelines.local import ProgressLog  # deferred: kfp.local

    log_path = state_dir() / "pipeline-runs" / RUN_LOG
    log_path.parent.mkdir(parents=True, exist_ok=True)
    terminal = sys.stderr  # the progress lines' stream, before the run's output is redirected

    def say(line: str) -> None:
        # Not print(): kfp.local replaces it while a task runs, to indent the task's lines in the log.
        terminal.write(line + "\n")
        terminal.flush()

    with open(log_path, "w") as file:
        log = ProgressLog(file, say, trials)
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            root = logging.getLogger()
            saved = (root.level, root.handlers[:])
            # Only the log hears the run (kfp logs from worker threads too), cache hits included.
            root.handlers = [logging.StreamHandler(log)]
            root.setLevel(logging.INFO)
            try:
                return function(*args)
            except Exception as error:
                log.flush()
                raise _task_error(error, log_path) from None
            finally:
                root.setLevel(saved[0])
                root.handlers = saved[1]


RUN_LOG = "last-run.log"
GATE_STOPPED_EXIT = 1
TASK_CRASHED_EXIT = 5


def _task_error(error: Exception, log_path: Path) -> UserError:
    """The failed task's own error line, with the exit code of its kind (2 input, 3 storage, 5 a bug)."""
    from pipelines.local import task_failure  # deferred: kfp.local

    failure = task_failure(log_path.read_text(errors="replace"))
    if failure is None or not failure.message:
        where = f"task {failure.task}" if failure else "the pipeline run"
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        return _exiting(TASK_CRASHED_EXIT, f"{where} failed: {reason}", f"see {log_path}")
    kind = getattr(errors, failure.error, None)
    if isinstance(kind, type) and issubclass(kind, UserError):
        message, _, hint = failure.message.partition(" (hint: ")
        hint = f"{hint.removesuffix(')')}; log: {log_path}" if hint else f"log: {log_path}"
        return _exiting(kind.exit_code, f"task {failure.task} failed: {message}", hint)
    return _exiting(
        TASK_CRASHED_EXIT,
        f"task {failure.task} crashed: {failure.error}: {failure.message}",
        f"a bug, not your input: the traceback is in {log_path}",
    )


def _exiting(exit_code: int, message: str, hint: str) -> UserError:
    """A one-line error that ends the command with the given exit code."""
    error = UserError(message, hint=hint)
    error.exit_code = exit_code
    return error


def _serve_production(config: UseCaseConfig, dataset_version: str) -> None:
    """Serves the production model with the real Seldon server on loopback, sends it requests and feedback, stops it."""
    from components.common import datasets  # deferred: pandas and minio
    from components.common import models as registry  # deferred: pandas and minio

    object_store = store()
    production = registry.current_version(object_store, config.name, "production")
    if production is None:
        click.echo("serve     skipped: no model in production yet")
        return
    click.echo("starting the Seldon model server (.venv-serving; created on first use)...", err=True)
    with tempfile.TemporaryDirectory() as folder:
        manifest = datasets.read_manifest(object_store, datasets.resolve(object_store, config.name, dataset_version))
        rows = datasets.load_split(object_store, manifest, "test", Path(folder)).sample(
            n=3, random_state=config.training.seed
        )
    with start_server(config.name, "production") as server:
        click.echo(
            f"serve     {production} at {server.url} (metrics {server.metrics_url}; log {relative(server.log_path)})"
        )
        demo_requests(
            server.url, rows, build_serving_schema(config).names, truth_column=config.target.name, say=click.echo
        )
    click.echo("          server stopped; request and feedback logs flushed to the feedback bucket")


COMMANDS = (train, run)
