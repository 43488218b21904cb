"""Retraining from production feedback: the next dataset version is the base data plus labelled feedback.

When monitoring finds retraining due, the use case is given a ``feedback`` window and goes through
the ordinary training path: ingestion reads the base sources and the window's labelled feedback into
a new, content-addressed dataset version (its manifest records the window and every log object read,
with its sha256), then the same validation and blessing gates as any run decide, and a blessed
model is proposed for promotion with the promotion command.

Placement of feedback rows: feedback carries the served features and the true label, never the
columns a split rule may read (the loans' ``opened_at``, identifiers); its own ``time`` is when
serving received it. Rows are therefore placed by that time, oldest first, by the shares of
``monitoring.feedback_split``: the newest feedback lands in test, so the candidate and the champion
are compared on production rows neither was fitted on, and no feedback row a model is fitted on is
newer than one it is scored on.

Nothing here imports TensorFlow. Retraining in process runs in pipelines/retraining.py.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd
import yaml
from tensorflow_metadata.proto.v0 import schema_pb2

from components.common import datasets
from components.common.config import UseCaseConfig, parse_use_case
from components.common.errors import DataError
from components.common.storage import ObjectStore
from components.ingest.logic import ExtraRows
from components.monitor.logs import FEEDBACK, Window, features_of, read_logs, to_frame

log = logging.getLogger(__name__)

TIME = "time"


# --- pure functions --------------------------------------------------------------------------


def training_rows(feedback: pd.DataFrame, config: UseCaseConfig) -> tuple[pd.DataFrame, dict[str, int]]:
    """Turns feedback lines (a frame of :func:`components.monitor.logs.to_frame`) into training rows.

    A row keeps the served features, the truth as the target column, and the time it was served.
    Lines without a truth are dropped; when the same request row got feedback twice, the later
    feedback wins (a corrected label replaces the first).

    Returns:
        The rows ordered by time (stable, so equal times keep their log order), and the counts of
        dropped lines by reason.
    """
    target = config.target.name
    rows = features_of(feedback).assign(**{target: feedback["truth"].to_numpy(), TIME: feedback[TIME].to_numpy()})
    unlabelled = rows[target].isna()
    rows = rows[~unlabelled]
    identified = feedback.loc[rows.index, "request_id"].notna()
    keys = feedback.loc[rows.index, ["request_id", "row"]].astype(str).agg("/".join, axis=1)
    repeated = identified & keys.duplicated(keep="last")
    rows = rows[~repeated]
    rows = rows.sort_values(TIME, kind="stable").reset_index(drop=True)
    return rows, {"without_truth": int(unlabelled.sum()), "superseded": int(repeated.sum())}


def place_by_time(rows: pd.DataFrame, shares: Mapping[str, float]) -> dict[str, pd.DataFrame]:
    """Splits time-ordered rows by shares: the first ``train`` share trains, then eval, the newest test.

    Args:
        rows: Rows ordered by time.
        shares: Share of rows per split (summing to 1).
    """
    total = len(rows)
    first = round(total * shares["train"])
    second = round(total * (shares["train"] + shares["eval"]))
    bounds = {"train": (0, first), "eval": (first, second), "test": (second, total)}
    return {split: rows.iloc[low:high].reset_index(drop=True) for split, (low, high) in bounds.items()}


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


def feedback_rows(store: ObjectStore, config: UseCaseConfig) -> ExtraRows:
    """Reads the labelled feedback of the config's feedback window and places it in splits.

    Raises:
        DataError: If the window holds no labelled feedback (retraining on the base data alone would
            reproduce the model in production).
    """
    spec = config.feedback
    if spec is None:
        raise ValueError("the use case has no feedback window")  # a bug of the caller
    window = Window.resolve(spec.start, spec.end)
    logged = read_logs(store, config.name, FEEDBACK, window)
    features = list(config.features.all())
    rows, dropped = training_rows(to_frame(logged.lines, features), config)
    if rows.empty:
        raise DataError(
            f"the feedback window {window.label()} of {config.name!r} holds no labelled rows "
            f"({len(logged)} feedback lines, {dropped['without_truth']} without truth)",
            hint="retrain once ground truth has arrived, or choose a window that has feedback",
        )
    shares = dict(config.monitoring.feedback_split)
    splits = {split: frame.drop(columns=[TIME]) for split, frame in place_by_time(rows, shares).items()}
    lineage = {
        "window": window.to_json(),
        "objects": logged.objects,
        "malformed_lines": sum(logged.malformed.values()),
        "rows": len(rows),
        "dropped": dropped,
        "placement": {"by": "time received by serving, oldest first", "shares": shares},
        "rows_by_split": {split: len(frame) for split, frame in splits.items()},
    }
    return ExtraRows(splits, lineage)


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
    from components.common import models as registry

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
            f"no model of {config.name!r} was registered from the feedback window: nothing to promote (the data or the model did not pass its gate)",
        )
    newest = models[-1]
    if not newest.blessed:
        return Proposal(None, "", f"model {newest.version} from the feedback window is not blessed: nothing to promote")
    if "production" in newest.stages:
        return Proposal(None, "", f"model {newest.version} from the feedback window is in production already")
    metrics = newest.manifest["lineage"].get("metrics", {})
    shown = ", ".join(
        f"{name} {metrics[name]:.4f}" for name in ("roc_auc", "pr_auc") if isinstance(metrics.get(name), float)
    )
    command = promotion_command(config.name, newest.version, config_path)
    return Proposal(
        newest.version, command, f"model {newest.version} is blessed ({shown}); propose it for production: {command}"
    )


def propose_promotion_task(use_case_yaml: str) -> Proposal:
    """Runs the promotion proposal as a pipeline task (after the retraining run)."""
    from components.common.s3_settings import s3_settings

    config = parse_use_case(use_case_yaml)
    return propose_promotion(ObjectStore.connect(s3_settings()), config)
