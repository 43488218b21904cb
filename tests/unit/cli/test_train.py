"""`mlcycle run`'s answer when a task fails: the task's own line, and an exit code by the kind of failure."""

from __future__ import annotations

import pytest

from cli.train import _task_error


def _log(task: str, last_line: str) -> str:
    return (
        f"INFO - Executing task \x1b[96m'{task}'\x1b[0m\n    Traceback (most recent call last):\n"
        f"    {last_line}\n"
        f"ERROR - Task \x1b[96m'{task}'\x1b[0m finished with status \x1b[91mFAILURE\x1b[0m\n"
    )


@pytest.mark.parametrize(
    ("last_line", "exit_code", "line"),
    [
        (
            "components.common.errors.DataError: the label has a single class (hint: check target.derive)",
            2,
            "task tune-model failed: the label has a single class (hint: check target.derive; log: ",
        ),
        (
            "components.common.errors.StorageError: cannot upload s3://b/k: InternalError",
            3,
            "task tune-model failed: cannot upload s3://b/k: InternalError (hint: log: ",
        ),
        (
            "KeyError: 'seats'",
            5,
            "task tune-model crashed: KeyError: 'seats' (hint: a bug, not your input: the traceback is in ",
        ),
    ],
)
def test_a_failed_task_is_reported_by_its_own_line_and_kind(tmp_path, last_line, exit_code, line):
    log = tmp_path / "last-run.log"
    log.write_text(_log("tune-model", last_line))

    error = _task_error(RuntimeError("Inner task failed: 'tune-model'"), log)

    assert str(error).startswith(line) and str(log) in str(error)
    assert error.exit_code == exit_code and "\n" not in str(error)


def test_a_run_that_failed_outside_any_task_says_so(tmp_path):
    log = tmp_path / "last-run.log"
    log.write_text("nothing useful\n")

    error = _task_error(RuntimeError("the pipeline could not start"), log)

    assert str(error) == f"the pipeline run failed: the pipeline could not start (hint: see {log})"
    assert error.exit_code == 5
