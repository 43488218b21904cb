"""Stage 5: analyse a candidate model against the model in production, and bless it or not.

On the test split: overall metrics, the confusion matrix and ROC curve, metrics per slice with the
largest gap between slices, two baselines computed in the same run (majority class and a plain
logistic regression on the same features), and the champion (the production model) scored on the
same rows. The blessing follows the config: absolute floors, and "not worse than the champion by
more than a margin"; with no champion the floors alone decide. It is a value, never an exception.
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
        if self.champion:
            figures["champion_roc_auc"] = self.champion["metrics"]["roc_auc"]
        return figures


def bless(candidate: Mapping[str, float], champion: Mapping[str, float] | None, spec: BlessingSpec) -> Blessing:
    """Decides whether a candidate is good enough.

    A metric that is missing (NaN) for the candidate, or for the champion it is compared with, refuses the
    blessing, and its reason says the metric is missing.

    Args:
        candidate: The candidate's test metrics.
        champion: The production model's metrics on the same rows, or None when there is none.
        spec: Floors and allowed regressions per metric.
    """
    reasons, blessed = [], True
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
        reasons.append("no model in production: the floors alone decide")
    else:
        for metric, margin in sorted(spec.max_regression.items()):
            value, best = candidate.get(metric, float("nan")), champion.get(metric, float("nan"))
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


def analyse_model(
    model: Pipeline,
    train: pd.DataFrame,
    test: pd.DataFrame,
    config: UseCaseConfig,
    champion: Pipeline | None = None,
    champion_version: str | None = None,
) -> Analysis:
    """Analyses a candidate on the test split and decides its blessing.

    Args:
        model: The candidate (full pipeline).
        train: The rows it was trained on (for the baselines).
        test: The test split.
        config: The use case (slices, thresholds).
        champion: The production model, scored on the same rows; None when there is none.
        champion_version: Its registry version, for the record.
    """
    _, labels = split_xy(test, config)
    labels = labels.to_numpy()
    classes = list(model.classes_)
    proba = predict_proba(model, test, config)
    metrics = classification_metrics(labels, proba, classes)
    slices, gaps = slice_metrics(test, labels, proba, classes, config.analysis.slices, config.analysis.min_slice_rows)
    champion_record = None
    if champion is not None:
        champion_metrics = classification_metrics(
            labels, predict_proba(champion, test, config), list(champion.classes_)
        )
        champion_record = {"version": champion_version, "metrics": champion_metrics}
    blessing = bless(metrics, champion_record["metrics"] if champion_record else None, config.analysis.blessing)
    return Analysis(
        metrics=metrics,
        classes=[c.item() if hasattr(c, "item") else c for c in classes],
        confusion=confusion(labels, proba, classes),
        roc=roc_points(labels, proba, classes),
        slices=slices,
        slice_gaps=gaps,
        baselines=baselines(train, test, config),
        champion=champion_record,
        blessing=blessing,
        rows=int(len(test)),
    )
