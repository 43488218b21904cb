"""Model analysis (stage 5): slices, and when a candidate model is blessed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from components.common.config.loader import check_known
from components.common.errors import ConfigError

# The metrics evaluation computes, which thresholds (blessing floors, live quality) may name.
METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "log_loss", "brier", "rmse", "mae", "r2")


@dataclass(frozen=True)
class BlessingSpec:
    """When a candidate model is good enough to register and deploy.

    Attributes:
        floors: Lowest acceptable value of each metric on the test split (log_loss and brier:
            highest acceptable).
        max_regression: Largest allowed loss against the production model per metric, on the same
            test rows (absolute units of the metric).
        baseline_metric: With no floors configured, the metric on which a candidate must beat the
            majority-class baseline and stay close to the logistic-regression baseline of the same run.
        max_loss_to_baseline: How far below the logistic-regression baseline (absolute units of
            ``baseline_metric``) a candidate may be and still be blessed when no floors are configured.
    """

    floors: Mapping[str, float] = field(default_factory=dict)
    max_regression: Mapping[str, float] = field(default_factory=dict)
    baseline_metric: str = "roc_auc"
    max_loss_to_baseline: float = 0.02


@dataclass(frozen=True)
class AnalysisSpec:
    """Model analysis (stage 5).

    Attributes:
        slices: Columns whose values define slices with their own metrics.
        min_slice_rows: Slices with fewer test rows are left out (their metrics are noise).
        blessing: Thresholds of the blessing decision.
    """

    slices: tuple[str, ...] = ()
    min_slice_rows: int = 200
    blessing: BlessingSpec = field(default_factory=BlessingSpec)


def check_metrics(metrics: Iterable[str], section: str, where: str) -> None:
    """Checks that thresholds name metrics evaluation computes (:data:`METRICS`).

    Args:
        metrics: The metric names thresholds are given for.
        section: Their dotted place in the use case, for messages (``analysis.blessing``).
        where: What to call the use case in messages.

    Raises:
        ConfigError: Naming the first unknown metric and the closest known one.
    """
    check_known(metrics, METRICS, lambda metric: f"unknown metric {metric!r} in {section} of {where}", "metrics")


def check_analysis(analysis: AnalysisSpec, where: str) -> None:
    """Checks that the blessing thresholds name known metrics.

    Raises:
        ConfigError: Naming the first unknown metric of the floors or the allowed regressions.
    """
    blessing = analysis.blessing
    check_metrics([*blessing.floors, *blessing.max_regression, blessing.baseline_metric], "analysis.blessing", where)
    if not blessing.max_loss_to_baseline >= 0:
        raise ConfigError(
            f"analysis.blessing.max_loss_to_baseline of {where} is {blessing.max_loss_to_baseline}, not >= 0",
            hint="0 asks a candidate to match the logistic-regression baseline at least",
        )
