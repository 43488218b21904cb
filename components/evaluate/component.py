"""KFP interface of stage 5: model analysis and the blessing. No logic here."""

from kfp import dsl

from components.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def evaluate_model(
    use_case: str,
    schema: str,
    record: str,
    dataset_version: str,
    model: dsl.Input[dsl.Model],
    metrics: dsl.Output[dsl.Metrics],
    classification: dsl.Output[dsl.ClassificationMetrics],
    model_card: dsl.Output[dsl.Markdown],
    analysis: dsl.Output[dsl.Artifact],
    summary: dsl.OutputPath(str),
    run_id: str = "",
) -> bool:
    """Analyses the candidate on the test split against the production model and decides its blessing.

    A model that is not blessed is an output (blessed false), not a failure: the pipeline branches on it.

    Args:
        use_case: The use-case configuration, as YAML text.
        schema: The curated schema text (its digest enters the lineage).
        record: The training record from train_model.
        dataset_version: The dataset version id from ingest_data. A content hash, so the tasks after
            ingestion are cached by content (an artifact's location changes with every run).
        model: The candidate.
        run_id: The run's id (the pipeline passes its job id): this task writes its part of the run record.

    Returns:
        metrics: Test metrics of the candidate, champion and baselines, and the candidate's gaps with 95% intervals.
        classification: Confusion matrix and ROC curve, drawn by the KFP UI (empty for a regression).
        model_card: The model card in Markdown (a regression's draws predicted vs actual and residuals by slice).
        analysis: Lineage, model card (data and Markdown) and blessing as JSON, for registration.
        summary: The decision and its reasons.
        Output: Whether the candidate passes the floors and is not worse than production (the gate).
    """
    import json
    from pathlib import Path

    from components.evaluate.task import evaluate_model_task

    result, card, markdown = evaluate_model_task(
        use_case, schema, dataset_version, Path(model.path), json.loads(record), Path(analysis.path), run_id=run_id
    )
    metrics.metadata.update(result.scalar_metrics())  # log_metric of each figure, in one call
    if result.task == "classification":
        classification.log_confusion_matrix([str(c) for c in result.classes], result.confusion)
        classification.log_roc_curve(*(list(values) for values in zip(*result.roc, strict=True)))
    Path(model_card.path).write_text(markdown)
    Path(summary).write_text("; ".join(result.blessing.reasons))
    return result.blessing.blessed
