"""Retraining from production feedback: the next dataset version is the base data plus labelled feedback.

When monitoring finds retraining due, the use case is given a ``feedback`` window
(:func:`retraining_use_case`) and goes through the ordinary training path: ingestion reads the base
sources and the window's labelled feedback into a new, content-addressed dataset version (how
feedback becomes training rows and where they are placed: :mod:`components.ingest.feedback`), then the
same validation and blessing gates as any run decide (against :func:`schema_for_feedback`), and a
blessed model is proposed for promotion with the promotion command (:func:`propose_promotion`).

Nothing here imports TensorFlow. Retraining in process runs in pipelines/retraining.py.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass

import yaml
from tensorflow_metadata.proto.v0 import schema_pb2

from components.common import datasets
from components.common import models as registry
from components.common.config import UseCaseConfig, parse_use_case
from components.common.serving_logs import Window
from components.common.storage import ObjectStore

log = logging.getLogger(__name__)


# --- pure functions --------------------------------------------------------------------------


def retraining_use_case(use_case_yaml: str, window: Window) -> str:
    """Returns the use case's YAML text with the feedback window set: what the retraining run ingests.

    Raises:
        ConfigError: If the text is not a valid use case.
    """
    parse_use_case(use_case_yaml)  # a broken use case fails here, with its own message
    data = yaml.safe_load(use_case_yaml)
    data["feedback"] = window.to_json()
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=120)
    parse_use_case(text, "the retraining use case")
    return text


def schema_for_feedback(schema: schema_pb2.Schema, config: UseCaseConfig) -> schema_pb2.Schema:
    """The schema a dataset version with feedback rows is validated against.

    Feedback rows hold what was served: the features and the label. Columns that are neither
    (identifiers, the split's time column, other passengers of the sources) are empty in them, so
    their presence constraint is lifted. Features and the label keep every constraint: the gate on
    what models learn from is the same as for any run.
    """
    relaxed = copy.deepcopy(schema)
    learned = set(config.features.all()) | {config.target.name}
    for feature in relaxed.feature:
        if feature.name not in learned and feature.HasField("presence"):
            feature.presence.min_fraction = 0.0
    return relaxed


def promotion_command(use_case: str, version: str, config_path: str = "") -> str:
    """The promotion command that proposes a model for production as a reviewable branch."""
    config = f" -c {config_path}" if config_path else ""
    return f"mlcycle promote{config} {version} --to production --branch retrain/{use_case}-{version}"


# --- the shell -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Proposal:
    """What retraining proposes: a blessed model for promotion, or why there is none.

    Attributes:
        version: The model version to promote (None when nothing is proposed).
        command: The promotion command to run (empty when nothing is proposed).
        message: One line for people.
    """

    version: str | None
    command: str
    message: str


def propose_promotion(store: ObjectStore, config: UseCaseConfig, config_path: str = "") -> Proposal:
    """Finds the model trained on the config's feedback window and proposes it if it was blessed.

    The dataset versions whose manifest records the same feedback window are the retraining data;
    the newest registered model of one of them is the retraining result.
    """
    window = Window.resolve(config.feedback.start, config.feedback.end).to_json() if config.feedback else None
    trained_on = {
        m["version"]
        for m in datasets.list_versions(store, config.name)
        if window and m.get("feedback", {}).get("window") == window
    }
    models = [
        v
        for v in registry.list_versions(store, config.name)
        if v.manifest["lineage"].get("dataset_version") in trained_on
    ]
    if not models:
        return Proposal(
            None,
            "",
            f"no model of {config.name!r} was registered from the feedback window: nothing to promote "
            "(the data or the model did not pass its gate)",
        )
    newest = models[-1]
    if not newest.blessed:
        return Proposal(None, "", f"model {newest.version} from the feedback window is not blessed: nothing to promote")
    if "production" in newest.stages:
        return Proposal(None, "", f"model {newest.version} from the feedback window is in production already")
    metrics = newest.manifest["lineage"].get("metrics", {})
    shown = ", ".join(
        f"{name} {metrics[name]:.4f}"
        for name in ("roc_auc", "pr_auc", "rmse", "mae")
        if isinstance(metrics.get(name), float)
    )
    command = promotion_command(config.name, newest.version, config_path)
    return Proposal(
        newest.version, command, f"model {newest.version} is blessed ({shown}); propose it for production: {command}"
    )
