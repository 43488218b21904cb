"""Model analysis (stage 5): slices, and when a candidate model is blessed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from components.common.config.loader import check_known
from components.common.errors import ConfigError

# The metrics evaluation computes for each kind of problem, which thresholds (blessing floors, live quality)
# may name. components.common.metrics computes them; it is not imported here, to keep scikit-learn out of
# reading a config.
METRICS_BY_TASK = {
    "classification": ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "log_loss", "brier"),
    "regression": ("rmse", "mae", "r2"),
}
METRICS = METRICS_BY_TASK["classification"] + METRICS_BY_TASK["regression"]
# Losses and errors: a smaller value is the better one.
LOWER_IS_BETTER = frozenset({"log_loss", "brier", "rmse", "mae"})
# The default metric of the baseline rule: what scikit-learn users compare first for each kind of problem.
DEFAULT_BASELINE_METRIC = {"classification": "roc_auc", "regression": "rmse"}
# The default allowed loss to the linear baseline: absolute for unitless metrics (ROC-AUC, R², log loss...);
# for errors measured in the target's own units (RMSE, MAE) a share of the linear baseline's error instead,
# since 0.02 minutes and 0.02 dollars are not the same bar.
DEFAULT_MAX_LOSS_TO_BASELINE = 0.02
TARGET_UNIT_METRICS = ("rmse", "mae")


def lower_is_better(metric: str) -> bool:
    """Whether a smaller value of ``metric`` is the better one (losses and errors)."""
    return metric in LOWER_IS_BETTER


@dataclass(frozen=True)
class BlessingSpec:
    """When a candidate model is good enough to register and deploy.

    Every threshold is sign-aware: for a metric where lower is better (log_loss, brier, rmse, mae) a floor is
    a ceiling and a loss is an increase.

    Attributes:
        floors: Lowest acceptable value of each metric on the test split (log_loss, brier, rmse and mae:
            highest acceptable). A metric must be one the task computes: classification accuracy,
            precision, recall, f1, roc_auc, pr_auc, log_loss, brier; regression rmse, mae, r2.
        max_regression: Largest allowed loss against the production model per metric, on the same
            test rows (absolute units of the metric: for rmse and mae, the target's units).
        baseline_metric: With no floors configured, the metric on which a candidate must beat the trivial
            baseline (majority class; for a regression the train mean) and stay close to the linear one
            (logistic regression; for a regression a ridge regression) of the same run. Empty means the
            task's default: roc_auc for classification, rmse for regression.
        max_loss_to_baseline: How much worse than the linear baseline, in absolute units of the baseline
            metric, a candidate may be and still be blessed when no floors are configured. Empty means
            0.02, except for rmse and mae (measured in the target's units), where it means 2% of the
            linear baseline's value.
    """

    floors: Mapping[str, float] = field(default_factory=dict)
    max_regression: Mapping[str, float] = field(default_factory=dict)
    baseline_metric: str | None = None
    max_loss_to_baseline: float | None = None

    def baseline_metric_for(self, task: str) -> str:
        """The metric of the baseline rule for a task: the configured one, else the task's default."""
        return self.baseline_metric or DEFAULT_BASELINE_METRIC[task]

    def allowed_loss_to_baseline(self, metric: str, linear_baseline: float) -> tuple[float, str]:
        """How much worse than the linear baseline a candidate may be on ``metric``, and how that was set.

        Args:
            metric: The baseline metric.
            linear_baseline: The linear baseline's value of it (the scale of a default for target-unit errors).

        Returns:
            The allowed loss in the metric's units, and a note for a reason ("" when configured or absolute).
        """
        if self.max_loss_to_baseline is not None:
            return self.max_loss_to_baseline, ""
        if metric in TARGET_UNIT_METRICS:
            share = DEFAULT_MAX_LOSS_TO_BASELINE
            return share * abs(linear_baseline), f" ({share:.0%} of the linear baseline's {metric})"
        return DEFAULT_MAX_LOSS_TO_BASELINE, ""


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
    named = [
        *blessing.floors,
        *blessing.max_regression,
        *([blessing.baseline_metric] if blessing.baseline_metric else []),
    ]
    check_metrics(named, "analysis.blessing", where)
    if blessing.max_loss_to_baseline is not None and not blessing.max_loss_to_baseline >= 0:
        raise ConfigError(
            f"analysis.blessing.max_loss_to_baseline of {where} is {blessing.max_loss_to_baseline}, not >= 0",
            hint="0 asks a candidate to match the linear baseline at least",
        )


def check_blessing_task(blessing: BlessingSpec, task: str, where: str) -> None:
    """Checks that the blessing names only metrics the task computes (known once the task is).

    Args:
        blessing: The blessing thresholds.
        task: ``classification`` or ``regression``.
        where: What to call the use case in messages.

    Raises:
        ConfigError: Naming the first metric the task does not compute, and the ones it does.
    """
    allowed = METRICS_BY_TASK[task]
    named = [
        *(("floors", metric) for metric in blessing.floors),
        *(("max_regression", metric) for metric in blessing.max_regression),
        *((("baseline_metric", blessing.baseline_metric),) if blessing.baseline_metric else ()),
    ]
    for place, metric in named:
        if metric not in allowed:
            raise ConfigError(
                f"analysis.blessing.{place} of {where} names {metric}, which a {task} does not have",
                hint=f"metrics of a {task}: {', '.join(allowed)}",
            )
