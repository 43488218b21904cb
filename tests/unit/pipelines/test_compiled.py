"""The compiled pipeline specs are committed next to their sources and must stay fresh and documented."""

from __future__ import annotations

import pytest
import yaml

from components.common import openmp
from components.images import PIPELINE_IMAGE
from pipelines.cluster import S3_CONFIG_MAP, S3_MONITORING_SECRET, S3_SECRET
from pipelines.compile import PIPELINES, compile_all

# Tasks that only read (logs, registry, datasets) get the monitoring role's keys; every other task the pipeline's.
MONITORING_TASKS = {"exec-monitor-serving", "exec-propose-promotion"}


def documents(path):
    """The pipeline spec and, when a task has Kubernetes settings, the platform spec after it."""
    spec, *platform = list(yaml.safe_load_all(path.read_text()))
    return spec, (platform[0] if platform else {})


SPECS = sorted(PIPELINES, key=lambda path: path.name)


def test_committed_specs_match_a_fresh_compilation(tmp_path):
    for fresh in compile_all(tmp_path):
        committed = next(path for path in PIPELINES if path.name == fresh.name)
        assert committed.read_text() == fresh.read_text(), (
            f"{committed.name} is stale: run `make compile` and commit it"
        )


@pytest.mark.parametrize("path", SPECS, ids=lambda path: path.stem)
def test_every_input_and_output_of_every_component_is_described(path):
    spec, _ = documents(path)
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
    assert checked > 10 and missing == [], f"undocumented: {missing}"


@pytest.mark.parametrize("path", SPECS, ids=lambda path: path.stem)
def test_every_task_runs_the_project_image_without_installing_packages(path):
    spec, _ = documents(path)
    executors = spec["deploymentSpec"]["executors"].values()
    assert {e["container"]["image"] for e in executors} == {PIPELINE_IMAGE}
    assert not any("pip install" in " ".join(e["container"]["command"]) for e in executors)


@pytest.mark.parametrize("path", SPECS, ids=lambda path: path.stem)
def test_s3_credentials_reach_tasks_only_from_the_kubernetes_secret(path):
    spec, platform = documents(path)
    for executor in spec["deploymentSpec"]["executors"].values():
        assert not [env for env in executor["container"].get("env", []) if env["name"].startswith("AWS_")], (
            "S3 settings set in the spec"
        )
    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    reading_s3 = {name: config for name, config in executors.items() if "secretAsEnv" in config}
    assert reading_s3, "no task reads the S3 Secret"
    for name, config in reading_s3.items():
        (secret,) = config["secretAsEnv"]
        assert secret["secretName"] == (S3_MONITORING_SECRET if name in MONITORING_TASKS else S3_SECRET), name
        assert {entry["envVar"] for entry in secret["keyToEnv"]} == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
        (config_map,) = config["configMapAsEnv"]
        assert config_map["configMapName"] == S3_CONFIG_MAP
    if path.stem == "monitoring_pipeline":
        assert MONITORING_TASKS <= set(reading_s3)
    defaults = yaml.safe_dump(spec["root"]["inputDefinitions"])
    assert "AWS_" not in defaults and "AWS_" not in " ".join(
        str(arg) for e in spec["deploymentSpec"]["executors"].values() for arg in e["container"].get("args", [])
    )


@pytest.mark.parametrize("path", SPECS, ids=lambda path: path.stem)
def test_tasks_that_fit_or_score_pin_their_openmp_threads_and_limit_spinning(path):
    spec, _ = documents(path)
    for name, executor in spec["deploymentSpec"]["executors"].items():
        env = {entry["name"]: entry["value"] for entry in executor["container"].get("env", [])}
        if "OMP_NUM_THREADS" in env:
            assert env["GOMP_SPINCOUNT"] == openmp.SPINS, name
    threads = {
        name: env["value"]
        for name, executor in spec["deploymentSpec"]["executors"].items()
        for env in executor["container"].get("env", [])
        if env["name"] == "OMP_NUM_THREADS"
    }
    # the trials run side by side on one core each; the final fit and the analysis run alone on two
    assert threads["exec-tune-model"] == "1" and threads["exec-train-model"] == threads["exec-evaluate-model"] == "2"
