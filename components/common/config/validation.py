"""Data validation settings (stage 2): statistics, drift and skew thresholds, anomaly severities."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from components.common.errors import ConfigError

# Anomaly kinds the platform checks itself, beyond TFDV's.
OWN_ANOMALY_KINDS = ("DUPLICATE_ROWS", "EMPTY_SPLIT", "TOO_FEW_ROWS")


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
        severity: Anomaly kinds (e.g. COMPARATOR_L_INFTY_HIGH, DUPLICATE_ROWS) that only warn, or
            that block: ``warning`` or ``error``. Kinds not listed block training.
        max_duplicate_fraction: Largest share of fully duplicated rows in a split that passes.
        min_rows: Fewest rows a split may have.
    """

    schema: str = ""
    statistics: StatisticsSpec = field(default_factory=StatisticsSpec)
    drift: Thresholds = field(default_factory=Thresholds)
    skew: Thresholds = field(default_factory=Thresholds)
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
