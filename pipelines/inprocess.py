"""The training pipeline's steps in this process: its task functions, in its order, with its gates.

For the command line (`mlcycle train`), retraining from feedback and the loop demo, without KFP.
Each step calls the task function its pipeline component calls (components/<stage>/task.py), under
the component's task name, and the gates are the pipeline's: training only on data that passed
validation in this run (when the run ingests; a run given a dataset version trains on it as it is, as
`mlcycle train --version` always has), and registration only of a candidate that is blessed and
servable. :data:`TASKS` names the steps in the order they run; a test checks them against the compiled
pipelines/training_pipeline.yaml.
Every task takes the object store as an argument here; in a pipeline it connects from the environment.
"""

from __future__ import annotations

import importlib
import json
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from components.common import datasets, runs
from components.common.config import parse_use_case
from components.common.provenance import code_version, utc_now
from components.common.storage import ObjectStore
from components.evaluate.logic import Analysis
from components.ingest.logic import IngestResult
from components.register.logic import RegisterResult
from components.serve.check import ServingCheck
from components.train.trials import TrialResult

if TYPE_CHECKING:
    from components.validate.results import ValidationResult

Say = Callable[[str], None]


@dataclass(frozen=True)
class Candidate:
    """What the model steps made of a valid dataset version.

    Attributes:
        trials: Every trial's result on the eval split, in plan order.
        best: The selected trial.
        record: The training record of the final model.
        analysis: The analysis on the test split against the production model, with the blessing.
        card: The model card as data.
        card_markdown: The model card in Markdown.
        serving: The serving check's verdict.
        registration: The registered version (None when not blessed or not servable).
    """

    trials: tuple[TrialResult, ...]
    best: TrialResult
    record: dict[str, Any]
    analysis: Analysis
    card: dict[str, Any]
    card_markdown: str
    serving: ServingCheck
    registration: RegisterResult | None

    @property
    def blessed(self) -> bool:
        """Whether the analysis blessed the candidate."""
        return self.analysis.blessing.blessed

    @property
    def servable(self) -> bool:
        """Whether the serving check passed."""
        return self.serving.passed


@dataclass(frozen=True)
class TrainingRun:
    """What one in-process run did.

    Attributes:
        use_case_yaml: The effective use case (after the run's seed and overrides).
        dataset_version: The dataset version trained on (or found invalid).
        steps: The steps that ran, in order (names of :data:`STEPS`; tune-model once per trial).
        ingested: The ingestion result (None when the run started from a dataset version).
        validation: The validation result (None when the run started from a dataset version).
        candidate: What the model steps made (None when validation stopped the run).
        run_id: The id of the run's record (`mlcycle runs show RUN_ID`).
    """

    use_case_yaml: str
    dataset_version: str
    steps: tuple[str, ...]
    ingested: IngestResult | None = None
    validation: ValidationResult | None = None
    candidate: Candidate | None = None
    run_id: str = ""

    @property
    def registered(self) -> str | None:
        """The registered model version, or None."""
        return self.candidate.registration.ref.version if self.candidate and self.candidate.registration else None


@dataclass
class _Steps:
    """Runs steps by their pipeline task name (see TASKS) and records each as it starts."""

    names: list[str] = field(default_factory=list)

    def run(self, name: str, *args: Any, **kwargs: Any) -> Any:
        self.names.append(name)
        return task_function(name)(*args, **kwargs)


def run_training(
    use_case_yaml: str,
    schema_text: str,
    store: ObjectStore,
    *,
    dataset_version: str | None = None,
    sources: Mapping[str, str] | None = None,
    seed: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    work_dir: Path | None = None,
    say: Say = lambda _: None,
) -> TrainingRun:
    """Runs the training pipeline's steps in this process.

    Without ``dataset_version`` the run ingests the sources and validates the new version first, as
    the pipeline does, and stops there when the data is invalid; with one, it trains on that version.

    Args:
        use_case_yaml: The use case, as YAML text.
        schema_text: The curated TFDV schema, as text protobuf.
        store: The object store.
        dataset_version: A dataset version id or ``latest`` to train on; None ingests first.
        sources: Source URIs to read instead of the configured ones, by source name (ingestion only).
        seed: The run's seed (the use case's when None).
        overrides: Threshold overrides by dotted path (see components.common.config.apply_overrides).
        work_dir: Where every step's artifacts go (model, analysis, serving schema, validation
            outputs); a temporary folder, removed afterwards, when None.
        say: Receives one line per step, for progress.

    Returns:
        What ran and what it produced; every run leaves a record (components/common/runs.py).
    """
    steps = _Steps()
    run_id, started_at = runs.new_run_id(), utc_now()
    with _folder(work_dir) as folder:
        effective = steps.run("configure-run", use_case_yaml, -1 if seed is None else seed, overrides)
        config = parse_use_case(effective)
        if dataset_version is None:
            ingested = steps.run(
                "ingest-data", effective, dict(sources or {}), folder / "ingest-data" / "dataset", store=store
            )
            _describe_dataset(ingested, say)
            outputs = folder / "validate-data"
            validation = steps.run(
                "validate-data",
                effective,
                schema_text,
                ingested.ref.version,
                outputs / "statistics",
                outputs / "anomalies",
                outputs / "report.html",
                store=store,
                run_id=run_id,
            )
            say(validation.summary().splitlines()[0])
            if not validation.is_valid:
                return TrainingRun(
                    effective, ingested.ref.version, tuple(steps.names), ingested, validation, None, run_id
                )
            version = ingested.ref.version
        else:
            ingested, validation = None, None
            version = datasets.resolve(store, config.name, dataset_version).version
            start = runs.start_part(version, config.training.seed, effective, code_version(), started_at)
            runs.write_part(store, config.name, run_id, "run", start)
        candidate = _train_candidate(steps, effective, schema_text, version, store, folder, say, run_id)
    return TrainingRun(effective, version, tuple(steps.names), ingested, validation, candidate, run_id)


