"""The training stages wired in one process, for the command line.

The KFP pipeline wires the same stage functions as separate tasks; this module runs them in order on
one machine: tune on train and eval, refit the best trial, analyse it against the production model,
write the model card, and register the version (blessed versions also enter staging).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import joblib

from components.common import datasets
from components.common.config import SPLITS, UseCaseConfig
from components.common.storage import ObjectStore
from components.evaluate.logic import Analysis, analyse_model
from components.evaluate.model_card import lineage_of, model_card, render_markdown
from components.register import logic as registry
from components.serve.schema import build_serving_schema
from components.train.logic import TrialResult, expand_trials, run_trial, select_best, train_final


@dataclass(frozen=True)
class TrainingOutcome:
    """What a training run produced."""

    dataset_version: str
    trials: list[TrialResult]
    best: TrialResult
    analysis: Analysis
    model: registry.RegisterResult
    card_markdown: str
    staged: bool


def train_and_register(
    config: UseCaseConfig,
    schema_text: str,
    store: ObjectStore,
    dataset_version: str = "latest",
    say: Callable[[str], None] = lambda _: None,
) -> TrainingOutcome:
    """Tunes, trains, analyses and registers a model of a use case from a dataset version.

    Args:
        config: The use case.
        schema_text: The curated schema (its digest goes into the lineage).
        store: The object store.
        dataset_version: A dataset version id, or ``latest``.
        say: Receives one line per step, for progress.
    """
    ref = datasets.resolve(store, config.name, dataset_version)
    manifest = datasets.read_manifest(store, ref)
    with tempfile.TemporaryDirectory(prefix="mlcycle-train-") as folder:
        frames = {split: datasets.load_split(store, manifest, split, Path(folder)) for split in SPLITS}
        trials = expand_trials(config)
        results = []
        for number, trial in enumerate(trials, 1):
            result = run_trial(frames["train"], frames["eval"], config, trial)
            results.append(result)
            say(
                f"trial {number}/{len(trials)} {trial.id} {trial.params}: {result.metric} {result.score:.4f} on eval ({result.fit_seconds:.1f} s)"
            )
        best = select_best(results)
        say(f"best trial: {best.trial.id}; fitting the final model")
        model, record = train_final(frames["train"], config, best)
        champion_version = registry.current_version(store, config.name, "production")
        champion = (
            registry.load_model(store, config.name, champion_version, Path(folder) / "champion")
            if champion_version
            else None
        )
        say(
            "analysing on the test split"
            + (f" against production model {champion_version}" if champion_version else "")
        )
        analysis = analyse_model(model, frames["train"], frames["test"], config, champion, champion_version)
        lineage = lineage_of(ref.version, schema_text, record, analysis, [r.to_dict() for r in results])
        card = model_card(config, analysis, lineage)
        markdown = render_markdown(card)
        model_path = Path(folder) / "model.joblib"
        joblib.dump(model, model_path)
        registered = registry.register_model(
            store,
            config.name,
            model_path,
            lineage=lineage,
            blessed=analysis.blessing.blessed,
            card_markdown=markdown,
            card=card,
            serving_schema=build_serving_schema(config, _parse_schema(schema_text)).to_dict(),
        )
    staged = False
    if analysis.blessing.blessed:
        staged = (
            registry.set_stage(
                store, config.name, "staging", registered.ref.version, reason=f"blessed by training on {ref.version}"
            )
            is not None
        )
    return TrainingOutcome(ref.version, results, best, analysis, registered, markdown, staged)


def _parse_schema(schema_text: str):
    """The curated TFDV schema (None when empty): the serving schema's types and presence come from it."""
    if not schema_text:
        return None
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    return text_format.Parse(schema_text, schema_pb2.Schema())
