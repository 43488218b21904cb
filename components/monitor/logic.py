"""Stage 8: monitor the served model over a time window and decide whether to retrain it.

For a window of the serving logs (see :mod:`components.common.serving_logs`):

- **drift**: statistics of the served rows, computed with TFDV exactly as training statistics are
  (same type conversions, same schema-aware options), validated in the schema's SERVING
  environment (the label is not required there) against the train split of the model's dataset
  version, with a drift comparator on every feature: Jensen-Shannon divergence for numbers,
  L-infinity distance for categories, thresholds from ``monitoring.drift``. TFDV records the
  measured distance of every feature that has a comparator, below its threshold too, so every
  feature's distance comes from TFDV itself; a feature without values in the window has none and
  is listed as not measured. Schema anomalies of the served data are reported as warnings.
  Features the logs do not hold (``serving.log_exclude``, or ``redacted`` in the lines) are not
  measured at all: no statistics, no distance, no anomaly; the result lists them as not logged.
- **live quality**: the metrics of model analysis (the same functions), overall and by slice, on
  the served rows of the monitored model whose ground truth came back, against the model's offline
  test metrics: a classifier's from its logged probabilities, a regressor's (RMSE, MAE, R²) from its
  logged predicted numbers and the numeric truth. Floors of a lower-is-better metric (RMSE, MAE, log
  loss) are ceilings, and an allowed drop is measured in the direction that makes the metric worse.
- **decision**: retrain when drift or the loss of live quality passes the thresholds of
  ``monitoring``, with enough rows to judge and labelled feedback to learn from. An empty window,
  too few requests or no ground truth are outcomes with a message, never errors. Feedback without
  a feature the model takes (not logged) is nothing to learn from: retraining is then blocked.

:func:`monitor` runs them with the object store passed in: it reads the logs, the model and its
training statistics from S3 and returns a :class:`components.monitor.results.MonitoringResult`. The
task around it (settings, YAML, the artifacts and the report) is :mod:`components.monitor.task`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import tempfile
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

# joblib before TFDV, always: TFDV loads dill 0.3.1, which adds its picklers to the standard library's
# dispatch table, and joblib copies that table when first imported. A model saved through the polluted
# copy names dill, which the serving image lacks (measured: a random forest saved after TFDV loaded).
import joblib  # noqa: F401  (imported for its side effect on pickling)
import numpy as np
import pandas as pd
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from components.common import datasets
from components.common import models as registry
from components.common.config import MonitoringSpec, UseCaseConfig
from components.common.config.analysis import LOWER_IS_BETTER
from components.common.errors import DataError, NotFoundError
from components.common.metrics import (
    classification_metrics,
    confusion,
    regression_metrics,
    roc_points,
    shortfall,
)
from components.common.serving_logs import (
    FEEDBACK,
    REQUESTS,
    Window,
    features_of,
    read_logs,
    superseded_feedback,
    to_frame,
    unlogged_features,
)
from components.common.storage import ObjectStore
from components.evaluate.logic import slice_metrics
from components.monitor.results import (
    DRIFT_WITHOUT_FEEDBACK,
    HEALTHY,
    INSUFFICIENT,
    NOT_LOGGED,
    RETRAIN,
    RETRAIN_BLOCKED,
    SERVED,
    Decision,
    LiveQuality,
    MonitoringResult,
)
from components.validate.logic import (
    SERVING,
    prepare_frame,
    split_statistics,
    statistics_in_process,
    statistics_of,
    with_comparators,
)
from components.validate.results import Distance, Finding, distances_from_anomalies, findings_from_anomalies

log = logging.getLogger(__name__)

# --- pure functions --------------------------------------------------------------------------


def serving_frame(
    features: pd.DataFrame, config: UseCaseConfig, schema: schema_pb2.Schema, unlogged: Collection[str] = ()
) -> pd.DataFrame:
    """Gives logged feature values the types training data has, so both statistics compare like for like.

    JSON carries numbers, text and null; datetimes arrive as ISO text. Datetime features become UTC
    timestamps (then epoch seconds, as :func:`prepare_frame` does for training), integer features
    nullable integers, float features floats, text features text; values that do not fit become
    missing (the schema check reports the shortfall in presence). Features not logged (``unlogged``)
    get no column: their absence is no value of theirs.
    """
    types = {feature.name: feature.type for feature in schema.feature}
    datetimes = set(config.features.datetime)
    columns = {}
    for name in config.features.all():
        if name in unlogged:
            continue
        values = features[name] if name in features.columns else pd.Series([None] * len(features), dtype=object)
        values = values.reset_index(drop=True)
        if name in datetimes:
            values = pd.to_datetime(values, utc=True, errors="coerce")
        elif types.get(name) in (schema_pb2.INT, schema_pb2.FLOAT):
            numbers = pd.to_numeric(values, errors="coerce").astype("float64")
            whole = numbers.dropna()
            # An integer feature stays integer unless a fraction arrives (the schema check then says so).
            integer = types[name] == schema_pb2.INT and bool((whole == whole.round()).all())
            values = numbers.astype("Int64") if integer else numbers
        elif types.get(name) == schema_pb2.BYTES:
            values = values.map(lambda value: None if pd.isna(value) else str(value)).astype(object)
        columns[name] = values
    return prepare_frame(pd.DataFrame(columns))


def sample_rows(frame: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    """At most ``max_rows`` rows, drawn with a seed (all rows when ``max_rows`` is 0 or not exceeded)."""
    if not max_rows or len(frame) <= max_rows:
        return frame
    return frame.sample(n=max_rows, random_state=seed).sort_index()


def measure_drift(
    serving: statistics_pb2.DatasetFeatureStatisticsList,
    training: statistics_pb2.DatasetFeatureStatisticsList,
    schema: schema_pb2.Schema,
    config: UseCaseConfig,
    unlogged: Collection[str] = (),
) -> tuple[list[Distance], list[str], list[Finding]]:
    """Drift of the served data against the training split, in the schema's SERVING environment.

    Args:
        serving: Statistics of the served rows.
        training: Statistics of the training split.
        schema: The curated schema.
        config: The use case (drift thresholds).
        unlogged: Features the logs do not hold: left out of the SERVING environment and given no
            comparator, so TFDV neither measures them nor reports them missing.

    Returns:
        The distance of every measured feature, the logged features without one (no values served),
        and the findings: drift alerts and schema anomalies of the served data, all warnings (the
        decision is :func:`decide`'s).
    """
    thresholds = dataclasses.replace(
        config, validation=dataclasses.replace(config.validation, drift=config.monitoring.drift)
    )
    compared = with_comparators(schema, thresholds, "drift")
    for feature in compared.feature:
        if feature.name in unlogged:
            feature.ClearField("drift_comparator")
            feature.not_in_environment.append(SERVING)
    anomalies = tfdv.validate_statistics(serving, compared, environment=SERVING, previous_statistics=training)
    distances = [d for d in distances_from_anomalies(anomalies, "drift") if d.feature not in unlogged]
    measured = {d.feature for d in distances}
    unmeasured = [name for name in config.features.all() if name not in measured and name not in unlogged]

    def warn(_kind: str) -> str:
        return "warning"

    findings = findings_from_anomalies(anomalies, "drift", "serving vs train", warn, comparators_only=True)
    findings += findings_from_anomalies(anomalies, "schema", SERVED, warn)
    return distances, unmeasured, findings


def labelled_feedback(answered: pd.DataFrame) -> pd.DataFrame:
    """The feedback lines with a truth, each request row once.

    A retried or corrected row counts as its latest line, as in retraining
    (:func:`components.common.serving_logs.superseded_feedback`).

    Args:
        answered: Feedback lines, a frame of :func:`components.common.serving_logs.to_frame`, in log order.
    """
    labelled = answered[answered["truth"].notna()]
    return labelled[~superseded_feedback(labelled)]


def live_quality(
    feedback: pd.DataFrame,
    classes: list[Any],
    offline: dict[str, float],
    config: UseCaseConfig,
) -> LiveQuality:
    """Scores the logged probabilities against the truth, overall and by slice.

    Args:
        feedback: Feedback lines of the monitored model (a frame of logs.to_frame).
        classes: The model's classes; ``probabilities`` are keyed by their text.
        offline: The model's offline test metrics.
        config: The use case (slices; minimum rows per slice from monitoring.quality).

    Raises:
        DataError: If no row is left to score (the caller checks the count first).
    """
    labelled = feedback[feedback["truth"].notna()]
    keys = [str(c) for c in classes]
    text_classes = set(keys)
    known = labelled["truth"].map(lambda value: str(value) in text_classes)
    complete = labelled["probabilities"].map(
        lambda p: isinstance(p, dict) and all(isinstance(p.get(k), (int, float)) for k in keys)
    )
    usable = labelled[known & complete]
    excluded = {"truth_not_a_class": int((~known).sum()), "without_probabilities": int((known & ~complete).sum())}
    if usable.empty:
        raise DataError("no feedback row has both a known class as truth and a probability for every class")
    proba = np.array([[float(p[k]) for k in keys] for p in usable["probabilities"]])
    by_text = dict(zip(keys, classes, strict=False))
    truth = np.array([by_text[str(value)] for value in usable["truth"]])
    metrics = classification_metrics(truth, proba, classes)
    served = features_of(usable).reset_index(drop=True)
    columns = tuple(c for c in config.analysis.slices if c in served.columns)
    slices, gaps = slice_metrics(served, truth, proba, classes, columns, config.monitoring.quality.min_slice_rows)
    return LiveQuality(
        rows=len(usable),
        metrics=metrics,
        offline={k: float(v) for k, v in offline.items() if isinstance(v, (int, float))},
        classes=list(classes),
        confusion=confusion(truth, proba, classes),
        roc=roc_points(truth, proba, classes),
        slices=slices,
        slice_gaps=gaps,
        excluded=excluded,
    )


# Slice gaps of a regressor: the error metrics, worst (largest) minus best.
REGRESSION_GAP_METRICS = ("rmse", "mae")


def live_regression_quality(feedback: pd.DataFrame, offline: dict[str, float], config: UseCaseConfig) -> LiveQuality:
    """Scores a regressor's logged predictions against the numeric truth, overall and by slice.

    Args:
        feedback: Feedback lines of the monitored model (a frame of logs.to_frame).
        offline: The model's offline test metrics.
        config: The use case (slices; minimum rows per slice from monitoring.quality).

    Raises:
        DataError: If no row is left to score (the caller checks the count first).
    """
    labelled = feedback[feedback["truth"].notna()]
    numeric = labelled["truth"].map(_finite_number)
    predicted = labelled["prediction"].map(_finite_number)
    usable = labelled[numeric & predicted]
    excluded = {"truth_not_a_number": int((~numeric).sum()), "without_prediction": int((numeric & ~predicted).sum())}
    if usable.empty:
        raise DataError("no feedback row has both a number as truth and a predicted number")
    truth = usable["truth"].to_numpy(dtype="float64")
    predictions = usable["prediction"].to_numpy(dtype="float64")
    served = features_of(usable).reset_index(drop=True)
    columns = tuple(c for c in config.analysis.slices if c in served.columns)
    slices, gaps = regression_slices(served, truth, predictions, columns, config.monitoring.quality.min_slice_rows)
    return LiveQuality(
        rows=len(usable),
        metrics=regression_metrics(truth, predictions),
        offline={k: float(v) for k, v in offline.items() if isinstance(v, (int, float))},
        classes=[],
        confusion=[],
        roc=[],
        slices=slices,
        slice_gaps=gaps,
        excluded=excluded,
        task="regression",
    )


def regression_slices(
    frame: pd.DataFrame,
    truth: np.ndarray,
    predictions: np.ndarray,
    columns: tuple[str, ...],
    min_rows: int,
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, dict[str, Any]]]:
    """RMSE, MAE and R² for every value of each slice column with at least ``min_rows`` rows, and the largest gaps.

    Returns:
        (slices by column: value, rows and metrics, most rows first; per column and error metric the gap
        between the worst slice and the best, which slice is which).
    """
    slices, gaps = {}, {}
    for column in columns:
        values = frame[column].astype(object).where(frame[column].notna(), "(missing)").to_numpy()
        entries = []
        for value in pd.unique(values):
            mask = values == value
            if mask.sum() < min_rows:
                continue
            entries.append(
                {
                    "value": value.item() if hasattr(value, "item") else value,
                    "rows": int(mask.sum()),
                    "metrics": regression_metrics(truth[mask], predictions[mask]),
                }
            )
        entries.sort(key=lambda e: -e["rows"])
        slices[column] = entries
        gap = {}
        for metric in REGRESSION_GAP_METRICS:
            if len(entries) >= 2:
                worst = max(entries, key=lambda e: e["metrics"][metric])
                best = min(entries, key=lambda e: e["metrics"][metric])
                gap[metric] = {
                    "gap": worst["metrics"][metric] - best["metrics"][metric],
                    "best": best["value"],
                    "worst": worst["value"],
                }
        gaps[column] = gap
    return slices, gaps


def _finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def quality_reasons(quality: LiveQuality, spec: MonitoringSpec) -> tuple[list[str], list[str]]:
    """The floors and allowed drops live quality misses (reasons), and the metrics it could not judge (notes).

    A floor of a lower-is-better metric (RMSE, MAE, log loss, Brier) is a ceiling; a drop is how much worse
    the live value is than the offline one, in the metric's own direction.
    """
    reasons, notes = [], []
    for metric, floor in sorted(spec.quality.floors.items()):
        value = quality.metrics.get(metric, float("nan"))
        lower = metric in LOWER_IS_BETTER
        if metric not in quality.metrics:
            notes.append(f"live {metric} is not a metric of a {quality.task} model: its floor is not judged")
        elif math.isnan(value):
            why = "one class only" if quality.task == "classification" else "all true values equal"
            notes.append(f"live {metric} is undefined on the window's labelled rows ({why}): its floor is not judged")
        elif (value > floor) if lower else (value < floor):
            reasons.append(
                f"live {metric} {value:.4f} is {'above the ceiling' if lower else 'below the floor'} {floor:g}"
            )
    for metric, allowed in sorted(spec.quality.max_drop.items()):
        value, offline = quality.metrics.get(metric, float("nan")), quality.offline.get(metric, float("nan"))
        drop = shortfall(metric, value, offline)
        if math.isnan(drop):
            notes.append(f"live {metric} cannot be compared with the offline {metric}: its drop is not judged")
        elif drop > allowed:
            reasons.append(
                f"live {metric} {value:.4f} is {drop:.4f} worse than offline {offline:.4f}, "
                f"more than the allowed {allowed:g}"
            )
    return reasons, notes


def decide(
    requests: int,
    labelled: int,
    model_labelled: int,
    distances: list[Distance],
    unmeasured: list[str],
    quality: LiveQuality | None,
    spec: MonitoringSpec,
    unlogged: Sequence[str] = (),
    task: str = "classification",
) -> Decision:
    """Decides whether to retrain from the evidence of a window.

    Args:
        requests: Request rows in the window.
        labelled: Feedback rows with a truth, every model version (what retraining learns from).
        model_labelled: Labelled feedback rows of the monitored model (scored or not).
        distances: Drift distances of the measured features.
        unmeasured: Logged features without a distance (no values served).
        quality: Live quality, or None when it was not computed.
        spec: The monitoring thresholds.
        unlogged: Features the logs do not hold (serving.log_exclude): never measured, and missing
            from every feedback row, so retraining from feedback is blocked while any is.
        task: The monitored model's task (``classification`` or ``regression``), for the notes.
    """
    reasons: list[str] = []
    notes: list[str] = []
    drift_judged = requests >= spec.min_requests
    if requests == 0:
        notes.append("the window holds no logged requests: drift not judged")
    elif not drift_judged:
        notes.append(
            f"{requests} requests in the window, fewer than monitoring.min_requests {spec.min_requests}: "
            "drift measured but not judged"
        )
    if drift_judged:
        drifted = [d for d in distances if d.alerts]
        trigger = spec.retrain_on_drift
        if trigger.count and len(drifted) >= trigger.count:
            listed = ", ".join(f"{d.feature} {d.measure} {d.value:.3f} > {d.threshold:g}" for d in drifted)
            reasons.append(f"{len(drifted)} features drifted (retrain_on_drift.count {trigger.count}): {listed}")
        for distance in drifted:
            if distance.feature in trigger.features:
                reasons.append(
                    f"{distance.feature} drifted: {distance.measure} {distance.value:.3f} > {distance.threshold:g} "
                    "(named in retrain_on_drift.features)"
                )
        if unmeasured:
            notes.append(f"no values served for {', '.join(unmeasured)}: their drift is not measured")
    if unlogged:
        notes.append(f"{', '.join(unlogged)} {NOT_LOGGED}: drift not measured")
    quality_judged = quality is not None and quality.rows >= spec.quality.min_rows
    if model_labelled == 0:
        notes.append("no ground truth arrived in the window for the monitored model: live quality not judged")
    elif quality is None:
        why = (
            "truth not a number, or no predicted number"
            if task == "regression"
            else "truth not one of the model's classes, or a class without probability"
        )
        notes.append(
            f"{model_labelled} labelled rows of the monitored model, none scorable ({why}): live quality not judged"
        )
    elif not quality_judged:
        notes.append(
            f"{quality.rows} labelled rows, fewer than monitoring.quality.min_rows {spec.quality.min_rows}: "
            "live quality measured but not judged"
        )
    else:
        found, unjudged = quality_reasons(quality, spec)
        reasons += found
        notes += unjudged
    if reasons and not labelled:
        notes.append(
            "retraining would be due, but no labelled feedback arrived in the window: nothing new to learn from"
        )
        return Decision(False, DRIFT_WITHOUT_FEEDBACK, tuple(reasons), tuple(notes))
    if reasons and unlogged:
        notes.append(
            f"retraining would be due, but feedback rows lack {', '.join(unlogged)} (serving.log_exclude): "
            "retraining from feedback is refused; drop it from the features or from serving.log_exclude"
        )
        return Decision(False, RETRAIN_BLOCKED, tuple(reasons), tuple(notes))
    if reasons:
        return Decision(True, RETRAIN, tuple(reasons), tuple(notes))
    return Decision(False, HEALTHY if drift_judged or quality_judged else INSUFFICIENT, (), tuple(notes))


# --- the shell -------------------------------------------------------------------------------


def monitor(
    config: UseCaseConfig,
    schema: schema_pb2.Schema,
    store: ObjectStore,
    window: Window,
    model: str = "production",
    work_dir: Path | None = None,
) -> MonitoringResult:
    """Monitors a served model over a window of the serving logs.

    Args:
        config: The use case (monitoring thresholds, slices).
        schema: The curated schema (types, and the SERVING environment).
        store: The object store: logs, registry and dataset versions.
        window: The window.
        model: The monitored model: ``production`` (default), ``staging``, ``latest`` or a version id.
        work_dir: Scratch folder (a temporary one when None).

    Raises:
        NotFoundError: If the model reference names no model version.
        DataError: If the model's lineage names no dataset version.
    """
    try:
        ref = registry.resolve(store, config.name, model)
    except NotFoundError as error:
        raise NotFoundError(
            f"nothing to monitor: {error.message}",
            hint="deploy a model first (`make run` here, `mlcycle promote` on a cluster), "
            "or name another one (--model)",
        ) from None
    manifest = registry.read_manifest(store, ref)
    dataset_version = manifest["lineage"].get("dataset_version")
    if not dataset_version:
        raise DataError(
            f"model {ref.version} of {config.name!r} records no dataset version: "
            "there are no training statistics to compare with",
            hint="monitor a model registered by the training pipeline",
        )
    task = registry.model_task(manifest)
    classes = None
    if task == "classification":
        card = registry.read_cards(store, ref).data
        classes = card.get("classes") or manifest["lineage"].get("training", {}).get("classes")
    requests = read_logs(store, config.name, REQUESTS, window)
    feedback = read_logs(store, config.name, FEEDBACK, window)
    features = config.features.all()
    unlogged = unlogged_features(config, [*requests.lines, *feedback.lines])
    logged = [name for name in features if name not in unlogged]
    served = to_frame(requests.lines, logged)
    answered = to_frame(feedback.lines, logged)  # a slice column not logged has no live slices
    seed = config.training.seed
    sampled = sample_rows(served, config.monitoring.max_rows, seed)

    with tempfile.TemporaryDirectory(prefix="mlcycle-monitor-", dir=work_dir) as folder:
        # Computed, never stored: monitoring's identity only reads (components/common/s3_roles.py).
        training = statistics_of(
            store, datasets.resolve(store, config.name, dataset_version), config, Path(folder), schema, keep=False
        )
    train = split_statistics(training, "train")
    distances: list[Distance] = []
    unmeasured: list[str] = logged
    findings: list[Finding] = []
    statistics = statistics_pb2.DatasetFeatureStatisticsList(datasets=list(train.datasets))
    if len(sampled):
        frame = serving_frame(features_of(sampled), config, schema, unlogged)
        serving = statistics_in_process({SERVED: frame}, schema)
        statistics.datasets.append(serving.datasets[0])
        distances, unmeasured, findings = measure_drift(serving, train, schema, config, unlogged)

    labelled_rows = labelled_feedback(answered)
    own = labelled_rows[labelled_rows["model_version"] == ref.version]
    quality = None
    offline = manifest["lineage"].get("metrics", {})
    scored = sample_rows(own, config.monitoring.max_rows, seed)
    with contextlib.suppress(DataError):  # no scorable row: the decision's note says so
        if len(own) and task == "regression":
            quality = live_regression_quality(scored, offline, config)
        elif len(own) and classes:
            quality = live_quality(scored, list(classes), offline, config)
    labelled = len(labelled_rows)
    decision = decide(
        len(served), labelled, len(own), distances, unmeasured, quality, config.monitoring, unlogged, task
    )
    return MonitoringResult(
        use_case=config.name,
        model_version=ref.version,
        dataset_version=dataset_version,
        window=window,
        requests=len(served),
        feedback=len(answered),
        labelled=labelled,
        by_model=_by_model(served, answered),
        sampled=len(sampled) if len(sampled) < len(served) else None,
        distances=distances,
        unmeasured=unmeasured,
        unlogged=list(unlogged),
        findings=findings,
        quality=quality,
        decision=decision,
        statistics=statistics,
        objects={REQUESTS: requests.objects, FEEDBACK: feedback.objects},
        malformed={
            kind: sum(rows.malformed.values())
            for kind, rows in ((REQUESTS, requests), (FEEDBACK, feedback))
            if rows.malformed
        },
    )


def _by_model(served: pd.DataFrame, answered: pd.DataFrame) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for kind, frame in ((REQUESTS, served), (FEEDBACK, answered)):
        for version, rows in frame.groupby(frame["model_version"].fillna("(unknown)")):
            counts.setdefault(str(version), {REQUESTS: 0, FEEDBACK: 0})[kind] = len(rows)
    return counts