def _train_candidate(
    steps: _Steps,
    use_case_yaml: str,
    schema_text: str,
    version: str,
    store: ObjectStore,
    folder: Path,
    say: Say,
    run_id: str,
) -> Candidate:
    """The model steps on a valid dataset version: tune, select, train, evaluate, check serving, register."""
    trials = steps.run("plan-trials", use_case_yaml)
    results = []
    for number, trial in enumerate(trials, 1):
        result = TrialResult.from_dict(json.loads(steps.run("tune-model", use_case_yaml, trial, version, store=store)))
        results.append(result)
        say(
            f"trial {number}/{len(trials)} {result.trial.id} {result.trial.params}: "
            f"{result.metric} {result.score:.4f} on eval ({result.fit_seconds:.1f} s)"
        )
    tuning = steps.run("select-trial", [json.dumps(r.to_dict()) for r in results])
    best = TrialResult.from_dict(json.loads(tuning)["best"])
    say(f"best trial: {best.trial.id}; fitting the final model")
    model_path = folder / "train-model" / "model.joblib"
    record = steps.run("train-model", use_case_yaml, tuning, version, model_path, store=store)
    analysis_path = folder / "evaluate-model" / "analysis.json"
    analysis, card, markdown = steps.run(
        "evaluate-model",
        use_case_yaml,
        schema_text,
        version,
        model_path,
        record,
        analysis_path,
        store=store,
        run_id=run_id,
    )
    champion = analysis.champion["version"] if analysis.champion else None
    say(
        "analysed on the test split"
        + (f" against production model {champion}" if champion else "")
        + f": {'blessed' if analysis.blessing.blessed else 'NOT blessed'}"
    )
    serving_schema_path = folder / "check-serving" / "serving_schema.json"
    scratch = folder / "check-serving" / "scratch"
    serving = steps.run(
        "check-serving",
        use_case_yaml,
        schema_text,
        version,
        model_path,
        serving_schema_path,
        scratch,
        store=store,
        run_id=run_id,
    )
    failed = [line for line in serving.checks if line.startswith("FAIL")]
    say(f"serving check: {'PASS' if serving.passed else 'FAIL'}" + "".join(f"; {line}" for line in failed))
    registration = None
    if analysis.blessing.blessed and serving.passed:
        registration = steps.run(
            "register-model",
            use_case_yaml,
            model_path,
            analysis_path,
            serving_schema_path,
            store=store,
            run_id=run_id,
        )
        say(f"registered {registration.ref.version} (a candidate: `mlcycle promote` stages it)")
    else:
        say("not registered: " + ("not blessed" if not analysis.blessing.blessed else "the serving check failed"))
    return Candidate(tuple(results), best, record, analysis, card, markdown, serving, registration)


def _describe_dataset(ingested: IngestResult, say: Say) -> None:
    feedback = ingested.manifest.get("feedback")
    if feedback:
        say(
            f"dataset {ingested.ref.version}: base data plus {feedback['rows']} feedback rows "
            f"{feedback['rows_by_split']}"
        )
    else:
        say(
            f"dataset {ingested.ref.version} ({ingested.manifest['rows']:,} rows"
            + ("" if ingested.created else f", {'repaired' if ingested.outcome == 'repaired' else 'unchanged'}")
            + ")"
        )


@contextmanager
def _folder(work_dir: Path | None) -> Iterator[Path]:
    if work_dir is not None:
        work_dir.mkdir(parents=True, exist_ok=True)
        yield work_dir
        return
    with tempfile.TemporaryDirectory(prefix="mlcycle-run-") as folder:
        yield Path(folder)


# The pipeline's task names, in the order the steps run (tune-model once per trial), and the task function
# each runs, the one its pipeline component calls, as "module:function": imported when the step first
# runs, so a run that does not validate never loads TensorFlow.
TASKS: dict[str, str] = {
    "configure-run": "components.configure.task:configure_run_task",
    "ingest-data": "components.ingest.task:run_ingest_task",
    "validate-data": "components.validate.task:run_validate_task",
    "plan-trials": "components.train.task:plan_trials_task",
    "tune-model": "components.train.task:run_trial_task",
    "select-trial": "components.train.task:select_trial_task",
    "train-model": "components.train.task:train_model_task",
    "evaluate-model": "components.evaluate.task:evaluate_model_task",
    "check-serving": "components.serve.task:check_serving_task",
    "register-model": "components.register.task:register_model_task",
}
STEPS = tuple(TASKS)


def task_function(step: str) -> Callable[..., Any]:
    """The task function a step runs (see :data:`TASKS`)."""
    module, _, name = TASKS[step].partition(":")
    return getattr(importlib.import_module(module), name)
