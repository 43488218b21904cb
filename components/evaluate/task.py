"""Stage 5's task: analyse the candidate on the test split against the production model, write the card.

One pipeline task (components/evaluate/component.py) and one step of the in-process run
(pipelines/inprocess.py). The model card is built here, once, and handed on in the analysis
artifact: registration stores it as it is.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import joblib

from components.common import datasets, models
from components.common.config import parse_use_case
from components.common.s3_settings import s3_settings
from components.common.storage import ObjectStore
from components.evaluate.logic import Analysis, analyse_model
from components.evaluate.model_card import lineage_of, model_card, render_markdown


def evaluate_model_task(
    use_case_yaml: str,
    schema_text: str,
    dataset_version: str,
    model_path: Path,
    record: dict[str, Any],
    analysis_path: Path,
    store: ObjectStore | None = None,
) -> tuple[Analysis, dict[str, Any], str]:
    """Analyses a candidate against the model in production and writes the analysis artifact.

    The artifact is JSON with the lineage, the model card (as data and as Markdown) and the blessing:
    everything registration needs.

    Args:
        use_case_yaml: The use case.
        schema_text: The curated schema text (its digest enters the lineage).
        dataset_version: The dataset version the candidate was trained on.
        model_path: The candidate (the fitted pipeline, saved with joblib).
        record: The training record from train_model_task.
        analysis_path: Where to write the analysis artifact.
        store: The object store (default: connected from the environment).

    Returns:
        The analysis, the model card and its Markdown.
    """
    config = parse_use_case(use_case_yaml)
    store = store if store is not None else ObjectStore.connect(s3_settings())
    with tempfile.TemporaryDirectory(prefix="mlcycle-evaluate-") as folder:
        frames = datasets.load_splits(store, config.name, dataset_version, ("train", "test"), Path(folder))
        champion_version = models.current_version(store, config.name, models.PRODUCTION)
        champion = (
            models.load_model(store, config.name, champion_version, Path(folder) / "champion")
            if champion_version
            else None
        )
    model = joblib.load(model_path)
    analysis = analyse_model(model, frames["train"], frames["test"], config, champion, champion_version)
    lineage = lineage_of(dataset_version, schema_text, record, analysis, record.get("trials", []))
    card = model_card(config, analysis, lineage)
    markdown = render_markdown(card)
    analysis_path.parent.mkdir(parents=True, exist_ok=True)
    document = {"lineage": lineage, "card": card, "card_markdown": markdown, "blessed": analysis.blessing.blessed}
    analysis_path.write_text(json.dumps(document, indent=2, default=str))
    return analysis, card, markdown
