"""The mlcycle command as a person starts it: every command answers --help in a fresh process."""

from __future__ import annotations

import subprocess

import pytest
from helpers import MLCYCLE


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["init"],
        ["ingest"],
        ["run"],
        ["s3", "up"],
        ["datasets", "list"],
        ["check-config"],
        ["schema"],
        ["validate"],
        ["train"],
        ["models", "compare"],
        ["promote"],
        ["monitor"],
        ["loop"],
        ["submit"],
        ["schedule"],
    ],
)
def test_every_command_has_help(command):
    result = subprocess.run([*MLCYCLE, *command, "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "Usage:" in result.stdout
