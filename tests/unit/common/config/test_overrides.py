"""One run's overrides of a use case (components.common.config.overrides)."""

from __future__ import annotations

import pytest

from components.common.config import apply_overrides, parse_use_case
from components.common.errors import ConfigError
from pipelines.usecases import DEMO_CONFIG

TEXT = DEMO_CONFIG.read_text()


def test_nothing_to_override_returns_the_reviewed_text_with_its_comments():
    assert apply_overrides(TEXT, {}) == TEXT


def test_seed_and_thresholds_change_and_nothing_else_does():
    effective = apply_overrides(
        TEXT, {"training.seed": 7, "analysis.blessing.floors.roc_auc": 0.7, "validation.skew.numeric": 0.3}
    )
    before, after = parse_use_case(TEXT), parse_use_case(effective)
    assert after.training.seed == 7 and before.training.seed == 42
    assert after.analysis.blessing.floors["roc_auc"] == 0.7
    assert after.analysis.blessing.floors["pr_auc"] == before.analysis.blessing.floors["pr_auc"]
    assert after.validation.skew.numeric == 0.3
    assert (after.features, after.target, after.sources, after.split) == (
        before.features,
        before.target,
        before.sources,
        before.split,
    )


def test_the_same_overrides_give_the_same_text_so_cached_steps_hit():
    overrides = {"analysis.blessing.floors.roc_auc": 0.7, "training.seed": 7}
    assert apply_overrides(TEXT, overrides) == apply_overrides(TEXT, dict(reversed(list(overrides.items()))))


@pytest.mark.parametrize("path", ["features.numeric", "target.name", "sources.flights.uri", "split.train_end", "name"])
def test_what_is_learned_from_which_data_cannot_be_overridden(path):
    with pytest.raises(ConfigError, match=f"override '{path}' is not allowed.*edit the use-case file"):
        apply_overrides(TEXT, {path: "x"})


def test_an_override_is_checked_like_the_file():
    with pytest.raises(ConfigError, match="with overrides analysis.blessing.floors.roc_auc"):
        apply_overrides(TEXT, {"analysis.blessing.floors.roc_auc": "high"})
    with pytest.raises(ConfigError, match="did you mean"):
        apply_overrides(TEXT, {"validation.skwe": {"numeric": 0.3}})
