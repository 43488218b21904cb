"""How idle OpenMP threads wait, set once for a process and everything it starts."""

from __future__ import annotations

import subprocess
import sys

from components.common import openmp


def test_spinning_is_limited_unless_someone_chose_otherwise():
    environ: dict[str, str] = {}
    openmp.limit_spinning(environ)
    assert environ == {"GOMP_SPINCOUNT": "1000"}
    chosen = {"GOMP_SPINCOUNT": "0"}
    openmp.limit_spinning(chosen)
    assert chosen == {"GOMP_SPINCOUNT": "0"}


def test_the_command_line_passes_the_limit_to_the_processes_it_starts():
    code = (
        "import os, subprocess, sys; from cli.main import main; sys.argv = ['mlcycle', '--help'];\n"
        "try: main()\nexcept SystemExit: pass\n"
        "print(subprocess.run(['sh', '-c', 'echo $GOMP_SPINCOUNT'], capture_output=True, text=True).stdout.strip())"
    )
    environment = {"PATH": "/usr/bin:/bin"}
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment, check=True)
    assert output.stdout.strip().splitlines()[-1] == "1000"
