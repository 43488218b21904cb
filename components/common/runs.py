"""Run records: every training run, blessed or not, leaves a record in S3 that `mlcycle runs` reads.

Layout, in the artifacts bucket::

    <use_case>/runs/<run_id>/<part>.json     one part per task that knows something about the run

Each task of a run writes only its own part (``run``: who started it, with which data, code and seed;
``validation``: the verdict and the findings; ``training``: every trial's parameters and metrics and the
chosen one; ``analysis``: the candidate's metrics, the baselines, the champion and the blessing with its
reasons; ``serving``: the infrastructure check; ``registration``: the version registered). A run is the
union of its parts, so a run a gate stopped simply has fewer of them and nothing has to run at the end to
collect the rest. Parts are plain JSON; readers tolerate missing fields, writers only add.

The run id comes from the orchestrator (KFP's job id on a cluster and in kfp.local, a new one for
in-process runs): the same id for every task of one run.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from components.common.errors import NotFoundError
from components.common.storage import ObjectStore

PARTS = ("run", "validation", "training", "analysis", "serving", "registration")
RUNS_FOLDER = "runs"


def new_run_id(now: datetime | None = None) -> str:
    """A run id for a run no orchestrator named: sortable by start time, unique across machines."""
    now = now or datetime.now(timezone.utc)
    return f"run-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def run_prefix(use_case: str, run_id: str = "") -> str:
    """The key prefix of one run's parts (of every run of the use case when ``run_id`` is empty)."""
    return f"{use_case}/{RUNS_FOLDER}/" + (f"{run_id}/" if run_id else "")


def part_key(use_case: str, run_id: str, part: str) -> str:
    """The key of one part of one run."""
    if part not in PARTS:
        raise ValueError(f"unknown run-record part {part!r}; parts: {', '.join(PARTS)}")
    if not run_id or "/" in run_id:
        raise ValueError(f"run id {run_id!r} is empty or contains '/'")
    return f"{run_prefix(use_case, run_id)}{part}.json"


def write_part(store: ObjectStore, use_case: str, run_id: str, part: str, payload: Mapping[str, Any]) -> None:
    """Writes one task's part of a run record (a retried task writes it again, with the same content).

    Nothing is written without a run id: a task called on its own (a test, a notebook) records no run.
    """
    if run_id:
        store.put_json(store.bucket("artifacts"), part_key(use_case, run_id, part), dict(payload))


def start_part(dataset_version: str, seed: int, use_case_yaml: str, code: str, started_at: str) -> dict[str, Any]:
    """The ``run`` part: where a run started from."""
    return {
        "started_at": started_at,
        "dataset_version": dataset_version,
        "seed": seed,
        "code_version": code,
        "use_case_sha256": hashlib.sha256(use_case_yaml.encode()).hexdigest(),
    }


def training_part(record: Mapping[str, Any]) -> dict[str, Any]:
    """The ``training`` part from a training record: every trial's parameters and eval metrics, the chosen one.

    The task and why are those of the record (a record written before regressions existed has none:
    a classification).
    """
    trials = [
        {
            "name": trial["trial"]["id"],
            "family": trial["trial"]["family"],
            "params": trial["trial"]["params"],
            "metrics": trial.get("eval_metrics", {}),
            "selection_metric": trial.get("metric"),
            "fit_seconds": trial.get("fit_seconds"),
        }
        for trial in record.get("trials", [])
    ]
    return {
        "trials": trials,
        "chosen": record.get("trial_id"),
        "task": record.get("task", "classification"),
        "task_reason": record.get("task_reason"),
        "family": record.get("family"),
        "params": record.get("params"),
        "seed": record.get("seed"),
        "rows": record.get("rows"),
        "fit_seconds": record.get("fit_seconds"),
    }


