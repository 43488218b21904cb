"""Stage 5: analyse a candidate model against the model in production, and bless it or not.

On the test split: overall metrics, the confusion matrix and ROC curve, metrics per slice with the
largest gap between slices, two baselines computed in the same run (majority class and a plain
logistic regression on the same features), and the champion (the production model) scored on the
same rows. The blessing follows the config: absolute floors, and "not worse than the champion by
more than a margin"; with no champion the floors alone decide. It is a value, never an exception.

The champion is scored with its own features (it may use one the candidate's config dropped), on the
test rows it was not trained on: a test row that was in the champion's training split (it came from
another dataset version, or the split changed) would flatter it, so the comparison leaves such rows
out and says how many. When the dataset lacks a feature the champion needs, the comparison is not
made, and the blessing says so and falls back on the floors.
The model card (model_card.py) is built from the analysis; the task around both is in task.py.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from components.common.config import BlessingSpec, UseCaseConfig
from components.common.metrics import LOWER_IS_BETTER, classification_metrics, confusion, roc_points
from components.preprocess.logic import model_pipeline
from components.train.logic import predict_proba, split_xy


@dataclass(frozen=True)
class Blessing:
    """The decision and every reason for it, each naming the metric, its value and the bar."""

    blessed: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class ChampionTraining:
    """What is known of the rows the champion was trained on.

    Attributes:
        dataset_version: The dataset version its registry manifest names (None when it names none).
        rows: That version's train split, None when it is unknown.
        unknown: Why the rows are unknown (empty when they are known).
    """

    dataset_version: str | None
    rows: pd.DataFrame | None = None
    unknown: str = ""


@dataclass
class Analysis:
    """What model analysis found on the test split."""

    metrics: dict[str, float]
    classes: list[Any]
    confusion: list[list[int]]
    roc: list[tuple[float, float, float]]
    slices: dict[str, list[dict[str, Any]]]
    slice_gaps: dict[str, dict[str, Any]]
    baselines: dict[str, dict[str, float]]
    champion: dict[str, Any] | None
    blessing: Blessing
    rows: int
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the model card and the registry."""
        return asdict(self)

    def scalar_metrics(self) -> dict[str, float]:
        """The figures a pipeline UI shows: the test metrics, each baseline's and the champion's ROC-AUC."""
        figures = dict(self.metrics)
        figures.update({f"baseline_{name}_roc_auc": values["roc_auc"] for name, values in self.baselines.items()})
        if self.champion and self.champion.get("metrics"):
            figures["champion_roc_auc"] = self.champion["metrics"]["roc_auc"]
        return figures


def bless(
    candidate: Mapping[str, float],
    champion: Mapping[str, float] | None,
    spec: BlessingSpec,
    compared_candidate: Mapping[str, float] | None = None,
    not_compared: str = "",
    baselines: Mapping[str, Mapping[str, float]] | None = None,
) -> Blessing:
    """Decides whether a candidate is good enough.

    With no floors configured, the baselines of the same run stand in for them: the candidate must beat
    the majority-class baseline and lose at most ``spec.max_loss_to_baseline`` to the logistic-regression
    baseline on ``spec.baseline_metric``, so a model worse than a plain linear one is never blessed by default.

    A metric that is missing (NaN) for the candidate, or for the champion it is compared with, refuses the
    blessing, and its reason says the metric is missing.

    Args:
        candidate: The candidate's test metrics (held against the floors).
        champion: The production model's metrics on the compared rows, or None when there is none or it
            could not be compared.
        spec: Floors and allowed regressions per metric.
        compared_candidate: The candidate's metrics on the rows the champion was scored on, when these are
            fewer than the test split; ``candidate`` otherwise.
        not_compared: Why a model in production could not be compared (empty when there is none, or it was).
        baselines: The baselines' test metrics by name (``majority_class``, ``logistic_regression``).
    """
    reasons, blessed = [], True
    if not spec.floors and baselines:
        baseline_blessed, baseline_reasons = _against_baselines(candidate, baselines, spec)
        blessed &= baseline_blessed
        reasons.extend(baseline_reasons)
    for metric, floor in sorted(spec.floors.items()):
        value = candidate.get(metric, float("nan"))
        lower = metric in LOWER_IS_BETTER
        bound = f"the {'ceiling' if lower else 'floor'} {floor:g}"
        if math.isnan(value):
            blessed = False
            reasons.append(f"{metric} is missing (NaN): it misses {bound}, not blessed")
            continue
        ok = value <= floor if lower else value >= floor
        blessed &= ok
        reasons.append(f"{metric} {value:.4f} {'meets' if ok else 'misses'} {bound}")
    if champion is None:
        deciders = "the floors alone decide" if spec.floors or not baselines else "the baselines alone decide"
        reasons.append(f"{not_compared}: {deciders}" if not_compared else f"no model in production: {deciders}")
    else:
        compared = candidate if compared_candidate is None else compared_candidate
        for metric, margin in sorted(spec.max_regression.items()):
            value, best = compared.get(metric, float("nan")), champion.get(metric, float("nan"))
            # A missing figure cannot be compared: the refusal must say so, not read "not worse".
            missing = [who for who, figure in (("candidate", value), ("champion", best)) if math.isnan(figure)]
            if missing:
                blessed = False
                reasons.append(
                    f"{metric} is missing (NaN) for the {' and the '.join(missing)}: "
                    "the comparison with the champion cannot be made, not blessed"
                )
                continue
            loss = (value - best) if metric in LOWER_IS_BETTER else (best - value)
            ok = loss <= margin
            blessed &= ok
            reasons.append(
                f"{metric} {value:.4f} against the champion's {best:.4f}: "
                + (f"{'within' if ok else 'worse than'} the allowed loss {margin:g}" if loss > 0 else "not worse")
            )
    return Blessing(bool(blessed), tuple(reasons))


