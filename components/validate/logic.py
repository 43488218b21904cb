"""Stage 2: validate a dataset version with TensorFlow Data Validation.

What TFX's StatisticsGen, SchemaGen and ExampleValidator do, plus what they leave out:

- statistics of every split, in process (pandas) or through TFDV's Beam pipeline on any runner;
- a curated schema kept in the repository (text protobuf), inferred once by :func:`infer_schema` for a
  person to review, with TRAINING and SERVING environments (the label and non-feature columns are
  absent when serving);
- every split validated against the schema; drift against the previous dataset version and skew
  between train and eval measured for every feature, also below the threshold (TFDV only records a
  distance for features with a comparator and a threshold, so every feature gets both);
- skew and drift judged against the noise their sample sizes alone produce: a feature alerts above
  ``max(configured threshold, noise floor)`` (:mod:`components.validate.noise`), so a small clean data
  set is not blocked by chance while a large one is judged by the configured thresholds;
- checks TFDV lacks: empty or tiny splits, duplicated rows, the label's classes, correlated features
  and target leakage (:mod:`components.validate.checks`);
- one severity per anomaly kind from the config: errors block training, warnings are reported.

The functions take statistics, schemas and frames and return values (the result objects of
:mod:`components.validate.results`); :func:`validate_dataset` runs them on a dataset version with the
object store passed in: it downloads the data, stores the statistics next to the version and returns
the result. The task around it (settings, YAML, the artifacts and the report) is
:mod:`components.validate.task`.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

# joblib before TFDV, always: TFDV loads dill 0.3.1, which adds its picklers to the standard library's
# dispatch table, and joblib copies that table when first imported. A model saved through the polluted
# copy names dill, which the serving image lacks (measured: a random forest saved after TFDV loaded).
import joblib  # noqa: F401  (imported for its side effect on pickling)
import numpy as np
import pandas as pd
import tensorflow_data_validation as tfdv
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

from components.common import datasets, models
from components.common.arrow import open_parquet, pa
from components.common.config import DEFAULT_SEVERITY, SPLITS, NoiseSpec, Thresholds, UseCaseConfig
from components.common.datasets import DatasetRef
from components.common.errors import DataError, NotFoundError
from components.common.storage import ObjectStore
from components.common.targets import resolve_task
from components.validate.checks import as_floats, check_correlation, check_label, check_leakage, check_numeric_label
from components.validate.noise import (
    Histogram,
    categorical_noise,
    floor,
    generator,
    numeric_noise,
    standard_histogram,
    value_counts,
)
from components.validate.results import (
    MEASURE_ONLY,
    MEASURE_ONLY_COMPARATOR,
    Distance,
    Finding,
    ValidationResult,
    distances_from_anomalies,
    findings_from_anomalies,
)

log = logging.getLogger(__name__)

TRAINING, SERVING = "TRAINING", "SERVING"
STATISTICS = "statistics.pb"
SAMPLE_ROWS = 200_000  # rows per split read for the row checks when the Beam engine computes statistics


# --- statistics --------------------------------------------------------------------------------


def prepare_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Makes a frame digestible by TFDV, which silently drops datetime columns and rejects categoricals.

    Datetime columns become epoch seconds (float, missing stays missing); categoricals become text;
    the index is reset (a filtered frame's index would appear as a feature).
    """
    frame = frame.reset_index(drop=True)
    converted = {}
    for name, dtype in frame.dtypes.items():
        if pd.api.types.is_datetime64_any_dtype(dtype):
            values = frame[name]
            seconds = values.astype("int64") // 10**9
            converted[name] = seconds.astype("float64").where(values.notna())
        elif isinstance(dtype, pd.CategoricalDtype):
            converted[name] = frame[name].astype(object)
    return frame.assign(**converted) if converted else frame


def stats_options(schema: schema_pb2.Schema | None) -> tfdv.StatsOptions:
    """Statistics options, schema-aware when a schema is given.

    With a schema, integer features it marks categorical get value counts (so L-infinity compares
    them, instead of a histogram that a missing rare value distorts).
    """
    return tfdv.StatsOptions(schema=schema) if schema is not None else tfdv.StatsOptions()


