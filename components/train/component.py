"""KFP interface of stage 4: plan, score and select trials, then train. No logic here."""

from typing import List, NamedTuple

from kfp import dsl

from components.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def plan_trials(use_case: str) -> List[str]:
    """Expands the use case's search space into trials, one per ParallelFor iteration.

    Args:
        use_case: The use-case configuration, as YAML text.

    Returns:
        Output: One JSON document per trial: model family and parameters.
    """
    from components.train.task import plan_trials_task

    return plan_trials_task(use_case)


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def tune_model(use_case: str, trial: str, dataset_version: str) -> str:
    """Fits one trial on the train split and scores it on the eval split.

    Args:
        use_case: The use-case configuration, as YAML text.
        trial: The trial, as plan_trials wrote it.
        dataset_version: The dataset version id from ingest_data. A content hash, so the tasks after
            ingestion are cached by content (an artifact's location changes with every run).

    Returns:
        Output: The trial's result as JSON: its score, every eval metric and the fit time.
    """
    from components.train.task import run_trial_task

    return run_trial_task(use_case, trial, dataset_version)


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def select_trial(results: List[str]) -> str:
    """Picks the best trial by the configured metric (ties go to the earlier trial).

    Args:
        results: Every trial's result, collected from the ParallelFor.

    Returns:
        Output: The tuning record as JSON: the best trial and all results.
    """
    from components.train.task import select_trial_task

    return select_trial_task(results)


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def train_model(
    use_case: str, tuning: str, dataset_version: str, model: dsl.Output[dsl.Model], metrics: dsl.Output[dsl.Metrics]
) -> NamedTuple("Outputs", [("record", str)]):
    """Fits the best trial on the train split: the model that is analysed and shipped.

    Args:
        use_case: The use-case configuration, as YAML text.
        tuning: The tuning record from select_trial.
        dataset_version: The dataset version id from ingest_data. A content hash, so the tasks after
            ingestion are cached by content (an artifact's location changes with every run).

    Returns:
        model: The fitted scikit-learn pipeline (preprocessing and estimator), saved with joblib.
        metrics: Fit time, rows, and the model's eval metrics from tuning.
        record: The training record as JSON: family, parameters, seed, rows, time, trials.
    """
    import json
    from pathlib import Path

    from components.train.task import train_model_task

    record = train_model_task(use_case, tuning, dataset_version, Path(model.path))
    model.metadata.update({"family": record["family"], "params": record["params"], "trial_id": record["trial_id"]})
    metrics.log_metric("fit_seconds", record["fit_seconds"])
    metrics.log_metric("rows", record["rows"])
    for name, value in record["eval_metrics"].items():
        metrics.log_metric(f"eval_{name}", value)
    # The same figures as a file: kfp.local's cache treats a Metrics artifact without one as missing.
    Path(metrics.path).write_text(json.dumps(record["eval_metrics"]))
    outputs = NamedTuple("Outputs", [("record", str)])
    return outputs(json.dumps(record))
