"""The one module that reads use-case configuration (the YAML files).

A use case says what to learn from which data: its sources and joins, the target, the feature
columns, the columns to drop and the split. The code is generic over tabular classification; a new
data set needs a new YAML file, never new code. Unknown keys are errors (with the closest valid key
suggested), so a typo never passes silently.

S3 settings (where the object store is, and its credentials) live next to storage, in
:mod:`components.common.s3_settings`.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from components.common.errors import ConfigError

Scalar = Union[str, int, float, bool]

CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.zip")
PARQUET_SUFFIXES = (".parquet", ".pq")
COMPARISONS = (">", ">=", "<", "<=", "==", "!=", "in", "not in")
SPLITS = ("train", "eval", "test")
# The demo use case (nycflights13), shipped with the code so an installed image has it too.
DEMO_CONFIG = Path(__file__).resolve().parents[2] / "pipelines" / "usecases" / "flights.yaml"


@dataclass(frozen=True)
class SourceSpec:
    """One input table.

    Attributes:
        uri: A local path, an ``s3://bucket/key`` URI, or ``package://<package>/<path>`` for a file
            shipped inside an installed Python package (the demo data).
        format: ``csv`` or ``parquet``; inferred from the file name when empty.
        delimiter: CSV field separator.
        null_values: CSV strings read as missing; empty means pyarrow's defaults ("", "NA", "null", ...).
    """

    uri: str
    format: Literal["", "csv", "parquet"] = ""
    delimiter: str = ","
    null_values: tuple[str, ...] = ()

    def resolved_format(self) -> str:
        """Returns the format, inferred from the URI's suffix when not given."""
        if self.format:
            return self.format
        lowered = self.uri.lower()
        if lowered.endswith(CSV_SUFFIXES):
            return "csv"
        if lowered.endswith(PARQUET_SUFFIXES):
            return "parquet"
        raise ConfigError(
            f"cannot tell the format of source {self.uri!r} from its name",
            hint="add `format: csv` or `format: parquet` to the source",
        )


@dataclass(frozen=True)
class JoinSpec:
    """A left (or inner) join of a lookup source onto the primary table.

    Attributes:
        source: Name of the lookup source.
        keys: Key columns present in both tables. (Not ``on``: YAML reads a bare ``on`` as true.)
        how: ``left`` keeps every primary row; ``inner`` keeps rows with a match only.
        columns: Lookup columns to bring in (all but the keys when empty).
        rename: New names for lookup columns, applied before joining (to avoid clashes).
    """

    source: str
    keys: tuple[str, ...]
    how: Literal["left", "inner"] = "left"
    columns: tuple[str, ...] = ()
    rename: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DeriveSpec:
    """A rule that computes the label from another column: ``label = column <op> value``.

    Attributes:
        column: The column the label is derived from.
        op: One of ``> >= < <= == != in`` and ``not in``.
        value: The right-hand side; a list for ``in`` and ``not in``.
    """

    column: str
    op: Literal[">", ">=", "<", "<=", "==", "!=", "in", "not in"]
    value: Any


@dataclass(frozen=True)
class TargetSpec:
    """The label to predict.

    Attributes:
        name: The label column (created by ``derive`` when given, else read from the data).
        derive: Optional rule computing a binary label from another column.
        missing: What to do with rows whose label (or its source) is missing: ``drop`` or ``error``.
    """

    name: str
    derive: DeriveSpec | None = None
    missing: Literal["drop", "error"] = "drop"


@dataclass(frozen=True)
class FeatureSpec:
    """Feature columns by kind; preprocessing treats each kind its own way.

    Attributes:
        numeric: Numeric columns (imputed and scaled).
        categorical: Categorical columns (encoded; unseen values tolerated).
        datetime: Timestamp columns that preprocessing expands into calendar features.
    """

    numeric: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    datetime: tuple[str, ...] = ()

    def all(self) -> tuple[str, ...]:
        """Returns every feature column, numeric first."""
        return self.numeric + self.categorical + self.datetime


