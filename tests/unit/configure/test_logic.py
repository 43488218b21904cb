"""One run's settings: the threshold overrides, and the seed unless it is negative."""

from __future__ import annotations

from components.configure.logic import SEED_SETTING, run_settings


def test_a_seed_of_zero_or_more_overrides_the_use_cases_seed_and_a_negative_one_does_not():
    overrides = {"analysis.blessing.floors.roc_auc": 0.7}
    assert run_settings(0, overrides) == {**overrides, SEED_SETTING: 0}
    assert run_settings(-1, overrides) == overrides
    assert overrides == {"analysis.blessing.floors.roc_auc": 0.7}  # the caller's mapping is left alone
