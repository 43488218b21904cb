"""Benchmark of the whole local training pipeline on all 336,776 demo flights: where the time goes.

Runs `mlcycle run --no-serve` exactly as a user would, in a private state folder (its own embedded S3
server, empty registry, empty task cache), so every task runs cold. While it runs, a sampler reads the
resident memory of the whole process tree (the CLI, kfp.local's task processes, the S3 server) from
/proc every 100 ms.

The baseline, run right after in the same way in the same benchmark: the same code and pipeline with the
demo's settings before issue 16 (trees on one-hot columns, the old four-trial search of two boosted
models, a logistic regression and a random forest, every trial on all train rows). What the code itself
gained (fast path, start-up) is in both runs, so the ratio measures the settings; seconds move with what
else the two cores run, the ratio much less, and the load average is printed to judge that. Afterwards:

- per task: wall time from kfp.local's own start and finish lines in the run log;
- per task: the fixed cost of a task process (interpreter start-up, kfp's executor and the imports of
  its stage), measured by starting the same kind of process without work;
- the rest of each task is its work (reading data, statistics, fitting, scoring).

Run with `make bench-pipeline` (two cold runs, about 5 minutes on a quiet machine). Targets of issue 16:
under 45 s wall and under 2 GiB peak on 2 cores, every stage still real.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
MLCYCLE = Path(sys.executable).with_name("mlcycle")
DEMO = ROOT / "pipelines" / "usecases" / "flights.yaml"
TARGET_SECONDS, TARGET_GIB = 45, 2
# The demo's search before issue 16: four trials on all train rows, trees on one-hot columns.
BASELINE_SEARCH = [
    {
        "family": "hist_gradient_boosting",
        "params": {"learning_rate": [0.1], "max_leaf_nodes": [31, 63], "max_iter": [150], "l2_regularization": [1.0]},
    },
    {"family": "logistic_regression", "params": {"C": [1.0]}},
    {"family": "random_forest", "params": {"n_estimators": [100], "max_depth": [14]}},
]
LINE = re.compile(
    r"^(\d\d):(\d\d):(\d\d)\.(\d{3}) - INFO - (Executing task|Task) "
    r"\x1b\[\d+m'([a-z0-9-]+)'\x1b\[0m(?: finished with status)?"
)
# The import each task's process pays before it can work (its component module's body imports these).
STAGE_IMPORTS = {
    "configure-run": "components.configure.task",
    "ingest-data": "components.ingest.task",
    "validate-data": "components.validate.task",
    "plan-trials": "components.train.task",
    "tune-model": "components.train.logic",  # task.py defers it: planning and selection need none of it
    "select-trial": "components.train.task",
    "train-model": "components.train.logic",
    "evaluate-model": "components.evaluate.task",
    "check-serving": "components.serve.task",
    "register-model": "components.register.task",
}


class TreeMemory(threading.Thread):
    """Samples the summed resident memory of a process and all its descendants."""

    def __init__(self, pid: int, every: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.every, self.peak, self.peak_single = pid, every, 0, 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            sizes = [rss for rss in map(_rss, _descendants(self.pid) | {self.pid}) if rss]
            if sizes:
                self.peak = max(self.peak, sum(sizes))
                self.peak_single = max(self.peak_single, max(sizes))
            self.stopped.wait(self.every)


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children[parent].append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def task_times(log: str) -> dict[str, list[float]]:
    """Wall seconds of each task run, by task name, from kfp.local's log (first-in, first-out pairing)."""
    started: dict[str, list[float]] = defaultdict(list)
    spans: dict[str, list[float]] = defaultdict(list)
    for line in log.splitlines():
        match = LINE.match(line)
        if not match:
            continue
        hours, minutes, seconds, millis, event, task = match.groups()
        at = int(hours) * 3600 + int(minutes) * 60 + int(seconds) + int(millis) / 1000
        if event == "Executing task":
            started[task].append(at)
        elif started[task]:
            spans[task].append(at - started[task].pop(0))
    return dict(spans)


def process_cost(module: str, repeats: int = 3) -> float:
    """Median wall seconds to start a task process and import what its stage needs, doing no work."""
    code = f"import kfp.dsl.executor_main, {module}"
    # _KFP_RUNTIME as in a task's command: kfp then skips its client (and the kubernetes package, 3 s).
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "OMP_NUM_THREADS": "1", "_KFP_RUNTIME": "true"}
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=ROOT, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


@dataclass(frozen=True)
class Run:
    """One cold run of the pipeline: its wall time, memory peaks, task spans and output."""

    wall: float
    peak: int
    peak_single: int
    spans: dict[str, list[float]]
    output: str


