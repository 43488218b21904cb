"""KFP interface of the infrastructure check (the serving side of stage 7). No logic here."""

from kfp import dsl

from components.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def check_serving(
    use_case: str,
    schema: str,
    dataset_version: str,
    model: dsl.Input[dsl.Model],
    report: dsl.Output[dsl.Markdown],
    serving_schema: dsl.Output[dsl.Artifact],
    summary: dsl.OutputPath(str),
    run_id: str = "",
) -> bool:
    """Loads the candidate exactly as the model server will and checks its answers to sample requests.

    The candidate is laid out as the storage initializer fills a model folder (model, manifest with its
    sha256, serving schema), loaded through the Seldon model class, and sent rows of the test split in
    both payload shapes (ndarray with names, jsonData); the answers must equal the pipeline's own
    predict_proba, a tampered file must be refused and a malformed request rejected with HTTP 400.

    Args:
        use_case: The use-case configuration, as YAML text.
        schema: The curated TFDV schema, as text protobuf (the serving schema's types and presence).
        dataset_version: The dataset version the candidate was trained on (sample rows come from its test split).
        model: The candidate: the fitted pipeline from train_model.
        run_id: The run's id (the pipeline passes its job id): this task writes its part of the run record.

    Returns:
        report: One line per check, PASS or FAIL, with the single-row latency (Markdown).
        serving_schema: The serving schema the candidate was checked with (JSON): what registration
            stores beside the model for the server to check requests against.
        summary: The same lines as plain text.
        Output: Whether every check passed; only then may the model be registered.
    """
    import tempfile
    from pathlib import Path

    from components.serve.task import check_serving_task

    with tempfile.TemporaryDirectory() as folder:
        paths = Path(model.path), Path(serving_schema.path), Path(folder)
        result = check_serving_task(use_case, schema, dataset_version, *paths, run_id=run_id)
    lines = result.summary_lines()
    Path(summary).write_text("\n".join(lines) + "\n")
    Path(report.path).write_text("# Infrastructure check\n\n" + "\n".join(f"- {line}" for line in lines) + "\n")
    report.metadata.update(result.to_dict())
    return result.passed
