"""The results of monitoring: live quality, the decision, and everything one run found, as plain objects.

Monitoring (:mod:`components.monitor.logic`) makes them; its report (:mod:`components.monitor.report`)
and the task's outputs take them.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from tensorflow_metadata.proto.v0 import statistics_pb2

from components.common.serving_logs import Window
from components.validate.results import Distance, Finding

# Statuses of a decision.
RETRAIN, HEALTHY, INSUFFICIENT, DRIFT_WITHOUT_FEEDBACK, RETRAIN_BLOCKED = (
    "retrain",
    "healthy",
    "insufficient_evidence",
    "drift_without_feedback",
    "retrain_blocked",
)
SERVED = "serving"  # the name of the served rows' statistics, beside the training split's
NOT_LOGGED = "not logged (serving.log_exclude)"  # why a feature kept out of the logs has no distance


@dataclass
class LiveQuality:
    """The monitored model's quality on served rows whose ground truth came back.

    Attributes:
        rows: Labelled rows scored.
        metrics: Live metrics (those of model analysis: RMSE, MAE and R² for a regressor).
        offline: The model's metrics on its test split, from the registry.
        classes: The model's classes, in probability column order (empty for a regressor).
        confusion: Confusion matrix, rows true classes, columns predicted ones (empty for a regressor).
        roc: Points of the ROC curve of the positive (last) class (empty for a regressor).
        slices: Metrics per value of each slice column (analysis.slices).
        slice_gaps: Largest gap between slices per column.
        excluded: Feedback rows of the model left out, by reason.
        task: ``classification`` or ``regression``.
    """

    rows: int
    metrics: dict[str, float]
    offline: dict[str, float]
    classes: list[Any]
    confusion: list[list[int]]
    roc: list[tuple[float, float, float]]
    slices: dict[str, list[dict[str, Any]]]
    slice_gaps: dict[str, dict[str, Any]]
    excluded: dict[str, int] = field(default_factory=dict)
    task: str = "classification"

    @property
    def shown_metrics(self) -> tuple[str, ...]:
        """The headline metrics of the task: ROC-AUC, PR-AUC and accuracy, or RMSE, MAE and R²."""
        return ("rmse", "mae", "r2") if self.task == "regression" else ("roc_auc", "pr_auc", "accuracy")


@dataclass(frozen=True)
class Decision:
    """Whether to retrain, and why.

    Attributes:
        retrain: The gate: True when retraining is due and there is labelled feedback to learn from.
        status: ``retrain``, ``healthy``, ``insufficient_evidence``, ``drift_without_feedback`` or
            ``retrain_blocked`` (due, but the feedback lacks features kept out of the logs).
        reasons: What passed a threshold, each naming the measure, its value and the threshold.
        notes: What could not be judged and why (empty window, too few requests, no ground truth...).
    """

    retrain: bool
    status: str
    reasons: tuple[str, ...]
    notes: tuple[str, ...]


@dataclass
class MonitoringResult:
    """Everything one monitoring run found.

    Attributes:
        use_case: The use case.
        model_version: The monitored model.
        dataset_version: The dataset version it was trained on (drift reference: its train split).
        window: The window read.
        requests: Logged request rows in the window (every model version).
        feedback: Logged feedback rows in the window (every model version).
        labelled: Feedback rows with a truth (every model version), each request row once (the later line
            of a retry or correction): what retraining can learn from.
        by_model: Request and feedback rows per model version.
        sampled: Rows the statistics were computed on, when the window held more than max_rows.
        distances: The drift distance of every feature measured.
        unmeasured: Logged features without a distance (no values in the window).
        unlogged: Features the logs do not hold (serving.log_exclude): no statistics, no distance,
            no alert; listed as :data:`NOT_LOGGED`.
        findings: Drift alerts and schema anomalies of the served data.
        quality: Live quality (None when not judged).
        decision: The decision.
        statistics: Training (``train``) and served (``serving``) statistics, for the report.
        objects: Log objects read, by kind.
        malformed: Log lines skipped as malformed, by kind.
    """

    use_case: str
    model_version: str
    dataset_version: str
    window: Window
    requests: int
    feedback: int
    labelled: int
    by_model: dict[str, dict[str, int]]
    sampled: int | None
    distances: list[Distance]
    unmeasured: list[str]
    findings: list[Finding]
    quality: LiveQuality | None
    decision: Decision
    statistics: statistics_pb2.DatasetFeatureStatisticsList
    objects: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    malformed: dict[str, int] = field(default_factory=dict)
    unlogged: list[str] = field(default_factory=list)

    @property
    def drifted(self) -> list[str]:
        """Features whose distance passed their threshold."""
        return sorted(d.feature for d in self.distances if d.alerts)

    def summary(self) -> str:
        """A few lines for a person: the decision, its reasons and notes."""
        decision = self.decision
        head = (
            f"monitoring {self.use_case} model {self.model_version}, {self.window.label()}: {decision.status.upper()} "
            f"(retrain: {'yes' if decision.retrain else 'no'}); {self.requests} requests, "
            f"{self.feedback} feedback rows ({self.labelled} labelled)"
        )
        lines = [head, *(f"  reason: {r}" for r in decision.reasons), *(f"  note:   {n}" for n in decision.notes)]
        if self.distances:
            top = sorted(self.distances, key=lambda d: -d.value / max(d.threshold, 1e-9))[:5]
            lines.append("  drift:  " + ", ".join(f"{d.feature} {d.value:.3f}/{d.threshold:g}" for d in top))
        if self.quality:
            shown = ", ".join(
                f"{m} {self.quality.metrics[m]:.4f} (offline {self.quality.offline.get(m, float('nan')):.4f})"
                for m in self.quality.shown_metrics
            )
            lines.append(f"  live:   {shown} on {self.quality.rows} rows")
        return "\n".join(lines)

    def metrics(self) -> dict[str, float]:
        """Flat metrics for KFP: counts, every drift distance, and the live metrics."""
        values: dict[str, float] = {
            "retrain": float(self.decision.retrain),
            "requests": float(self.requests),
            "feedback": float(self.feedback),
            "labelled": float(self.labelled),
            "drifted_features": float(len(self.drifted)),
            "unlogged_features": float(len(self.unlogged)),
        }
        values.update({f"drift_{d.feature}_{d.measure}": round(d.value, 6) for d in self.distances})
        if self.quality:
            values.update(
                {
                    f"live_{name}": round(value, 6)
                    for name, value in self.quality.metrics.items()
                    if not math.isnan(value)
                }
            )
        return values

    def to_json(self) -> dict[str, Any]:
        """Plain data of the whole result (statistics aside), for the result artifact."""
        return {
            "use_case": self.use_case,
            "model_version": self.model_version,
            "dataset_version": self.dataset_version,
            "window": self.window.to_json(),
            "requests": self.requests,
            "feedback": self.feedback,
            "labelled": self.labelled,
            "by_model": self.by_model,
            "sampled": self.sampled,
            "decision": dataclasses.asdict(self.decision),
            "drifted": self.drifted,
            "distances": [dataclasses.asdict(d) for d in self.distances],
            "unmeasured": self.unmeasured,
            "unlogged": {name: NOT_LOGGED for name in self.unlogged},
            "findings": [dataclasses.asdict(f) for f in self.findings],
            "quality": dataclasses.asdict(self.quality) if self.quality else None,
            "objects": self.objects,
            "malformed": self.malformed,
        }
