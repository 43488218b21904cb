"""The ``mlcycle`` command line: the platform's stages and its local S3 server, for people.

Every user mistake ends in one line on stderr, ``error: <what> (hint: <fix>)``, and a non-zero exit;
tracebacks are kept for bugs.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import yaml

from components.common.config import DEMO_CONFIG, SPLITS, apply_overrides, load_use_case, schema_path
from components.common.errors import UserError
from components.common.s3_settings import ENDPOINT_VARIABLES, S3Settings, s3_settings, state_dir

log = logging.getLogger("mlcycle")


def main() -> None:
    """Entry point of the ``mlcycle`` script."""
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except UserError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted: nothing was published", err=True)
        sys.exit(130)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("-v", "--verbose", is_flag=True, help="Log each step, retries included.")
def cli(verbose: bool) -> None:
    """mlcycle: the whole model life cycle, on Kubernetes or on one machine.

    Endpoint and credentials of S3 come from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID and
    AWS_SECRET_ACCESS_KEY; without them, the embedded server of `mlcycle s3 up` is used.
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


config_option = click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEMO_CONFIG,
    show_default=True,
    help="Use-case YAML file.",
)


# --- s3 --------------------------------------------------------------------------------------


@cli.group()
def s3() -> None:
    """Manage the embedded S3 server (SeaweedFS) for local runs."""


@s3.command("up")
@click.option("--port", type=int, default=0, help="S3 API port (default: the last one used, or a free one).")
def s3_up(port: int) -> None:
    """Start the embedded S3 server on 127.0.0.1 and create the buckets (idempotent)."""
    state = _start_embedded_s3({"s3": port} if port else None)
    settings = s3_settings()
    click.echo(f"S3 server ready at {state.endpoint_url} (pid {state.pid}, key {settings.masked_key()})")
    click.echo(f"  credentials: {_server_paths().role_credentials('<role>')} (mode 0600, one per role)")
    click.echo(f"  buckets:     {', '.join(_buckets(settings))}")


@s3.command("down")
def s3_down() -> None:
    """Stop the embedded S3 server started from this folder."""
    from components.common import s3_server

    stopped = s3_server.stop(_server_paths())
    click.echo("S3 server stopped" if stopped else "no S3 server was running")


@s3.command("status")
def s3_status() -> None:
    """Show whether the embedded S3 server runs and where."""
    from components.common import s3_server

    state = s3_server.read_state(_server_paths())
    if state is None:
        click.echo("not running (start it with `make s3-up`)")
        sys.exit(1)
    click.echo(f"running at {state.endpoint_url} (pid {state.pid}); data in {_server_paths().data}")


# --- ingest and datasets ---------------------------------------------------------------------


@cli.command()
@config_option
@click.option(
    "-s",
    "--source",
    "sources",
    multiple=True,
    metavar="NAME=URI",
    help="Read source NAME from URI instead (a path, s3:// or package:// URI). Repeatable.",
)
@click.option("--block-mb", type=click.IntRange(1, 1024), default=16, show_default=True, help="CSV chunk size.")
def ingest(config_path: Path, sources: tuple[str, ...], block_mb: int) -> None:
    """Ingest a use case's sources into a new dataset version (or reuse an identical one)."""
    result = _ingest(config_path, sources, block_mb)
    _print_dataset(result.manifest, created=result.created)


@cli.group()
def datasets() -> None:
    """Inspect dataset versions."""


@datasets.command("list")
@config_option
def datasets_list(config_path: Path) -> None:
    """List the complete dataset versions of a use case, oldest first."""
    from components.common import datasets as refs

    config = load_use_case(config_path)
    store = _store()
    latest = refs.read_latest(store, config.name)
    manifests = refs.list_versions(store, config.name)
    if not manifests:
        click.echo(f"no dataset versions of {config.name!r} yet (create one with `mlcycle ingest`)")
        return
    click.echo(f"{'version':<20} {'created (UTC)':<26} {'rows':>10} {'train':>9} {'eval':>9} {'test':>9}")
    for manifest in manifests:
        marker = "  <- latest" if manifest["version"] == latest else ""
        splits = manifest["splits"]
        click.echo(
            f"{manifest['version']:<20} {manifest['created_at']:<26} {manifest['rows']:>10,} "
            f"{splits['train']['rows']:>9,} {splits['eval']['rows']:>9,} {splits['test']['rows']:>9,}{marker}"
        )


