"""The root of the mlcycle command: which commands it offers, and how it is installed."""

from __future__ import annotations

import tomllib
from pathlib import Path

from cli.main import main

ROOT = Path(__file__).resolve().parents[3]
EVERY_COMMAND = {
    "s3",
    "init",
    "ingest",
    "datasets",
    "check-config",
    "schema",
    "validate",
    "train",
    "run",
    "runs",
    "models",
    "gc",
    "promote",
    "rollback",
    "monitor",
    "loop",
    "submit",
    "schedule",
}


def listed_commands(help_text: str) -> set[str]:
    section = help_text.split("\nCommands:\n", 1)[1]
    return {line.split()[0] for line in section.splitlines() if line.startswith("  ") and line.split()}


def test_help_lists_every_command_group_including_cluster_submission(capsys):
    main(["--help"])
    out = capsys.readouterr().out
    assert out.startswith("Usage: mlcycle [OPTIONS] COMMAND [ARGS]...")
    assert listed_commands(out) == EVERY_COMMAND


def test_the_installed_script_is_this_entry_point_and_the_wheel_ships_the_package():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["mlcycle"] == "cli.main:main"
    assert "cli" in project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
