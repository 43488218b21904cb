"""``mlcycle runs``: every training run's record (blessed or not), one run in full, two runs side by side."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from cli.common import config_option, store
from components.common.config import load_use_case


@click.group()
def runs() -> None:
    """Inspect the records every training run leaves (parameters, metrics, gates, outcome)."""


@runs.command("list")
@config_option
def runs_list(config_path: Path) -> None:
    """List the recorded runs of a use case, oldest first."""
    from components.common import runs as records  # deferred: pandas and minio

    config = load_use_case(config_path)
    found = records.list_runs(store(), config.name)
    if not found:
        click.echo(f"no runs of {config.name!r} recorded yet (start one with `mlcycle run` or `mlcycle train`)")
        return
    click.echo(f"{'run':<28} {'started (UTC)':<27} {'dataset':<20} {'trials':>6} {'metric':<18} outcome")
    for record in found:
        metric = _headline(record.get("analysis", "metrics", {}) or {})
        trials = len(record.get("training", "trials", []) or [])
        click.echo(
            f"{record.run_id:<28} {record.started_at[:26]:<27} {record.get('run', 'dataset_version', ''):<20} "
            f"{trials:>6} {metric:<18} {record.outcome}"
        )


@runs.command("show")
@config_option
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print the record's parts as JSON.")
def runs_show(config_path: Path, run_id: str, as_json: bool) -> None:
    """Show one run: where it started from, every trial, the gates and what it came to."""
    from components.common import runs as records  # deferred: pandas and minio
    from components.common.metrics import difference_text  # deferred: scikit-learn

    config = load_use_case(config_path)
    record = records.read_run(store(), config.name, run_id)
    if as_json:
        click.echo(json.dumps(dict(record.parts), indent=2, sort_keys=True, default=str))
        return
    click.echo(f"run       {record.run_id} of {config.name!r}, started {record.started_at or 'at an unknown time'}")
    start = record.parts.get("run", {})
    click.echo(
        f"          dataset {start.get('dataset_version', '?')}, code {start.get('code_version', '?')}, "
        f"seed {start.get('seed', '?')}"
    )
    if "validation" in record.parts:
        validation = record.parts["validation"]
        click.echo(f"validate  {'VALID' if validation.get('valid') else 'INVALID'}: {validation.get('summary', '')}")
        for finding in validation.get("findings", [])[:10]:
            click.echo(f"          {finding}")
    for row in records.trial_rows(record):
        metrics = ", ".join(f"{name} {value:.4f}" for name, value in sorted((row.get("metrics") or {}).items()))
        mark = "*" if row["chosen"] else " "
        click.echo(f"trial {row['trial']:>3}{mark} {row.get('family', '?')} {row.get('params', {})}: {metrics}")
    if "analysis" in record.parts:
        analysis = record.parts["analysis"]
        click.echo(f"analysis  test {_metrics(analysis.get('metrics', {}))}")
        differences = analysis.get("baseline_differences") or {}
        for name, values in (analysis.get("baselines") or {}).items():
            click.echo(f"          baseline {name}: {_metrics(values)}")
            if name in differences:
                click.echo(f"            candidate against it: {difference_text(differences[name])}")
        champion = analysis.get("champion") or {}
        if champion:
            click.echo(f"          champion {champion.get('version')}: {_metrics(champion.get('metrics', {}))}")
            if champion.get("difference"):
                click.echo(f"            candidate against it: {difference_text(champion['difference'])}")
        click.echo(f"blessed   {'yes' if analysis.get('blessed') else 'NO'}")
        for reason in analysis.get("reasons", []):
            click.echo(f"          {reason}")
    if "serving" in record.parts:
        click.echo(f"serving   {'PASS' if record.parts['serving'].get('servable') else 'FAIL'}")
    click.echo(f"outcome   {record.outcome}")


@runs.command("compare")
@config_option
@click.argument("first")
@click.argument("second")
def runs_compare(config_path: Path, first: str, second: str) -> None:
    """Compare two runs: every recorded field that differs."""
    from components.common import runs as records  # deferred: pandas and minio

    config = load_use_case(config_path)
    object_store = store()
    left, right = (
        records.read_run(object_store, config.name, first),
        records.read_run(object_store, config.name, second),
    )
    differences = records.compare_runs(left, right)
    if not differences:
        click.echo(f"{first} and {second} recorded the same fields and values")
        return
    click.echo(f"{'field':<44} {first:>28} {second:>28}")
    for name, a, b in differences:
        click.echo(f"{name:<44} {_value(a):>28} {_value(b):>28}")


def _headline(metrics: dict[str, Any]) -> str:
    for name in ("roc_auc", "rmse", "accuracy"):
        if isinstance(metrics.get(name), int | float):
            return f"{name} {metrics[name]:.4f}"
    return ""


def _metrics(metrics: dict[str, Any]) -> str:
    return ", ".join(f"{name} {value:.4f}" for name, value in sorted(metrics.items()) if isinstance(value, int | float))


def _value(value: Any) -> str:
    text = "-" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)
    return text if len(text) <= 28 else text[:27] + "…"


COMMANDS = (runs,)