def statistics_in_process(
    frames: Mapping[str, pd.DataFrame], schema: schema_pb2.Schema | None = None
) -> statistics_pb2.DatasetFeatureStatisticsList:
    """Computes statistics of each named frame in this process; one dataset per name."""
    merged = statistics_pb2.DatasetFeatureStatisticsList()
    for name, frame in frames.items():
        stats = tfdv.generate_statistics_from_dataframe(prepare_frame(frame), stats_options=stats_options(schema))
        dataset = merged.datasets.add()
        dataset.CopyFrom(stats.datasets[0])
        dataset.name = name
    return merged


def statistics_with_beam(
    files: Mapping[str, Path | str],
    work_dir: Path,
    beam_options: Iterable[str] = (),
    schema: schema_pb2.Schema | None = None,
) -> statistics_pb2.DatasetFeatureStatisticsList:
    """Computes statistics of Parquet files with TFDV's Beam pipeline.

    The same code runs on DirectRunner here and on Flink, Spark or Dataflow with the matching
    ``beam_options``; the files must then be readable by the workers (e.g. on S3).
    """
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from tfx_bsl.arrow import table_util

    def canonical_batches(table: pa.Table) -> Iterable[pa.RecordBatch]:
        for batch in table.to_batches():
            yield table_util.CanonicalizeRecordBatch(_epoch_seconds(batch))

    merged = statistics_pb2.DatasetFeatureStatisticsList()
    for name, path in files.items():
        output = work_dir / f"{name}.stats.tfrecord"
        with beam.Pipeline(options=PipelineOptions(list(beam_options))) as pipeline:
            _ = (
                pipeline
                | f"Read {name}" >> beam.io.ReadFromParquetBatched(str(path))
                | f"Canonicalize {name}" >> beam.FlatMap(canonical_batches)
                | f"Statistics {name}" >> tfdv.GenerateStatistics(stats_options(schema))
                | f"Write {name}" >> tfdv.WriteStatisticsToTFRecord(str(output))
            )
        dataset = merged.datasets.add()
        dataset.CopyFrom(tfdv.load_statistics(str(output)).datasets[0])
        dataset.name = name
    return merged


def split_statistics(
    statistics: statistics_pb2.DatasetFeatureStatisticsList, name: str
) -> statistics_pb2.DatasetFeatureStatisticsList:
    """Returns the statistics of one named dataset as a list of one (what TFDV's validators take)."""
    for dataset in statistics.datasets:
        if dataset.name == name:
            return statistics_pb2.DatasetFeatureStatisticsList(datasets=[dataset])
    raise NotFoundError(f"the statistics have no dataset named {name!r}")


def duplicate_fraction(frames: Iterable[pd.DataFrame]) -> tuple[int, int]:
    """Counts fully duplicated rows across chunks of one split by hashing rows (8 bytes each).

    Returns:
        (duplicated rows beyond their first occurrence, rows in all).
    """
    hashes = [pd.util.hash_pandas_object(chunk, index=False).to_numpy() for chunk in frames if len(chunk)]
    if not hashes:
        return 0, 0
    every = np.concatenate(hashes)
    return int(len(every) - len(np.unique(every))), int(len(every))


# --- schema ------------------------------------------------------------------------------------


