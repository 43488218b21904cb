"""``mlcycle init``: a first use case from one CSV or Parquet file, ingested, with its schema inferred.

The choices are drawn by components.common.config.drafting (pure, over the table) and written as commented
YAML by components.common.config.draft_yaml; this command reads the file, writes both files and ingests.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import click

from cli.common import embedded_s3_unless_configured, ensure_buckets, import_quietly, print_dataset, relative, store
from components.common.config import SourceSpec, UseCaseConfig, load_use_case, parse_use_case, schema_path
from components.common.errors import UserError
from components.common.s3_settings import s3_settings

if TYPE_CHECKING:
    from components.common.config.drafting import RaisedThreshold, UseCaseDraft

# Rows read to draw the choices from; the dataset itself holds every row.
MAX_DRAFT_ROWS = 1_000_000


@click.command()
@click.argument("data")
@click.option("--target", required=True, metavar="COLUMN", help="The column to predict.")
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Use-case YAML to write  [default: <name>.yaml in the current folder]",
)
@click.option("--name", default=None, help="Name of the use case  [default: from the file's name]")
@click.option("--time-column", default=None, metavar="COLUMN", help="Split by time on this column.")
@click.option("--force", is_flag=True, help="Replace an existing use-case YAML and its schema.")
def init(data: str, target: str, output: Path | None, name: str | None, time_column: str | None, force: bool) -> None:
    """Draft a use case from DATA (a CSV or Parquet file: a path or s3://), ingest it and infer its schema.

    Column kinds, the task, the split, a small search space and slices are inferred from the data; each
    choice is commented in the YAML. Then `mlcycle run -c <the YAML>` trains, with no edit needed.
    """
    from components.common.config.draft_yaml import render_use_case  # deferred: pandas
    from components.common.config.drafting import draft_use_case, target_labels, use_case_name
    from components.common.targets import infer_task
    from components.ingest.logic import assign_splits
    from components.ingest.task import ingest_use_case

    name = name or use_case_name(data)
    output = output or Path(f"{name}.yaml")
    schema_file = output.with_name(f"{output.stem}.schema.pbtxt")
    uri = data if "://" in data else str(Path(data).expanduser().resolve())
    spec = SourceSpec(uri=uri)
    spec.resolved_format()
    for existing in (output, schema_file):
        if existing.exists() and not force:
            raise UserError(
                f"{relative(existing)} exists already", hint="pass --force to replace it, or -o another file"
            )
    embedded = embedded_s3_unless_configured()
    if embedded:
        click.echo(f"S3        embedded server at {embedded.endpoint_url}", err=True)
    ensure_buckets(s3_settings())
    frame = _read_table(spec)
    choice = infer_task(target_labels(frame, target))
    draft = draft_use_case(frame, target, name, uri, choice.task, choice.reason, time_column, place_rows=assign_splits)
    text = render_use_case(draft, schema_file.name)
    parse_use_case(text, origin=output.name)  # the loader's own checks, before anything is written
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    config = load_use_case(output)
    _print_choices(draft)
    result = ingest_use_case(config, store())
    print_dataset(result.manifest, outcome=result.outcome)
    click.echo("inferring the schema (TensorFlow loads first, ~15 s)...", err=True)
    logic = import_quietly("components.validate.logic")
    schema = logic.infer_schema_for_version(config, store(), result.ref.version)
    logic.write_schema(schema, schema_path(output, config))
    if draft.split.method == "time":
        raised = _measured_skew_thresholds(logic, config, schema, result.manifest)
        if raised:
            draft = replace(draft, raised_skew=raised)
            text = render_use_case(draft, schema_file.name)
            parse_use_case(text, origin=output.name)
            output.write_text(text)
            click.echo("  skew:     raised where this file's own seasons exceed the time split's default:")
            for threshold in raised:
                click.echo(
                    f"            {threshold.feature}: {threshold.threshold:g} (measured {threshold.measured:.3f})"
                )
    click.echo(f"wrote {relative(output)} and {relative(schema_path(output, config))}: review them, then")
    click.echo(f"next:     mlcycle run -c {relative(output)}")


def _measured_skew_thresholds(
    logic: ModuleType, config: UseCaseConfig, schema: Any, manifest: Mapping[str, Any]
) -> tuple[RaisedThreshold, ...]:
    """Per-feature skew thresholds a margin above the train-vs-eval distances that exceed the draft's.

    A time split trains on earlier months and evaluates on later ones: the data's seasons move distributions
    beyond any default, and the first run must pass. Measured as validation measures skew (same statistic,
    same noise floor), on the version just ingested.
    """
    from components.common.config.drafting import raise_skew_thresholds  # deferred: pandas

    click.echo("measuring train vs eval skew of the time split...", err=True)
    with tempfile.TemporaryDirectory(prefix="mlcycle-init-") as folder:
        statistics, _, samples = logic.compute_statistics(store(), manifest, config, Path(folder), schema)
    measured: dict[str, tuple[float, float]] = {}
    for distance in logic.skew_distances(statistics, schema, config, samples.get("train")):
        if distance.feature not in measured or distance.value > measured[distance.feature][0]:
            measured[distance.feature] = (distance.value, distance.threshold)
    return raise_skew_thresholds(measured)


def _read_table(spec: SourceSpec):
    """The file as ingest reads it (at most MAX_DRAFT_ROWS rows), as a pandas frame."""
    from components.common.arrow import pa  # deferred: pyarrow and pandas
    from components.ingest.logic import locate_source, read_batches  # deferred: pandas and minio

    with tempfile.TemporaryDirectory() as folder:
        path = locate_source("data", spec, store() if spec.uri.startswith("s3://") else None, Path(folder))
        batches, rows = [], 0
        for batch in read_batches(path, spec, "data", 16 * 1024 * 1024):
            batches.append(batch)
            rows += batch.num_rows
            if rows >= MAX_DRAFT_ROWS:
                break
        if not batches:
            raise UserError(f"{spec.uri} holds no rows")
        return pa.Table.from_batches(batches).to_pandas().head(MAX_DRAFT_ROWS)


def _print_choices(draft: UseCaseDraft) -> None:
    features = draft.features
    click.echo(f"use case  {draft.name!r}: predict {draft.target!r} from {len(features.all())} columns of {draft.uri}")
    click.echo(f"  task:     {draft.task} ({draft.task_reason})")
    for kind in ("numeric", "categorical", "datetime"):
        columns = draft.kind_columns(kind)
        if columns:
            click.echo(f"  {kind + ':':<9} {', '.join(columns)}")
    for choice in draft.columns:
        if choice.kind == "left_out":
            click.echo(f"  left out: {choice.name} ({choice.reason})")
    split = draft.split
    bounds = f" (train before {split.train_end}, eval before {split.eval_end})" if split.method == "time" else ""
    click.echo(f"  split:    {draft.split_reason}{bounds}")
    search = ", ".join(space.family for space in draft.search)
    click.echo(f"  search:   {search}; at most {draft.max_trials} trials")
    if draft.slices:
        click.echo(f"  slices:   {', '.join(draft.slices)}")


COMMANDS = (init,)
