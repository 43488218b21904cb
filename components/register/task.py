"""Stage 6's task: register the candidate with what the earlier tasks built.

One pipeline task (components/register/component.py) and one step of the in-process run
(pipelines/inprocess.py). Nothing is rebuilt here: the lineage and the model card come from the
evaluation's analysis artifact, the serving schema from the serving check (the very schema it
tested the candidate with). Registration records a candidate and nothing more: which version is in
staging or production is what the GitOps overlays name (``mlcycle promote`` writes the stage after its
commit), so training never moves a stage.
"""

from __future__ import annotations

import json
from pathlib import Path

from components.common import runs
from components.common.config import parse_use_case
from components.common.s3_settings import s3_settings
from components.common.storage import ObjectStore
from components.register.logic import RegisterResult, register_model


def register_model_task(
    use_case_yaml: str,
    model_path: Path,
    analysis_path: Path,
    serving_schema_path: Path,
    store: ObjectStore | None = None,
    run_id: str = "",
) -> RegisterResult:
    """Registers a model from the evaluation's analysis artifact as a candidate; no stage moves.

    Args:
        use_case_yaml: The use case.
        model_path: The fitted pipeline, saved with joblib.
        analysis_path: The analysis artifact of evaluate_model_task: lineage, model card, blessing.
        serving_schema_path: The serving schema (JSON) the serving check wrote.
        store: The object store (default: connected from the environment).
        run_id: The run this task belongs to: its record gets the ``registration`` part, and the version's
            lineage names the run; empty writes none.

    Returns:
        The registration.
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
    registration = {"version": result.ref.version, "outcome": result.outcome, "blessed": bool(analysis["blessed"])}
    runs.write_part(store, config.name, run_id, "registration", registration)
    return result
