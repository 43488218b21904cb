"""``mlcycle ingest``, ``mlcycle datasets`` and ``mlcycle check-config``: use cases and their dataset versions."""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from cli.common import config_option, parse_sources, print_dataset, store, to_stderr
from components.common.config import UseCaseConfig, load_use_case
from components.common.config.analysis import check_blessing_task
from components.common.config.data import declared_task
from components.common.config.training import selection_metric
from components.common.timezones import DEFAULT_TIMEZONE


@click.command()
@config_option
@click.option(
    "-s",
    "--source",
    "sources",
    multiple=True,
    metavar="NAME=URI",
    help="Read source NAME from URI instead (a path, s3:// or package:// URI). Repeatable.",
)
@click.option(
    "--block-mb",
    type=click.IntRange(1, 1024),
    default=16,
    show_default=True,
    help="CSV chunk size in MiB (at most 16 are used); bounds memory, never changes the data read.",
)
def ingest(config_path: Path, sources: tuple[str, ...], block_mb: int) -> None:
    """Ingest a use case's sources into a new dataset version (or reuse an identical one)."""
    from components.ingest.logic import IngestOptions  # deferred: pandas and minio
    from components.ingest.task import ingest_use_case  # reads a feedback window's rows too

    config = load_use_case(config_path).with_source_uris(parse_sources(sources))
    object_store = store()
    object_store.ensure_buckets(("datasets",))
    options = IngestOptions(block_bytes=block_mb * 1024 * 1024)
    result = ingest_use_case(config, object_store, options, progress=_progress_bar)
    print_dataset(result.manifest, outcome=result.outcome)
    if result.latest_error:
        to_stderr(
            f"warning: dataset version {result.ref.version} is complete, but the latest pointer was not moved to it "
            f"({result.latest_error}); run the same `mlcycle ingest` again to move it"
        )


def _progress_bar(total: int, _unused: Any = None) -> Callable[[int], None]:
    bar = tqdm(total=total, unit="B", unit_scale=True, desc="reading", file=sys.stderr, disable=None, leave=False)
    return bar.update


@click.group()
def datasets() -> None:
    """Inspect dataset versions."""


@datasets.command("list")
@config_option
def datasets_list(config_path: Path) -> None:
    """List the complete dataset versions of a use case, oldest first; damaged ones are marked."""
    from components.common import datasets as refs  # deferred: pandas and minio

    config = load_use_case(config_path)
    object_store = store()
    latest = refs.read_latest(object_store, config.name)
    manifests = refs.list_versions(object_store, config.name)
    if not manifests:
        click.echo(f"no dataset versions of {config.name!r} yet (create one with `mlcycle ingest`)")
        return
    click.echo(
        f"{'version':<20} {'created (UTC)':<26} {'rows':>10} {'train':>9} {'eval':>9} {'test':>9} {'validation':<12}"
    )
    for manifest in manifests:
        verdict = refs.read_verdict(object_store, refs.DatasetRef(config.name, manifest["version"]))
        validation = "-" if verdict is None else "VALID" if verdict["valid"] else "INVALID"
        marker = "  <- latest" if manifest["version"] == latest else ""
        damaged = refs.damaged_files(object_store, manifest)
        if damaged:
            marker += f"  DAMAGED: {len(damaged)} file(s) missing or altered (re-ingest the same inputs to repair)"
        splits = manifest["splits"]
        click.echo(
            f"{manifest['version']:<20} {manifest['created_at']:<26} {manifest['rows']:>10,} "
            f"{splits['train']['rows']:>9,} {splits['eval']['rows']:>9,} {splits['test']['rows']:>9,} "
            f"{validation:<12}{marker}"
        )


@datasets.command("show")
@config_option
@click.argument("version", default="latest")
@click.option("--json", "as_json", is_flag=True, help="Print the whole manifest as JSON.")
def datasets_show(config_path: Path, version: str, as_json: bool) -> None:
    """Show one dataset version (default: the latest)."""
    from components.common import datasets as refs  # deferred: pandas and minio

    config = load_use_case(config_path)
    object_store = store()
    manifest = refs.read_manifest(object_store, refs.resolve(object_store, config.name, version))
    if as_json:
        click.echo(json.dumps(manifest, indent=2, sort_keys=True))
    else:
        print_dataset(manifest, outcome=None)


@click.command("check-config")
@click.argument("config_path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--version",
    default=None,
    metavar="VERSION",
    help="Also read this dataset version's train labels (e.g. latest) to say which task they make and why.",
)
def check_config(config_path: Path, version: str | None) -> None:
    """Check a use-case YAML file; without --version, without touching any data."""
    config = load_use_case(config_path)
    features = config.features
    click.echo(
        f"{config_path}: OK: use case {config.name!r}, {len(config.sources)} sources (primary "
        f"{config.primary_source!r}), target {config.target.name!r}, {len(features.all())} features "
        f"({len(features.numeric)} numeric, {len(features.categorical)} categorical, "
        f"{len(features.datetime)} datetime), "
        f"{config.split.method} split"
    )
    click.echo(_task_line(config, version))
    zone = config.timezone
    default = " (the default; name another with `timezone:`)" if zone == DEFAULT_TIMEZONE else ""
    click.echo(f"time zone of calendar features and time-split bounds: {zone}{default}")


def _task_line(config: UseCaseConfig, version: str | None) -> str:
    """Which task the use case is and why: from the config alone, or from a dataset version's train labels."""
    from components.common.targets import MAX_INFERRED_CLASSES, resolve_task  # deferred: pandas

    if version is not None:
        from components.common import datasets as refs  # deferred: pandas and minio

        object_store = store()
        ref = refs.resolve(object_store, config.name, version)
        with tempfile.TemporaryDirectory(prefix="mlcycle-check-") as folder:
            train = refs.load_splits(object_store, config.name, ref.version, ("train",), Path(folder))["train"]
        choice = resolve_task(config.target, train[config.target.name])
        where = f"train labels of dataset {ref.version}"
        return f"task: {choice.task} ({choice.reason}; {where}){_metric(config, choice.task)}"
    task = declared_task(config.target)
    if task is not None:
        why = "set in the config (target.task)" if config.target.task else "a true/false label from target.derive"
        return f"task: {task} ({why}){_metric(config, task)}"
    return (
        "task: inferred from the train labels when a run reads them (numbers with fractions or more than "
        f"{MAX_INFERRED_CLASSES} distinct values: regression; text, true/false or fewer whole numbers: "
        "classification); pass --version latest to see it now, or set target.task"
    )


def _metric(config: UseCaseConfig, task: str) -> str:
    """The selection metric of the task, once the blessing is known to name only the task's metrics.

    A blessing naming another task's metric (a roc_auc floor of a regression) would stop the run only at
    evaluation; the task is known here, so it fails here.
    """
    check_blessing_task(config.analysis.blessing, task, f"use case {config.name!r}")
    metric = selection_metric(config.training, task)
    return f"; trials are selected on {metric}" + ("" if config.training.metric else " (the task's default)")


COMMANDS = (ingest, datasets, check_config)
