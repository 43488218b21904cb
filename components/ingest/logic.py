"""Stage 1: ingest sources into an immutable, content-addressed dataset version.

The pure functions (joins, label derivation, split assignment, version ids) work on small frames and
are unit-tested alone. :func:`ingest_dataset` runs them over a use case's sources with the object
store passed in: it fetches and hashes the sources, streams the primary table in chunks through the
pure functions into one Parquet file per split, adds the labelled rows its caller hands it
(production feedback, see :mod:`components.ingest.feedback`), and publishes the version to S3 (data,
then manifest, then the latest pointer). The task around it (settings, YAML, the manifest artifact)
is :mod:`components.ingest.task`.

Only the primary table is streamed; lookup tables (joined onto it) are read whole, since they are
dimension tables. Memory therefore stays flat in the size of the primary table.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import logging
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from components.common import datasets, publication
from components.common.arrow import open_parquet, pa, pa_csv, pq
from components.common.config import (
    SPLITS,
    DeriveSpec,
    JoinSpec,
    SourceSpec,
    SplitSpec,
    TargetSpec,
    UseCaseConfig,
    canonical_json,
)
from components.common.datasets import DatasetRef, to_frame
from components.common.errors import DataError, NotFoundError, SourceError, StorageError
from components.common.provenance import code_version, utc_now
from components.common.publication import Outcome
from components.common.storage import ObjectStore, StoredObject, sha256_file, split_uri

log = logging.getLogger(__name__)

# Bump when the output of ingestion changes for the same inputs, so ids stay content-addressed.
FORMAT_VERSION = 1
SPLIT_COLUMN = "__split__"

Progress = Callable[[int], None]


@dataclass(frozen=True)
class IngestOptions:
    """Knobs of the ingestion shell that do not change its output.

    Attributes:
        block_bytes: Bytes of CSV parsed per chunk; peak memory grows with it.
        work_dir: Scratch folder (a temporary one when None); removed afterwards.
    """

    block_bytes: int = 16 * 1024 * 1024
    work_dir: Path | None = None


@dataclass(frozen=True)
class ExtraRows:
    """Labelled rows that join a dataset version besides its sources: production feedback.

    Attributes:
        splits: The rows of each split: feature columns and the target. The version's other columns
            stay empty in them (feedback knows only what was served).
        lineage: Where they came from (the feedback window, the log objects and their sha256, how
            rows were placed), recorded in the manifest under ``feedback`` and part of the version id.
    """

    splits: Mapping[str, pd.DataFrame]
    lineage: Mapping[str, Any]


@dataclass(frozen=True)
class IngestResult:
    """The outcome of ingestion.

    Attributes:
        ref: The dataset version.
        created: True only when this run created the version's manifest.
        manifest: The version's manifest.
        outcome: ``created``; ``unchanged`` (identical inputs were ingested before and every file verifies:
            nothing written); ``repaired`` (it existed but files were missing or altered: those were written
            again); ``raced`` (another run created the very same version at the same moment: its manifest stands).
        latest_error: Why the latest pointer could not be moved to this (complete) version, or None when it names
            it. Running the same ingestion again moves it.
    """

    ref: DatasetRef
    created: bool
    manifest: dict[str, Any]
    outcome: Outcome = "created"
    latest_error: str | None = None

    def summary(self) -> dict[str, Any]:
        """The facts a pipeline UI shows about the version (artifact metadata)."""
        return {
            "version": self.ref.version,
            "use_case": self.ref.use_case,
            "location": self.manifest["location"],
            "created": self.created,
            "outcome": self.outcome,
            "rows": self.manifest["rows"],
            **{f"rows_{split}": entry["rows"] for split, entry in self.manifest["splits"].items()},
        }


# --- pure functions --------------------------------------------------------------------------


def dataset_version_id(fingerprint: Mapping[str, Any], source_digests: Mapping[str, str]) -> str:
    """Returns the content-derived id of a dataset version.

    Args:
        fingerprint: The settings that decide the content (UseCaseConfig.ingest_fingerprint()).
        source_digests: sha256 of each source file by source name.
    """
    payload = canonical_json({"format": FORMAT_VERSION, "config": fingerprint, "sources": source_digests})
    return "ds-" + hashlib.sha256(payload.encode()).hexdigest()[:16]


def prepare_lookup(table: pd.DataFrame, join: JoinSpec, name: str) -> tuple[pd.DataFrame, int]:
    """Selects, renames and de-duplicates a lookup table for one join.

    Rows with a missing key value are left out: as in SQL, a missing key matches nothing (pandas
    would match it with a missing key of the primary rows).

    Returns:
        The lookup frame and the number of rows dropped because their key repeated (the first wins,
        so a join never multiplies primary rows).

    Raises:
        DataError: If a key or selected column is absent from the lookup source.
    """
    wanted = list(join.keys) + [c for c in join.columns if c not in join.keys]
    _require_columns(table.columns, wanted, f"lookup source {name!r}")
    frame = table[wanted] if join.columns else table
    frame = frame.rename(columns=dict(join.rename))
    frame = frame.dropna(subset=list(join.keys), how="any")
    duplicated = frame.duplicated(subset=list(join.keys), keep="first")
    return frame[~duplicated], int(duplicated.sum())


def join_lookups(frame: pd.DataFrame, lookups: Mapping[str, pd.DataFrame], joins: tuple[JoinSpec, ...]) -> pd.DataFrame:
    """Joins prepared lookup frames onto the primary rows, in the configured order.

    SQL semantics for missing keys: a primary row with a missing key value matches no lookup row (a
    left join keeps it without the lookup's columns, an inner join drops it).

    Raises:
        DataError: If a key is absent from the primary rows or key types cannot be compared.
    """
    for join in joins:
        _require_columns(frame.columns, join.keys, f"the rows being joined with {join.source!r}")
        lookup = lookups[join.source].dropna(subset=list(join.keys), how="any")
        clashes = sorted((set(lookup.columns) - set(join.keys)) & set(frame.columns))
        if clashes:
            raise DataError(
                f"joining {join.source!r} would duplicate column {clashes[0]!r}",
                hint=f"rename it in the join, e.g. rename: {{{clashes[0]}: {join.source}_{clashes[0]}}}",
            )
        try:
            frame = frame.merge(lookup, on=list(join.keys), how=join.how, validate="many_to_one")
        except (ValueError, TypeError) as error:
            raise DataError(
                f"cannot join {join.source!r} on {', '.join(join.keys)}: {error}",
                hint="the key columns must have the same type in both sources",
            ) from None
    return frame


def derive_target(frame: pd.DataFrame, target: TargetSpec) -> tuple[pd.DataFrame, int]:
    """Computes the label (when a rule is given) and removes rows without one.

    Returns:
        The frame with the label column and the number of rows dropped for a missing label.

    Raises:
        DataError: If the label (or its source) is absent, or missing values are not allowed.
    """
    rule = target.derive
    source = rule.column if rule else target.name
    _require_columns(frame.columns, [source], "the data" if not rule else "the data (target.derive.column)")
    missing = frame[source].isna()
    if missing.any() and target.missing == "error":
        raise DataError(
            f"{int(missing.sum())} rows have no value in {source!r}, and target.missing is 'error'",
            hint="set target.missing: drop to skip them",
        )
    frame = frame[~missing]
    if rule is not None:
        frame = frame.assign(**{target.name: _compare(frame[rule.column], rule).astype("int64")})
    return frame, int(missing.sum())


def assign_splits(frame: pd.DataFrame, split: SplitSpec) -> pd.Series:
    """Returns the split (train, eval, test, or missing when undecidable) of every row.

    A time split compares ``split.column`` with the two bounds; a hash split places rows by a
    salted, platform-independent hash of the key columns, so a row keeps its split across runs.

    Raises:
        DataError: If the split columns are absent or a time column cannot be read as time.
    """
    if split.method == "time":
        _require_columns(frame.columns, [split.column], "the data (split.column)")
        values, bounds = _orderable(frame[split.column], (split.train_end, split.eval_end), split.column)
        labels = np.select([values < bounds[0], values < bounds[1]], ["train", "eval"], default="test")
        return pd.Series(labels, index=frame.index).where(values.notna().to_numpy())
    _require_columns(frame.columns, split.key, "the data (split.key)")
    hashes = pd.util.hash_pandas_object(frame[list(split.key)], index=False).to_numpy(dtype=np.uint64)
    # hash_key only reaches text columns, so the salt is mixed into every row's hash instead.
    salt = np.uint64(int(hashlib.sha256(split.salt.encode()).hexdigest()[:16], 16))
    position = pd.util.hash_array(hashes ^ salt) / float(2**64)
    first, second = split.fractions["train"], split.fractions["train"] + split.fractions["eval"]
    return pd.Series(
        np.select([position < first, position < second], ["train", "eval"], default="test"), index=frame.index
    )


def prepare_chunk(
    frame: pd.DataFrame, lookups: Mapping[str, pd.DataFrame], config: UseCaseConfig
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Turns raw primary rows into dataset rows: joined, labelled, pruned and assigned a split.

    Returns:
        The rows with a ``__split__`` column, and counts of rows dropped by reason.
    """
    frame = join_lookups(frame, lookups, config.joins)
    frame, label_missing = derive_target(frame, config.target)
    splits = assign_splits(frame, config.split)
    frame = frame.drop(columns=[c for c in config.drop if c in frame.columns])
    _require_columns(frame.columns, config.features.all(), "the data (features)")
    frame = frame.assign(**{SPLIT_COLUMN: splits})
    undecided = frame[SPLIT_COLUMN].isna()
    return frame[~undecided], {"label_missing": label_missing, "split_value_missing": int(undecided.sum())}


# --- reading sources -------------------------------------------------------------------------


def locate_source(name: str, spec: SourceSpec, store: ObjectStore | None, folder: Path) -> Path:
    """Returns a local file for a source: the path itself, a package file, or a verified S3 download.

    Raises:
        SourceError: If the source does not exist or cannot be read.
    """
    uri = spec.uri
    if uri.startswith("s3://"):
        if store is None:
            raise SourceError(f"source {name!r} is on S3 ({uri}) but no object store is configured")
        bucket, key = split_uri(uri)
        try:
            return store.get_file(bucket, key, folder / name / Path(key).name)
        except NotFoundError:
            raise SourceError(f"source {name!r}: {uri} does not exist", hint="check the bucket and key") from None
    if uri.startswith("package://"):
        package, _, inner = uri[len("package://") :].partition("/")
        found = importlib.util.find_spec(package)  # locates the package without running its __init__
        if found is None or not found.submodule_search_locations:
            raise SourceError(f"source {name!r}: Python package {package!r} is not installed", hint="run `make env`")
        path = Path(next(iter(found.submodule_search_locations))) / inner
    else:
        path = Path(uri).expanduser()
    if not path.is_file():
        raise SourceError(f"source {name!r}: {path} does not exist or is not a file", hint="check `uri` in the config")
    try:
        with open(path, "rb"):
            pass
    except OSError as error:
        raise SourceError(f"source {name!r}: cannot read {path}: {error.strerror}") from None
    return path


@contextmanager
def open_source(path: Path, progress: Progress | None = None) -> Iterator[BinaryIO]:
    """Opens a source file as a byte stream, unpacking a single-file .zip and gzip/bz2 transparently."""
    if path.suffix == ".zip":
        try:
            archive = zipfile.ZipFile(path)
        except zipfile.BadZipFile:
            raise SourceError(f"{path} is not a valid zip archive") from None
        with archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            if len(members) != 1:
                raise SourceError(f"{path} must hold exactly one file, it holds {len(members)}")
            with archive.open(members[0]) as handle:
                yield _Counting(handle, progress)
        return
    compression = {".gz": "gzip", ".bz2": "bz2"}.get(path.suffix)
    with open(path, "rb") as raw:
        counted = _Counting(raw, progress)
        if compression:
            with pa.CompressedInputStream(pa.PythonFile(counted, mode="r"), compression) as stream:
                yield stream
        else:
            yield counted


def read_batches(
    path: Path, spec: SourceSpec, name: str, block_bytes: int, progress: Progress | None = None
) -> Iterator[pa.RecordBatch]:
    """Streams a source as Arrow record batches of bounded size.

    CSV column types are inferred from the first block; a column empty there is read as text, so a
    later block cannot contradict the inference.

    Raises:
        SourceError: If the file is not valid CSV or Parquet, or a value contradicts its column's type.
    """
    try:
        if spec.resolved_format() == "parquet":
            parquet = open_parquet(path)
            yield from parquet.iter_batches(batch_size=max(1, block_bytes // 256))
            return
        parse = pa_csv.ParseOptions(delimiter=spec.delimiter)
        # Without strings_can_be_null, "NA" or an empty field in a text column would be a category.
        convert = pa_csv.ConvertOptions(strings_can_be_null=True)
        if spec.null_values:
            convert.null_values = list(spec.null_values)
        schema = _infer_csv_schema(path, block_bytes, parse, convert)
        convert.column_types = {f.name: (pa.string() if pa.types.is_null(f.type) else f.type) for f in schema}
        with open_source(path, progress) as stream:
            reader = pa_csv.open_csv(
                stream,
                read_options=pa_csv.ReadOptions(block_size=block_bytes),
                parse_options=parse,
                convert_options=convert,
            )
            try:
                yield from reader
            finally:
                reader.close()  # before the file closes: its read-ahead must not outlive the file
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError, UnicodeDecodeError) as error:
        raise SourceError(
            f"source {name!r} ({path.name}) is malformed: {_first_line(error)}", hint="fix or replace the file"
        ) from None


def _infer_csv_schema(
    path: Path, block_bytes: int, parse: pa_csv.ParseOptions, convert: pa_csv.ConvertOptions
) -> pa.Schema:
    """Infers column types from the first block of a CSV source (whole lines only).

    The prefix is read into memory and parsed on its own: a streaming reader left open on a large
    file keeps reading ahead from it, which deadlocks once the file is closed under it.
    """
    with open_source(path) as stream:
        prefix = stream.read(block_bytes)
        if len(prefix) == block_bytes and b"\n" in prefix:
            prefix = prefix[: prefix.rindex(b"\n") + 1]
    return pa_csv.read_csv(io.BytesIO(prefix), parse_options=parse, convert_options=convert).schema


def read_table(path: Path, spec: SourceSpec, name: str) -> pd.DataFrame:
    """Reads a whole (lookup) source into a DataFrame."""
    batches = list(read_batches(path, spec, name, block_bytes=64 * 1024 * 1024))
    table = pa.Table.from_batches(batches) if batches else pa.table({})
    return to_frame(table)


# --- ingestion -------------------------------------------------------------------------------


def ingest_dataset(
    config: UseCaseConfig,
    store: ObjectStore,
    options: IngestOptions = IngestOptions(),
    progress: Callable[[int, int | None], Progress] | None = None,
    extra_rows: ExtraRows | None = None,
) -> IngestResult:
    """Ingests a use case's sources, and the labelled rows handed in, into a dataset version in S3.

    Identical inputs give the identical version id, and then nothing is written (except moving the
    latest pointer back to that version if it had moved on, and writing again files of that version that
    are missing or altered). Nothing is published until every file is complete: a failure leaves no
    visible version behind, and never removes a file that a manifest names. Extra rows (production feedback, for
    retraining) join their splits, and the manifest's ``feedback`` entry records their lineage (the
    window and the log objects read), which is part of the version id.

    Args:
        config: The use case.
        store: The object store; its datasets bucket receives the version.
        options: Chunk size and scratch folder.
        progress: Factory of progress callbacks, given (source bytes, total) per source read.
        extra_rows: Labelled rows to add, by split; required when the config names a feedback window
            (:func:`components.ingest.feedback.feedback_rows` reads them).

    Returns:
        The version reference, whether it was created now, and its manifest.

    Raises:
        SourceError, DataError: For bad sources or data that does not fit the config.
        StorageError: If S3 fails beyond its retries.
    """
    if config.feedback is not None and extra_rows is None:
        # A bug of the caller: the version would silently lack the feedback its config names.
        raise ValueError(f"the use case {config.name!r} names a feedback window: hand its rows in (extra_rows)")
    scratch = Path(tempfile.mkdtemp(prefix="mlcycle-ingest-", dir=options.work_dir))
    try:
        return _ingest(config, store, options, scratch, progress, extra_rows)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def conform_rows(frame: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """Gives rows from outside the sources a version's columns.

    Each value takes its column's type, absent columns stay empty, timestamps are read from ISO text.

    Raises:
        DataError: If a column is not one of the version's or its values cannot take its type.
    """
    unknown = sorted(set(frame.columns) - set(schema.names))
    if unknown:
        raise DataError(
            f"feedback column {unknown[0]!r} is not a column of the dataset",
            hint="feedback rows hold features and the target only",
        )
    arrays = []
    for column in schema:
        if column.name not in frame.columns:
            arrays.append(pa.nulls(len(frame), column.type))
            continue
        values = frame[column.name].reset_index(drop=True)
        try:
            if pa.types.is_timestamp(column.type):
                times = pd.to_datetime(values, utc=True)
                array = pa.Array.from_pandas(times if column.type.tz else times.dt.tz_localize(None))
            else:
                array = pa.array(values.astype(object).where(values.notna(), None).tolist())
            arrays.append(array.cast(column.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError, TypeError) as error:
            raise DataError(
                f"feedback column {column.name!r} cannot be read as {column.type}: {_first_line(error)}",
                hint="check what serving logs for it",
            ) from None
    return pa.Table.from_arrays(arrays, schema=schema)


def _ingest(config, store, options, scratch, progress, extra: ExtraRows | None) -> IngestResult:
    store.check()
    local = {name: locate_source(name, spec, store, scratch / "sources") for name, spec in config.sources.items()}
    digests = {name: sha256_file(path) for name, path in local.items()}
    fingerprint = {**config.ingest_fingerprint(), **({"feedback": extra.lineage} if extra else {})}
    ref = DatasetRef(config.name, dataset_version_id(fingerprint, digests))
    bucket = store.bucket("datasets")
    previous = datasets.read_latest(store, config.name)
    existing = datasets.read_manifest_or_none(store, ref)
    if existing is not None:
        if not datasets.damaged_files(store, existing):
            log.info("dataset version %s exists already: nothing to write", ref.version)
            return _point_latest(store, IngestResult(ref, False, existing, "unchanged"), previous)
        log.warning("dataset version %s exists but files are missing or altered: repairing them", ref.version)

    lookups, lookup_stats = {}, {}
    for join in config.joins:
        table = read_table(local[join.source], config.sources[join.source], join.source)
        lookups[join.source], duplicates = prepare_lookup(table, join, join.source)
        lookup_stats[join.source] = {
            "rows": len(table),
            "duplicate_keys_dropped": duplicates,
            "missing_keys_dropped": len(table) - len(lookups[join.source]) - duplicates,  # match nothing (SQL)
        }

    primary = config.primary_source
    primary_size = local[primary].stat().st_size if local[primary].suffix != ".zip" else _unzipped_size(local[primary])
    tick = progress(primary_size, None) if progress else None
    writers: dict[str, pq.ParquetWriter] = {}
    rows_read, dropped, counts = 0, {"label_missing": 0, "split_value_missing": 0}, dict.fromkeys(SPLITS, 0)
    schema = None

    def write(split: str, table: pa.Table) -> None:
        if split not in writers:
            writers[split] = pq.ParquetWriter(scratch / f"{split}.parquet", schema, compression="zstd")
        writers[split].write_table(table)
        counts[split] += table.num_rows

    try:
        for batch in read_batches(local[primary], config.sources[primary], primary, options.block_bytes, tick):
            rows_read += batch.num_rows
            frame, chunk_dropped = prepare_chunk(to_frame(batch), lookups, config)
            for reason, count in chunk_dropped.items():
                dropped[reason] += count
            for split, rows in frame.groupby(SPLIT_COLUMN, sort=False):
                rows = rows.drop(columns=[SPLIT_COLUMN])
                table = pa.Table.from_pandas(rows, schema=schema, preserve_index=False)
                schema = schema or _widen_nulls(table.schema)
                write(split, table.cast(schema))
        for split, rows in extra.splits.items() if extra and schema is not None else ():
            if len(rows):
                write(split, conform_rows(rows, schema))
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise DataError(
            f"rows of {primary!r} change type between chunks: {_first_line(error)}",
            hint="clean the column or set its type in the source",
        ) from None
    finally:
        for writer in writers.values():
            writer.close()

    total = sum(counts.values())
    if total == 0:
        raise DataError(
            f"no rows left after filtering: {rows_read} rows read from {primary!r}, "
            f"{dropped['label_missing']} without a label, {dropped['split_value_missing']} without a split value",
            hint="check the target and split settings against the data",
        )
    for split in SPLITS:
        if counts[split] == 0:
            log.warning("split %r of %s is empty", split, ref.version)
            pq.write_table(schema.empty_table(), scratch / f"{split}.parquet", compression="zstd")

    manifest = {
        "format_version": FORMAT_VERSION,
        "kind": "dataset",
        "use_case": config.name,
        "version": ref.version,
        "parent": previous,
        "created_at": utc_now(),
        "code_version": code_version(),
        "rows": total,
        "rows_read": rows_read,
        "rows_dropped": dropped,
        "columns": [{"name": f.name, "dtype": str(f.type)} for f in schema],
        "target": config.target.name,
        "sources": [
            {
                "name": name,
                "uri": config.sources[name].uri,
                "format": config.sources[name].resolved_format(),
                "sha256": digests[name],
                "bytes": local[name].stat().st_size,
                "primary": name == primary,
                **lookup_stats.get(name, {}),
            }
            for name in config.sources
        ],
        "config": config.ingest_fingerprint(),
        **({"feedback": dict(extra.lineage)} if extra else {}),
        "location": f"s3://{store.bucket('datasets')}/{ref.prefix}",
        "splits": {},
    }
    uploads = [_split_upload(store, bucket, ref, split, scratch / f"{split}.parquet") for split in SPLITS]
    if existing is not None:
        repaired = publication.repair(store, bucket, existing, uploads, datasets.manifest_files(existing))
        return _point_latest(store, IngestResult(ref, False, existing, repaired.outcome), previous)

    def complete(stored: Mapping[str, StoredObject]) -> dict[str, Any]:
        splits = {}
        for split in SPLITS:
            entry = stored[ref.split_key(split)]
            splits[split] = {"key": entry.key, "rows": counts[split], "sha256": entry.sha256, "bytes": entry.size}
        return {**manifest, "splits": splits}

    published = publication.publish(store, bucket, ref.manifest_key, uploads, complete, datasets.manifest_files)
    result = IngestResult(ref, published.outcome == "created", published.manifest, published.outcome)
    return _point_latest(store, result, previous)


def _split_upload(store: ObjectStore, bucket: str, ref: DatasetRef, split: str, path: Path) -> publication.Upload:
    def write() -> StoredObject:
        return store.put_file(bucket, ref.split_key(split), path, "application/vnd.apache.parquet")

    return publication.Upload(ref.split_key(split), sha256_file(path), write)


def _point_latest(store: ObjectStore, result: IngestResult, previous: str | None) -> IngestResult:
    """Moves the latest pointer to a complete version; a failure here leaves the version complete and says so."""
    if previous == result.ref.version:
        return result
    try:
        datasets.write_latest(store, result.ref)
    except StorageError as error:
        log.warning(
            "dataset version %s is complete, but the latest pointer was not moved: %s", result.ref.version, error
        )
        return replace(result, latest_error=str(error))
    return result


# --- helpers ---------------------------------------------------------------------------------


def _require_columns(available: Any, wanted: Any, where: str) -> None:
    missing = [c for c in wanted if c not in set(available)]
    if missing:
        shown = ", ".join(list(available)[:30])
        raise DataError(
            f"column {missing[0]!r} is absent from {where}"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""),
            hint=f"available columns: {shown}",
        )


def _compare(values: pd.Series, rule: DeriveSpec) -> pd.Series:
    _check_rule_types(values, rule)
    if rule.op in ("in", "not in"):
        inside = values.isin(rule.value)
        return ~inside if rule.op == "not in" else inside
    operations = {">": "gt", ">=": "ge", "<": "lt", "<=": "le", "==": "eq", "!=": "ne"}
    try:
        return getattr(values, operations[rule.op])(rule.value).astype(bool)
    except TypeError:
        raise DataError(
            f"cannot compare column {rule.column!r} ({values.dtype}) with {rule.value!r}",
            hint="target.derive.value must have the column's type",
        ) from None


def _check_rule_types(values: pd.Series, rule: DeriveSpec) -> None:
    """Refuses a rule value whose type differs from the column's: pandas would compare it silently.

    An integer column never equals ``"2"``: ``==`` would give constant labels and ``in [2, "3"]`` would
    drop ``"3"`` without a word. Numbers go with numeric columns, text with text columns, true/false
    with boolean ones; other columns (dates, mixed types) are compared as pandas does.

    Raises:
        DataError: Naming the column, the rule and the value to write instead.
    """
    kind = _column_kind(values)
    if kind is None:
        return
    candidates = list(rule.value) if rule.op in ("in", "not in") else [rule.value]
    for value in candidates:
        if value is None or _fits(value, kind):
            continue
        raise DataError(
            f"cannot compare column {rule.column!r} ({values.dtype}, {kind}) with {value!r} "
            f"in the rule {rule.column} {rule.op} {rule.value!r}: a {type(value).__name__} is never equal to a {kind}",
            hint=f"write target.derive.value as {_ARTICLED[kind]}, e.g. {_as_kind(value, kind)}",
        )


_ARTICLED = {"number": "a number", "text": "text", "true/false": "true or false"}


def _column_kind(values: pd.Series) -> str | None:
    if pd.api.types.is_bool_dtype(values):
        return "true/false"
    if pd.api.types.is_numeric_dtype(values):
        return "number"
    if pd.api.types.is_string_dtype(values) and pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        return "text"
    return None


def _fits(value: Any, kind: str) -> bool:
    if kind == "true/false":
        return isinstance(value, (bool, np.bool_))
    if kind == "number":
        return isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_))
    return isinstance(value, str)


def _as_kind(value: Any, kind: str) -> str:
    """How the value would be written for a column of that kind (in YAML)."""
    if kind == "text":
        return repr(str(value))
    if kind == "number":
        try:
            number = float(value) if not isinstance(value, bool) else None
        except ValueError:
            number = None
        return "a number such as 2" if number is None else f"{number:g} (no quotes)"
    return "true or false (no quotes)"


def _orderable(values: pd.Series, bounds: tuple[Any, Any], column: str) -> tuple[pd.Series, tuple[Any, Any]]:
    """Returns values and bounds in one comparable type: numbers, or UTC timestamps.

    A numeric column with date bounds is refused: no unit of its numbers is assumed.
    """
    numeric_bounds = all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in bounds)
    if numeric_bounds and pd.api.types.is_numeric_dtype(values):
        return values.astype("float64"), bounds
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        # pandas would read the numbers as nanoseconds after 1970: every row before any date bound.
        raise DataError(
            f"split column {column!r} holds numbers, but the split's bounds {bounds[0]!r} and {bounds[1]!r} are dates",
            hint=f"give split.train_end and split.eval_end in the unit of {column!r} (numbers, e.g. a year or "
            "epoch seconds), or split on a column of dates",
        )
    try:
        times = pd.to_datetime(values, utc=True)
        parsed = tuple(pd.Timestamp(str(b)) for b in bounds)
        parsed = tuple(b.tz_localize("UTC") if b.tzinfo is None else b.tz_convert("UTC") for b in parsed)
    except (ValueError, TypeError) as error:
        raise DataError(
            f"split column {column!r} or its bounds cannot be read as time: {error}",
            hint="use ISO dates such as '2013-09-01' (or numbers for a numeric column)",
        ) from None
    return times, parsed


def _widen_nulls(schema: pa.Schema) -> pa.Schema:
    """Null-typed columns (empty in the first chunk) become text, which later chunks can fill."""
    return pa.schema([f.with_type(pa.string()) if pa.types.is_null(f.type) else f for f in schema])


def _unzipped_size(path: Path) -> int:
    try:
        with zipfile.ZipFile(path) as archive:
            return sum(m.file_size for m in archive.infolist())
    except zipfile.BadZipFile:
        return path.stat().st_size


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


class _Counting(io.RawIOBase):
    """A read-only byte stream that reports how many bytes were read (for progress bars)."""

    def __init__(self, inner: BinaryIO, progress: Progress | None) -> None:
        self._inner = inner
        self._progress = progress

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._inner.read(len(buffer))
        buffer[: len(data)] = data
        if self._progress and data:
            self._progress(len(data))
        return len(data)

    def read(self, size: int = -1) -> bytes:
        data = self._inner.read(size)
        if self._progress and data:
            self._progress(len(data))
        return data
