"""Run records: keys, what a run came to, and how two runs differ."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from components.common.runs import RunRecord, compare_runs, new_run_id, part_key, training_part, trial_rows


def test_run_ids_sort_by_start_time_and_differ():
    early = new_run_id(datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc))
    late = new_run_id(datetime(2026, 1, 2, 3, 4, 6, tzinfo=timezone.utc))
    assert early.startswith("run-20260102-030405-") and early < late
    assert new_run_id() != new_run_id()


def test_part_keys_are_checked():
    assert part_key("flights", "run-1", "analysis") == "flights/runs/run-1/analysis.json"
    with pytest.raises(ValueError, match="unknown run-record part 'tuning'"):
        part_key("flights", "run-1", "tuning")
    with pytest.raises(ValueError, match="contains '/'"):
        part_key("flights", "a/b", "run")


@pytest.mark.parametrize(
    ("parts", "outcome"),
    [
        ({"run": {}, "validation": {"valid": False}}, "stopped: invalid data"),
        ({"validation": {"valid": True}, "analysis": {"blessed": False}}, "stopped: not blessed"),
        ({"analysis": {"blessed": True}, "serving": {"servable": False}}, "stopped: not servable"),
        ({"analysis": {"blessed": True}, "registration": {"version": "m-1"}}, "registered m-1"),
        ({"run": {}, "validation": {"valid": True}}, "no outcome recorded after validation (running, or it failed)"),
    ],
)
def test_the_outcome_names_the_gate_that_stopped_a_run(parts, outcome):
    assert RunRecord("flights", "run-1", parts).outcome == outcome


def test_trials_are_listed_with_the_chosen_one_marked():
    record = RunRecord(
        "flights",
        "run-1",
        {"training": {"chosen": "b", "trials": [{"name": "a", "metrics": {"roc_auc": 0.6}}, {"name": "b"}]}},
    )
    assert [(row["trial"], row["name"], row["chosen"]) for row in trial_rows(record)] == [
        (0, "a", False),
        (1, "b", True),
    ]


def test_two_runs_differ_in_exactly_the_fields_that_changed():
    first = RunRecord(
        "f", "r1", {"run": {"seed": 1, "dataset_version": "ds-1"}, "analysis": {"metrics": {"roc_auc": 0.7}}}
    )
    second = RunRecord(
        "f",
        "r2",
        {
            "run": {"seed": 2, "dataset_version": "ds-1"},
            "analysis": {"metrics": {"roc_auc": 0.7}},
            "registration": {"version": "m-2"},
        },
    )
    assert compare_runs(first, second) == [("run.seed", 1, 2), ("registration.version", None, "m-2")]
    assert compare_runs(first, first) == []


def test_the_training_part_says_the_task_and_an_older_record_is_a_classification():
    trial = {
        "trial": {"id": "linear-1", "family": "linear", "params": {}},
        "eval_metrics": {"rmse": 3.0},
        "metric": "rmse",
    }
    record = {"trials": [trial], "trial_id": "linear-1", "task": "regression", "task_reason": "set in the config"}
    part = training_part(record)
    assert (part["task"], part["task_reason"]) == ("regression", "set in the config")
    assert part["trials"][0]["selection_metric"] == "rmse" and part["trials"][0]["metrics"] == {"rmse": 3.0}
    assert training_part({"trials": []})["task"] == "classification"
