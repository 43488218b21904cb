"""The run configuration step's core: one run's seed and threshold overrides as dotted settings.

The overrides themselves are applied and checked by components.common.config.apply_overrides; the
task around both is in task.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SEED_SETTING = "training.seed"


def run_settings(seed: int, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Returns one run's settings by dotted path: the overrides, and the seed unless it is negative.

    Args:
        seed: Seed of every random draw in the run; negative keeps the use case's own seed.
        overrides: New values of the gates' thresholds by dotted path.
    """
    settings = dict(overrides)
    if seed >= 0:
        settings[SEED_SETTING] = seed
    return settings
