"""The run configuration task: the effective use case of one run, checked before any data is read.

One pipeline task (components/configure/component.py) and the first step of the in-process run
(pipelines/inprocess.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.common.config import apply_overrides
from components.configure.logic import run_settings


def configure_run_task(use_case_yaml: str, seed: int = -1, overrides: Mapping[str, Any] | None = None) -> str:
    """Applies one run's seed and threshold overrides to the use case and checks the result.

    Args:
        use_case_yaml: The use case, as YAML text.
        seed: Seed of every random draw in the run; -1 keeps the use case's own seed.
        overrides: New values of the gates' thresholds by dotted path.

    Returns:
        The effective use case as YAML text (unchanged when nothing is overridden).

    Raises:
        ConfigError: If a setting may not be overridden or the result is not a valid use case.
    """
    return apply_overrides(use_case_yaml, run_settings(seed, overrides or {}))
