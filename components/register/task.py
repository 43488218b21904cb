"""Stage 6's task: register the candidate with what the earlier tasks built, and stage a blessed one.

One pipeline task (components/register/component.py) and one step of the in-process run
(pipelines/inprocess.py). Nothing is rebuilt here: the lineage and the model card come from the
evaluation's analysis artifact, the serving schema from the serving check (the very schema it
tested the candidate with).
"""

from __future__ import annotations

import json
from pathlib import Path

from components.common import models, runs
from components.common.config import parse_use_case
from components.common.s3_settings import s3_settings
from components.common.storage import ObjectStore
from components.register.logic import RegisterResult, register_model, set_stage


def register_model_task(
    use_case_yaml: str,
    model_path: Path,
    analysis_path: Path,
    serving_schema_path: Path,
    store: ObjectStore | None = None,
    run_id: str = "",
) -> tuple[RegisterResult, bool]:
    """Registers a model from the evaluation's analysis artifact; a blessed version enters staging.

    Args:
        use_case_yaml: The use case.
        model_path: The fitted pipeline, saved with joblib.
        analysis_path: The analysis artifact of evaluate_model_task: lineage, model card, blessing.
        serving_schema_path: The serving schema (JSON) the serving check wrote.
        store: The object store (default: connected from the environment).
        run_id: The run this task belongs to: its record gets the ``registration`` part, and the version's
            lineage names the run; empty writes none.

    Returns:
        The registration and whether staging now holds the version.
    """
    config = parse_use_case(use_case_yaml)
    analysis = json.loads(analysis_path.read_text())
    store = store if store is not None else ObjectStore.connect(s3_settings())
    result = register_model(
        store,
        config.name,
        model_path,
        lineage={**analysis["lineage"], **({"run_id": run_id} if run_id else {})},
        blessed=analysis["blessed"],
        card_markdown=analysis["card_markdown"],
        card=analysis["card"],
        serving_schema=json.loads(serving_schema_path.read_text()),
    )
    staged = bool(analysis["blessed"]) and (
        set_stage(
            store,
            config.name,
            models.STAGING,
            result.ref.version,
            reason=f"blessed by training on {analysis['lineage']['dataset_version']}",
        )
        is not None
        or models.current_version(store, config.name, models.STAGING) == result.ref.version
    )
    registration = {"version": result.ref.version, "outcome": result.outcome, "staged": staged}
    runs.write_part(store, config.name, run_id, "registration", registration)
    return result, staged
