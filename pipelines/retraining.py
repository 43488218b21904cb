"""Retraining from production feedback in this process: what the monitoring pipeline does on a cluster.

When monitoring finds retraining due, the use case gets the window as its feedback window and the
curated schema is relaxed for feedback rows (components.monitor.retraining); then the training
pipeline's steps run in process (pipelines/inprocess.py) from ingestion on, with the same gates,
and a registered model is proposed for promotion when it is blessed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from google.protobuf import text_format

from components.common.config import parse_use_case
from components.common.serving_logs import Window
from components.common.storage import ObjectStore
from components.ingest.logic import IngestResult
from components.monitor.retraining import Proposal, propose_promotion, retraining_use_case, schema_for_feedback
from components.validate.logic import parse_schema
from pipelines.inprocess import TrainingRun, run_training


@dataclass(frozen=True)
class RetrainingOutcome:
    """What an in-process retraining produced.

    Attributes:
        dataset: The dataset version with the feedback.
        valid: Whether it passed validation.
        validation: The validation summary.
        model_version: The registered model (None when nothing was registered: the data was
            invalid, or the candidate was not blessed or not servable).
        blessed: Whether the candidate was blessed (None when none was trained).
        blessing: The reasons of the blessing decision.
        proposal: The promotion proposal.
        run: The training run itself (every step's result).
    """

    dataset: IngestResult
    valid: bool
    validation: str
    model_version: str | None
    blessed: bool | None
    blessing: tuple[str, ...]
    proposal: Proposal
    run: TrainingRun


def retrain(
    use_case_yaml: str,
    schema_text: str,
    store: ObjectStore,
    window: Window,
    config_path: str = "",
    say: Callable[[str], None] = lambda _: None,
) -> RetrainingOutcome:
    """Retrains in this process: ingest base data plus the window's feedback, validate, train, propose.

    The same steps and gates as the training pipeline nested in the monitoring pipeline: an invalid
    dataset stops before training, only a blessed and servable model is registered, and only a
    registered blessed model is proposed for promotion.

    Args:
        use_case_yaml: The use case, as YAML text.
        schema_text: Its curated schema, as text protobuf (relaxed here for feedback rows).
        store: The object store.
        window: The feedback window.
        config_path: The use case's file, for the promotion command.
        say: Receives one line per step, for progress.
    """
    retraining_yaml = retraining_use_case(use_case_yaml, window)
    config = parse_use_case(retraining_yaml)
    relaxed = schema_for_feedback(parse_schema(schema_text), config)
    run = run_training(retraining_yaml, text_format.MessageToString(relaxed), store, say=say)
    validation = run.validation.summary()
    if run.candidate is None:
        proposal = Proposal(None, "", "the dataset with feedback is invalid: nothing was trained")
        return RetrainingOutcome(run.ingested, False, validation, None, None, (), proposal, run)
    candidate = run.candidate
    if candidate.registration is None:
        why = "it is not blessed" if not candidate.blessed else "it failed the serving check"
        proposal = Proposal(None, "", f"the model trained on the feedback was not registered: {why}")
    else:
        proposal = propose_promotion(store, config, config_path)
    return RetrainingOutcome(
        run.ingested,
        True,
        validation,
        run.registered,
        candidate.blessed,
        candidate.analysis.blessing.reasons,
        proposal,
        run,
    )