def infer_schema(
    statistics: statistics_pb2.DatasetFeatureStatisticsList,
    config: UseCaseConfig,
    margin: float = 0.5,
    task: str = "classification",
) -> schema_pb2.Schema:
    """Infers a schema for a person to review and commit, stricter than TFDV's default inference.

    On top of ``tfdv.infer_schema``: TRAINING and SERVING environments (only features are served);
    numeric features get a domain of their observed range widened by ``margin`` times its width on
    each side, so values far out of range are caught; columns seen partly missing must stay at most
    10 points less present; categorical domains tolerate 1% unseen values, the label none.

    Args:
        statistics: Statistics of all rows (one dataset).
        config: The use case (which columns are features, which is the label).
        margin: Widening of numeric ranges, as a fraction of the observed width.
        task: ``classification`` pins the label's classes; ``regression`` gives the label a numeric
            feature's widened range, and forbids NaN and infinity (a float label).
    """
    schema = tfdv.infer_schema(statistics, infer_feature_shape=False, max_string_domain_size=1000)
    schema.default_environment.extend([TRAINING, SERVING])
    features = set(config.features.all())
    datetimes = set(config.features.datetime)
    dataset = statistics.datasets[0]
    by_name = {".".join(f.path.step) or f.name: f for f in dataset.features}
    for feature in schema.feature:
        name = feature.name
        if name not in features:
            feature.not_in_environment.append(SERVING)
        if name not in features and name != config.target.name:
            # Identifiers and other passengers (tail numbers...) have open-ended values: no domain.
            feature.ClearField("domain")
        stats = by_name.get(name)
        if stats is None:
            continue
        present = _present_fraction(stats, dataset.num_examples)
        if present < 1.0:
            feature.presence.min_fraction = round(max(0.0, present - 0.1), 3)
        if name in set(config.features.categorical) and feature.type == schema_pb2.INT:
            feature.int_domain.is_categorical = True  # counted by value, compared with L-infinity
        elif name == config.target.name and task == "regression" and stats.HasField("num_stats"):
            _widen_numeric_domain(feature, stats.num_stats, margin)
            if feature.type == schema_pb2.FLOAT:
                feature.float_domain.disallow_nan = True
                feature.float_domain.disallow_inf = True
        elif name == config.target.name:
            _pin_label_domain(schema, feature, stats)
        elif stats.HasField("num_stats") and name not in datetimes and name in features:
            _widen_numeric_domain(feature, stats.num_stats, margin)
        elif feature.HasField("domain") or feature.HasField("string_domain"):
            feature.distribution_constraints.min_domain_mass = 0.99
    used = {feature.domain for feature in schema.feature if feature.HasField("domain")}
    kept = [domain for domain in schema.string_domain if domain.name in used]
    del schema.string_domain[:]
    schema.string_domain.extend(kept)
    return schema