@datasets.command("show")
@config_option
@click.argument("version", default="latest")
@click.option("--json", "as_json", is_flag=True, help="Print the whole manifest as JSON.")
def datasets_show(config_path: Path, version: str, as_json: bool) -> None:
    """Show one dataset version (default: the latest)."""
    from components.common import datasets as refs

    config = load_use_case(config_path)
    store = _store()
    manifest = refs.read_manifest(store, refs.resolve(store, config.name, version))
    if as_json:
        click.echo(json.dumps(manifest, indent=2, sort_keys=True))
    else:
        _print_dataset(manifest, created=None)


@cli.command()
@config_option
@click.option("--version", default="latest", show_default=True, help="Dataset version to infer from.")
@click.option("--force", is_flag=True, help="Replace an existing schema file.")
def schema(config_path: Path, version: str, force: bool) -> None:
    """Infer the use case's schema from a dataset version, for a person to review and commit."""
    config = load_use_case(config_path)
    target = schema_path(config_path, config)
    if target.exists() and not force:
        raise UserError(
            f"schema {_relative(target)} exists already", hint="review and edit it, or pass --force to replace it"
        )
    click.echo("inferring the schema (TensorFlow loads first, ~15 s)...", err=True)
    logic = _import_quietly("components.validate.logic")
    infer_schema_for_version, write_schema = logic.infer_schema_for_version, logic.write_schema

    write_schema(infer_schema_for_version(config, _store(), version), target)
    click.echo(f"wrote {_relative(target)}: review it (domains, presence, environments), then commit it")


@cli.command()
@config_option
@click.option("--version", default="latest", show_default=True, help="Dataset version to validate.")
@click.option(
    "--report", "report_path", type=click.Path(dir_okay=False, path_type=Path), help="Where to write the HTML report."
)
def validate(config_path: Path, version: str, report_path: Path | None) -> None:
    """Validate a dataset version against the schema; exit 1 when anomalies block training."""
    config = load_use_case(config_path)
    click.echo("validating (TensorFlow loads first, ~15 s)...", err=True)
    logic = _import_quietly("components.validate.logic")
    load_schema, validate_dataset, write_outputs = logic.load_schema, logic.validate_dataset, logic.write_outputs

    schema_file = load_schema(schema_path(config_path, config))
    result = validate_dataset(config, schema_file, _store(), version)
    folder = state_dir() / "reports" / config.name / result.version
    report_path = report_path or folder / "validation.html"
    write_outputs(result, config.name, folder / "statistics.pb", folder / "anomalies", report_path)
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


@cli.command()
@config_option
@click.option("--version", default="latest", show_default=True, help="Dataset version to train on.")
def train(config_path: Path, version: str) -> None:
    """Tune, train, analyse against production, and register a model (blessed ones enter staging)."""
    from components.workflow import train_and_register

    config = load_use_case(config_path)
    schema_text = schema_path(config_path, config).read_text() if schema_path(config_path, config).exists() else ""
    outcome = train_and_register(config, schema_text, _store(), version, say=lambda line: click.echo(line, err=True))
    analysis = outcome.analysis
    metrics = analysis.metrics
    click.echo(
        f"model version {outcome.model.ref.version} of {config.name!r} {'registered' if outcome.model.created else 'unchanged'}"
    )
    click.echo(
        f"  trained on: dataset {outcome.dataset_version}; {outcome.best.trial.family} {outcome.best.trial.params}"
    )
    click.echo(
        f"  test:       roc_auc {metrics['roc_auc']:.4f}, pr_auc {metrics['pr_auc']:.4f}, accuracy {metrics['accuracy']:.4f}, log_loss {metrics['log_loss']:.4f}"
    )
    for name, values in analysis.baselines.items():
        click.echo(
            f"  baseline:   {name.replace('_', ' ')}: roc_auc {values['roc_auc']:.4f}, pr_auc {values['pr_auc']:.4f}"
        )
    if analysis.champion:
        champion = analysis.champion["metrics"]
        click.echo(
            f"  champion:   {analysis.champion['version']}: roc_auc {champion['roc_auc']:.4f}, pr_auc {champion['pr_auc']:.4f}"
        )
    click.echo(f"  blessed:    {'yes' if analysis.blessing.blessed else 'NO'}: " + "; ".join(analysis.blessing.reasons))
    if outcome.staged:
        click.echo("  stage:      staging")


