"""A whole use case: its sections, read from a YAML file or text and checked against each other."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components.common.config.analysis import AnalysisSpec, check_analysis
from components.common.config.data import (
    FeatureSpec,
    JoinSpec,
    SourceSpec,
    SplitSpec,
    TargetSpec,
    check_features,
    check_sources,
    check_split,
    check_target,
    check_timezone,
)
from components.common.config.loader import build, to_plain
from components.common.config.monitoring import FeedbackSpec, MonitoringSpec, check_feedback, check_monitoring
from components.common.config.serving import ServingSpec, check_serving
from components.common.config.training import PreprocessSpec, TrainingSpec, check_preprocessing, check_training
from components.common.config.validation import ValidationSpec, check_validation
from components.common.errors import ConfigError
from components.common.timezones import DEFAULT_TIMEZONE


@dataclass(frozen=True)
class UseCaseConfig:
    """A whole use case: what to learn from which data.

    Attributes:
        name: Short identifier; the dataset and model prefixes in S3 use it.
        description: One sentence for people (reports and model cards quote it).
        sources: Input tables by name. Exactly one of them is joined by none of the joins: it is the
            primary table, and every output row is one of its rows.
        joins: Lookups joined onto the primary table, in order.
        target: The label.
        features: Feature columns by kind.
        drop: Columns removed after the label is derived: after-the-fact columns that would leak.
        split: How rows are assigned to train, eval and test.
        timezone: The IANA time zone of the use case's timestamps (UTC when not given): calendar
            features and time-split bounds are its local times; naive timestamps are read as such.
        validation: Data validation settings.
        preprocessing: How features become model inputs.
        training: Tuning and training.
        analysis: Model analysis and blessing.
        serving: What the model server keeps out of its request and feedback logs.
        monitoring: Monitoring of the served model and the retraining decision.
        feedback: Production feedback to ingest with the sources (set when retraining).
    """

    name: str
    sources: Mapping[str, SourceSpec]
    target: TargetSpec
    features: FeatureSpec
    split: SplitSpec
    description: str = ""
    joins: tuple[JoinSpec, ...] = ()
    drop: tuple[str, ...] = ()
    timezone: str = DEFAULT_TIMEZONE
    validation: ValidationSpec = field(default_factory=ValidationSpec)
    preprocessing: PreprocessSpec = field(default_factory=PreprocessSpec)
    training: TrainingSpec = field(default_factory=TrainingSpec)
    analysis: AnalysisSpec = field(default_factory=AnalysisSpec)
    serving: ServingSpec = field(default_factory=ServingSpec)
    monitoring: MonitoringSpec = field(default_factory=MonitoringSpec)
    feedback: FeedbackSpec | None = None

    @property
    def primary_source(self) -> str:
        """Returns the name of the source the joins enrich."""
        joined = {join.source for join in self.joins}
        (primary,) = [name for name in self.sources if name not in joined]
        return primary

    def with_source_uris(self, overrides: Mapping[str, str]) -> UseCaseConfig:
        """Returns a copy whose named sources read from other URIs (for example a larger file).

        Raises:
            ConfigError: If an override names a source the config does not have.
        """
        unknown = sorted(set(overrides) - set(self.sources))
        if unknown:
            raise ConfigError(
                f"--source names unknown source {unknown[0]!r}",
                hint=f"sources of {self.name!r} are: {', '.join(self.sources)}",
            )
        sources = {
            name: dataclasses.replace(spec, uri=overrides.get(name, spec.uri)) for name, spec in self.sources.items()
        }
        return dataclasses.replace(self, sources=sources)

    def ingest_fingerprint(self) -> dict[str, Any]:
        """Returns the settings that decide a dataset version's content, as plain data.

        Feature kinds and the target's task are left out on purpose: they change how data is used, not
        what is stored.
        The time zone is in it when it is not the default (it moves time-split bounds); leaving the
        default out keeps the versions of use cases that never named one.
        """
        plain = to_plain(self)
        sources = {name: {k: v for k, v in spec.items() if k != "uri"} for name, spec in plain["sources"].items()}
        return {
            "primary": self.primary_source,
            "sources": sources,
            # a join without lag is written as before one could lag, so its datasets keep their versions
            "joins": [{k: v for k, v in join.items() if k != "lag" or v} for join in plain["joins"]],
            # the task changes how labels are learned, not which are stored
            "target": {k: v for k, v in plain["target"].items() if k != "task"},
            "drop": plain["drop"],
            "split": plain["split"],
            **({"timezone": self.timezone} if self.timezone != DEFAULT_TIMEZONE else {}),
        }


def load_use_case(path: str | Path) -> UseCaseConfig:
    """Reads and checks a use-case YAML file.

    Args:
        path: The YAML file.

    Returns:
        The parsed, cross-checked configuration.

    Raises:
        ConfigError: If the file is missing, is not YAML, has unknown or missing keys, wrong types,
            or settings that contradict each other.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist", hint="pass the path of a use-case YAML file") from None
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from None
    return parse_use_case(text, origin=path.name)


def parse_use_case(text: str, origin: str = "use case") -> UseCaseConfig:
    """Parses and checks use-case YAML text (as a pipeline parameter carries it).

    Args:
        text: The YAML text.
        origin: What to call the text in messages (usually the file name).

    Raises:
        ConfigError: As :func:`load_use_case`.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{origin} is not valid YAML{where}: {getattr(error, 'problem', error)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{origin} must hold a mapping of settings, not {type(data).__name__}")
    config = build(UseCaseConfig, data, where=origin)
    check_use_case(config, where=origin)
    return config


def check_use_case(config: UseCaseConfig, where: str) -> None:
    """Checks every section, and the settings that are valid alone but contradict each other.

    The checks run in a fixed order, so a use case with several mistakes is always reported with the
    same first one.

    Args:
        config: The use case as built from its YAML.
        where: What to call the use case in messages (usually the file name).

    Raises:
        ConfigError: Naming the first mistake found.
    """
    check_sources(config.sources, config.joins, where)
    check_features(config.features, where)
    features = config.features.all()
    leaking = sorted(set(features) & set(config.drop))
    if leaking:
        raise ConfigError(
            f"feature {leaking[0]!r} is also in `drop` in {where}",
            hint="a dropped column is not known at prediction time; remove it from the features",
        )
    if config.target.name in features:
        raise ConfigError(f"the target {config.target.name!r} is also a feature in {where}")
    check_target(config.target, where)
    check_split(config.split, where)
    check_timezone(config.timezone, where)
    check_validation(config.validation, where)
    check_preprocessing(config.preprocessing, where)
    check_training(config.training, where)
    check_analysis(config.analysis, where)
    for column in config.analysis.slices:
        if column in config.drop:
            raise ConfigError(f"slice column {column!r} is dropped at ingestion in {where}")
    check_serving(config.serving, features, where)
    check_monitoring(config.monitoring, features, where)
    watched = [*config.monitoring.drift.features, *config.monitoring.retrain_on_drift.features]
    for name in watched:
        if name in config.serving.log_exclude:
            raise ConfigError(
                f"monitoring names {name!r} in {where}, which serving.log_exclude keeps out of the logs",
                hint="its drift is never measured: remove it from monitoring or from serving.log_exclude",
            )
    if config.feedback is not None:
        check_feedback(config.feedback, where)


def schema_path(config_path: str | Path, config: UseCaseConfig) -> Path:
    """Returns the curated schema file of a use case: validation.schema, relative to the config."""
    config_path = Path(config_path)
    name = config.validation.schema or f"{config_path.stem}.schema.pbtxt"
    return (config_path.parent / name).resolve()
