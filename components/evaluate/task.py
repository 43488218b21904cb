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
import pandas as pd

from components.common import datasets, models, runs
from components.common.config import parse_use_case
from components.common.errors import IntegrityError, NotFoundError
from components.common.s3_settings import s3_settings
from components.common.storage import ObjectStore
from components.evaluate.logic import Analysis, ChampionTraining, analyse_model
from components.evaluate.model_card import lineage_of, model_card, render_markdown


def evaluate_model_task(
    use_case_yaml: str,
    schema_text: str,
    dataset_version: str,
    model_path: Path,
    record: dict[str, Any],
    analysis_path: Path,
    store: ObjectStore | None = None,
    run_id: str = "",
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
        run_id: The run this task belongs to: its record gets the ``training`` part (every trial) and the
            ``analysis`` part (metrics, baselines, champion, blessing); empty writes none.

    Returns:
        The analysis, the model card and its Markdown.
    """
    config = parse_use_case(use_case_yaml)
    store = store if store is not None else ObjectStore.connect(s3_settings())
    with tempfile.TemporaryDirectory(prefix="mlcycle-evaluate-") as folder:
        frames = datasets.load_splits(store, config.name, dataset_version, ("train", "test"), Path(folder))
        champion_version = models.current_version(store, config.name, models.PRODUCTION)
        champion, champion_training = None, None
        if champion_version:
            champion = models.load_model(store, config.name, champion_version, Path(folder) / "champion")
            champion_training = champion_training_rows(
                store, config.name, champion_version, dataset_version, frames["train"], Path(folder)
            )
    model = joblib.load(model_path)
    analysis = analyse_model(
        model, frames["train"], frames["test"], config, champion, champion_version, champion_training
    )
    lineage = lineage_of(dataset_version, schema_text, record, analysis, record.get("trials", []))
    card = model_card(config, analysis, lineage)
    markdown = render_markdown(card)
    analysis_path.parent.mkdir(parents=True, exist_ok=True)
    document = {"lineage": lineage, "card": card, "card_markdown": markdown, "blessed": analysis.blessing.blessed}
    analysis_path.write_text(json.dumps(document, indent=2, default=str))
    runs.write_part(store, config.name, run_id, "training", runs.training_part(record))
    champion = analysis.champion or {}
    summary = {
        "task": analysis.task,
        "metrics": analysis.metrics,
        "baselines": analysis.baselines,
        "baseline_differences": analysis.baseline_differences,
        "champion": {
            "version": champion.get("version"),
            "metrics": champion.get("metrics"),
            "difference": champion.get("difference"),
        }
        if champion
        else None,
        "blessed": analysis.blessing.blessed,
        "reasons": list(analysis.blessing.reasons),
    }
    runs.write_part(store, config.name, run_id, "analysis", summary)
    return analysis, card, markdown


def champion_training_rows(
    store: ObjectStore,
    use_case: str,
    champion_version: str,
    dataset_version: str,
    own_train: pd.DataFrame,
    work_dir: Path,
) -> ChampionTraining:
    """The train split the champion was fitted on, as its registry manifest names it.

    The candidate's own train split is reused when both come from one dataset version; another version is
    downloaded. A version that is gone or damaged leaves the rows unknown, said why, rather than failing
    the evaluation.
    """
    manifest = models.read_manifest(store, models.ModelRef(use_case, champion_version))
    trained_on = manifest.get("lineage", {}).get("dataset_version")
    if not trained_on:
        return ChampionTraining(None, unknown=f"the manifest of {champion_version} names no dataset version")
    if trained_on == dataset_version:
        # Ingestion puts each row in one split (a key, or a time, decides it): none of this version's train
        # rows is a test row, so nothing needs matching.
        return ChampionTraining(trained_on, own_train.iloc[:0])
    try:
        rows = datasets.load_splits(store, use_case, trained_on, ("train",), work_dir)["train"]
    except (NotFoundError, IntegrityError) as error:
        return ChampionTraining(trained_on, unknown=f"its dataset version cannot be read: {error.message}")
    return ChampionTraining(trained_on, rows)
