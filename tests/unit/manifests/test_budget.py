"""Fits a laptop: the requests of everything `make up` deploys plus the peak of one training run stay
within manifests/budget.yaml's Docker VM, and the trials' parallelism is what keeps the run inside it."""

from __future__ import annotations

from pathlib import Path

import yaml

from components.common.config.training import TrainingSpec

REPO = Path(__file__).resolve().parents[3]
BUDGET = yaml.safe_load((REPO / "manifests" / "budget.yaml").read_text())
SPEC = next(yaml.safe_load_all((REPO / "pipelines" / "training_pipeline.yaml").read_text()))
# The training run's tasks in the order they can run; the tasks of one stage run at the same time
# (evaluation and the serving check both wait only for training). Trials run `parallelismLimit` at once.
STAGES = [
    ["configure-run"],
    ["ingest-data"],
    ["validate-data"],
    ["plan-trials"],
    ["tune-model"],
    ["select-trial"],
    ["train-model"],
    ["evaluate-model", "check-serving"],
    ["register-model"],
]


def millicores(value) -> int:
    text = str(value)
    return int(float(text[:-1])) if text.endswith("m") else int(float(text) * 1000)


def mebibytes(value) -> int:
    text = str(value)
    for unit, factor in (("Ki", 1 / 1024), ("Mi", 1), ("Gi", 1024)):
        if text.endswith(unit):
            return round(float(text[: -len(unit)]) * factor)
    return round(float(text) / 2**20)


def requests(containers: list[dict]) -> tuple[int, int, int]:
    """(millicores, MiB, containers without requests) of a pod's containers."""
    cpu = memory = unrequested = 0
    for container in containers:
        asked = (container.get("resources") or {}).get("requests") or {}
        unrequested += not asked
        cpu += millicores(asked.get("cpu", 0))
        memory += mebibytes(asked.get("memory", 0))
    return cpu, memory, unrequested


def parallel_trials() -> int:
    loops = [
        task["iteratorPolicy"]["parallelismLimit"]
        for component in SPEC["components"].values()
        for task in component.get("dag", {}).get("tasks", {}).values()
        if task.get("componentRef", {}).get("name") == "comp-for-loop-2" or "parameterIterator" in task
    ]
    assert loops, "the trials' ParallelFor has no parallelism limit"
    return max(loops)


def run_peak(parallelism: int) -> tuple[int, int, int]:
    """(millicores, MiB, task pods) of the busiest stage of one training run."""
    executors = {
        name.removeprefix("exec-"): e["container"]["resources"]
        for name, e in SPEC["deploymentSpec"]["executors"].items()
    }
    assert set(executors) == {task for stage in STAGES for task in stage}, "a task is missing from STAGES"
    peaks = []
    for stage in STAGES:
        pods = parallelism if stage == ["tune-model"] else len(stage)
        share = parallelism if stage == ["tune-model"] else 1
        cpu = sum(millicores(executors[t]["resourceCpuRequest"]) for t in stage) * share
        memory = sum(mebibytes(executors[t]["resourceMemoryRequest"]) for t in stage) * share
        peaks.append((memory, cpu, pods))
    memory, cpu, pods = max(peaks)
    return cpu, memory, pods


def platform(rendered, with_canary: bool) -> dict[str, tuple[int, int, int]]:
    """(millicores, MiB, containers without requests) per part of the platform."""
    parts = {}
    for part, workloads in BUDGET["third_party"].items():
        parts[part] = (
            sum(w["cpu_m"] for w in workloads),
            sum(w["memory_mi"] for w in workloads),
            sum(w["unrequested_containers"] for w in workloads),
        )
    store = [d for d in rendered["object-store/base"] if d["kind"] == "Deployment"]
    parts["object store"] = tuple(
        map(sum, zip(*(requests(d["spec"]["template"]["spec"]["containers"]) for d in store), strict=True))
    )
    for environment, replicas in BUDGET["model_replicas"].items():
        (sdep,) = [d for d in rendered[f"model/overlays/{environment}"] if d["kind"] == "SeldonDeployment"]
        predictor = sdep["spec"]["predictors"][0]
        cpu, memory, unrequested = requests(predictor["componentSpecs"][0]["spec"]["containers"])
        orchestrator = predictor["svcOrchSpec"]["resources"]["requests"]
        pod = (cpu + millicores(orchestrator["cpu"]), memory + mebibytes(orchestrator["memory"]), unrequested)
        pods = replicas * (2 if with_canary and environment == "production" else 1)
        parts[f"model ({environment})"] = tuple(v * pods for v in pod)
    return parts


def total(rendered, parallelism: int, with_canary: bool) -> tuple[int, int, str]:
    parts = platform(rendered, with_canary)
    cpu, memory, pods = run_peak(parallelism)
    parts["one training run (peak)"] = (cpu, memory, pods)
    allowance_cpu = millicores(BUDGET["unrequested"]["cpu"])
    allowance_memory = mebibytes(BUDGET["unrequested"]["memory"])
    sum_cpu = sum(c + u * allowance_cpu for c, _, u in parts.values())
    sum_memory = sum(m + u * allowance_memory for _, m, u in parts.values())
    table = "\n".join(f"  {name}: {c}m, {m}Mi, +{u} unrequested" for name, (c, m, u) in parts.items())
    return sum_cpu, sum_memory, f"{table}\n  total: {sum_cpu}m, {sum_memory}Mi"


def test_the_platform_and_one_run_fit_the_stated_docker_vm(rendered):
    budget_cpu, budget_memory = millicores(BUDGET["budget"]["cpu"]), mebibytes(BUDGET["budget"]["memory"])
    for with_canary in (False, True):
        cpu, memory, table = total(rendered, parallel_trials(), with_canary)
        assert cpu <= budget_cpu and memory <= budget_memory, f"over {BUDGET['budget']}:\n{table}"


def test_the_compiled_trials_queue_at_the_use_cases_default_parallelism():
    assert parallel_trials() == TrainingSpec().parallel_trials == 2


def test_unbounded_trials_would_not_fit(rendered):
    """Every trial of the default search at once (max_trials, as before the limit) overcommits the VM."""
    _, memory, table = total(rendered, TrainingSpec().max_trials, with_canary=False)
    assert memory > mebibytes(BUDGET["budget"]["memory"]), table


def test_the_budget_counts_every_third_party_part_make_up_deploys():
    assert set(BUDGET["third_party"]) == {"kubeflow-pipelines", "argo-cd", "seldon-core-operator", "kind"}
    assert all(w["name"] for part in BUDGET["third_party"].values() for w in part)
