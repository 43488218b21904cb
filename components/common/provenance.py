"""Where a result came from: the code version recorded in every manifest and model card."""

from __future__ import annotations

import os
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path


def code_version() -> str:
    """Returns the version of the code that is running.

    MLCYCLE_CODE_VERSION wins (images set it at build time, where there is no .git); otherwise the
    git commit of the source tree, suffixed ``-dirty`` when it has uncommitted changes; otherwise
    the installed package version.
    """
    if os.environ.get("MLCYCLE_CODE_VERSION"):
        return os.environ["MLCYCLE_CODE_VERSION"]
    source = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=source,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=source,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        return f"git:{commit}{'-dirty' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        return f"mlcycle=={metadata.version('mlcycle')}"
    except metadata.PackageNotFoundError:
        return "unknown"


def utc_now() -> str:
    """Returns the current UTC time in ISO 8601 with microseconds (versions made within a second still sort)."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")
