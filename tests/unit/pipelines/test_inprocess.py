"""The in-process run is the training pipeline's sequence: its task names, its order, its task functions."""

from __future__ import annotations

from pathlib import Path

import yaml

from pipelines import inprocess
from pipelines.inprocess import STEPS, TASKS, task_function

SPEC = Path(inprocess.__file__).with_name("training_pipeline.yaml")


def compiled_tasks() -> dict[str, set[str]]:
    """Every task of the compiled pipeline with every task it runs after (through groups too)."""
    spec = next(yaml.safe_load_all(SPEC.read_text()))
    found: dict[str, set[str]] = {}

    def leaves(dag: dict, name: str) -> set[str]:
        component = spec["components"][dag["tasks"][name]["componentRef"]["name"]]
        if "dag" not in component:
            return {name}
        return set().union(*(leaves(component["dag"], inner) for inner in component["dag"]["tasks"]))

    def walk(dag: dict, before: set[str]) -> None:
        for name, task in dag["tasks"].items():
            after = before.union(*(leaves(dag, dependency) for dependency in task.get("dependentTasks", [])))
            component = spec["components"][task["componentRef"]["name"]]
            if "dag" in component:
                walk(component["dag"], after)
            else:
                found[name] = after

    walk(spec["root"]["dag"], set())
    return found


def executor_program(task: str) -> str:
    spec = next(yaml.safe_load_all(SPEC.read_text()))
    executor = spec["deploymentSpec"]["executors"][f"exec-{task}"]
    return "\n".join(executor["container"]["command"])


def test_the_steps_are_the_compiled_pipelines_tasks_in_an_order_its_dag_allows():
    tasks = compiled_tasks()
    assert sorted(STEPS) == sorted(tasks)
    for position, step in enumerate(STEPS):
        assert tasks[step] <= set(STEPS[:position]), f"{step} runs before {sorted(tasks[step] - set(STEPS[:position]))}"


def test_each_step_runs_the_task_function_its_component_calls():
    for step in TASKS:
        function = task_function(step)
        assert function.__module__.endswith(".task"), f"{step} runs {function.__module__}.{function.__name__}"
        assert f"import {function.__name__}" in executor_program(step), f"{step}'s component calls another function"


def test_the_compiled_dag_runs_registration_after_both_gates_and_tuning_after_validation():
    tasks = compiled_tasks()
    assert {"evaluate-model", "check-serving", "train-model"} <= tasks["register-model"]
    assert tasks["plan-trials"] == {"configure-run", "ingest-data", "validate-data"}
    assert "evaluate-model" not in tasks["check-serving"]  # side by side in the DAG: either order is the pipeline's
