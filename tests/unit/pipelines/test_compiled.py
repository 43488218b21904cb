"""The compiled pipeline spec is committed next to its source and must stay fresh and documented."""

from __future__ import annotations

import yaml

from components.images import PIPELINE_IMAGE
from pipelines.compile import PIPELINES, compile_all


def test_committed_specs_match_a_fresh_compilation(tmp_path):
    for fresh in compile_all(tmp_path):
        committed = next(path for path in PIPELINES if path.name == fresh.name)
        assert committed.read_text() == fresh.read_text(), f"{committed.name} is stale: run `make compile` and commit it"


def test_every_input_and_output_of_every_component_is_described():
    spec = yaml.safe_load(next(iter(PIPELINES)).read_text())
    missing, checked = [], 0
    for name, component in spec["components"].items():
        if "executorLabel" not in component:
            continue  # a DAG of the pipeline itself, not a component
        for side in ("inputDefinitions", "outputDefinitions"):
            for kind in ("parameters", "artifacts"):
                for key, definition in component.get(side, {}).get(kind, {}).items():
                    checked += 1
                    if not definition.get("description"):
                        missing.append(f"{name}.{key}")
    assert checked > 30 and missing == [], f"undocumented: {missing}"


def test_every_task_runs_the_project_image_without_installing_packages():
    spec = yaml.safe_load(next(iter(PIPELINES)).read_text())
    executors = spec["deploymentSpec"]["executors"].values()
    assert {e["container"]["image"] for e in executors} == {PIPELINE_IMAGE}
    assert not any("pip install" in " ".join(e["container"]["command"]) for e in executors)
