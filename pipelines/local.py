"""Runs the training pipeline on this machine with kfp.local, exactly as compiled for a cluster.

What the local runner ignores, this module supplies: kfp-kubernetes settings (the S3 Secret becomes
the AWS_* variables of this process, which every task inherits), resource requests and volumes (there
are none locally). Tasks run in this environment (SubprocessRunner without a venv), which is the
pipeline image's dependency set. Caching is on, as on a cluster, for the tasks that allow it.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from kfp import local

from components.common.config import UseCaseConfig, apply_overrides, parse_use_case
from pipelines.training_pipeline import training_pipeline


@dataclass(frozen=True)
class RunSummary:
    """What one local run produced, read back from its task folders.

    Attributes:
        run_dir: The run's folder (every artifact of every task).
        dataset: The dataset version's manifest.
        valid: Whether validation let the run continue.
        validation: The validation summary lines.
        report: The validation report's path.
        blessed: Whether the candidate was blessed (None when training did not run).
        blessing: The reasons of the decision.
        model_card: The model card's path (None when training did not run).
        servable: Whether the infrastructure check passed (None when it did not run).
        serving: The infrastructure check's lines.
        registered: The registered model version (None when not blessed or not servable).
    """

    run_dir: Path
    dataset: dict[str, Any]
    valid: bool
    validation: str
    report: Path
    blessed: bool | None
    blessing: str
    model_card: Path | None
    servable: bool | None
    serving: str
    registered: str | None


@dataclass(frozen=True)
class TaskFailure:
    """The task that ended a failed run, and its own last words.

    Attributes:
        task: The task's name in the pipeline (e.g. ``tune-model``).
        error: The exception's class name (e.g. ``DataError``); empty when the log shows none.
        message: The exception's message, hint included; empty when the log shows none.
    """

    task: str
    error: str
    message: str


_ANSI_CODES = re.compile(r"\x1b\[[0-9;]*m")
_TASK_FAILED = re.compile(r"Task '([\w.-]+)' finished with status FAILURE")
# The last line of a Python traceback: an optionally dotted class name, a colon, the message.
_EXCEPTION_LINE = re.compile(r"^\s*(?:[A-Za-z_][\w.]*\.)?([A-Za-z_]\w*(?:Error|Exception|Exit|Interrupt)): (.+)$")


def task_failure(log_text: str) -> TaskFailure | None:
    """Finds the task that failed a kfp.local run and the exception it ended with, in the run's log.

    kfp.local only says "Inner task failed: 'tune-model'"; the task's own message (``DataError: the label has
    a single class (hint: ...)``) is in the log it streamed, between "Executing task" and its FAILURE line.

    Args:
        log_text: Everything the run logged (colour codes allowed).

    Returns:
        The last failed task and its exception, or None when no task failed.
    """
    text = _ANSI_CODES.sub("", log_text)
    failures = list(_TASK_FAILED.finditer(text))
    if not failures:
        return None
    last = failures[-1]
    task = last.group(1)
    start = text.rfind(f"Executing task '{task}'", 0, last.start())
    for line in reversed(text[max(start, 0) : last.start()].splitlines()):
        if match := _EXCEPTION_LINE.match(line):
            return TaskFailure(task, match.group(1), match.group(2).strip())
    return TaskFailure(task, "", "")


_TASK_EVENT = re.compile(
    r"(?:Executing task '(?P<started>[\w.-]+)'"
    r"|Task '(?P<ended>[\w.-]+)' finished with status (?P<status>\w+)"
    r"|Task (?P<cached>[\w.-]+) cache hit)"
)
# The tasks of a ParallelFor over the trials: their progress lines count trials.
TRIAL_TASK = "tune-model"


class ProgressLog(io.TextIOBase):
    """The run's log file that also says, one line each, when a task starts and ends.

    kfp.local writes everything (its own lines and each task's streamed output) to this stream; the full
    text goes to the log, and the start, end (with seconds) or cache hit of every task goes to ``say``, so
    a person sees the run moving. Trials (``tune-model``) are counted: ``trial 3/4``. kfp.local names
    trials that run side by side alike, so their seconds pair starts and ends first-in, first-out.
    """

    def __init__(
        self, log: TextIO, say: Callable[[str], None], trials: int, clock: Callable[[], float] = time.monotonic
    ):
        """Wraps a log.

        Args:
            log: Where the full text goes.
            say: Where the progress lines go (e.g. a terminal's stderr).
            trials: How many trials the run tunes (for ``trial k/N``).
            clock: Seconds, for the tasks' durations.
        """
        super().__init__()
        self._log, self._say, self._trials, self._clock = log, say, trials, clock
        self._pending = ""
        self._started: dict[str, list[float]] = {}
        self._counts = {"started": 0, "ended": 0}
        self._lock = threading.Lock()  # kfp.local runs trials side by side, from threads

    def writable(self) -> bool:
        """A log is written to."""
        return True

    def write(self, text: str) -> int:
        """Writes text to the log, and a progress line for each task event it completes."""
        with self._lock:
            self._log.write(text)
            self._pending += text
            *lines, self._pending = self._pending.split("\n")
            progress = [said for line in lines if (said := self._watch(_ANSI_CODES.sub("", line)))]
        # Said outside the lock: kfp.local patches print() to write to this stream, so ``say`` may come back here.
        for line in progress:
            self._say(line)
        return len(text)

    def flush(self) -> None:
        """Flushes the log."""
        self._log.flush()

    def _watch(self, line: str) -> str | None:
        """The progress line of a task event in a line of the log, or None."""
        event = _TASK_EVENT.search(line)
        if event is None:
            return None
        now = self._clock()
        if event["started"]:
            task = event["started"]
            self._started.setdefault(task, []).append(now)
            return f"  {task:<15} {self._trial_label(task, 'started')}started"
        if event["ended"]:
            task = event["ended"]
            starts = self._started.get(task) or [now]
            seconds = now - starts.pop(0)
            outcome = "done" if event["status"] == "SUCCESS" else event["status"].lower()
            return f"  {task:<15} {self._trial_label(task, 'ended')}{outcome} in {seconds:.1f} s"
        return f"  {event['cached']:<15} cached (same inputs as an earlier run)"

    def _trial_label(self, task: str, event: str) -> str:
        if task != TRIAL_TASK:
            return ""
        self._counts[event] += 1
        return f"trial {self._counts[event]}/{self._trials} "


def planned_trials(config_text: str, overrides: dict[str, Any] | None = None) -> int:
    """How many trials a run of this use case tunes (the overrides may change the trial budget)."""
    # Deferred: scikit-learn. Building the pipeline graph (this module's import) inspects the stack for every task
    # setting, and each inspection walks every loaded module: 0.36 s with kfp alone loaded, 1.0 s after
    # scikit-learn and pandas.
    from components.train.logic import expand_trials

    return len(expand_trials(parse_use_case(apply_overrides(config_text, overrides or {}))))


def stopping_gate(summary: RunSummary) -> str | None:
    """Names the gate that kept a finished run from registering a model, or None when it registered one."""
    if summary.registered:
        return None
    if not summary.valid:
        return "data validation (the dataset is invalid)"
    if summary.blessed is False:
        return "model analysis (the candidate is not blessed)"
    if summary.servable is False:
        return "the serving check (the model is not servable)"
    return "registration (no version was registered)"


def run_training(
    config_text: str,
    schema_text: str,
    sources: dict[str, str],
    root: Path,
    seed: int | None = None,
    overrides: dict[str, Any] | None = None,
) -> RunSummary:
    """Runs the training pipeline locally and summarises it.

    Args:
        config_text: The use case (YAML text).
        schema_text: Its curated schema (text protobuf).
        sources: Source URI overrides by name.
        root: The pipeline root: runs and the task cache live here.
        seed: The run's seed (the use case's when None).
        overrides: Threshold overrides by dotted path (see components.common.config.apply_overrides).
    """
    root.mkdir(parents=True, exist_ok=True)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root), enable_caching=True)
    before = set(_runs(root))
    training_pipeline(
        use_case=config_text,
        schema=schema_text,
        sources=sources,
        seed=-1 if seed is None else seed,
        overrides=overrides or {},
    )
    (run_dir,) = set(_runs(root)) - before
    return summarise(run_dir)


def summarise(run_dir: Path) -> RunSummary:
    """Reads a finished run's task outputs (the tasks read here are never cached, so they are all here)."""
    ingest = _task(run_dir, "ingest-data")
    validate = _task(run_dir, "validate-data")
    evaluate = _task(run_dir, "evaluate-model")
    register = _task(run_dir, "register-model")
    check = _task(run_dir, "check-serving")
    return RunSummary(
        run_dir=run_dir,
        dataset=json.loads((ingest / "dataset").read_text()),
        valid=bool(_output(validate)),
        validation=(validate / "summary").read_text(),
        report=validate / "report",
        blessed=None if evaluate is None else bool(_output(evaluate)),
        blessing="" if evaluate is None else (evaluate / "summary").read_text(),
        model_card=None if evaluate is None else evaluate / "model_card",
        servable=None if check is None else bool(_output(check)),
        serving="" if check is None else (check / "summary").read_text(),
        registered=None if register is None else _output(register, "version"),
    )


def _runs(root: Path) -> list[Path]:
    return [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]


def _task(run_dir: Path, name: str) -> Path | None:
    found = sorted(run_dir.rglob(f"{name}/executor_output.json"))
    return found[0].parent if found else None


def _output(task: Path, name: str = "Output") -> Any:
    return json.loads((task / "executor_output.json").read_text())["parameterValues"][name]


def describe(summary: RunSummary, config: UseCaseConfig, card: dict[str, Any] | None) -> list[str]:
    """The run summary a person reads at a glance."""
    dataset = summary.dataset
    splits = ", ".join(f"{s} {dataset['splits'][s]['rows']:,}" for s in ("train", "eval", "test"))
    lines = [
        f"dataset   {dataset['version']} of {config.name!r}: {dataset['rows']:,} rows ({splits})",
        f"validate  {summary.validation.splitlines()[0]}",
        *(f"          {line.strip()}" for line in summary.validation.splitlines()[1:6]),
        f"          report: {summary.report}",
    ]
    if summary.blessed is None:
        lines.append("train     skipped: the data is invalid, so nothing was trained or registered")
        return lines
    if card:
        # deferred: scikit-learn, which this process needs not
        from components.common.metrics import difference_text, metrics_line

        metrics = card["metrics"]
        lines.append(f"model     {card['lineage']['training']['family']} {card['lineage']['training']['params']}")
        lines.append(f"          test {metrics_line(metrics, ('roc_auc', 'pr_auc', 'accuracy'))}")
        champion = card.get("champion")
        if champion and champion.get("metrics"):
            lines.append(
                f"          champion {champion['version']}: {metrics_line(champion['metrics'], ('roc_auc', 'pr_auc'))}"
            )
            if champion.get("difference"):
                lines.append(f"            candidate against it: {difference_text(champion['difference'])}")
        elif champion:
            lines.append(f"          champion {champion['version']}: {champion['not_compared']}")
        differences = card.get("baseline_differences") or {}
        for name, values in card["baselines"].items():
            lines.append(f"          baseline {name.replace('_', ' ')}: {metrics_line(values, ('roc_auc', 'pr_auc'))}")
            if name in differences:
                lines.append(f"            candidate against it: {difference_text(differences[name])}")
    lines.append(f"blessed   {'yes' if summary.blessed else 'NO'}: {summary.blessing}")
    lines.append(f"          model card: {summary.model_card}")
    if summary.servable is not None:
        checks = summary.serving.splitlines()
        failed = [line for line in checks if line.startswith("FAIL")]
        lines.append(
            f"serving   {'PASS' if summary.servable else 'FAIL'}: {len(checks) - 1 - len(failed)} checks passed"
            + (f", {len(failed)} failed" if failed else "")
        )
        lines.extend(f"          {line}" for line in failed + checks[-1:])
    if summary.registered:
        lines.append(f"register  {summary.registered}")
    else:
        lines.append("register  skipped: " + ("not blessed" if not summary.blessed else "the serving check failed"))
    return lines
