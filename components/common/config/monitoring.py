"""Monitoring of the served model (stage 8), and the production feedback a retraining ingests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone

from components.common.config.analysis import check_metrics
from components.common.config.data import SPLITS
from components.common.config.loader import check_known
from components.common.config.validation import Thresholds, check_thresholds
from components.common.errors import ConfigError


@dataclass(frozen=True)
class DriftTrigger:
    """When drift of the served data alone makes retraining due.

    Attributes:
        count: Retrain when at least this many features drift beyond their thresholds; 0 leaves
            the decision to ``features``.
        features: Features whose drift alone makes retraining due.
    """

    count: int = 1
    features: tuple[str, ...] = ()


@dataclass(frozen=True)
class LiveQualitySpec:
    """Live quality: the model's metrics on served rows whose ground truth came back as feedback.

    Attributes:
        min_rows: Fewest labelled rows of the monitored model for its live quality to be judged.
        floors: Lowest acceptable live value per metric (the lower-is-better log_loss, brier, rmse and
            mae: highest acceptable). A regressor's metrics are rmse, mae and r2.
        max_drop: Largest allowed loss of each metric against the model's offline test metrics
            (absolute units of the metric; for rmse and mae a loss is a rise).
        min_slice_rows: Slices (analysis.slices) with fewer labelled rows are left out.
    """

    min_rows: int = 200
    floors: Mapping[str, float] = field(default_factory=dict)
    max_drop: Mapping[str, float] = field(default_factory=dict)
    min_slice_rows: int = 50


@dataclass(frozen=True)
class MonitoringSpec:
    """Monitoring of the served model and when to retrain it (stage 8).

    Attributes:
        window_hours: The window a run looks at when none is given: the last N hours ending now.
        min_requests: Fewest logged rows in the window for drift to be judged.
        max_rows: At most this many rows of the window (a seeded sample) enter statistics and live
            quality; 0 uses all.
        drift: Thresholds of the served data against the model's training statistics (numeric:
            Jensen-Shannon divergence, categorical: L-infinity distance; datetime features are
            measured but alert only with a threshold of their own).
        retrain_on_drift: When drift makes retraining due.
        quality: Live quality and when its loss makes retraining due.
        feedback_split: Shares of the window's labelled feedback rows that join train, eval and
            test when retraining, in order of time: the oldest train, the newest test.
        schedule: Cron expression of the continuous-training run on a cluster (six fields, seconds
            first, as KFP recurring runs take it).
    """

    window_hours: int = 24
    min_requests: int = 100
    max_rows: int = 100_000
    drift: Thresholds = field(default_factory=Thresholds)
    retrain_on_drift: DriftTrigger = field(default_factory=DriftTrigger)
    quality: LiveQualitySpec = field(default_factory=LiveQualitySpec)
    feedback_split: Mapping[str, float] = field(default_factory=lambda: {"train": 0.7, "eval": 0.15, "test": 0.15})
    schedule: str = "0 0 2 * * *"


@dataclass(frozen=True)
class FeedbackSpec:
    """Labelled production feedback ingested with the sources, as a new dataset version (retraining).

    Written into the use case by the retraining step of monitoring; a person may set it too, to
    retrain on a chosen window.

    Attributes:
        start: First instant of the window (ISO 8601; UTC when no zone is given).
        end: End of the window (exclusive).
    """

    start: str
    end: str


def parse_instant(text: str, what: str) -> datetime:
    """Reads an ISO 8601 instant such as ``2026-11-27T08:00:00Z``; without a zone it is UTC.

    Raises:
        ConfigError: If the text is not an ISO 8601 date or time.
    """
    try:
        instant = datetime.fromisoformat(str(text).strip())
    except ValueError:
        raise ConfigError(f"{what} {text!r} is not an ISO 8601 time", hint="for example 2026-11-27T08:00:00Z") from None
    return instant.replace(tzinfo=timezone.utc) if instant.tzinfo is None else instant.astimezone(timezone.utc)


def check_monitoring(monitoring: MonitoringSpec, features: tuple[str, ...], where: str) -> None:
    """Checks the monitoring settings, and that the features they name are features of the use case.

    Args:
        monitoring: The monitoring settings.
        features: Every feature column of the use case (``FeatureSpec.all()``).
        where: What to call the use case in messages.

    Raises:
        ConfigError: If a count is out of range, a drift threshold is outside [0, 1], a feature or
            metric is unknown (the closest known one is suggested), the feedback shares do not sum
            to 1, or the schedule is not a six-field cron expression.
    """
    for name in ("window_hours", "min_requests"):
        if getattr(monitoring, name) < 1:
            raise ConfigError(f"monitoring.{name} in {where} must be at least 1")
    if monitoring.max_rows < 0 or monitoring.retrain_on_drift.count < 0:
        raise ConfigError(f"monitoring.max_rows and monitoring.retrain_on_drift.count in {where} must not be negative")
    drift = monitoring.drift
    check_thresholds(drift, "monitoring.drift", where)
    check_known(
        [*drift.features, *monitoring.retrain_on_drift.features],
        features,
        lambda name: f"monitoring names {name!r} in {where}, which is not a feature",
        "features",
    )
    quality = monitoring.quality
    check_metrics([*quality.floors, *quality.max_drop], "monitoring.quality", where)
    if quality.min_rows < 1 or quality.min_slice_rows < 1:
        raise ConfigError(f"monitoring.quality.min_rows and min_slice_rows in {where} must be at least 1")
    shares = monitoring.feedback_split
    if set(shares) != set(SPLITS) or any(v < 0 for v in shares.values()) or abs(sum(shares.values()) - 1) > 1e-9:
        raise ConfigError(
            f"monitoring.feedback_split in {where} must give train, eval and test non-negative shares that sum to 1"
        )
    if len(monitoring.schedule.split()) != 6:
        raise ConfigError(
            f"monitoring.schedule {monitoring.schedule!r} in {where} is not a six-field cron expression",
            hint="KFP recurring runs take seconds first: '0 0 2 * * *' runs at 02:00 every day",
        )


def check_feedback(feedback: FeedbackSpec, where: str) -> None:
    """Checks that a feedback window is two ISO 8601 instants, the start before the end.

    Raises:
        ConfigError: If an instant is not ISO 8601, or the window ends before it starts.
    """
    start = parse_instant(feedback.start, f"feedback.start in {where}")
    end = parse_instant(feedback.end, f"feedback.end in {where}")
    if start >= end:
        raise ConfigError(f"the feedback window in {where} ends ({feedback.end}) before it starts ({feedback.start})")
