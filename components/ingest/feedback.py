"""Production feedback as training rows: what a retraining dataset version adds to its sources.

When monitoring finds retraining due, the use case is given a ``feedback`` window; ingestion then
reads the base sources and the window's labelled feedback (the serving logs of
:mod:`components.common.serving_logs`) into a new, content-addressed dataset version whose manifest
records the window and every log object read, with its sha256.

Placement of feedback rows: feedback carries the served features and the true label, never the
columns a split rule may read (the loans' ``opened_at``, identifiers); its own ``time`` is when
serving received it. Rows are therefore placed by that time, oldest first, by the shares of
``monitoring.feedback_split``: the newest feedback lands in test, so the candidate and the champion
are compared on production rows neither was fitted on, and no feedback row a model is fitted on is
newer than one it is scored on.

Features kept out of the logs (``serving.log_exclude``, or listed as ``redacted`` by the lines of
the window) are absent from every feedback row. Such rows are refused, never imputed: the model
would learn that the newest rows lack a feature serving always has, and the newest rows are the
test split the candidate and the champion are compared on (:func:`check_logged`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from components.common.config import UseCaseConfig
from components.common.errors import ConfigError, DataError
from components.common.serving_logs import (
    FEEDBACK,
    Window,
    features_of,
    read_logs,
    superseded_feedback,
    to_frame,
    unlogged_features,
)
from components.common.storage import ObjectStore
from components.ingest.logic import ExtraRows

TIME = "time"


# --- pure functions --------------------------------------------------------------------------


def training_rows(feedback: pd.DataFrame, config: UseCaseConfig) -> tuple[pd.DataFrame, dict[str, int]]:
    """Turns feedback lines (a frame of :func:`components.common.serving_logs.to_frame`) into training rows.

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
    repeated = superseded_feedback(feedback.loc[rows.index])
    rows = rows[~repeated]
    rows = rows.sort_values(TIME, kind="stable").reset_index(drop=True)
    return rows, {"without_truth": int(unlabelled.sum()), "superseded": int(repeated.sum())}


def check_logged(config: UseCaseConfig, lines: Iterable[Mapping[str, Any]] = ()) -> None:
    """Refuses feedback that lacks a feature of the model because it was kept out of the logs.

    Args:
        config: The use case (its features and ``serving.log_exclude``).
        lines: The feedback lines of the window, whose ``redacted`` is checked too (none: only the config).

    Raises:
        ConfigError: If the use case excludes a feature from the logs.
        DataError: If lines of the window were logged without a feature (an earlier exclusion).
    """
    excluded = unlogged_features(config, [])
    if excluded:
        raise ConfigError(
            f"cannot retrain {config.name!r} on feedback: {', '.join(excluded)} is in serving.log_exclude, "
            "so feedback rows lack a feature the model takes",
            hint="drop it from the features, so the next model does without it, or from serving.log_exclude, "
            "so feedback logged after the next deployment has it",
        )
    redacted = unlogged_features(config, lines)
    if redacted:
        raise DataError(
            f"cannot retrain {config.name!r} on this feedback window: its lines were logged without "
            f"{', '.join(redacted)} (serving.log_exclude when they were served)",
            hint="choose a window of feedback logged since the exclusion was lifted",
        )


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


# --- reading the window ----------------------------------------------------------------------


def feedback_rows(store: ObjectStore, config: UseCaseConfig) -> ExtraRows:
    """Reads the labelled feedback of the config's feedback window and places it in splits.

    Args:
        store: The object store (its ``feedback`` bucket holds the serving logs).
        config: The use case; its ``feedback`` names the window.

    Returns:
        The rows of each split and their lineage, to hand to
        :func:`components.ingest.logic.ingest_dataset` as ``extra_rows``.

    Raises:
        ConfigError: If the use case keeps a feature out of the logs (:func:`check_logged`).
        DataError: If the window holds no labelled feedback (retraining on the base data alone would
            reproduce the model in production), or lines logged without a feature.
    """
    spec = config.feedback
    if spec is None:
        raise ValueError("the use case has no feedback window")  # a bug of the caller
    check_logged(config)
    window = Window.resolve(spec.start, spec.end)
    logged = read_logs(store, config.name, FEEDBACK, window)
    check_logged(config, logged.lines)
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