def _against_baselines(
    candidate: Mapping[str, float], baselines: Mapping[str, Mapping[str, float]], spec: BlessingSpec
) -> tuple[bool, list[str]]:
    """The default gate when no floors are configured: beat the majority class, stay near the linear model."""
    metric, margin = spec.baseline_metric, spec.max_loss_to_baseline
    lower = metric in LOWER_IS_BETTER
    value = candidate.get(metric, float("nan"))
    majority = baselines.get("majority_class", {}).get(metric, float("nan"))
    linear = baselines.get("logistic_regression", {}).get(metric, float("nan"))
    prefix = "no floors configured, so the baselines of this run decide"
    if math.isnan(value) or math.isnan(majority) or math.isnan(linear):
        return False, [f"{prefix}: {metric} is missing (NaN) for the candidate or a baseline, not blessed"]
    beats = value < majority if lower else value > majority
    loss = (value - linear) if lower else (linear - value)
    close = loss <= margin
    return beats and close, [
        f"{prefix}: {metric} {value:.4f} {'beats' if beats else 'does not beat'} the majority-class baseline's "
        f"{majority:.4f}",
        f"{metric} {value:.4f} against the logistic-regression baseline's {linear:.4f}: "
        + (f"{'within' if close else 'worse than'} the allowed loss {margin:g}" if loss > 0 else "not worse"),
    ]


def slice_metrics(
    frame: pd.DataFrame,
    labels: np.ndarray,
    proba: np.ndarray,
    classes: list[Any],
    columns: tuple[str, ...],
    min_rows: int,
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, dict[str, Any]]]:
    """Metrics for every value of each slice column with at least ``min_rows`` rows, and the largest gap.

    Returns:
        (slices by column: rows and metrics per value, largest ROC-AUC and accuracy gap per column).
    """
    slices, gaps = {}, {}
    for column in columns:
        entries = []
        values = frame[column].astype(object).where(frame[column].notna(), "(missing)").to_numpy()
        for value in pd.unique(values):
            mask = values == value
            if mask.sum() < min_rows:
                continue
            metrics = classification_metrics(labels[mask], proba[mask], classes)
            entries.append(
                {
                    "value": value.item() if hasattr(value, "item") else value,
                    "rows": int(mask.sum()),
                    "metrics": metrics,
                }
            )
        entries.sort(key=lambda e: -e["rows"])
        slices[column] = entries
        gap = {}
        for metric in ("roc_auc", "accuracy"):
            scored = [e for e in entries if not math.isnan(e["metrics"][metric])]
            if len(scored) >= 2:
                worst = min(scored, key=lambda e: e["metrics"][metric])
                best = max(scored, key=lambda e: e["metrics"][metric])
                gap[metric] = {
                    "gap": best["metrics"][metric] - worst["metrics"][metric],
                    "best": best["value"],
                    "worst": worst["value"],
                }
        gaps[column] = gap
    return slices, gaps


