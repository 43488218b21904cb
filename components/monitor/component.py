"""KFP interface of stage 8: monitoring, and the promotion proposal after retraining. No logic: see task.py."""

from kfp import dsl

from components.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def monitor_serving(
    use_case: str,
    schema: str,
    window_start: str,
    window_end: str,
    last_hours: int,
    model: str,
    report: dsl.Output[dsl.HTML],
    metrics: dsl.Output[dsl.Metrics],
    classification: dsl.Output[dsl.ClassificationMetrics],
    result: dsl.Output[dsl.Artifact],
    summary: dsl.OutputPath(str),
    retraining_use_case: dsl.OutputPath(str),
    retraining_schema: dsl.OutputPath(str),
) -> bool:
    """Monitors the served model over a window of its request and feedback logs, and decides whether to retrain.

    Drift of the served data against the model's training statistics (TFDV, SERVING environment,
    every feature), live quality where ground truth came back (the metrics of model analysis, by
    slice), and the retraining decision from the use case's monitoring thresholds. An empty window,
    too few requests or no ground truth are outcomes with a message, not failures.

    Args:
        use_case: The use-case configuration, as YAML text.
        schema: The curated TFDV schema, as text protobuf (its SERVING environment is used).
        window_start: First instant of the window (ISO 8601, UTC); empty for "hours before the end".
        window_end: End of the window (exclusive); empty for now.
        last_hours: Length of the window when a bound is empty; 0 takes monitoring.window_hours.
        model: The monitored model: production, staging, latest or a version id.

    Returns:
        report: A self-contained HTML report: decision, traffic, live quality, drift of every feature.
        metrics: Counts, the drift distance of every feature, the live metrics and the decision (1 = retrain).
        classification: Confusion matrix and ROC curve of the live rows (logged only when ground truth arrived).
        result: The whole result as JSON (window, counts, distances, quality, decision, log objects read).
        summary: The decision, its reasons and what could not be judged.
        retraining_use_case: The use case with the window as its feedback window: what retraining ingests.
        retraining_schema: The schema a dataset with feedback rows is validated against.
        Output: Whether to retrain (the gate; a single return value, since kfp.local resolves only a
            task's Output in dsl.If conditions).
    """
    from pathlib import Path

    from components.monitor.task import MonitorOutputs, run_monitor_task

    paths = (report.path, result.path, metrics.path, summary, retraining_use_case, retraining_schema)
    outcome = run_monitor_task(
        use_case, schema, window_start, window_end, last_hours, model, MonitorOutputs(*map(Path, paths))
    )
    for name, value in outcome.metrics().items():
        metrics.log_metric(name, value)
    if outcome.quality is not None and outcome.quality.task == "classification":  # a regressor has no classes
        classification.log_confusion_matrix([str(c) for c in outcome.quality.classes], outcome.quality.confusion)
        classification.log_roc_curve(*(list(values) for values in zip(*outcome.quality.roc, strict=False)))
    return outcome.decision.retrain


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def propose_promotion(use_case: str, proposal: dsl.Output[dsl.Markdown]) -> str:
    """Proposes the model retrained on the feedback window for production, if it was blessed.

    Args:
        use_case: The retraining use case (with its feedback window), as YAML text.

    Returns:
        proposal: What was found and the promotion command to run, in Markdown.
        Output: The promotion command (empty when nothing is proposed).
    """
    from pathlib import Path

    from components.monitor.task import propose_promotion_task

    return propose_promotion_task(use_case, Path(proposal.path)).command
