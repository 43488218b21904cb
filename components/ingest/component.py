"""KFP interface of stage 1. No logic here: it maps parameters and artifacts onto task.py.

Docstring convention of every component: inputs under Args, outputs (artifacts and the returned
``Output``) under Returns, so KFP copies each description into the compiled spec.
"""

from kfp import dsl

from components.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def ingest_data(use_case: str, dataset: dsl.Output[dsl.Dataset], sources: dict = {}) -> str:  # noqa: B006
    """Ingests a use case's sources into an immutable, content-addressed dataset version in S3.

    Identical inputs give the same version and write nothing. S3 endpoint and credentials come from
    the task's environment (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY).

    Args:
        use_case: The use-case configuration, as YAML text.
        sources: Source URIs to read instead of the configured ones, by source name.

    Returns:
        dataset: The dataset version's manifest (JSON); its metadata holds the version id, the S3
            location and the rows of each split.
        Output: The dataset version id.
    """
    from pathlib import Path

    from components.ingest.task import run_ingest_task

    result = run_ingest_task(use_case, sources, Path(dataset.path))
    dataset.metadata.update(result.summary())
    return result.ref.version
