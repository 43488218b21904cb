"""KFP interface of stage 6: registration in the model registry. No logic here."""

from typing import NamedTuple

from kfp import dsl

from components.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def register_model(
    use_case: str, model: dsl.Input[dsl.Model], analysis: dsl.Input[dsl.Artifact], schema: str = ""
) -> NamedTuple("Outputs", [("version", str), ("staged", bool)]):
    """Registers the model as an immutable version with its card, lineage and serving schema; blessed versions enter staging.

    Args:
        use_case: The use-case configuration, as YAML text.
        model: The fitted pipeline.
        analysis: Lineage, model card and blessing from evaluate_model.
        schema: The curated TFDV schema, as text protobuf: the types and presence of the serving
            schema registered beside the model (empty: derived from the use case alone).

    Returns:
        version: The registry version id (content-derived: the same model and lineage give the same id).
        staged: Whether the staging stage now holds this version.
    """
    from pathlib import Path

    from components.register.logic import register_model_task

    result, staged = register_model_task(use_case, Path(model.path), Path(analysis.path), schema)
    outputs = NamedTuple("Outputs", [("version", str), ("staged", bool)])
    return outputs(result.ref.version, staged)
