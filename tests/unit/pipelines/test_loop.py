"""The pure parts of the local feedback loop: the derived use case, the months, the replay order, the table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from components.common.config import parse_use_case
from components.common.errors import UserError
from pipelines.loop import (
    Column,
    LoopPlan,
    batches,
    before_after_table,
    held_out_feedback,
    loop_use_case,
    months,
    replay_sample,
)
from pipelines.usecases import DEMO_CONFIG


def test_the_loop_use_case_has_its_own_name_the_base_months_and_the_plan_split():
    plan = LoopPlan()
    config = parse_use_case(loop_use_case(DEMO_CONFIG.read_text(), plan, Path("/data/base.csv")))
    original = parse_use_case(DEMO_CONFIG.read_text())

    assert config.name == "flights_loop" and original.name == "flights"
    assert config.sources["flights"].uri == "/data/base.csv"
    assert config.sources["weather"].uri == original.sources["weather"].uri
    assert (config.split.train_end, config.split.eval_end) == ("2013-05-01", "2013-06-01")
    assert config.training.max_trials == 2 and config.validation.schema == "schema.pbtxt"
    assert config.validation.skew.features["temp"] == plan.seasonal_threshold
    assert config.validation.drift.features["precip"] == plan.seasonal_threshold
    assert "carrier" not in config.validation.skew.features  # only seasonal features are relaxed
    assert config.validation.drift.numeric == original.validation.drift.numeric
    assert config.validation.skew.numeric == original.validation.skew.numeric
    # Only the live ROC-AUC drop is judged tighter, so the demonstration retrains (see LoopPlan).
    assert config.monitoring.quality.max_drop == {**original.monitoring.quality.max_drop, "roc_auc": 0.03}
    assert config.monitoring.quality.floors == original.monitoring.quality.floors
    assert config.monitoring.drift == original.monitoring.drift and config.feedback is None


def test_a_use_case_without_a_time_split_is_refused_in_one_line():
    text = DEMO_CONFIG.read_text().replace("method: time", "method: hash\n  key: [flight]", 1)
    with pytest.raises(UserError, match="has a hash split"):
        loop_use_case(text, LoopPlan(), Path("base.csv"))


@pytest.mark.parametrize(
    "plan, message",
    [
        (LoopPlan(train_end="2013-06-01", eval_end="2013-05-01"), "out of order"),
        (LoopPlan(replay_start="2013-06-01"), "must follow the base data"),
        (LoopPlan(replay_rows=0), "must be positive"),
    ],
)
def test_plans_with_overlapping_months_or_no_rows_are_refused(plan, message):
    with pytest.raises(UserError, match=message):
        plan.check()


def test_months_are_half_open_and_skip_unreadable_times():
    frame = pd.DataFrame({"t": ["2013-04-30 23:00:00", "2013-05-01 00:00:00", "2013-06-01 00:00:00", None, "junk"]})

    assert months(frame, "t", "2013-05-01", "2013-06-01")["t"].tolist() == ["2013-05-01 00:00:00"]
    assert months(frame, "t", None, "2013-05-01")["t"].tolist() == ["2013-04-30 23:00:00"]


def test_the_replay_is_a_seeded_sample_sent_oldest_first_in_batches():
    times = pd.date_range("2013-09-01", periods=50, freq="h", tz="UTC")
    frame = pd.DataFrame({"t": times[::-1], "x": range(50)})

    sample = replay_sample(frame, "t", 20, seed=3)

    assert len(sample) == 20 and sample["t"].is_monotonic_increasing
    assert sample.equals(replay_sample(frame, "t", 20, seed=3))
    assert len(replay_sample(frame, "t", 500, seed=3)) == 50
    assert [len(part) for part in batches(sample, 8)] == [8, 8, 4]


def test_held_out_feedback_is_the_tail_of_the_test_split():
    test = pd.DataFrame({"x": range(10)})

    assert held_out_feedback(test, {"feedback": {"rows_by_split": {"test": 3}}})["x"].tolist() == [7, 8, 9]
    assert held_out_feedback(test, {}).empty


def test_the_table_shows_both_sides_and_dashes_for_what_was_not_measured():
    before = Column("m-a", "ds-a", {"roc_auc": 0.75, "pr_auc": 0.5}, {"roc_auc": 0.66}, {"roc_auc": 0.68})
    after = Column("m-b", "ds-b", {"roc_auc": 0.76}, None, {"roc_auc": 0.7}, "w (10 rows)")

    lines = before_after_table(before, after, ["temp"], "retrain: live roc_auc low", "abc", 3)
    text = "\n".join(lines)

    assert lines[0].split() == ["before", "after"]
    assert next(line for line in lines if line.startswith("model version")).split()[-2:] == ["m-a", "m-b"]
    assert next(line for line in lines if line.startswith("offline test pr_auc")).split()[-2:] == ["0.5000", "-"]
    assert "held-out feedback roc_auc (3 rows)" in text and "0.6800" in text and "0.7000" in text
    assert "drifted features" in text and "temp" in text and "promotion commit" in text and "abc" in text
    assert "none" in before_after_table(before, None, [], "healthy", "", 0)[-1]
