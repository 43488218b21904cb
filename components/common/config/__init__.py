"""The one place that reads use-case configuration (the YAML files).

A use case says what to learn from which data: its sources and joins, the target, the feature
columns, the columns to drop and the split. The code is generic over tabular classification and
regression; a new data set needs a new YAML file, never new code. Unknown keys are errors (with the closest valid key
suggested), so a typo never passes silently.

Modules: :mod:`.loader` builds frozen dataclasses from YAML data; :mod:`.data`, :mod:`.validation`,
:mod:`.training`, :mod:`.analysis`, :mod:`.serving` and :mod:`.monitoring` declare the sections with their checks;
:mod:`.usecase` reads and cross-checks a whole use case; :mod:`.overrides` applies one run's
overrides. Import from this package; every public name is here.

S3 settings (where the object store is, and its credentials) live next to storage, in
:mod:`components.common.s3_settings`.
"""

from components.common.config.analysis import METRICS, AnalysisSpec, BlessingSpec
from components.common.config.data import (
    COMPARISONS,
    CSV_SUFFIXES,
    PARQUET_SUFFIXES,
    SPLITS,
    DeriveSpec,
    FeatureSpec,
    JoinSpec,
    Scalar,
    SourceSpec,
    SplitSpec,
    TargetSpec,
)
from components.common.config.loader import canonical_json, to_plain
from components.common.config.monitoring import (
    DriftTrigger,
    FeedbackSpec,
    LiveQualitySpec,
    MonitoringSpec,
    parse_instant,
)
from components.common.config.overrides import OVERRIDABLE, apply_overrides
from components.common.config.serving import ServingSpec
from components.common.config.training import DATETIME_PARTS, PreprocessSpec, SearchSpace, TrainingSpec
from components.common.config.usecase import UseCaseConfig, load_use_case, parse_use_case, schema_path
from components.common.config.validation import (
    DEFAULT_SEVERITY,
    OWN_ANOMALY_KINDS,
    CorrelationSpec,
    LabelSpec,
    NoiseSpec,
    StatisticsSpec,
    Thresholds,
    ValidationSpec,
)

__all__ = [
    "COMPARISONS",
    "CSV_SUFFIXES",
    "DATETIME_PARTS",
    "DEFAULT_SEVERITY",
    "METRICS",
    "OVERRIDABLE",
    "OWN_ANOMALY_KINDS",
    "PARQUET_SUFFIXES",
    "SPLITS",
    "AnalysisSpec",
    "BlessingSpec",
    "CorrelationSpec",
    "DeriveSpec",
    "DriftTrigger",
    "FeatureSpec",
    "FeedbackSpec",
    "JoinSpec",
    "LabelSpec",
    "LiveQualitySpec",
    "MonitoringSpec",
    "NoiseSpec",
    "PreprocessSpec",
    "Scalar",
    "SearchSpace",
    "ServingSpec",
    "SourceSpec",
    "SplitSpec",
    "StatisticsSpec",
    "TargetSpec",
    "Thresholds",
    "TrainingSpec",
    "UseCaseConfig",
    "ValidationSpec",
    "apply_overrides",
    "canonical_json",
    "load_use_case",
    "parse_instant",
    "parse_use_case",
    "schema_path",
    "to_plain",
]