@cli.group()
def models() -> None:
    """Inspect the model registry and move versions between stages."""


@models.command("list")
@config_option
def models_list(config_path: Path) -> None:
    """List the registered model versions of a use case, oldest first."""
    from components.register import logic as registry

    config = load_use_case(config_path)
    versions = registry.list_versions(_store(), config.name)
    if not versions:
        click.echo(f"no model versions of {config.name!r} yet (create one with `mlcycle train`)")
        return
    click.echo(f"{'version':<20} {'created (UTC)':<34} {'blessed':<8} {'roc_auc':>8} {'dataset':<20} stages")
    for entry in versions:
        lineage = entry.manifest["lineage"]
        roc = lineage.get("metrics", {}).get("roc_auc", float("nan"))
        click.echo(
            f"{entry.version:<20} {entry.created_at:<34} {'yes' if entry.blessed else 'no':<8} {roc:>8.4f} {lineage.get('dataset_version', ''):<20} {','.join(entry.stages)}"
        )


@models.command("show")
@config_option
@click.argument("reference", default="latest")
def models_show(config_path: Path, reference: str) -> None:
    """Show one model version's card (REFERENCE: an id, latest, staging or production)."""
    from components.register import logic as registry

    config = load_use_case(config_path)
    store = _store()
    click.echo(registry.read_cards(store, registry.resolve(store, config.name, reference)).markdown)


@models.command("compare")
@config_option
@click.argument("left")
@click.argument("right")
def models_compare(config_path: Path, left: str, right: str) -> None:
    """Compare two model versions: metrics side by side, then what differs."""
    from components.register import logic as registry

    config = load_use_case(config_path)
    comparison = registry.compare_versions(_store(), config.name, left, right)
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
    """Put a blessed model version in a stage of the registry."""
    from components.register import logic as registry

    config = load_use_case(config_path)
    change = registry.set_stage(_store(), config.name, stage, reference, reason=reason or "set by hand")
    click.echo(
        f"{stage}: {change.version} (was {change.previous})" if change else f"{stage} holds that version already"
    )


@models.command("rollback")
@config_option
@click.option("--stage", type=click.Choice(["staging", "production"]), default="production", show_default=True)
def models_rollback(config_path: Path, stage: str) -> None:
    """Return a stage to the version it held before its last change."""
    from components.register import logic as registry

    config = load_use_case(config_path)
    change = registry.rollback_stage(_store(), config.name, stage, reason="rollback by hand")
    click.echo(f"{stage}: {change.version} (was {change.previous})")


@cli.command("check-config")
@click.argument("config_path", type=click.Path(dir_okay=False, path_type=Path))
def check_config(config_path: Path) -> None:
    """Check a use-case YAML file without touching any data."""
    config = load_use_case(config_path)
    features = config.features
    click.echo(
        f"{config_path}: OK: use case {config.name!r}, {len(config.sources)} sources (primary "
        f"{config.primary_source!r}), target {config.target.name!r}, {len(features.all())} features "
        f"({len(features.numeric)} numeric, {len(features.categorical)} categorical, {len(features.datetime)} datetime), "
        f"{config.split.method} split"
    )


# --- the main job ----------------------------------------------------------------------------


