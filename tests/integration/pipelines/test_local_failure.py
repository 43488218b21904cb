"""A task that fails in a real kfp.local run: its own error line is found in what the run logged."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from pipelines.local import TaskFailure, task_failure

REPOSITORY = Path(__file__).resolve().parents[3]


def test_the_failed_task_is_found_in_a_real_kfp_local_log(tmp_path: Path) -> None:
    script = tmp_path / "failing_pipeline.py"
    script.write_text(
        textwrap.dedent(
            f"""
            from kfp import dsl, local

            local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root={str(tmp_path / "root")!r})

            @dsl.component
            def plan_trials() -> str:
                return "trials"

            @dsl.component
            def tune_model(trials: str):
                import sys
                sys.path.insert(0, {str(REPOSITORY)!r})
                from components.common.errors import DataError
                raise DataError("the label has a single class", hint="check target.derive")

            @dsl.pipeline
            def failing():
                tune_model(trials=plan_trials().output)

            failing()
            """
        )
    )
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)

    assert run.returncode != 0
    assert task_failure(run.stdout + run.stderr) == TaskFailure(
        "tune-model", "DataError", "the label has a single class (hint: check target.derive)"
    )
