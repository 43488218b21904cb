"""The results of validation: findings, distances and the verdict, as plain objects.

Validation (:mod:`components.validate.logic`) makes them, its report (:mod:`components.validate.report`)
and the task's outputs take them, and monitoring measures drift into the same objects. The two
functions below turn TFDV's anomalies proto into them; they need tensorflow-metadata's protos only,
not TFDV.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tensorflow_metadata.proto.v0 import anomalies_pb2, statistics_pb2

ANOMALY_TYPES = anomalies_pb2.AnomalyInfo.Type
DISTANCE_NAMES = {"JENSEN_SHANNON_DIVERGENCE": "jensen_shannon", "L_INFTY": "l_infinity"}
# Both distances are at most 1 in theory, so a threshold of 1 measures without alerting (datetime features, or a
# threshold raised to a noise floor of 1). TFDV's approximate Jensen-Shannon divergence can exceed 1 by a hair
# (digits' pixel_7_0 against a floor of 1.0), so TFDV is given MEASURE_ONLY_COMPARATOR for such a threshold.
MEASURE_ONLY = 1.0
MEASURE_ONLY_COMPARATOR = 2.0


@dataclass(frozen=True)
class Finding:
    """One anomaly, in words a person can act on.

    Attributes:
        check: ``schema``, ``rows``, ``skew``, ``drift``, ``label``, ``correlation`` or ``leakage``.
        split: The split (or pair of splits) concerned.
        feature: The feature, or ``(dataset)`` for split-wide problems.
        kind: The anomaly kind (TFDV's AnomalyInfo.Type name, or one of our own).
        severity: ``error`` (blocks training) or ``warning``.
        description: What was measured against what is allowed.
    """

    check: str
    split: str
    feature: str
    kind: str
    severity: str
    description: str

    def line(self, width: int = 240) -> str:
        """One line for logs and the run summary (long descriptions cut to ``width`` characters)."""
        text = self.description if len(self.description) <= width else self.description[: width - 1] + "…"
        return f"{self.severity.upper():7} {self.check:6} {self.split:<14} {self.feature:<20} {self.kind}: {text}"


@dataclass(frozen=True)
class Distance:
    """A measured drift or skew distance of one feature."""

    check: str
    feature: str
    measure: str
    value: float
    threshold: float
    configured: float | None = None  # the configured threshold, before the noise floor raised it
    noise_floor: float = 0.0  # the distance sample sizes alone produce (a high quantile of draws)

    @property
    def alerts(self) -> bool:
        """Whether the distance exceeds its threshold (never for a threshold of :data:`MEASURE_ONLY`)."""
        return self.threshold < MEASURE_ONLY and self.value > self.threshold

    def explain(self, sizes: str) -> str:
        """Why the threshold is what it is, for a finding: configured, or raised to the noise floor.

        Args:
            sizes: The two samples' sizes in words (``300 vs 60 rows``).
        """
        configured = self.threshold if self.configured is None else self.configured
        if self.noise_floor > configured:
            return (
                f"(threshold {self.threshold:.3f} = the noise floor of {sizes}, which is above the configured "
                f"{configured:g}: the distance is beyond what sampling alone produces)"
            )
        return (
            f"(configured threshold {configured:g}; the noise floor of {sizes} is only {self.noise_floor:.3f}, "
            "so this is not sampling noise)"
        )


@dataclass(frozen=True)
class LabelShares:
    """The label's class counts of one split compared with train's."""

    split: str
    counts: dict[str, int]
    shift: float  # L-infinity distance of the class shares to train's (0 for train)
    noise_floor: float
    threshold: float


@dataclass(frozen=True)
class Relation:
    """A measured relation between two columns (``label`` as second column for leakage)."""

    first: str
    second: str
    measure: str  # pearson, cramers_v, one_feature_balanced_accuracy, one_feature_r2
    value: float
    threshold: float

    @property
    def alerts(self) -> bool:
        """Whether the relation reaches its threshold."""
        return self.value >= self.threshold


@dataclass
class ValidationResult:
    """Everything validation found about a dataset version.

    Attributes:
        version: The dataset version validated.
        findings: Every anomaly, errors and warnings.
        distances: Drift and skew distances of every compared feature.
        statistics: Statistics of the splits, one dataset per split, named after it.
        anomalies: TFDV's anomalies protos by check (``schema:train``, ``skew``, ``drift``...).
        previous_version: The version drift was measured against, if any.
        baseline_reason: How that version was chosen (the production model's training data, or the newest
            earlier version that passed validation).
        label_shares: The label's class counts per split and their shift from train's.
        relations: Correlations of feature pairs and each feature's score as a lone predictor of the label.
        task: ``classification`` or ``regression``, as the train labels decided; empty when the rows
            were not read (the label was then not checked).
    """

    version: str
    findings: list[Finding]
    distances: list[Distance]
    statistics: statistics_pb2.DatasetFeatureStatisticsList
    anomalies: dict[str, anomalies_pb2.Anomalies] = field(default_factory=dict)
    previous_version: str | None = None
    label_shares: list[LabelShares] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)
    baseline_reason: str = ""
    task: str = ""

    @property
    def errors(self) -> list[Finding]:
        """The findings that block training."""
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        """The findings that are only reported."""
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def is_valid(self) -> bool:
        """True when nothing blocks training."""
        return not self.errors

    def summary(self) -> str:
        """A few lines for a person: the verdict, then every finding."""
        verdict = "VALID" if self.is_valid else "INVALID"
        head = f"dataset {self.version}: {verdict} ({len(self.errors)} errors, {len(self.warnings)} warnings)"
        return "\n".join([head, *(f"  {f.line()}" for f in self.findings)])

    def metrics(self) -> dict[str, float]:
        """Flat metrics for KFP: every distance, and the counts of findings."""
        values = {}
        for d in self.distances:
            values[f"{d.check}_{d.feature}_{d.measure}"] = round(d.value, 6)
            values[f"{d.check}_{d.feature}_noise_floor"] = round(d.noise_floor, 6)
            values[f"{d.check}_{d.feature}_threshold"] = round(d.threshold, 6)
        for shares in self.label_shares:
            if shares.split != "train":
                values[f"label_share_shift_{shares.split}"] = round(shares.shift, 6)
                values[f"label_share_shift_{shares.split}_threshold"] = round(shares.threshold, 6)
        values.update(errors=float(len(self.errors)), warnings=float(len(self.warnings)))
        return values


def findings_from_anomalies(
    anomalies: anomalies_pb2.Anomalies,
    check: str,
    split: str,
    grade: Callable[[str], str],
    comparators_only: bool = False,
) -> list[Finding]:
    """Turns TFDV's anomalies of one check into findings, each graded by its kind.

    Args:
        anomalies: What ``tfdv.validate_statistics`` returned.
        check: The check's name in the findings (``schema``, ``skew``, ``drift``).
        split: The split (or pair of splits) concerned.
        grade: Gives the severity (``error`` or ``warning``) of an anomaly kind.
        comparators_only: True keeps only the drift or skew comparators' anomalies, False every other
            anomaly (per feature and split-wide).

    Returns:
        The findings, by feature name, in TFDV's order of reasons within a feature.
    """
    found = []
    for feature, info in sorted(anomalies.anomaly_info.items()):
        for reason in info.reason:
            kind = ANOMALY_TYPES.Name(reason.type)
            if comparators_only != kind.startswith("COMPARATOR_"):
                continue
            found.append(
                Finding(check, split, feature, kind, grade(kind), reason.description or reason.short_description)
            )
    if not comparators_only and anomalies.HasField("dataset_anomaly_info"):
        for reason in anomalies.dataset_anomaly_info.reason:
            kind = ANOMALY_TYPES.Name(reason.type)
            found.append(
                Finding(check, split, "(dataset)", kind, grade(kind), reason.description or reason.short_description)
            )
    return found


def distances_from_anomalies(anomalies: anomalies_pb2.Anomalies, check: str) -> list[Distance]:
    """The drift or skew distances TFDV measured, one per feature and measure, the largest first.

    A measure-only comparator (:data:`MEASURE_ONLY_COMPARATOR`) is reported with its threshold of
    :data:`MEASURE_ONLY`, as configured.

    Args:
        anomalies: What ``tfdv.validate_statistics`` returned with comparators in the schema.
        check: ``drift`` reads the drift measurements, anything else the skew measurements.
    """
    measured = []
    kinds = anomalies_pb2.DriftSkewInfo.Measurement.Type
    for info in anomalies.drift_skew_info:
        feature = ".".join(info.path.step)
        for measurement in info.drift_measurements if check == "drift" else info.skew_measurements:
            name = DISTANCE_NAMES.get(kinds.Name(measurement.type), kinds.Name(measurement.type).lower())
            threshold = min(float(measurement.threshold), MEASURE_ONLY)
            measured.append(Distance(check, feature, name, float(measurement.value), threshold))
    return sorted(measured, key=lambda d: -d.value)
