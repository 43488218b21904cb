"""KFP interface of stage 6: registration in the model registry. No logic here."""

from typing import NamedTuple

from kfp import dsl

from components.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def register_model(
    use_case: str,
    model: dsl.Input[dsl.Model],
    analysis: dsl.Input[dsl.Artifact],
    serving_schema: dsl.Input[dsl.Artifact],
    run_id: str = "",
) -> NamedTuple("Outputs", [("version", str)]):
    """Registers the model as an immutable version with card, lineage and serving schema; a candidate: no stage moves.

    Args:
        use_case: The use-case configuration, as YAML text.
        model: The fitted pipeline.
        analysis: Lineage, model card and blessing from evaluate_model.
        serving_schema: What a prediction request must contain, from check_serving (the schema the
            candidate was checked with), registered beside the model for the server.
        run_id: The run's id (the pipeline passes its job id): this task writes its part of the run record.

    Returns:
        version: The registry version id (content-derived: the same model and lineage give the same id).
            Staging and production are what the GitOps overlays name (`mlcycle promote`), not training.
    """
    from pathlib import Path

    from components.register.task import register_model_task

    result = register_model_task(
        use_case, Path(model.path), Path(analysis.path), Path(serving_schema.path), run_id=run_id
    )
    outputs = NamedTuple("Outputs", [("version", str)])
    return outputs(result.ref.version)
