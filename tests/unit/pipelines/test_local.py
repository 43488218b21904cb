"""The local run's outcome: which task failed and why, and which gate stopped a finished run."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import ORDERS_CONFIG

from components.common.config import parse_use_case
from pipelines.local import RunSummary, TaskFailure, describe, stopping_gate, task_failure

ANSI_TASK = "\x1b[96m'{}'\x1b[0m"


def _task_block(name: str, body: str, status: str) -> str:
    colour = "\x1b[92mSUCCESS\x1b[0m" if status == "SUCCESS" else "\x1b[91mFAILURE\x1b[0m"
    return (
        f"02:54:09.741 - INFO - Executing task {ANSI_TASK.format(name)}\n"
        "02:54:09.741 - INFO - Streamed logs:\n\n"
        f"{body}\n"
        f"02:54:12.918 - INFO - Task {ANSI_TASK.format(name)} finished with status {colour}\n" + "-" * 80 + "\n"
    )


TRACEBACK = """    Traceback (most recent call last):
      File "/x/kfp/dsl/executor.py", line 453, in execute
        result = self.func(**func_kwargs)
    ValueError: an earlier, chained error
    During handling of the above exception, another exception occurred:
    Traceback (most recent call last):
      File "/x/components/train/task.py", line 12, in tune_model
    {}
