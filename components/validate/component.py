"""KFP interface of stage 2. No logic here: it maps parameters and artifacts onto task.py."""

from kfp import dsl

from components.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def validate_data(
    use_case: str,
    schema: str,
    dataset_version: str,
    statistics: dsl.Output[dsl.Artifact],
    anomalies: dsl.Output[dsl.Artifact],
    metrics: dsl.Output[dsl.Metrics],
    report: dsl.Output[dsl.HTML],
    summary: dsl.OutputPath(str),
    run_id: str = "",
) -> bool:
    """Validates a dataset version with TFDV: schema, sample-aware skew and drift, label, correlation and leakage.

    Invalid data is an output (is_valid false), not a failure: the pipeline branches on it.

    Args:
        use_case: The use-case configuration, as YAML text.
        schema: The curated TFDV schema, as text protobuf.
        dataset_version: The dataset version id from ingest_data. A content hash, so the tasks after
            ingestion are cached by content (an artifact's location changes with every run).
        run_id: The run's id (the pipeline passes its job id): this task writes its part of the run record.

    Returns:
        statistics: TFDV statistics of every split (binary DatasetFeatureStatisticsList).
        anomalies: Every finding as JSON, and TFDV's anomalies of each check as text protobuf.
        metrics: The skew and drift distance of every feature with its noise floor and threshold, the
            label's share shifts, and the numbers of errors and warnings.
        report: A self-contained HTML report: verdict, anomalies, distances, label, correlation and
            leakage, and every feature drawn.
        summary: The verdict and one line per anomaly.
        Output: True when no anomaly blocks training (the gate; a single return value, since
            kfp.local resolves only a task's Output in dsl.If conditions).
    """
    import json
    from pathlib import Path

    from components.validate.task import run_validate_task

    outputs = Path(statistics.path), Path(anomalies.path), Path(report.path)
    result = run_validate_task(use_case, schema, dataset_version, *outputs, run_id=run_id)
    for name, value in result.metrics().items():
        metrics.log_metric(name, value)
    # The same figures as a file: kfp.local's cache treats a Metrics artifact without one as missing.
    Path(metrics.path).write_text(json.dumps(result.metrics()))
    Path(summary).write_text(result.summary())
    return result.is_valid