def baselines(train: pd.DataFrame, test: pd.DataFrame, config: UseCaseConfig) -> dict[str, dict[str, float]]:
    """Scores of two baselines on the test split: the majority class and a plain logistic regression."""
    features, labels = split_xy(train, config)
    test_features, test_labels = split_xy(test, config)
    results = {}
    models = {
        "majority_class": DummyClassifier(strategy="prior"),
        "logistic_regression": model_pipeline(config, LogisticRegression(max_iter=2000)),
    }
    for name, model in models.items():
        if isinstance(model, DummyClassifier):
            model = Pipeline([("model", model)])
        model.fit(features, labels)
        results[name] = classification_metrics(
            test_labels.to_numpy(), model.predict_proba(test_features), model.classes_
        )
    return results


def champion_features(champion: Pipeline, config: UseCaseConfig) -> list[str]:
    """The columns the champion was fitted on (its own config's features), else the use case's features."""
    names = getattr(champion, "feature_names_in_", None)
    return [str(name) for name in names] if names is not None else list(config.features.all())


def overlap_columns(config: UseCaseConfig, test: pd.DataFrame, trained: pd.DataFrame) -> list[str]:
    """The columns that identify a row across dataset versions: the split key, else every shared column.

    A hash split has a key (unless it hashes the whole row). A time split has none, so a row is matched
    by all the columns both frames hold except the label (a changed label rule must not hide a row the champion saw).
    """
    if config.split.method == "hash" and config.split.key and not config.split.hashes_whole_row:
        return list(config.split.key)
    return [c for c in test.columns if c in trained.columns and c != config.target.name]


