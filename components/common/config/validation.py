"""Data validation settings (stage 2): statistics, drift and skew thresholds, anomaly severities."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from components.common.errors import ConfigError

# Anomaly kinds the platform checks itself, beyond TFDV's.
OWN_ANOMALY_KINDS = (
    "DUPLICATE_ROWS",
    "EMPTY_SPLIT",
    "TOO_FEW_ROWS",
    "LABEL_SINGLE_CLASS",
    "LABEL_UNSEEN_CLASS",
    "LABEL_SHARE_SHIFT",
    "LABEL_RARE_CLASS",
    "LABEL_NOT_FINITE",
    "LABEL_CONSTANT",
    "CORRELATED_FEATURES",
    "TARGET_LEAKAGE",
)
# Kinds that only warn unless the use case says otherwise; every other kind blocks training.
DEFAULT_SEVERITY = {"CORRELATED_FEATURES": "warning"}


@dataclass(frozen=True)
class Thresholds:
    """Alert thresholds of one comparison between two sets of statistics (drift or skew).

    Every feature's distance is measured and recorded; a threshold only decides when it alerts.

    Attributes:
        numeric: Jensen-Shannon divergence above which a numeric feature alerts.
        categorical: L-infinity distance above which a categorical feature alerts.
        features: Thresholds of single features, replacing the above. 1.0 measures without ever
            alerting (both distances are at most 1); datetime features default to 1.0, since time
            always moves between two samples.
    """

    numeric: float = 0.1
    categorical: float = 0.1
    features: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class NoiseSpec:
    """The noise floor of skew and drift: the distance that sample size alone produces.

    Both samples are drawn from the reference (train) at their real sizes, ``draws`` times, and
    measured as TFDV measures them; a comparison alerts only above ``max(threshold, floor)``, the
    floor being the ``quantile`` of those chance distances. With thousands of rows the floor is far
    below any threshold and the configured thresholds rule alone.

    Attributes:
        draws: Bootstrap draws per feature; 0 turns the floor off (the thresholds as configured).
        quantile: The quantile of the chance distances taken as the floor, for the whole comparison: each of
            its n features uses ``1 - (1 - quantile) / n`` (Bonferroni), so more features do not mean more alarms.
        seed: Seed of the draws (the same data gives the same floors).
    """

    draws: int = 1000
    quantile: float = 0.995
    seed: int = 0


@dataclass(frozen=True)
class LabelSpec:
    """Checks of the label's classes across splits.

    Attributes:
        max_share_shift: Largest difference of a class's share between train and eval or test
            (L-infinity), raised to the noise floor of the splits' sizes like skew.
        min_class_rows: Fewest training rows a class may have.
    """

    max_share_shift: float = 0.1
    min_class_rows: int = 5


@dataclass(frozen=True)
class CorrelationSpec:
    """Checks of redundant features and of features that give the label away.

    Attributes:
        max_correlation: Largest absolute Pearson correlation of two numeric features in train
            (above: a CORRELATED_FEATURES warning naming the pair).
        max_association: Largest bias-corrected Cramér's V of two categorical features in train.
        ignore: Pairs known to be related and kept on purpose, e.g. ``[[sched_dep_time, hour]]``.
        leakage_score: Balanced accuracy of a one-feature model, on train and on eval, from which
            the feature is reported as possible target leakage (TARGET_LEAKAGE).
        leakage_correlation: Absolute correlation of a numeric feature with a numeric label from
            which it is reported as possible target leakage.
        sample_rows: Rows of train (and eval) these checks read at most (the first ones); the
            one-feature models of the leakage check read at most 20,000 of them.
    """

    max_correlation: float = 0.95
    max_association: float = 0.95
    ignore: tuple[tuple[str, ...], ...] = ()
    leakage_score: float = 0.99
    leakage_correlation: float = 0.99
    sample_rows: int = 100_000


@dataclass(frozen=True)
class StatisticsSpec:
    """How statistics are computed.

    Attributes:
        engine: ``in_process`` (pandas in the task's memory) or ``beam`` (TFDV's Beam pipeline, for
            data that outgrows one machine).
        beam_options: Beam pipeline options, e.g. ``[--runner=FlinkRunner, --flink_master=host:8081]``;
            empty runs Beam's DirectRunner in the task.
    """

    engine: Literal["in_process", "beam"] = "in_process"
    beam_options: tuple[str, ...] = ()


@dataclass(frozen=True)
class ValidationSpec:
    """Data validation settings (stage 2).

    Attributes:
        schema: The curated TFDV schema (text protobuf), relative to the config file; empty means
            ``<config file stem>.schema.pbtxt`` beside it.
        statistics: How statistics are computed.
        drift: Thresholds against the previous dataset version (train split against train split).
        skew: Thresholds between the train and eval splits.
        noise: The noise floor that raises skew, drift and label-share thresholds on small samples.
        label: Checks of the label's classes.
        correlation: Checks of correlated features and of target leakage.
        severity: Anomaly kinds (e.g. COMPARATOR_L_INFTY_HIGH, DUPLICATE_ROWS) that only warn, or
            that block: ``warning`` or ``error``. Kinds not listed block training, except
            CORRELATED_FEATURES, which warns.
        max_duplicate_fraction: Largest share of fully duplicated rows in a split that passes.
        min_rows: Fewest rows a split may have.
    """

    schema: str = ""
    statistics: StatisticsSpec = field(default_factory=StatisticsSpec)
    drift: Thresholds = field(default_factory=Thresholds)
    skew: Thresholds = field(default_factory=Thresholds)
    noise: NoiseSpec = field(default_factory=NoiseSpec)
    label: LabelSpec = field(default_factory=LabelSpec)
    correlation: CorrelationSpec = field(default_factory=CorrelationSpec)
    severity: Mapping[str, Literal["error", "warning"]] = field(default_factory=dict)
    max_duplicate_fraction: float = 0.01
    min_rows: int = 1


def check_thresholds(thresholds: Thresholds, section: str, where: str) -> None:
    """Checks that every threshold of a comparison is a distance between 0 and 1.

    Args:
        thresholds: The thresholds.
        section: Their dotted place in the use case, for messages (``validation.drift``).
        where: What to call the use case in messages.

    Raises:
        ConfigError: Naming the first threshold outside [0, 1].
    """
    values = {"numeric": thresholds.numeric, "categorical": thresholds.categorical, **thresholds.features}
    for key, value in values.items():
        if not 0 <= value <= 1:
            raise ConfigError(f"{section} threshold of {key!r} in {where} is {value}, not between 0 and 1")


def check_validation(validation: ValidationSpec, where: str) -> None:
    """Checks thresholds and shares, and that severities name known anomaly kinds.

    Anomaly kinds are checked only where TFDV is installed: environments without it (serving)
    never validate data.

    Raises:
        ConfigError: If a threshold or the duplicate share is outside [0, 1], or a severity names
            an unknown anomaly kind (the closest known one is suggested).
    """
    check_thresholds(validation.drift, "validation.drift", where)
    check_thresholds(validation.skew, "validation.skew", where)
    if not 0 <= validation.max_duplicate_fraction <= 1:
        raise ConfigError(f"validation.max_duplicate_fraction in {where} must be between 0 and 1")
    shares = {
        "noise.quantile": validation.noise.quantile,
        "label.max_share_shift": validation.label.max_share_shift,
        "correlation.max_correlation": validation.correlation.max_correlation,
        "correlation.max_association": validation.correlation.max_association,
        "correlation.leakage_score": validation.correlation.leakage_score,
        "correlation.leakage_correlation": validation.correlation.leakage_correlation,
    }
    for key, value in shares.items():
        if not 0 <= value <= 1:
            raise ConfigError(f"validation.{key} in {where} is {value}, not between 0 and 1")
    if validation.noise.draws < 0 or validation.label.min_class_rows < 0 or validation.correlation.sample_rows < 1:
        raise ConfigError(
            f"validation.noise.draws and label.min_class_rows in {where} must be at least 0, "
            "correlation.sample_rows at least 1"
        )
    for pair in validation.correlation.ignore:
        if len(pair) != 2:
            raise ConfigError(f"validation.correlation.ignore in {where} lists {list(pair)}, not a pair of features")
    try:
        from tensorflow_metadata.proto.v0 import anomalies_pb2
    except ImportError:  # environments without TFDV (serving) never validate data
        return
    known = set(anomalies_pb2.AnomalyInfo.Type.keys()) | set(OWN_ANOMALY_KINDS)
    for kind in validation.severity:
        if kind not in known:
            close = difflib.get_close_matches(kind, known, n=1)
            raise ConfigError(
                f"unknown anomaly kind {kind!r} in validation.severity of {where}",
                hint=f"did you mean {close[0]!r}?" if close else "see TFDV's AnomalyInfo.Type names",
            )