@cli.command()
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
    """
    from components.register import logic as registry
    from pipelines.local import describe, run_training

    config = load_use_case(config_path)
    overrides = _parse_settings(settings)
    # Checked here as well as in the pipeline's first step, so a typo fails before any process starts.
    apply_overrides(
        config_path.read_text(), {**overrides, **({} if seed is None else {"training.seed": seed})}, config_path.name
    )
    schema_file = schema_path(config_path, config)
    if not schema_file.exists():
        raise UserError(
            f"schema {_relative(schema_file)} does not exist", hint="create it with `make schema`, review it, commit it"
        )
    if not any(os.environ.get(v) for v in ENDPOINT_VARIABLES):
        state = _start_embedded_s3(None)
        for name, value in state.environment("pipeline").items():
            os.environ[name] = value  # every pipeline task inherits them (the cluster uses a Secret)
        click.echo(f"S3        embedded server at {state.endpoint_url}")
    settings = s3_settings()
    _buckets(settings)
    click.echo(
        "running the training pipeline with kfp.local (each task is a process; TensorFlow loads in two of them)...",
        err=True,
    )
    summary = _quietly_run(
        run_training,
        config_path.read_text(),
        schema_file.read_text(),
        _parse_sources(sources),
        state_dir() / "pipeline-runs",
        seed,
        overrides,
    )
    analysis = summary.run_dir and next(iter(sorted(summary.run_dir.rglob("evaluate-model/analysis"))), None)
    card = json.loads(analysis.read_text())["card"] if analysis else None
    for line in describe(summary, config, card):
        click.echo(line)
    if summary.registered:
        change = registry.set_stage(
            _store(), config.name, "production", summary.registered, reason="make run: local deployment"
        )
        click.echo(f"deploy    production is {summary.registered}" + ("" if change else " (unchanged)"))
    if serve_result:
        _serve_production(config, summary.dataset["version"])
    click.echo(f"\nEvery artifact of this run: {summary.run_dir}")


def _serve_production(config: Any, dataset_version: str) -> None:
    """Serves the production model with the real Seldon server on loopback, sends it requests and feedback, stops it."""
    from components.common import datasets
    from components.register import logic as registry
    from components.serve.local import demo_requests, start_server
    from components.serve.schema import build_serving_schema

    store = _store()
    production = registry.current_version(store, config.name, "production")
    if production is None:
        click.echo("serve     skipped: no model in production yet")
        return
    click.echo("starting the Seldon model server (.venv-serving; created on first use)...", err=True)
    with tempfile.TemporaryDirectory() as folder:
        manifest = datasets.read_manifest(store, datasets.resolve(store, config.name, dataset_version))
        rows = datasets.load_split(store, manifest, "test", Path(folder)).sample(n=3, random_state=config.training.seed)
    with start_server(config.name, "production") as server:
        click.echo(
            f"serve     {production} at {server.url} (metrics {server.metrics_url}; log {_relative(server.log_path)})"
        )
        demo_requests(
            server.url, rows, build_serving_schema(config).names, truth_column=config.target.name, say=click.echo
        )
    click.echo("          server stopped; request and feedback logs flushed to the feedback bucket")


# --- helpers ---------------------------------------------------------------------------------


def _quietly_run(function: Callable[..., Any], *args: Any) -> Any:
    """Runs a kfp.local pipeline with its task logs in a file, shown only if the run fails."""
    log_path = state_dir() / "pipeline-runs" / "last-run.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        root = logging.getLogger()
        saved = (root.level, root.handlers[:])
        # Only the file hears the run (kfp logs from worker threads too), cache hits included.
        root.handlers = [logging.StreamHandler(log)]
        root.setLevel(logging.INFO)
        try:
            return function(*args)
        except Exception as error:
            raise UserError(
                f"the pipeline run failed: {str(error).splitlines()[0] if str(error) else type(error).__name__}",
                hint=f"see {log_path}",
            ) from None
        finally:
            root.setLevel(saved[0])
            root.handlers = saved[1]


def _number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _import_quietly(module: str) -> Any:
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


def _server_paths():
    from components.common.s3_server import ServerPaths

    return ServerPaths(state_dir() / "s3")


def _start_embedded_s3(ports: dict[str, int] | None):
    from components.common import s3_server

    state = s3_server.start(_server_paths(), ports)
    _buckets(s3_settings({**os.environ, **state.environment("admin")}))  # only the admin role creates buckets
    return state


def _store():
    from components.common.storage import ObjectStore

    return ObjectStore.connect(s3_settings())


def _buckets(settings: S3Settings) -> list[str]:
    from components.common.storage import ObjectStore

    return ObjectStore.connect(settings).ensure_buckets()


def _ingest(config_path: Path, sources: tuple[str, ...], block_mb: int):
    from components.ingest.logic import IngestOptions, ingest_dataset

    config = load_use_case(config_path).with_source_uris(_parse_sources(sources))
    store = _store()
    store.ensure_buckets(("datasets",))
    return ingest_dataset(config, store, IngestOptions(block_bytes=block_mb * 1024 * 1024), progress=_progress_bar)


def _relative(path: Path) -> Path:
    try:
        return path.resolve().relative_to(Path.cwd())
    except ValueError:
        return path


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


def _parse_sources(pairs: tuple[str, ...]) -> dict[str, str]:
    parsed = {}
    for pair in pairs:
        name, sep, uri = pair.partition("=")
        if not sep or not name or not uri:
            raise UserError(f"--source {pair!r} is not NAME=URI", hint="for example --source flights=/data/flights.csv")
        parsed[name] = uri
    return parsed


def _progress_bar(total: int, _unused: Any = None) -> Callable[[int], None]:
    from tqdm import tqdm

    bar = tqdm(total=total, unit="B", unit_scale=True, desc="reading", file=sys.stderr, disable=None, leave=False)
    return bar.update


def _print_dataset(manifest: dict[str, Any], created: bool | None) -> None:
    status = {True: "created", False: "unchanged (identical inputs were ingested before; nothing written)", None: ""}[
        created
    ]
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


# --- GitOps promotion ------------------------------------------------------------------------


@cli.command()
@config_option
@click.argument("version")
@click.option(
    "--to",
    "environment",
    type=click.Choice(["staging", "production"]),
    required=True,
    help="Environment whose overlay changes.",
)
@click.option(
    "--canary",
    "canary_percent",
    type=click.IntRange(1, 99),
    default=None,
    metavar="PCT",
    help="Run VERSION as production's canary with PCT% of traffic.",
)
@click.option(
    "--branch",
    default=None,
    metavar="NAME",
    help="Commit on this new branch, for a pull request (the registry stage follows once merged).",
)
@click.option(
    "--repo",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="The GitOps repository (a clone of this project).",
)
def promote(
    config_path: Path, version: str, environment: str, canary_percent: int | None, branch: str | None, repo: Path
) -> None:
    """Promote a model version by a git commit that Argo CD syncs (VERSION: an id, latest or staging).

    The version must exist, be blessed and have its registered sha256; the overlay is rendered
    before the commit, whose message carries the lineage. Then the registry's stage is set.
    """
    from components.deploy import gitops
    from components.deploy.tools import kubectl_path

    config = load_use_case(config_path)
    outcome = gitops.promote(_store(), repo, config.name, version, environment, kubectl_path(), canary_percent, branch)
    _print_release_outcome(outcome)


@cli.command()
@click.option(
    "--to",
    "environment",
    type=click.Choice(["staging", "production"]),
    default="production",
    show_default=True,
    help="Environment to roll back.",
)
@click.option("--branch", default=None, metavar="NAME", help="Commit on this new branch, for a pull request.")
@click.option(
    "--repo",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="The GitOps repository (a clone of this project).",
)
def rollback(environment: str, branch: str | None, repo: Path) -> None:
    """Return an environment to the model release before its current one, by a git commit."""
    from components.deploy import gitops
    from components.deploy.tools import kubectl_path

    outcome = gitops.rollback(_store(), repo, environment, kubectl_path(), branch)
    _print_release_outcome(outcome)


def _print_release_outcome(outcome: Any) -> None:
    main, canary = outcome.release.versions()
    running = f"{main}" + (
        f" ({outcome.release.main.traffic}%), canary {canary} ({outcome.release.canary.traffic}%)" if canary else ""
    )
    if outcome.commit is None:
        click.echo(f"{outcome.environment} runs {running} already: nothing to commit")
        return
    click.echo(f"{outcome.environment}: {running}")
    click.echo(f"  commit:   {outcome.commit[:12]} on {outcome.branch}: {outcome.message.splitlines()[0]}")
    if not outcome.on_current_branch:
        click.echo(f"  next:     push {outcome.branch} and open a pull request; Argo CD deploys it once merged")
    elif outcome.stage_recorded:
        click.echo(f"  registry: {outcome.environment} stage is {main}")
    else:
        click.echo("  registry: stage unchanged while the canary runs (promote it without --canary to finish)")
    if outcome.on_current_branch:
        click.echo(f"  next:     git push; Argo CD syncs manifests/model/overlays/{outcome.environment}")


# --- monitoring and retraining (stage 8) ------------------------------------------------------


@cli.command("monitor")
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
    help="When retraining is due: ingest the base data plus the window's feedback, validate, train, and propose a blessed model for promotion.",
)
def monitor_command(
    config_path: Path, start: str, end: str, hours: int | None, model: str, report_path: Path | None, retrain: bool
) -> None:
    """Monitor the served model over a window of its logs: drift, live quality, and whether to retrain.

    An empty window, too few requests or no ground truth are outcomes, not errors: the exit code is 0
    and the summary says what could not be judged.
    """
    from components.monitor.logs import Window

    config = load_use_case(config_path)
    window = Window.resolve(start, end, hours or config.monitoring.window_hours)
    schema_file = schema_path(config_path, config)
    if not schema_file.exists():
        raise UserError(
            f"schema {_relative(schema_file)} does not exist", hint="create it with `make schema`, review it, commit it"
        )
    click.echo("monitoring (TensorFlow loads first, ~15 s)...", err=True)
    logic = _import_quietly("components.monitor.logic")
    schema = _import_quietly("components.validate.logic").load_schema(schema_file)
    store = _store()
    result = logic.monitor(config, schema, store, window, model)
    report_path = (
        report_path
        or state_dir()
        / "reports"
        / config.name
        / "monitoring"
        / f"{window.start:%Y%m%dT%H%M%SZ}-{window.end:%Y%m%dT%H%M%SZ}.html"
    )
    logic.write_outputs(result, config.monitoring, report_path, report_path.with_suffix(".json"))
    click.echo(result.summary())
    click.echo(f"report: {report_path}")
    if not retrain:
        return
    if not result.decision.retrain:
        click.echo("retrain:   not due")
        return
    from components.monitor.retraining import retrain as retrain_from_feedback

    outcome = retrain_from_feedback(
        config, schema_file.read_text(), store, window, str(config_path), say=lambda line: click.echo(line, err=True)
    )
    feedback = outcome.dataset.manifest["feedback"]
    click.echo(
        f"retrain:   dataset {outcome.dataset.ref.version} = base data + {feedback['rows']} feedback rows {feedback['rows_by_split']}"
    )
    if not outcome.valid:
        click.echo(outcome.validation)
    else:
        click.echo(
            f"           model {outcome.model_version} {'blessed' if outcome.blessed else 'NOT blessed'}: "
            + "; ".join(outcome.blessing)
        )
    click.echo(f"propose:   {outcome.proposal.message}")


# --- the feedback loop, locally (issue 8) -------------------------------------------------------


@cli.command("loop")
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
def loop_command(config_path: Path, sources: tuple[str, ...], rows: int, batch: int) -> None:
    """Demonstrate the feedback loop: train on early months, serve, replay later months, monitor, retrain, promote.

    Everything happens under a derived use case (<name>_loop) and in a scratch GitOps repository
    under .local/loop/, never in your own repository; the S3 server is the embedded one unless an
    endpoint is configured. Ends with a before-and-after table.
    """
    from components.deploy.tools import kubectl_path
    from components.monitor.loop import LoopPaths, LoopPlan

    config = load_use_case(config_path)
    overrides = _parse_sources(sources)
    unknown = sorted(set(overrides) - {config.primary_source})
    if unknown:
        raise UserError(
            f"--source names {unknown[0]!r}, not the primary source {config.primary_source!r}",
            hint=f"the loop splits the months of {config.primary_source!r} only",
        )
    schema_file = schema_path(config_path, config)
    if not schema_file.exists():
        raise UserError(
            f"schema {_relative(schema_file)} does not exist", hint="create it with `make schema`, review it, commit it"
        )
    if not any(os.environ.get(v) for v in ENDPOINT_VARIABLES):
        state = _start_embedded_s3(None)
        for name, value in state.environment("pipeline").items():
            os.environ[name] = value  # the model server swaps them for the serving identity
        click.echo(f"S3 embedded server at {state.endpoint_url}", err=True)
    loop = importlib.import_module("components.monitor.loop")  # before TensorFlow (see the module)
    click.echo("loop      TensorFlow loads first (~15 s)...", err=True)
    _import_quietly("components.monitor.logic")
    plan = LoopPlan(replay_rows=rows, batch_rows=batch)
    outcome = loop.run_loop(
        config_path.read_text(),
        schema_file.read_text(),
        _store(),
        LoopPaths(state_dir() / "loop"),
        Path(__file__).resolve().parents[1] / "manifests",
        kubectl_path(),
        plan,
        overrides.get(config.primary_source),
        say=lambda line: click.echo(line, err=True),
    )
    click.echo(outcome.monitoring_summary)
    click.echo("")
    for line in outcome.table():
        click.echo(line)
    if outcome.commit:
        click.echo(f"\npromotion commit {outcome.commit} in {_relative(state_dir() / 'loop' / 'gitops')}:")
        click.echo("\n".join(f"    {line}" for line in outcome.commit_message.splitlines()))
    else:
        # The demonstration ends in a promotion; anything else is worth a non-zero exit.
        click.echo("\nno promotion: " + outcome.decision, err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
