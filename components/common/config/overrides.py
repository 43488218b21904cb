"""One run's overrides of a use case: the gates' thresholds and the seed, never what is learned from which data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from components.common.config.usecase import parse_use_case
from components.common.errors import ConfigError

# What one run may change without editing the use case: thresholds of the gates and the seed. What is
# learned from which data (sources aside, which are their own parameter) stays in the reviewed file.
OVERRIDABLE = ("training.seed", "training.max_trials", "validation.", "analysis.min_slice_rows", "analysis.blessing.")


def apply_overrides(text: str, overrides: Mapping[str, Any], origin: str = "use case") -> str:
    """Returns use-case YAML text with one run's settings replaced, checked like the file itself.

    Args:
        text: The use case's YAML text.
        overrides: New values by dotted path, such as ``{"training.seed": 7,
            "analysis.blessing.floors.roc_auc": 0.7}``. Only the gates' thresholds and the
            training seed and trial budget may change (:data:`OVERRIDABLE`).
        origin: What to call the text in messages.

    Returns:
        The text unchanged when there is nothing to override (comments kept); otherwise the
        effective configuration as YAML.

    Raises:
        ConfigError: If a path may not be overridden, or the result is not a valid use case.
    """
    if not overrides:
        parse_use_case(text, origin)
        return text
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ConfigError(f"{origin} must hold a mapping of settings, not {type(data).__name__}")
    for path, value in sorted(overrides.items()):
        if not any(path == allowed or (allowed.endswith(".") and path.startswith(allowed)) for allowed in OVERRIDABLE):
            allowed_paths = ", ".join(p + ("*" if p.endswith(".") else "") for p in OVERRIDABLE)
            raise ConfigError(
                f"override {path!r} is not allowed: a run may change {allowed_paths}; "
                "edit the use-case file for anything else"
            )
        *parents, leaf = path.split(".")
        node = data
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {path!r}: {part} is not a section of the use case")
            node = child
        node[leaf] = value
    effective = yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=120)
    parse_use_case(effective, f"{origin} with overrides {', '.join(sorted(overrides))}")
    return effective
