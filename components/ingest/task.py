"""The ingest task: what the KFP component and the command line run around :mod:`components.ingest.logic`.

It builds the object store from the environment's S3 settings, reads the use case from YAML text,
hands a retraining use case's feedback rows to ingestion, and writes the manifest artifact.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

from components.common.config import UseCaseConfig, parse_use_case
from components.common.s3_settings import s3_settings
from components.common.storage import ObjectStore
from components.ingest.feedback import feedback_rows
from components.ingest.logic import IngestOptions, IngestResult, Progress, ingest_dataset


def ingest_use_case(
    config: UseCaseConfig,
    store: ObjectStore,
    options: IngestOptions | None = None,
    progress: Callable[[int, int | None], Progress] | None = None,
) -> IngestResult:
    """Ingests a use case: its sources, plus its feedback window's labelled rows when it names one.

    Args:
        config: The use case.
        store: The object store: the serving logs and the datasets bucket.
        options: Chunk size and scratch folder (the defaults when None).
        progress: Factory of progress callbacks, given (source bytes, total) per source read.

    Raises:
        DataError: If the feedback window holds no labelled rows, or the data does not fit the config.
        SourceError: For bad sources.
    """
    extra_rows = feedback_rows(store, config) if config.feedback is not None else None
    return ingest_dataset(config, store, options or IngestOptions(), progress, extra_rows=extra_rows)


def run_ingest_task(
    use_case_yaml: str, sources: Mapping[str, str], manifest_path: Path, store: ObjectStore | None = None
) -> IngestResult:
    """Runs ingestion as a pipeline task: config from YAML text, S3 from the environment.

    Args:
        use_case_yaml: The use-case configuration.
        sources: Source URI overrides by name.
        manifest_path: Where to write the manifest (the task's dataset artifact).
        store: The object store (connected from the environment's S3 settings when None).
    """
    config = parse_use_case(use_case_yaml).with_source_uris(dict(sources))
    store = store or ObjectStore.connect(s3_settings())
    store.ensure_buckets(("datasets",))
    result = ingest_use_case(config, store)
    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    manifest_path.write_text(json.dumps(result.manifest, indent=2, sort_keys=True))
    return result