@dataclass(frozen=True)
class SplitSpec:
    """How rows are assigned to the train, eval and test splits.

    ``time``: rows with ``column`` before ``train_end`` train, before ``eval_end`` evaluate, the rest
    test. ``hash``: a stable hash of the ``key`` columns (salted) assigns rows by ``fractions``, so a
    row keeps its split when data is appended.

    Attributes:
        method: ``time`` or ``hash``.
        column: The time (or any ordered) column, for ``time``.
        train_end: First value that no longer trains (exclusive bound), for ``time``.
        eval_end: First value that no longer evaluates, for ``time``.
        key: Columns whose values identify a row, for ``hash``.
        fractions: Share of rows per split, for ``hash``; must sum to 1.
        salt: Changes the assignment without changing the data, for ``hash``.
    """

    method: Literal["time", "hash"]
    column: str = ""
    train_end: Scalar | None = None
    eval_end: Scalar | None = None
    key: tuple[str, ...] = ()
    fractions: Mapping[str, float] = field(default_factory=lambda: {"train": 0.8, "eval": 0.1, "test": 0.1})
    salt: str = ""


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


@dataclass(frozen=True)
class PreprocessSpec:
    """How features become model inputs (a scikit-learn ColumnTransformer, fitted on train only).

    Attributes:
        scale_numeric: Standardise numeric features (after median imputation).
        categorical_encoding: ``onehot`` (unseen categories ignored) or ``ordinal`` (unseen become -1).
        max_categories: Most frequent categories kept per feature; rarer ones share one column.
        datetime_parts: Calendar parts made from datetime features: any of hour, dayofweek, month,
            dayofyear, weekend.
    """

    scale_numeric: bool = True
    categorical_encoding: Literal["onehot", "ordinal"] = "onehot"
    max_categories: int = 50
    datetime_parts: tuple[str, ...] = ("hour", "dayofweek", "month")


@dataclass(frozen=True)
class SearchSpace:
    """Candidate hyperparameters of one model family; every combination is one trial.

    Attributes:
        family: ``hist_gradient_boosting``, ``logistic_regression`` or ``random_forest``.
        params: Lists of values per scikit-learn parameter of that family.
    """

    family: Literal["hist_gradient_boosting", "logistic_regression", "random_forest"]
    params: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainingSpec:
    """Tuning and training (stages 3 and 4).

    Attributes:
        seed: Seed of every random draw: the same data and seed give the same model.
        metric: Score that picks the best trial on the eval split: roc_auc, pr_auc, log_loss,
            accuracy or f1 (log_loss is minimised, the others maximised).
        search: The search space, one entry per family.
        max_trials: Upper bound on trials (the grid is cut in a seeded random order beyond it).
    """

    seed: int = 42
    metric: Literal["roc_auc", "pr_auc", "log_loss", "accuracy", "f1"] = "roc_auc"
    search: tuple[SearchSpace, ...] = (SearchSpace(family="hist_gradient_boosting"),)
    max_trials: int = 12


