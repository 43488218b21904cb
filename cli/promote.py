"""``mlcycle promote`` and ``mlcycle rollback``: model releases by git commits that Argo CD syncs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cli.common import config_option, store
from components.common.config import load_use_case
from components.deploy.tools import kubectl_path

repo_option = click.option(
    "--repo",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="The GitOps repository (a clone of this project).",
)
push_option = click.option(
    "--push",
    is_flag=True,
    help="Push the branch that received the commit to its remote (default origin); exit 6 if it refuses.",
)


@click.command()
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
@repo_option
@push_option
def promote(
    config_path: Path,
    version: str,
    environment: str,
    canary_percent: int | None,
    branch: str | None,
    repo: Path,
    push: bool,
) -> None:
    """Promote a model version by a git commit that Argo CD syncs (VERSION: an id, latest or staging).

    The version must exist, be blessed and have its registered sha256; the overlay is rendered
    before the commit, whose message carries the lineage. Then the registry's stage is set to what git
    runs (also when there is nothing to commit, if the two disagree). Exit code 4: another promotion
    committed first and nothing was written; run again. Exit code 5: --push was refused by the remote;
    the local commit stays.
    """
    from components.deploy import gitops  # deferred: pandas and minio

    config = load_use_case(config_path)
    outcome = gitops.promote(store(), repo, config.name, version, environment, kubectl_path(), canary_percent, branch)
    _print_release_outcome(outcome, push)
    _push(repo, outcome, push)


@click.command()
@click.option(
    "--to",
    "environment",
    type=click.Choice(["staging", "production"]),
    default="production",
    show_default=True,
    help="Environment to roll back.",
)
@click.option("--branch", default=None, metavar="NAME", help="Commit on this new branch, for a pull request.")
@repo_option
@push_option
def rollback(environment: str, branch: str | None, repo: Path, push: bool) -> None:
    """Return an environment to the model release before its current one, by a git commit."""
    from components.deploy import gitops  # deferred: pandas and minio

    outcome = gitops.rollback(store(), repo, environment, kubectl_path(), branch)
    _print_release_outcome(outcome, push)
    _push(repo, outcome, push)


def _push(repo: Path, outcome: Any, push: bool) -> None:
    from components.deploy import gitops  # deferred: pandas and minio

    if push and outcome.commit is not None:
        remote = gitops.push_branch(repo, outcome.branch, outcome.commit)
        click.echo(f"  pushed:   {outcome.branch} to {remote}")


def _print_release_outcome(outcome: Any, push: bool = False) -> None:
    main, canary = outcome.release.versions()
    running = f"{main}" + (
        f" ({outcome.release.main.traffic}%), canary {canary} ({outcome.release.canary.traffic}%)" if canary else ""
    )
    if outcome.commit is None:
        click.echo(f"{outcome.environment} runs {running} already: nothing to commit")
    else:
        click.echo(f"{outcome.environment}: {running}")
        click.echo(f"  commit:   {outcome.commit[:12]} on {outcome.branch}: {outcome.message.splitlines()[0]}")
        if not outcome.on_current_branch:
            step = "open a pull request" if push else f"push {outcome.branch} and open a pull request"
            click.echo(f"  next:     {step}; Argo CD deploys it once merged")
    if outcome.stage is not None:
        # The stage as this command's compare-and-swap wrote (or found) it, never what it meant to write.
        note = ""
        if canary:
            note = " (the main version; promote the canary without --canary to stage it)"
        elif outcome.commit is None and outcome.stage_change:
            note = f" (set from git; the registry said {outcome.stage_change.previous})"
        click.echo(f"  registry: {outcome.environment} stage is {outcome.stage}{note}")
    if outcome.commit is not None and outcome.on_current_branch and not push:
        click.echo(f"  next:     git push; Argo CD syncs manifests/model/overlays/{outcome.environment}")


COMMANDS = (promote, rollback)