def write_schema(schema: schema_pb2.Schema, path: Path) -> None:
    """Writes a schema as text protobuf, with a header saying how it was made."""
    header = (
        "# TFDV schema: the data contract of this use case. Inferred by `mlcycle schema`, then reviewed.\n"
        "# Edit it like code: domains, presence and environments here decide what validation accepts.\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + text_format.MessageToString(schema))


def load_schema(path: Path) -> schema_pb2.Schema:
    """Reads a text-protobuf schema.

    Raises:
        NotFoundError: If the file does not exist (with the command that creates it).
    """
    if not path.is_file():
        raise NotFoundError(f"schema {path} does not exist", hint="create it with `make schema`, review it, commit it")
    return parse_schema(path.read_text())


def configured_thresholds(schema: schema_pb2.Schema, config: UseCaseConfig, check: str) -> dict[str, float]:
    """The configured drift or skew threshold of every compared feature and the label, by name.

    A feature's own threshold first, then datetime features measure only (:data:`MEASURE_ONLY`),
    then the threshold of its kind (categorical for text and categorical integers, else numeric).
    """
    thresholds: Thresholds = getattr(config.validation, check)
    categorical = set(config.features.categorical)
    datetimes = set(config.features.datetime)
    compared = set(config.features.all()) | {config.target.name}
    result = {}
    for feature in schema.feature:
        if feature.name not in compared:
            continue
        if feature.name in thresholds.features:
            result[feature.name] = thresholds.features[feature.name]
        elif feature.name in datetimes:
            result[feature.name] = MEASURE_ONLY
        elif feature.name in categorical or _is_text(feature):
            result[feature.name] = thresholds.categorical
        else:
            result[feature.name] = thresholds.numeric
    return result


def with_comparators(
    schema: schema_pb2.Schema, config: UseCaseConfig, check: str, floors: Mapping[str, float] | None = None
) -> schema_pb2.Schema:
    """Returns a copy of the schema with a drift or skew comparator on every feature and the label.

    Numeric columns get Jensen-Shannon divergence (L-infinity does nothing on them), text columns
    L-infinity distance; each with the threshold the config gives its kind, raised to the feature's
    noise floor when ``floors`` has one (datetime features keep measuring only); a threshold of
    :data:`MEASURE_ONLY` (configured, or raised to a noise floor of 1) is given as :data:`MEASURE_ONLY_COMPARATOR`.
    """
    configured = configured_thresholds(schema, config, check)
    result = copy.deepcopy(schema)
    for feature in result.feature:
        if feature.name not in configured:
            continue
        comparator = feature.drift_comparator if check == "drift" else feature.skew_comparator
        threshold = configured[feature.name]
        if threshold < MEASURE_ONLY:
            threshold = max(threshold, (floors or {}).get(feature.name, 0.0))
        if threshold >= MEASURE_ONLY:  # measure only, whatever TFDV's approximation adds to a distance of 1
            threshold = MEASURE_ONLY_COMPARATOR
        if _is_text(feature):
            comparator.infinity_norm.threshold = threshold
        else:
            comparator.jensen_shannon_divergence.threshold = threshold
    return result


def noise_floors(
    reference: statistics_pb2.DatasetFeatureStatistics,
    compared_rows: int,
    names: Iterable[str],
    noise: NoiseSpec,
    values: pd.DataFrame | None = None,
) -> dict[str, float]:
    """The noise floor of every named feature: how far two samples of the reference lie apart by chance.

    Both samples are drawn at their real sizes: the reference's own and ``compared_rows``.

    Categorical features (value counts) are drawn from the reference's shares; numeric ones from the
    reference's rows in ``values`` when given, else from its standard histogram (values spread evenly
    through each bucket, as TFDV assumes). See :mod:`components.validate.noise`.

    Args:
        reference: Statistics of the reference split (train).
        compared_rows: Rows of the compared split (eval, or the previous version's train).
        names: The compared features.
        noise: Draws, quantile and seed.
        values: Rows of the reference, for numeric features.
    """
    by_name = {".".join(f.path.step) or f.name: f for f in reference.features}
    rows = int(reference.num_examples)
    names = sorted(names)
    # The quantile holds for the whole comparison, not for each feature: with 30 features compared, a
    # per-feature 0.995 would alarm on ~14% of clean runs; split across them (Bonferroni) it stays ~0.5%.
    quantile = 1 - (1 - noise.quantile) / max(1, len(names))
    floors = {}
    for name in names:
        stats = by_name.get(name)
        if stats is None or noise.draws <= 0:
            continue
        if stats.HasField("string_stats"):
            drawn = categorical_noise(
                value_counts(stats), rows, compared_rows, noise.draws, generator(noise.seed, name)
            )
        elif values is not None and name in values:
            column = as_floats(prepare_frame(values[[name]])[name])
            drawn = numeric_noise(column, rows, compared_rows, noise.draws, generator(noise.seed, name))
        else:
            histogram = standard_histogram(stats)
            if histogram is None:
                continue
            drawn = numeric_noise(_spread(histogram), rows, compared_rows, noise.draws, generator(noise.seed, name))
        floors[name] = floor(drawn, quantile)
    return floors


def _spread(histogram: Histogram, points: int = 2000) -> np.ndarray:
    """Values spread evenly through a histogram's buckets, in proportion to their counts."""
    kept = np.isfinite(histogram.lows) & np.isfinite(histogram.highs) & (histogram.counts > 0)
    lows, highs, counts = histogram.lows[kept], histogram.highs[kept], histogram.counts[kept]
    if not counts.sum():
        return np.zeros(0)
    per_bucket = np.maximum(1, np.round(counts / counts.sum() * points)).astype(int)
    return np.concatenate(
        [low + (high - low) * (np.arange(k) + 0.5) / k for low, high, k in zip(lows, highs, per_bucket, strict=True)]
    )


def _is_text(feature: schema_pb2.Feature) -> bool:
    return feature.type == schema_pb2.BYTES or (feature.HasField("int_domain") and feature.int_domain.is_categorical)


# --- validation --------------------------------------------------------------------------------


def validate_statistics(
    statistics: statistics_pb2.DatasetFeatureStatisticsList,
    schema: schema_pb2.Schema,
    config: UseCaseConfig,
    version: str,
    previous: statistics_pb2.DatasetFeatureStatisticsList | None = None,
    previous_version: str | None = None,
    duplicates: Mapping[str, tuple[int, int]] | None = None,
    samples: Mapping[str, pd.DataFrame] | None = None,
) -> ValidationResult:
    """Validates every split against the schema, measures skew and drift, and grades each finding.

    Args:
        statistics: One dataset per split (train, eval, test).
        schema: The curated schema.
        config: The use case (thresholds, severities, minimum rows).
        version: The dataset version, for messages.
        previous: Statistics of the previous dataset version, for drift; None skips drift.
        previous_version: Its id.
        duplicates: Duplicated and total rows per split, from :func:`duplicate_fraction`.
        samples: Rows of each split (all, or the first :data:`SAMPLE_ROWS`): the numeric noise floors
            draw from train's, and the label, correlation and leakage checks read them; None skips
            those checks (the noise floors then draw from the statistics' histograms).
    """
    spec = config.validation
    findings: list[Finding] = []
    anomalies: dict[str, anomalies_pb2.Anomalies] = {}

    def grade(kind: str) -> str:
        return spec.severity.get(kind, DEFAULT_SEVERITY.get(kind, "error"))

    for split in SPLITS:
        stats = split_statistics(statistics, split)
        rows = stats.datasets[0].num_examples
        if rows == 0:
            findings.append(
                Finding("rows", split, "(dataset)", "EMPTY_SPLIT", grade("EMPTY_SPLIT"), "the split has no rows")
            )
            continue
        if rows < spec.min_rows:
            findings.append(
                Finding(
                    "rows",
                    split,
                    "(dataset)",
                    "TOO_FEW_ROWS",
                    grade("TOO_FEW_ROWS"),
                    f"{rows} rows, at least {spec.min_rows} required",
                )
            )
        result = tfdv.validate_statistics(stats, schema, environment=TRAINING)
        anomalies[f"schema:{split}"] = result
        findings.extend(findings_from_anomalies(result, "schema", split, grade))
        duplicated, total = (duplicates or {}).get(split, (0, 0))
        if total and duplicated / total > spec.max_duplicate_fraction:
            findings.append(
                Finding(
                    "rows",
                    split,
                    "(dataset)",
                    "DUPLICATE_ROWS",
                    grade("DUPLICATE_ROWS"),
                    f"{duplicated} of {total} rows ({duplicated / total:.2%}) repeat another row exactly; "
                    f"at most {spec.max_duplicate_fraction:.2%} allowed",
                )
            )

    distances: list[Distance] = []
    train, evaluation = split_statistics(statistics, "train"), split_statistics(statistics, "eval")
    train_rows = train.datasets[0].num_examples
    train_sample = (samples or {}).get("train")
    if train_rows and evaluation.datasets[0].num_examples:
        measured, found, skew = _compare(
            train, evaluation, schema, config, "skew", "train vs eval", grade, train_sample
        )
        anomalies["skew"] = skew
        findings.extend(found)
        distances.extend(measured)
    if previous is not None and train_rows:
        old_train = split_statistics(previous, "train")
        where = f"train vs {previous_version or 'previous'}"
        measured, found, drift = _compare(train, old_train, schema, config, "drift", where, grade, train_sample)
        anomalies["drift"] = drift
        findings.extend(found)
        distances.extend(measured)
    label_shares, relations, task = [], [], ""
    if samples and "train" in samples:
        label = config.target.name
        labels = {split: frame[label] for split, frame in samples.items() if label in frame and len(frame)}
        task = resolve_task(config.target, labels["train"]).task if "train" in labels else "classification"
        if task == "regression":
            findings.extend(check_numeric_label(labels, grade))
        else:
            found, label_shares = check_label(labels, spec.label, spec.noise, grade)
            findings.extend(found)
        numeric, categorical = config.features.numeric, config.features.categorical
        head = spec.correlation.sample_rows
        train_rows_sample = samples["train"].iloc[:head]
        found, relations = check_correlation(train_rows_sample, numeric, categorical, spec.correlation, grade)
        findings.extend(found)
        if "eval" in samples and len(samples["eval"]):
            found, leaks = check_leakage(
                train_rows_sample,
                samples["eval"].iloc[:head],
                label,
                numeric,
                categorical,
                spec.correlation,
                grade,
                task,
            )
            findings.extend(found)
            relations.extend(leaks)
    findings.sort(key=lambda f: (f.severity != "error", f.check, f.split, f.feature))
    return ValidationResult(
        version, findings, distances, statistics, anomalies, previous_version, label_shares, relations, task=task
    )


def skew_distances(
    statistics: statistics_pb2.DatasetFeatureStatisticsList,
    schema: schema_pb2.Schema,
    config: UseCaseConfig,
    train_sample: pd.DataFrame | None = None,
) -> list[Distance]:
    """The train-vs-eval distance of every compared feature and the label, as validation measures skew.

    The same statistic, configured thresholds and noise floors as :func:`validate_statistics`; each
    distance's ``threshold`` is the one validation applies (configured, or the noise floor when higher).

    Args:
        statistics: One dataset per split (train, eval, test).
        schema: The curated schema.
        config: The use case (its skew thresholds and noise settings).
        train_sample: Train's rows, for the numeric noise floors (None: drawn from the histograms).
    """
    train, evaluation = split_statistics(statistics, "train"), split_statistics(statistics, "eval")
    if not train.datasets[0].num_examples or not evaluation.datasets[0].num_examples:
        return []
    distances, _, _ = _compare(
        train, evaluation, schema, config, "skew", "train vs eval", lambda kind: "error", train_sample
    )
    return distances


def _compare(
    reference: statistics_pb2.DatasetFeatureStatisticsList,
    compared: statistics_pb2.DatasetFeatureStatisticsList,
    schema: schema_pb2.Schema,
    config: UseCaseConfig,
    check: str,
    where: str,
    grade: Callable[[str], str],
    values: pd.DataFrame | None,
) -> tuple[list[Distance], list[Finding], anomalies_pb2.Anomalies]:
    """Skew (``compared`` as serving) or drift (``compared`` as previous) with sample-aware thresholds."""
    configured = configured_thresholds(schema, config, check)
    compared_rows = int(compared.datasets[0].num_examples)
    floors = noise_floors(reference.datasets[0], compared_rows, configured, config.validation.noise, values)
    compared_schema = with_comparators(schema, config, check, floors)
    if check == "drift":
        anomalies = tfdv.validate_statistics(
            reference, compared_schema, previous_statistics=compared, environment=TRAINING
        )
    else:
        anomalies = tfdv.validate_statistics(
            reference, compared_schema, serving_statistics=compared, environment=TRAINING
        )
    sizes = f"{reference.datasets[0].num_examples} vs {compared_rows} rows"
    distances = [
        dataclasses.replace(
            d,
            threshold=min(d.threshold, MEASURE_ONLY),
            configured=configured.get(d.feature, d.threshold),
            noise_floor=floors.get(d.feature, 0.0),
        )
        for d in distances_from_anomalies(anomalies, check)
    ]
    by_feature = {d.feature: d for d in distances}
    findings = []
    for finding in findings_from_anomalies(anomalies, check, where, grade, comparators_only=True):
        distance = by_feature.get(finding.feature)
        if distance is not None:
            finding = dataclasses.replace(finding, description=f"{finding.description} {distance.explain(sizes)}")
        findings.append(finding)
    return distances, findings, anomalies


def _present_fraction(stats: statistics_pb2.FeatureNameStatistics, rows: int) -> float:
    kind = stats.WhichOneof("stats")
    common = getattr(stats, kind).common_stats if kind else None
    return common.num_non_missing / rows if common is not None and rows else 1.0


def _pin_label_domain(
    schema: schema_pb2.Schema, feature: schema_pb2.Feature, stats: statistics_pb2.FeatureNameStatistics
) -> None:
    """The label's classes are exactly the ones seen: an unseen class is an anomaly."""
    if stats.HasField("num_stats") and feature.type == schema_pb2.INT:
        feature.int_domain.min = int(stats.num_stats.min)
        feature.int_domain.max = int(stats.num_stats.max)
    elif feature.HasField("domain"):
        feature.distribution_constraints.min_domain_mass = 1.0
    elif stats.HasField("string_stats"):
        raise DataError(
            f"the label {feature.name!r} has {stats.string_stats.unique} classes, too many to pin a domain",
            hint="is the target column right? classification labels have few classes",
        )


def _widen_numeric_domain(feature: schema_pb2.Feature, stats: statistics_pb2.NumericStatistics, margin: float) -> None:
    width = max(stats.max - stats.min, abs(stats.max), 1.0)
    low, high = stats.min - margin * width, stats.max + margin * width
    if feature.type == schema_pb2.INT:
        feature.int_domain.min, feature.int_domain.max = int(np.floor(low)), int(np.ceil(high))
    else:
        feature.float_domain.min, feature.float_domain.max = float(low), float(high)


def _epoch_seconds(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Timestamp columns become float epoch seconds, as in :func:`prepare_frame`."""
    columns, names = [], []
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        if pa.types.is_timestamp(column.type):
            column = pa.compute.divide(column.cast(pa.int64()).cast(pa.float64()), _unit_per_second(column.type))
        columns.append(column)
        names.append(name)
    return pa.RecordBatch.from_arrays(columns, names=names)


def _unit_per_second(kind: pa.DataType) -> float:
    return {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}[kind.unit]


# --- the shell ---------------------------------------------------------------------------------


def read_statistics(store: ObjectStore, ref: DatasetRef) -> statistics_pb2.DatasetFeatureStatisticsList | None:
    """Returns the statistics stored next to a dataset version, or None if it was never validated."""
    try:
        data = store.get_bytes(store.bucket("datasets"), ref.key(STATISTICS))
    except NotFoundError:
        return None
    return statistics_pb2.DatasetFeatureStatisticsList.FromString(data)


def statistics_of(
    store: ObjectStore,
    ref: DatasetRef,
    config: UseCaseConfig,
    work_dir: Path,
    schema: schema_pb2.Schema | None = None,
    keep: bool = True,
) -> statistics_pb2.DatasetFeatureStatisticsList:
    """Returns a version's stored statistics, computing them first if it has none.

    Args:
        store: The object store.
        ref: The dataset version.
        config: The use case.
        work_dir: Where the splits are downloaded when statistics must be computed.
        schema: The schema, for the statistics options.
        keep: Whether to store computed statistics beside the version; readers whose identity may
            not write datasets (monitoring) pass False.
    """
    stored = read_statistics(store, ref)
    if stored is not None:
        return stored
    log.info("dataset version %s has no statistics yet: computing them", ref.version)
    work_dir.mkdir(parents=True, exist_ok=True)
    statistics, _, _ = compute_statistics(store, datasets.read_manifest(store, ref), config, work_dir, schema)
    if keep:
        store.put_bytes(store.bucket("datasets"), ref.key(STATISTICS), statistics.SerializeToString())
    return statistics


def compute_statistics(
    store: ObjectStore,
    manifest: Mapping[str, Any],
    config: UseCaseConfig,
    work_dir: Path,
    schema: schema_pb2.Schema | None = None,
) -> tuple[statistics_pb2.DatasetFeatureStatisticsList, dict[str, tuple[int, int]], dict[str, pd.DataFrame]]:
    """Downloads a version's splits (verified) and computes their statistics and duplicate counts.

    Returns:
        The statistics, the duplicated and total rows of each split, and each split's rows for the
        row checks: all of them in process, the first :data:`SAMPLE_ROWS` with the Beam engine.
    """
    files = {split: datasets.download_split(store, manifest, split, work_dir / f"{split}.parquet") for split in SPLITS}
    duplicates = {split: duplicate_fraction(_parquet_chunks(path)) for split, path in files.items()}
    if config.validation.statistics.engine == "beam":
        statistics = statistics_with_beam(files, work_dir, config.validation.statistics.beam_options, schema)
        samples = {split: _parquet_head(path, SAMPLE_ROWS) for split, path in files.items()}
    else:
        samples = {split: datasets.read_parquet(path) for split, path in files.items()}
        statistics = statistics_in_process(samples, schema)
    return statistics, duplicates, samples


def validate_dataset(
    config: UseCaseConfig, schema: schema_pb2.Schema, store: ObjectStore, version: str = "latest"
) -> ValidationResult:
    """Validates a dataset version and stores its statistics next to it for later runs and monitoring.

    Args:
        config: The use case.
        schema: The curated schema.
        store: The object store.
        version: A dataset version id, or ``latest``.

    Returns:
        The result; ``is_valid`` is the gate. Invalid data is a result, not an exception.
    """
    ref = datasets.resolve(store, config.name, version)
    manifest = datasets.read_manifest(store, ref)
    baseline, reason = drift_baseline(store, config.name, manifest)
    with tempfile.TemporaryDirectory(prefix="mlcycle-validate-") as folder:
        statistics, duplicates, samples = compute_statistics(store, manifest, config, Path(folder), schema)
        previous = (
            statistics_of(store, DatasetRef(config.name, baseline), config, Path(folder) / "previous", schema)
            if baseline
            else None
        )
    store.put_bytes(store.bucket("datasets"), ref.key(STATISTICS), statistics.SerializeToString())
    result = validate_statistics(statistics, schema, config, ref.version, previous, baseline, duplicates, samples)
    result.baseline_reason = reason
    datasets.write_verdict(store, ref, result.is_valid, baseline)
    return result


def drift_baseline(store: ObjectStore, use_case: str, manifest: Mapping[str, Any]) -> tuple[str | None, str]:
    """The dataset version drift is measured against, and why that one.

    The version the production model was trained on, when there is one (drift then says how far the new data
    is from what serves); otherwise the newest earlier version that passed validation. Never a version
    validation rejected, and never whatever ``latest`` happened to name when ingestion started.

    Returns:
        The version (None: drift is not measured) and a phrase saying how it was chosen.
    """
    production = models.current_version(store, use_case, models.PRODUCTION)
    if production:
        trained_on = models.read_manifest(store, models.resolve(store, use_case, production))["lineage"].get(
            "dataset_version"
        )
        if trained_on and trained_on != manifest["version"]:
            return trained_on, f"the version production model {production} was trained on"
    valid = datasets.last_valid_version(store, use_case, manifest)
    if valid:
        return valid, "the newest earlier version that passed validation"
    return None, "no earlier version passed validation"


def _parquet_head(path: Path, rows: int) -> pd.DataFrame:
    """The first ``rows`` rows of a Parquet file."""
    chunks, read = [], 0
    for chunk in _parquet_chunks(path):
        chunks.append(chunk.iloc[: rows - read])
        read += len(chunks[-1])
        if read >= rows:
            break
    return pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame()


def _parquet_chunks(path: Path) -> Iterable[pd.DataFrame]:
    for batch in open_parquet(path).iter_batches(batch_size=200_000):
        yield datasets.to_frame(batch)


def infer_schema_for_version(config: UseCaseConfig, store: ObjectStore, version: str = "latest") -> schema_pb2.Schema:
    """Infers a curated schema from all rows of a dataset version (see :func:`infer_schema`)."""
    ref = datasets.resolve(store, config.name, version)
    manifest = datasets.read_manifest(store, ref)
    with tempfile.TemporaryDirectory(prefix="mlcycle-schema-") as folder:
        folder = Path(folder)
        files = [datasets.download_split(store, manifest, split, folder / f"{split}.parquet") for split in SPLITS]
        train = datasets.read_parquet(files[SPLITS.index("train")])
        task = resolve_task(config.target, train[config.target.name]).task
        if config.validation.statistics.engine == "beam":
            statistics = statistics_with_beam(
                {"all": str(folder / "*.parquet")}, folder, config.validation.statistics.beam_options
            )
        else:
            statistics = statistics_in_process(
                {"all": pd.concat([datasets.read_parquet(f) for f in files], ignore_index=True)}
            )
    return infer_schema(statistics, config, task=task)


def parse_schema(text: str) -> schema_pb2.Schema:
    """Parses a text-protobuf schema (as a pipeline parameter carries it).

    Raises:
        DataError: If the text is not a valid schema.
    """
    try:
        return text_format.Parse(text, schema_pb2.Schema())
    except text_format.ParseError as error:
        raise DataError(
            f"the schema is not a valid TFDV schema: {error}", hint="regenerate it with `make schema`"
        ) from None