def baseline_use_case(folder: Path) -> Path:
    """The demo use case with the settings before issue 16 (one-hot trees, the old search, no row budget)."""
    config = yaml.safe_load(DEMO.read_text())
    config["preprocessing"]["categorical_encoding"] = "onehot"
    config["training"].pop("trial_rows", None)
    config["training"]["search"] = BASELINE_SEARCH
    path = folder / DEMO.name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    shutil.copy(DEMO.with_name(f"{DEMO.stem}.schema.pbtxt"), folder)
    return path


def run_pipeline(config: Path | None, label: str) -> Run:
    """Runs `mlcycle run --no-serve` cold in a private state folder while sampling the tree's memory."""
    with tempfile.TemporaryDirectory(prefix="mlcycle-bench-pipeline-") as folder:
        env = {**os.environ, "MLCYCLE_STATE_DIR": folder, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "")}
        for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "S3_ENDPOINT_URL"):
            env.pop(name, None)  # a private embedded server, never a store someone uses
        env = {k: v for k, v in env.items() if v != ""}
        print(f"running `mlcycle run --no-serve` ({label}), cold: private state, empty cache...", file=sys.stderr)
        arguments = [str(MLCYCLE), "run", "--no-serve", *(["-c", str(config)] if config else [])]
        started = time.perf_counter()
        process = subprocess.Popen(
            arguments, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        sampler = TreeMemory(process.pid)
        sampler.start()
        output, _ = process.communicate()
        wall = time.perf_counter() - started
        sampler.stopped.set()
        sampler.join()
        subprocess.run([str(MLCYCLE), "s3", "down"], env=env, cwd=ROOT, capture_output=True)
        if process.returncode != 0:
            sys.exit(f"the run ({label}) failed:\n{output}")
        log = (Path(folder) / "pipeline-runs" / "last-run.log").read_text()
    return Run(wall, sampler.peak, sampler.peak_single, task_times(log), output)


def main() -> None:
    load = os.getloadavg()
    current = run_pipeline(None, "current settings")
    with tempfile.TemporaryDirectory(prefix="mlcycle-bench-baseline-") as folder:
        baseline = run_pipeline(baseline_use_case(Path(folder)), "baseline: the settings before issue 16")
    print(current.output)
    print(f"\n{'task':<16}{'runs':>5}{'wall s':>9}{'baseline s':>12}{'process+imports s':>19}{'work s':>8}")
    total_task = total_fixed = 0.0
    for task in dict.fromkeys([*current.spans, *baseline.spans]):
        times, before = current.spans.get(task, []), sum(baseline.spans.get(task, []))
        fixed = process_cost(STAGE_IMPORTS[task]) if task in STAGE_IMPORTS else float("nan")
        busy = sum(times)
        total_task += busy
        total_fixed += fixed * len(times)
        work = max(0.0, busy - fixed * len(times))
        print(f"{task:<16}{len(times):>5}{busy:>9.1f}{before:>12.1f}{fixed * len(times):>19.1f}{work:>8.1f}")
        if len(times) > 1:
            print(f"{'':<16}{'':>5}  each: {', '.join(f'{t:.1f}' for t in times)} s")
    count, total_work = sum(map(len, current.spans.values())), max(0.0, total_task - total_fixed)
    before_total = sum(map(sum, baseline.spans.values()))
    print(f"{'all tasks':<16}{count:>5}{total_task:>9.1f}{before_total:>12.1f}{total_fixed:>19.1f}{total_work:>8.1f}")
    print("process+imports is measured apart (a fresh interpreter importing kfp's executor and the stage), so for")
    print("the shortest tasks it can exceed the task's own wall time; their work is shown as 0.")
    print("task seconds add up to more than the wall where kfp.local ran two trials at once.")
    print(
        f"\nwall, whole command: {current.wall:.1f} s against the baseline's {baseline.wall:.1f} s in this run: "
        f"{current.wall / baseline.wall:.2f}x (target < {TARGET_SECONDS} s: {current.wall / TARGET_SECONDS:.2f}x of it)"
    )
    print(
        f"peak resident memory of the process tree: {current.peak / 2**30:.2f} GiB, the baseline's "
        f"{baseline.peak / 2**30:.2f} GiB (target < {TARGET_GIB} GiB); largest single process "
        f"{current.peak_single / 2**30:.2f} GiB"
    )
    after = os.getloadavg()
    print(
        f"machine load (1-minute average) at the start {load[0]:.1f}, at the end {after[0]:.1f} on {os.cpu_count()} "
        "cores: above about 0.5 other work shares the cores, so compare the ratio, not the seconds"
    )


if __name__ == "__main__":
    main()