@dataclass(frozen=True)
class BlessingSpec:
    """When a candidate model is good enough to register and deploy.

    Attributes:
        floors: Lowest acceptable value of each metric on the test split (log_loss and brier:
            highest acceptable).
        max_regression: Largest allowed loss against the production model per metric, on the same
            test rows (absolute units of the metric).
    """

    floors: Mapping[str, float] = field(default_factory=dict)
    max_regression: Mapping[str, float] = field(default_factory=dict)


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
        floors: Lowest acceptable live value per metric (log_loss and brier: highest acceptable).
        max_drop: Largest allowed loss of each metric against the model's offline test metrics
            (absolute units of the metric).
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
        validation: Data validation settings.
        preprocessing: How features become model inputs.
        training: Tuning and training.
        analysis: Model analysis and blessing.
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
    validation: ValidationSpec = field(default_factory=ValidationSpec)
    preprocessing: PreprocessSpec = field(default_factory=PreprocessSpec)
    training: TrainingSpec = field(default_factory=TrainingSpec)
    analysis: AnalysisSpec = field(default_factory=AnalysisSpec)
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

        Feature kinds are left out on purpose: they change how data is used, not what is stored.
        """
        plain = to_plain(self)
        sources = {name: {k: v for k, v in spec.items() if k != "uri"} for name, spec in plain["sources"].items()}
        return {
            "primary": self.primary_source,
            "sources": sources,
            "joins": plain["joins"],
            "target": plain["target"],
            "drop": plain["drop"],
            "split": plain["split"],
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
    config = _build(UseCaseConfig, data, where=origin)
    _check_use_case(config, where=origin)
    return config


# What one run may change without editing the use case: thresholds of the gates and the seed. What is
# learned from which data (sources aside, which are their own parameter) stays in the reviewed file.
OVERRIDABLE = ("training.seed", "training.max_trials", "validation.", "analysis.min_slice_rows", "analysis.blessing.")


def apply_overrides(text: str, overrides: Mapping[str, Any], origin: str = "use case") -> str:
    """Returns use-case YAML text with one run's settings replaced, checked like the file itself.

    Args:
        text: The use case's YAML text.
        overrides: New values by dotted path, such as ``{"training.seed": 7,
            "analysis.blessing.floors.roc_auc": 0.7}``. Only the gates' thresholds and the
            training seed and trial budget may change (:data:`OVERRIDABLE`).
        origin: What to call the text in messages.

    Returns:
        The text unchanged when there is nothing to override (comments kept); otherwise the
        effective configuration as YAML.

    Raises:
        ConfigError: If a path may not be overridden, or the result is not a valid use case.
    """
    if not overrides:
        parse_use_case(text, origin)
        return text
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ConfigError(f"{origin} must hold a mapping of settings, not {type(data).__name__}")
    for path, value in sorted(overrides.items()):
        if not any(path == allowed or (allowed.endswith(".") and path.startswith(allowed)) for allowed in OVERRIDABLE):
            raise ConfigError(
                f"override {path!r} is not allowed: a run may change {', '.join(p + ('*' if p.endswith('.') else '') for p in OVERRIDABLE)}; "
                "edit the use-case file for anything else"
            )
        *parents, leaf = path.split(".")
        node = data
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {path!r}: {part} is not a section of the use case")
            node = child
        node[leaf] = value
    effective = yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=120)
    parse_use_case(effective, f"{origin} with overrides {', '.join(sorted(overrides))}")
    return effective


def to_plain(value: Any) -> Any:
    """Converts config dataclasses into JSON-ready dicts and lists (for manifests and fingerprints)."""
    if dataclasses.is_dataclass(value):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value


def canonical_json(value: Any) -> str:
    """Returns a stable JSON text of plain data (sorted keys, no spaces), for hashing."""
    return json.dumps(to_plain(value), sort_keys=True, separators=(",", ":"), default=str)


def _build(cls: type, data: Any, where: str) -> Any:
    """Builds dataclass ``cls`` from YAML data, rejecting unknown keys and wrong types."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where} must be a mapping of settings, not {_kind(data)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if isinstance(key, bool):
            raise ConfigError(
                f"key {key!r} in {where} is a YAML boolean (on/off/yes/no unquoted)",
                hint="quote the key or fix its name",
            )
        if key not in fields:
            close = difflib.get_close_matches(str(key), fields, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"valid keys: {', '.join(fields)}"
            raise ConfigError(f"unknown key {key!r} in {where}", hint=hint)
    hints = typing.get_type_hints(cls)
    values = {}
    for name, spec in fields.items():
        if name in data:
            values[name] = _coerce(hints[name], data[name], f"{where}.{name}")
        elif spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
            raise ConfigError(f"missing key {name!r} in {where}")
    return cls(**values)


def _coerce(annotation: Any, value: Any, where: str) -> Any:
    """Checks ``value`` against a type annotation and converts lists to tuples."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _coerce(option, value, where)
            except ConfigError as error:
                errors.append(error)
        raise errors[0]
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where} is {value!r}, expected one of: {', '.join(map(repr, args))}")
        return value
    if dataclasses.is_dataclass(annotation):
        return _build(annotation, value, where)
    if origin is tuple:
        if value is None or isinstance(value, (str, int, float, bool)):
            value = [value]  # a single value where a list is expected
        if not isinstance(value, list):
            raise ConfigError(f"{where} must be a list, not {_kind(value)}")
        return tuple(_coerce(args[0], item, f"{where}[{i}]") for i, item in enumerate(value))
    if origin in (Mapping, dict):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where} must be a mapping, not {_kind(value)}")
        return {_coerce(args[0], k, f"{where} key"): _coerce(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation in (str, int, float, bool):
        if type(value) is not annotation:
            raise ConfigError(f"{where} must be {annotation.__name__}, not {_kind(value)} {value!r}")
        return value
    raise TypeError(f"unsupported annotation {annotation!r} at {where}")  # a bug in this module


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", type(None): "empty"}.get(type(value), type(value).__name__)


def _check_use_case(config: UseCaseConfig, where: str) -> None:
    """Cross-checks settings that are valid alone but contradict each other."""
    if not config.sources:
        raise ConfigError(f"{where} has no sources", hint="add at least one entry under `sources`")
    for name, source in config.sources.items():
        source.resolved_format()
        if not source.uri:
            raise ConfigError(f"source {name!r} in {where} has an empty uri")
    joined = [join.source for join in config.joins]
    for name in joined:
        if name not in config.sources:
            raise ConfigError(
                f"join in {where} names unknown source {name!r}", hint=f"sources are: {', '.join(config.sources)}"
            )
        if not next(j for j in config.joins if j.source == name).keys:
            raise ConfigError(f"join of {name!r} in {where} has no key columns in `keys`")
    if len(set(joined)) != len(joined):
        raise ConfigError(f"{where} joins the same source twice", hint="merge the two joins into one")
    primaries = [name for name in config.sources if name not in set(joined)]
    if len(primaries) != 1:
        raise ConfigError(
            f"{where} must have exactly one source that no join names (the primary table), found {len(primaries)}",
            hint="every source but the primary one needs a join",
        )
    features = config.features.all()
    if not features:
        raise ConfigError(f"{where} lists no feature columns", hint="add columns under features.numeric/categorical")
    duplicated = sorted({f for f in features if features.count(f) > 1})
    if duplicated:
        raise ConfigError(f"feature {duplicated[0]!r} is listed twice in {where}")
    leaking = sorted(set(features) & set(config.drop))
    if leaking:
        raise ConfigError(
            f"feature {leaking[0]!r} is also in `drop` in {where}",
            hint="a dropped column is not known at prediction time; remove it from the features",
        )
    if config.target.name in features:
        raise ConfigError(f"the target {config.target.name!r} is also a feature in {where}")
    derive = config.target.derive
    if derive is not None and derive.op in ("in", "not in") and not isinstance(derive.value, list):
        raise ConfigError(f"target.derive.value must be a list for op {derive.op!r} in {where}")
    _check_split(config.split, where)
    _check_validation(config, where)
    _check_training(config, where)
    _check_monitoring(config, where)


def _check_validation(config: UseCaseConfig, where: str) -> None:
    validation = config.validation
    for name, thresholds in (("drift", validation.drift), ("skew", validation.skew)):
        values = {"numeric": thresholds.numeric, "categorical": thresholds.categorical, **thresholds.features}
        for key, value in values.items():
            if not 0 <= value <= 1:
                raise ConfigError(f"validation.{name} threshold of {key!r} in {where} is {value}, not between 0 and 1")
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


DATETIME_PARTS = ("hour", "dayofweek", "month", "dayofyear", "weekend")
METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "log_loss", "brier")


def _check_training(config: UseCaseConfig, where: str) -> None:
    unknown_parts = sorted(set(config.preprocessing.datetime_parts) - set(DATETIME_PARTS))
    if unknown_parts:
        raise ConfigError(
            f"unknown datetime part {unknown_parts[0]!r} in {where}", hint=f"parts: {', '.join(DATETIME_PARTS)}"
        )
    if not config.training.search:
        raise ConfigError(f"training.search in {where} is empty", hint="list at least one model family")
    if config.training.max_trials < 1:
        raise ConfigError(f"training.max_trials in {where} must be at least 1")
    for space in config.training.search:
        for name, values in space.params.items():
            if not values:
                raise ConfigError(f"training.search {space.family}.{name} in {where} has no values")
    blessing = config.analysis.blessing
    for metric in [*blessing.floors, *blessing.max_regression]:
        if metric not in METRICS:
            close = difflib.get_close_matches(metric, METRICS, n=1)
            raise ConfigError(
                f"unknown metric {metric!r} in analysis.blessing of {where}",
                hint=f"did you mean {close[0]!r}?" if close else f"metrics: {', '.join(METRICS)}",
            )
    for column in config.analysis.slices:
        if column in config.drop:
            raise ConfigError(f"slice column {column!r} is dropped at ingestion in {where}")


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


def _check_monitoring(config: UseCaseConfig, where: str) -> None:
    monitoring = config.monitoring
    for name in ("window_hours", "min_requests"):
        if getattr(monitoring, name) < 1:
            raise ConfigError(f"monitoring.{name} in {where} must be at least 1")
    if monitoring.max_rows < 0 or monitoring.retrain_on_drift.count < 0:
        raise ConfigError(f"monitoring.max_rows and monitoring.retrain_on_drift.count in {where} must not be negative")
    drift = monitoring.drift
    for key, value in {"numeric": drift.numeric, "categorical": drift.categorical, **drift.features}.items():
        if not 0 <= value <= 1:
            raise ConfigError(f"monitoring.drift threshold of {key!r} in {where} is {value}, not between 0 and 1")
    features = config.features.all()
    for name in [*drift.features, *monitoring.retrain_on_drift.features]:
        if name not in features:
            close = difflib.get_close_matches(name, features, n=1)
            raise ConfigError(
                f"monitoring names {name!r} in {where}, which is not a feature",
                hint=f"did you mean {close[0]!r}?" if close else f"features: {', '.join(features)}",
            )
    quality = monitoring.quality
    for metric in [*quality.floors, *quality.max_drop]:
        if metric not in METRICS:
            close = difflib.get_close_matches(metric, METRICS, n=1)
            raise ConfigError(
                f"unknown metric {metric!r} in monitoring.quality of {where}",
                hint=f"did you mean {close[0]!r}?" if close else f"metrics: {', '.join(METRICS)}",
            )
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
    if config.feedback is not None:
        start = parse_instant(config.feedback.start, f"feedback.start in {where}")
        end = parse_instant(config.feedback.end, f"feedback.end in {where}")
        if start >= end:
            raise ConfigError(
                f"the feedback window in {where} ends ({config.feedback.end}) before it starts ({config.feedback.start})"
            )


# Anomaly kinds the platform checks itself, beyond TFDV's.
OWN_ANOMALY_KINDS = ("DUPLICATE_ROWS", "EMPTY_SPLIT", "TOO_FEW_ROWS")


def schema_path(config_path: str | Path, config: UseCaseConfig) -> Path:
    """Returns the curated schema file of a use case: validation.schema, relative to the config."""
    config_path = Path(config_path)
    name = config.validation.schema or f"{config_path.stem}.schema.pbtxt"
    return (config_path.parent / name).resolve()


def _check_split(split: SplitSpec, where: str) -> None:
    if split.method == "time":
        if not split.column or split.train_end is None or split.eval_end is None:
            raise ConfigError(
                f"a time split needs `column`, `train_end` and `eval_end` in {where}",
                hint="for example column: time_hour, train_end: '2013-09-01', eval_end: '2013-11-01'",
            )
        if split.key:
            raise ConfigError(f"`key` belongs to hash splits, not time splits, in {where}")
        return
    if not split.key:
        raise ConfigError(f"a hash split needs `key` columns in {where}")
    if set(split.fractions) != set(SPLITS):
        raise ConfigError(f"split.fractions in {where} must name exactly train, eval and test")
    if any(v < 0 for v in split.fractions.values()) or abs(sum(split.fractions.values()) - 1) > 1e-9:
        raise ConfigError(f"split.fractions in {where} must be non-negative and sum to 1")
