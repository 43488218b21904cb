"""Stage 4's tasks: the use case from YAML text, the splits from S3 by dataset version, results as JSON.

Each function is one pipeline task (components/train/component.py) and one step of the in-process
run (pipelines/inprocess.py). The object store is the environment's (a pipeline pod's) unless one
is passed in.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from components.common.config import parse_use_case
from components.train.trials import Trial, TrialResult, search_trials, select_best

if TYPE_CHECKING:
    from components.common.storage import ObjectStore


def plan_trials_task(use_case_yaml: str) -> list[str]:
    """Returns the trials of the search space as JSON strings, one per ParallelFor iteration.

    Their parameters were checked before the run started (the command line's and the submission's
    :func:`components.train.logic.expand_trials`); each trial's fit checks them again.
    """
    return [trial.to_json() for trial in search_trials(parse_use_case(use_case_yaml))]


def run_trial_task(use_case_yaml: str, trial_json: str, dataset_version: str, store: ObjectStore | None = None) -> str:
    """Fits one trial on train and scores it on eval.

    Args:
        use_case_yaml: The use case.
        trial_json: The trial, as plan_trials_task wrote it.
        dataset_version: The dataset version to read the splits from.
        store: The object store (default: connected from the environment).

    Returns:
        The trial's result as JSON (TrialResult.to_dict).
    """
    # Deferred: pandas, scikit-learn and the S3 client take a second to import, which planning and
    # selection (the light tasks of this module) need not pay.
    from components.common import datasets
    from components.common.s3_settings import s3_settings
    from components.common.storage import ObjectStore
    from components.train.logic import run_trial

    config = parse_use_case(use_case_yaml)
    store = store if store is not None else ObjectStore.connect(s3_settings())
    with tempfile.TemporaryDirectory(prefix="mlcycle-trial-") as folder:
        frames = datasets.load_splits(store, config.name, dataset_version, ("train", "eval"), Path(folder))
    return json.dumps(run_trial(frames["train"], frames["eval"], config, Trial.from_json(trial_json)).to_dict())


def select_trial_task(results_json: Sequence[str]) -> str:
    """Picks the best of the collected trial results; returns the tuning record as JSON (best and all trials)."""
    results = [TrialResult.from_dict(json.loads(text)) for text in results_json]
    best = select_best(results)
    return json.dumps({"best": best.to_dict(), "trials": [r.to_dict() for r in results]})


def train_model_task(
    use_case_yaml: str, tuning_json: str, dataset_version: str, model_path: Path, store: ObjectStore | None = None
) -> dict[str, Any]:
    """Refits the best trial on the train split and saves the pipeline with joblib.

    With a trial row budget the eval split is read too, to record the final model's own eval metrics.

    Args:
        use_case_yaml: The use case.
        tuning_json: The tuning record from select_trial_task.
        dataset_version: The dataset version to read the train split from.
        model_path: Where to save the fitted pipeline.
        store: The object store (default: connected from the environment).

    Returns:
        The training record: family, parameters, seed, rows, time, eval metrics, classes and every trial.
    """
    import joblib  # deferred, as in run_trial_task

    from components.common import datasets
    from components.common.s3_settings import s3_settings
    from components.common.storage import ObjectStore
    from components.train.logic import train_final

    config = parse_use_case(use_case_yaml)
    tuning = json.loads(tuning_json)
    store = store if store is not None else ObjectStore.connect(s3_settings())
    with tempfile.TemporaryDirectory(prefix="mlcycle-train-") as folder:
        splits = ("train",) if config.training.trial_rows is None else ("train", "eval")  # eval: its own metrics
        frames = datasets.load_splits(store, config.name, dataset_version, splits, Path(folder))
    model, record = train_final(frames["train"], config, TrialResult.from_dict(tuning["best"]), frames.get("eval"))
    model_path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, model_path)
    return {**record, "trials": tuning["trials"]}