def rows_in(test: pd.DataFrame, trained: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Which test rows have values in ``columns`` that some trained row has.

    Rows are compared by a 64-bit hash of their values, each value in a form that does not depend on how
    a dataset version typed its column: numbers (and text that reads as a number) as float64, other text
    as text, instants as UTC nanoseconds. So a key read as integers in one version and as text or floats
    in another still matches.
    """
    if not columns:
        return np.zeros(len(test), dtype=bool)
    return np.isin(row_hashes(test, columns), row_hashes(trained, columns))


def row_hashes(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """A 64-bit hash per row of the values in ``columns`` (see :func:`rows_in`)."""
    combined = np.zeros(len(frame), dtype=np.uint64)
    with np.errstate(over="ignore"):  # the combination wraps around on purpose
        for column in columns:
            combined = combined * np.uint64(1_000_003) + _value_hashes(frame[column])
    return combined


def _value_hashes(values: pd.Series) -> np.ndarray:
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(values):
        instants = pd.to_datetime(values, utc=True)
        return pd.util.hash_array(instants.to_numpy(dtype="datetime64[ns]").view("int64"))
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return pd.util.hash_array(values.to_numpy(dtype="float64", na_value=np.nan))
    objects = values.astype(object)
    numbers = pd.to_numeric(objects, errors="coerce").to_numpy(dtype="float64")
    texts = pd.util.hash_array(objects.astype(str).to_numpy(dtype=object))
    hashes = np.where(np.isnan(numbers), texts, pd.util.hash_array(numbers))
    return np.where(values.isna().to_numpy(), pd.util.hash_array(np.array([np.nan]))[0], hashes)


def compare_with_champion(
    champion: Pipeline,
    version: str | None,
    test: pd.DataFrame,
    labels: np.ndarray,
    proba: np.ndarray,
    classes: list[Any],
    config: UseCaseConfig,
    training: ChampionTraining | None = None,
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Scores the champion with its own features on the test rows it was not trained on.

    Args:
        champion: The production model.
        version: Its registry version.
        test: The candidate's test split.
        labels: Its labels.
        proba: The candidate's probabilities on it.
        classes: The candidate's classes.
        config: The use case.
        training: What is known of the champion's training rows (None: nothing).

    Returns:
        The champion record (``compared``, ``not_compared``, its features, ``rows`` compared, its
        ``metrics`` and the candidate's on the same rows, ``training_overlap``) and notes for the blessing.
    """
    features = champion_features(champion, config)
    record: dict[str, Any] = {
        "version": version,
        "compared": False,
        "not_compared": "",
        "features": features,
        "rows": 0,
        "metrics": None,
        "candidate_metrics": None,
    }
    record["training_overlap"], in_training, notes = _training_overlap(test, config, training)
    missing = [name for name in features if name not in test.columns]
    if missing:
        record["not_compared"] = (
            f"not compared with the champion {version}: the test split lacks "
            f"{', '.join(map(repr, missing))}, which it needs (the dataset version no longer holds "
            f"{'these columns' if len(missing) > 1 else 'this column'})"
        )
        return record, notes
    keep = ~in_training
    if not keep.any():
        record["not_compared"] = f"not compared with the champion {version}: every test row was in its training split"
        return record, notes
    champion_proba = champion.predict_proba(test.loc[keep, features])
    record.update(
        compared=True,
        rows=int(keep.sum()),
        metrics=classification_metrics(labels[keep], champion_proba, list(champion.classes_)),
        candidate_metrics=classification_metrics(labels[keep], proba[keep], classes),
    )
    return record, notes


def _training_overlap(
    test: pd.DataFrame, config: UseCaseConfig, training: ChampionTraining | None
) -> tuple[dict[str, Any], np.ndarray, tuple[str, ...]]:
    """How many test rows were in the champion's train split: the record, the rows' mask, notes for the blessing."""
    nothing = np.zeros(len(test), dtype=bool)
    if training is None:
        return {"dataset_version": None, "rows": None, "matched_by": []}, nothing, ()
    record: dict[str, Any] = {"dataset_version": training.dataset_version, "rows": None, "matched_by": []}
    if training.rows is None:
        reason = training.unknown or "its training rows were not given"
    else:
        columns = overlap_columns(config, test, training.rows)
        absent = [c for c in columns if c not in test.columns or c not in training.rows.columns]
        record["matched_by"] = columns
        reason = (
            f"the key column(s) {', '.join(absent)} are not in both splits"
            if absent
            else ("the splits share no column" if not columns else "")
        )
    if reason:
        record["unknown"] = reason
        return (
            record,
            nothing,
            (f"whether the champion was trained on test rows is unknown ({reason}): the comparison may favour it",),
        )
    mask = rows_in(test, training.rows, record["matched_by"])
    record["rows"] = int(mask.sum())
    if not mask.any():
        return record, mask, ()
    columns = record["matched_by"]
    shown = ", ".join(columns) if len(columns) <= 3 else f"{len(columns)} columns"
    return (
        record,
        mask,
        (
            f"{int(mask.sum())} of {len(test)} test rows were in the champion's training split (dataset version "
            f"{training.dataset_version}, matched by {shown}): the comparison leaves them out",
        ),
    )


def analyse_model(
    model: Pipeline,
    train: pd.DataFrame,
    test: pd.DataFrame,
    config: UseCaseConfig,
    champion: Pipeline | None = None,
    champion_version: str | None = None,
    champion_training: ChampionTraining | None = None,
) -> Analysis:
    """Analyses a candidate on the test split and decides its blessing.

    Args:
        model: The candidate (full pipeline).
        train: The rows it was trained on (for the baselines).
        test: The test split.
        config: The use case (slices, thresholds).
        champion: The production model, scored on the same rows; None when there is none.
        champion_version: Its registry version, for the record.
        champion_training: What is known of the champion's training rows, to leave them out of the comparison.
    """
    _, labels = split_xy(test, config)
    labels = labels.to_numpy()
    classes = list(model.classes_)
    proba = predict_proba(model, test, config)
    metrics = classification_metrics(labels, proba, classes)
    slices, gaps = slice_metrics(test, labels, proba, classes, config.analysis.slices, config.analysis.min_slice_rows)
    champion_record, notes = None, ()
    if champion is not None:
        champion_record, notes = compare_with_champion(
            champion, champion_version, test, labels, proba, classes, config, champion_training
        )
    baseline_metrics = baselines(train, test, config)
    decision = bless(
        metrics,
        champion_record["metrics"] if champion_record else None,
        config.analysis.blessing,
        compared_candidate=champion_record["candidate_metrics"] if champion_record else None,
        not_compared=champion_record["not_compared"] if champion_record else "",
        baselines=baseline_metrics,
    )
    blessing = Blessing(decision.blessed, decision.reasons + tuple(notes))
    return Analysis(
        metrics=metrics,
        classes=[c.item() if hasattr(c, "item") else c for c in classes],
        confusion=confusion(labels, proba, classes),
        roc=roc_points(labels, proba, classes),
        slices=slices,
        slice_gaps=gaps,
        baselines=baseline_metrics,
        champion=champion_record,
        blessing=blessing,
        rows=int(len(test)),
    )
