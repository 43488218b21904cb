"""The serving check's task: sample rows of the dataset version's test split and check the candidate.

One pipeline task (components/serve/component.py) and one step of the in-process run
(pipelines/inprocess.py). The serving schema the candidate was checked with is written out for
registration, so the registry stores exactly what was checked.
"""

from __future__ import annotations

import json
from pathlib import Path

from components.common import datasets, runs
from components.common.config import parse_use_case
from components.common.s3_settings import s3_settings
from components.common.storage import ObjectStore
from components.serve.check import ServingCheck, check_serving, serving_schema_from_text


def check_serving_task(
    use_case_yaml: str,
    schema_text: str,
    dataset_version: str,
    model_path: Path,
    serving_schema_path: Path,
    work_dir: Path,
    rows: int = 50,
    store: ObjectStore | None = None,
    run_id: str = "",
) -> ServingCheck:
    """Checks that the serving layer loads the candidate and answers sample rows of the test split as it predicts.

    Args:
        use_case_yaml: The use case, as YAML text.
        schema_text: The curated TFDV schema, as text protobuf (empty: the use case alone decides).
        dataset_version: The dataset version the candidate was trained on.
        model_path: The candidate (the fitted pipeline, saved with joblib).
        serving_schema_path: Where to write the serving schema (JSON) for registration.
        work_dir: A scratch folder.
        rows: Rows sent per request.
        store: The object store (default: connected from the environment).
        run_id: The run this task belongs to: its record gets the ``serving`` part; empty writes none.

    Returns:
        The verdict with one line per check.
    """
    config = parse_use_case(use_case_yaml)
    serving_schema = serving_schema_from_text(config, schema_text)
    serving_schema_path.parent.mkdir(parents=True, exist_ok=True)
    serving_schema_path.write_text(json.dumps(serving_schema.to_dict(), indent=2, sort_keys=True))
    store = store if store is not None else ObjectStore.connect(s3_settings())
    manifest = datasets.read_manifest(store, datasets.resolve(store, config.name, dataset_version))
    test = datasets.load_split(store, manifest, "test", Path(work_dir))
    labels = sorted(test[config.target.name].dropna().unique().tolist())
    # Rows from across the split, in a seeded draw, so rare values and missing ones are sent too.
    sample = test.sample(n=min(rows, len(test)), random_state=config.training.seed) if len(test) else test
    result = check_serving(model_path, serving_schema, sample, labels, Path(work_dir), max_rows=rows)
    runs.write_part(store, config.name, run_id, "serving", {"servable": result.passed, "checks": list(result.checks)})
    return result