"""


def test_the_failed_task_and_its_own_error_line_are_found() -> None:
    log = _task_block(
        "ingest-data", "    INFO: DataError: an earlier line that is no exception", "SUCCESS"
    ) + _task_block(
        "tune-model",
        TRACEBACK.format(
            "components.common.errors.DataError: the label has a single class (hint: check target.derive)"
        ),
        "FAILURE",
    )

    assert task_failure(log) == TaskFailure(
        "tune-model", "DataError", "the label has a single class (hint: check target.derive)"
    )


def test_a_bug_is_reported_with_its_exception_class() -> None:
    log = _task_block("evaluate-model", TRACEBACK.format("KeyError: 'seats'"), "FAILURE")

    assert task_failure(log) == TaskFailure("evaluate-model", "KeyError", "'seats'")


def test_a_task_that_died_without_a_traceback_is_still_named() -> None:
    log = _task_block("train-model", "    Killed", "FAILURE")

    assert task_failure(log) == TaskFailure("train-model", "", "")


def test_a_run_without_a_failed_task_has_no_failure() -> None:
    assert task_failure(_task_block("ingest-data", "    fine", "SUCCESS")) is None


def _summary(**changes) -> RunSummary:
    fields = dict(
        run_dir=Path("."),
        dataset={},
        valid=True,
        validation="",
        report=Path("."),
        blessed=True,
        blessing="",
        model_card=None,
        servable=True,
        serving="",
        registered="m-1",
    )
    return RunSummary(**{**fields, **changes})


@pytest.mark.parametrize(
    ("changes", "gate"),
    [
        ({}, None),
        ({"valid": False, "blessed": None, "servable": None, "registered": None}, "data validation"),
        ({"blessed": False, "servable": None, "registered": None}, "model analysis"),
        ({"servable": False, "registered": None}, "the serving check"),
    ],
)
def test_the_gate_that_stopped_a_run_is_named(changes, gate) -> None:
    stopped = stopping_gate(_summary(**changes))

    assert stopped is None if gate is None else stopped.startswith(gate)


def _finished_run(blessed: bool) -> RunSummary:
    dataset = {
        "version": "ds-1",
        "rows": 1000,
        "splits": {"train": {"rows": 800}, "eval": {"rows": 100}, "test": {"rows": 100}},
    }
    return RunSummary(
        Path("run"), dataset, True, "VALID", Path("report.html"), blessed, "beats the baselines", Path("card.html"),
        True, "PASS a\nall checks passed", "mv-1" if blessed else None,
    )  # fmt: skip


@pytest.mark.parametrize(
    "metrics, baseline, expected, expected_baseline",
    [
        (
            {"roc_auc": 0.7, "pr_auc": 0.4, "accuracy": 0.8, "log_loss": 0.5},
            {"roc_auc": 0.5, "pr_auc": 0.2},
            "          test roc_auc 0.7000, pr_auc 0.4000, accuracy 0.8000",
            "          baseline majority class: roc_auc 0.5000, pr_auc 0.2000",
        ),
        (
            {"rmse": 35.5, "mae": 20.25, "r2": 0.125},
            {"rmse": 40.0, "mae": 25.0, "r2": 0.0},
            "          test rmse 35.5000, mae 20.2500, r2 0.1250",
            "          baseline majority class: rmse 40.0000, mae 25.0000, r2 0.0000",
        ),
    ],
    ids=["classification", "regression"],
)
def test_the_run_summary_shows_the_metrics_of_the_task(metrics, baseline, expected, expected_baseline):
    card = {
        "metrics": metrics,
        "lineage": {"training": {"family": "linear", "params": {}}},
        "champion": None,
        "baselines": {"majority_class": baseline},
    }
    lines = describe(_finished_run(True), parse_use_case(ORDERS_CONFIG), card)
    assert expected in lines and expected_baseline in lines


def test_the_run_summary_says_whether_each_gap_is_beyond_noise():
    difference = {
        "metric": "roc_auc",
        "difference": -0.0013,
        "low": -0.0041,
        "high": 0.0015,
        "p_value": 0.37,
        "standard_error": 0.0014,
    }
    card = {
        "metrics": {"roc_auc": 0.6924, "pr_auc": 0.466},
        "lineage": {"training": {"family": "hist_gradient_boosting", "params": {}}},
        "champion": {"version": "m-1", "metrics": {"roc_auc": 0.69, "pr_auc": 0.45}, "difference": difference},
        "baselines": {"majority_class": {"roc_auc": 0.5}, "logistic_regression": {"roc_auc": 0.6937, "pr_auc": 0.4473}},
        "baseline_differences": {"majority_class": difference, "logistic_regression": difference},
    }
    lines = describe(_finished_run(True), parse_use_case(ORDERS_CONFIG), card)
    said = "            candidate against it: ROC-AUC -0.0013 (95% interval -0.0041 to +0.0015, p 0.37): "
    after_baseline = lines[lines.index("          baseline logistic regression: roc_auc 0.6937, pr_auc 0.4473") + 1]
    assert after_baseline == said + "not distinguishable on these rows"
    assert lines[lines.index("          champion m-1: roc_auc 0.6900, pr_auc 0.4500") + 1] == after_baseline
    assert sum(line.startswith("            candidate against it") for line in lines) == 3  # and the majority class's


def test_progress_says_when_each_task_starts_and_ends_and_counts_trials_while_the_log_keeps_everything():
    import io

    from pipelines.local import ProgressLog

    said, log, now = [], io.StringIO(), iter([0.0, 1.5, 2.0, 2.0, 9.0, 10.0, 20.0])
    progress = ProgressLog(log, said.append, trials=2, clock=lambda: next(now))
    text = (
        _task_block("configure-run", "    some output", "SUCCESS")
        + "02:54:13.000 - INFO - Executing task "
        + ANSI_TASK.format("tune-model")
        + "\n02:54:13.000 - INFO - Executing task "
        + ANSI_TASK.format("tune-model")
        + "\n02:54:20.000 - INFO - Task "
        + ANSI_TASK.format("tune-model")
        + " finished with status \x1b[92mSUCCESS\x1b[0m\n"
    )
    for start in range(0, len(text), 7):  # kfp.local writes in pieces, not whole lines
        progress.write(text[start : start + 7])
    progress.write("02:54:30.000 - INFO - Task " + ANSI_TASK.format("tune-model"))
    progress.write(" finished with status \x1b[91mFAILURE\x1b[0m\nINFO - Task select-trial cache hit (key=abc)\n")

    assert log.getvalue().startswith(text) and "cache hit" in log.getvalue()
    assert said == [
        "  configure-run   started",
        "  configure-run   done in 1.5 s",
        "  tune-model      trial 1/2 started",
        "  tune-model      trial 2/2 started",
        "  tune-model      trial 1/2 done in 7.0 s",
        "  tune-model      trial 2/2 failure in 8.0 s",
        "  select-trial    cached (same inputs as an earlier run)",
    ]


def test_a_progress_line_said_back_into_the_log_does_not_deadlock():
    import io
    import threading

    from pipelines.local import ProgressLog

    said = []

    def say(line: str) -> None:  # kfp.local's patched print writes its indentation to the redirected stream
        progress.write("    ")
        said.append(line)

    progress = ProgressLog(io.StringIO(), say, trials=1)
    writer = threading.Thread(
        target=progress.write, args=(f"INFO - Executing task {ANSI_TASK.format('train-model')}\n",), daemon=True
    )
    writer.start()
    writer.join(timeout=10)
    assert not writer.is_alive() and said == ["  train-model     started"]