@dataclass(frozen=True)
class RunRecord:
    """One run as its parts tell it.

    Attributes:
        use_case: The use case.
        run_id: The run's id.
        parts: The parts written so far, by name.
    """

    use_case: str
    run_id: str
    parts: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def get(self, part: str, name: str, default: Any = None) -> Any:
        """A field of a part, or ``default`` when the part or the field is missing."""
        return self.parts.get(part, {}).get(name, default)

    @property
    def started_at(self) -> str:
        """When the run started (ISO 8601, UTC), or empty when unknown."""
        return str(self.get("run", "started_at", ""))

    @property
    def outcome(self) -> str:
        """What the run came to, in a few words: the version it registered, or the gate that stopped it."""
        if self.get("registration", "version"):
            return f"registered {self.get('registration', 'version')}"
        if self.get("validation", "valid") is False:
            return "stopped: invalid data"
        if self.get("analysis", "blessed") is False:
            return "stopped: not blessed"
        if self.get("serving", "servable") is False:
            return "stopped: not servable"
        last = next((part for part in reversed(PARTS) if part in self.parts), "run")
        return f"no outcome recorded after {last} (running, or it failed)"


def read_run(store: ObjectStore, use_case: str, run_id: str) -> RunRecord:
    """Reads every part of one run.

    Raises:
        NotFoundError: If the run left no part.
    """
    bucket = store.bucket("artifacts")
    keys = store.list_keys(bucket, run_prefix(use_case, run_id))
    parts = {}
    for key in keys:
        name = key.rsplit("/", 1)[-1].removesuffix(".json")
        if name in PARTS:
            parts[name] = store.get_json(bucket, key)
    if not parts:
        raise NotFoundError(
            f"run {run_id!r} of {use_case!r} left no record", hint=f"`mlcycle runs list` shows the runs of {use_case!r}"
        )
    return RunRecord(use_case, run_id, parts)


def list_runs(store: ObjectStore, use_case: str) -> list[RunRecord]:
    """Every recorded run of a use case, oldest first."""
    bucket = store.bucket("artifacts")
    by_run: dict[str, dict[str, Any]] = {}
    for key in store.list_keys(bucket, run_prefix(use_case)):
        run_id, _, name = key.removeprefix(run_prefix(use_case)).partition("/")
        name = name.removesuffix(".json")
        if name in PARTS:
            by_run.setdefault(run_id, {})[name] = store.get_json(bucket, key)
    records = [RunRecord(use_case, run_id, parts) for run_id, parts in by_run.items()]
    return sorted(records, key=lambda record: (record.started_at, record.run_id))


def trial_rows(record: RunRecord) -> list[dict[str, Any]]:
    """The run's trials as rows: family, parameters and eval metrics (the chosen one marked)."""
    chosen = record.get("training", "chosen")
    rows = []
    for index, trial in enumerate(record.get("training", "trials", []) or []):
        rows.append({"trial": index, **trial, "chosen": trial.get("name") == chosen})
    return rows


def compare_runs(first: RunRecord, second: RunRecord) -> list[tuple[str, Any, Any]]:
    """The fields in which two runs differ, as (field, first's value, second's value), in part order.

    Fields are flattened to dotted paths (``analysis.metrics.roc_auc``); lists are compared whole.
    """
    left, right = _flatten(first.parts), _flatten(second.parts)
    order = list(left) + [name for name in right if name not in left]
    return [(name, left.get(name), right.get(name)) for name in order if left.get(name) != right.get(name)]


def _flatten(parts: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name in _ordered(parts):
        value = parts[name]
        path = f"{prefix}{name}"
        if isinstance(value, Mapping) and value:
            flat.update(_flatten(value, f"{path}."))
        else:
            flat[path] = value
    return flat


def _ordered(names: Iterable[str]) -> list[str]:
    """Parts in the order of a run, then any other names alphabetically."""
    names = list(names)
    known = [part for part in PARTS if part in names]
    return known + sorted(name for name in names if name not in PARTS)
