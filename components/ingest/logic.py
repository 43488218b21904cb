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
import math
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime, timezone
from decimal import Decimal
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
from components.common.timezones import DEFAULT_TIMEZONE
from components.common.wallclock import local_times, utc_instants

log = logging.getLogger(__name__)

# Bump when the output of ingestion changes for the same inputs, so ids stay content-addressed.
FORMAT_VERSION = 1
# The hash split's definition (see hash_split_positions), part of a hash-split version's id: version 2
# hashes canonical key texts, version 1 hashed pandas' typed values (a key column read as text moved rows).
SPLIT_HASH_VERSION = 2
SPLIT_COLUMN = "__split__"

Progress = Callable[[int], None]
# CSV column types are inferred from this many bytes at the start of a file, whatever the block size: the
# block size (--block-mb) bounds memory and must never change what a source reads as.
CSV_INFERENCE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class IngestOptions:
    """Knobs of the ingestion shell that do not change its output.

    Attributes:
        block_bytes: Bytes of CSV parsed per chunk (at most ``CSV_INFERENCE_BYTES``, 16 MiB); peak memory
            grows with it. Column types never depend on it (see :func:`read_batches`).
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

    A hash split's id also names the definition of the split hash (``SPLIT_HASH_VERSION``), so a version
    ingested under an earlier definition is never reused for rows placed differently.

    Args:
        fingerprint: The settings that decide the content (UseCaseConfig.ingest_fingerprint()).
        source_digests: sha256 of each source file by source name.
    """
    hashed = fingerprint.get("split", {}).get("method") == "hash"
    payload = canonical_json(
        {
            "format": FORMAT_VERSION,
            **({"split_hash": SPLIT_HASH_VERSION} if hashed else {}),
            "config": fingerprint,
            "sources": source_digests,
        }
    )
    return "ds-" + hashlib.sha256(payload.encode()).hexdigest()[:16]


def prepare_lookup(table: pd.DataFrame, join: JoinSpec, name: str) -> tuple[pd.DataFrame, int]:
    """Selects, renames, lags and de-duplicates a lookup table for one join.

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
    renamed_keys = [key for key in join.keys if key in join.rename]
    if renamed_keys:
        key = renamed_keys[0]
        raise DataError(
            f"the join of {name!r} renames its key column {key!r} to {join.rename[key]!r}: "
            "a key must keep the name it has in the rows it is joined to",
            hint=f"remove {key} from the join's rename (rename only the columns it brings in)",
        )
    frame = table[wanted] if join.columns else table
    frame = frame.rename(columns=dict(join.rename))
    for key, duration in join.lag.items():
        if not pd.api.types.is_datetime64_any_dtype(frame[key]):
            raise DataError(
                f"join of {name!r} lags key {key!r} by {duration}, but it holds no times ({frame[key].dtype})",
                hint="lag only keys of dates and times",
            )
        frame = frame.assign(**{key: frame[key] + pd.Timedelta(duration)})  # row of t is joined at t + lag
    frame = frame.dropna(subset=list(join.keys), how="any")
    duplicated = frame.duplicated(subset=list(join.keys), keep="first")
    return frame[~duplicated], int(duplicated.sum())


def join_lookups(
    frame: pd.DataFrame, lookups: Mapping[str, pd.DataFrame], joins: tuple[JoinSpec, ...]
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Joins prepared lookup frames onto the primary rows, in the configured order.

    SQL semantics for missing keys: a primary row with a missing key value matches no lookup row (a
    left join keeps it without the lookup's columns, an inner join drops it). Key columns must be of
    one kind in both tables (integers of any width, floats, text, booleans, or times with the same
    zone): pandas would refuse the others with its own message, or compare 1 with 1.0 and "1" silently.

    Returns:
        The joined rows, and the number of rows each inner join removed, as ``no_match_in_<source>``.

    Raises:
        DataError: If a key is absent from either table or has different types in the two.
    """
    unmatched: dict[str, int] = {}
    for join in joins:
        _require_columns(frame.columns, join.keys, f"the rows being joined with {join.source!r}")
        lookup = lookups[join.source]
        _require_columns(lookup.columns, join.keys, f"lookup source {join.source!r}")
        lookup = lookup.dropna(subset=list(join.keys), how="any")
        clashes = sorted((set(lookup.columns) - set(join.keys)) & set(frame.columns))
        if clashes:
            raise DataError(
                f"joining {join.source!r} would duplicate column {clashes[0]!r}",
                hint=f"rename it in the join, e.g. rename: {{{clashes[0]}: {join.source}_{clashes[0]}}}",
            )
        frame, lookup = _comparable_keys(frame, lookup, join)
        before = len(frame)
        try:
            frame = frame.merge(lookup, on=list(join.keys), how=join.how, validate="many_to_one")
        except (ValueError, TypeError) as error:
            raise DataError(
                f"cannot join {join.source!r} on {', '.join(join.keys)}: {_first_line(error)}",
                hint="the key columns must have the same type in both sources",
            ) from None
        if join.how == "inner":
            unmatched[f"no_match_in_{join.source}"] = before - len(frame)
    return frame, unmatched


def _comparable_keys(frame: pd.DataFrame, lookup: pd.DataFrame, join: JoinSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Checks that each key has one kind in both tables; integer keys become nullable Int64 on both sides.

    Raises:
        DataError: Naming the key, its two types and the fix.
    """
    for key in join.keys:
        ours, theirs = frame[key], lookup[key]
        kinds = _key_kind(ours), _key_kind(theirs)
        if "empty" in kinds or kinds[0] == kinds[1]:
            continue
        raise DataError(
            f"cannot join {join.source!r} on {key!r}: it is {ours.dtype} ({kinds[0]}) in the rows being joined "
            f"but {theirs.dtype} ({kinds[1]}) in {join.source!r}",
            hint=f'write {key!r} the same way in both sources (e.g. whole numbers as 5, not 5.0 or "5"), '
            "or join on another column",
        )
    integers = [key for key in join.keys if _key_kind(frame[key]) == "integer"]
    if integers:
        nullable = dict.fromkeys(integers, "Int64")
        frame, lookup = frame.astype(nullable), lookup.astype(nullable)
    return frame, lookup


def _key_kind(values: pd.Series) -> str:
    """What a join key holds: values of different kinds never match (``empty`` matches any)."""
    if pd.api.types.is_bool_dtype(values):
        return "true/false"
    if pd.api.types.is_integer_dtype(values):
        return "integer"
    if pd.api.types.is_float_dtype(values):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(values):
        zone = getattr(values.dtype, "tz", None)
        return f"time in {zone}" if zone is not None else "time without a zone"
    inferred = pd.api.types.infer_dtype(values, skipna=True)
    return {"string": "text", "empty": "empty"}.get(inferred, inferred)


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


def assign_splits(frame: pd.DataFrame, split: SplitSpec, timezone: str = DEFAULT_TIMEZONE) -> pd.Series:
    """Returns the split (train, eval, test, or missing when undecidable) of every row.

    A time split compares ``split.column`` with the two bounds, both read as wall-clock times of the
    use case's ``timezone`` (a date bound is midnight there). A hash split places a row by a salted
    BLAKE2b hash of the canonical text of its key values (:func:`canonical_key_texts`), so a row's split
    depends on its key values only: not on the type inferred for a key column (ids read as integers,
    then as text once "A301" is appended), row order, chunking or other rows. A row whose key values are
    all missing has no identity to place it by and no split (counted as ``split_value_missing``). With
    the whole row as key, every column is hashed in name order.

    Raises:
        DataError: If the split columns are absent or a time column cannot be read as time.
    """
    if split.method == "time":
        _require_columns(frame.columns, [split.column], "the data (split.column)")
        values, bounds = _orderable(frame[split.column], (split.train_end, split.eval_end), split.column, timezone)
        labels = np.select([values < bounds[0], values < bounds[1]], ["train", "eval"], default="test")
        return pd.Series(labels, index=frame.index).where(values.notna().to_numpy())
    keys = split.key_columns(list(frame.columns))
    _require_columns(frame.columns, keys, "the data (split.key)")
    position = hash_split_positions(frame[keys], split.salt)
    first, second = split.fractions["train"], split.fractions["train"] + split.fractions["eval"]
    labels = np.select([position < first, position < second], ["train", "eval"], default="test")
    return pd.Series(labels, index=frame.index).where(~np.isnan(position))


def hash_split_positions(keys: pd.DataFrame, salt: str) -> np.ndarray:
    """Returns each row's place in [0, 1) for a hash split, NaN for a row whose key values are all missing.

    The place is the first 8 bytes (big-endian) of BLAKE2b, keyed with sha256 of the salt, over the
    length-prefixed canonical texts of the row's key values (``-`` for a missing one), divided by 2**64:
    a fixed, platform- and library-independent definition.
    """
    salt_key = hashlib.sha256(salt.encode()).digest()
    columns = [canonical_key_texts(keys[column]) for column in keys.columns]
    payloads = [
        None if all(text is None for text in texts) else "".join("-" if t is None else f"{len(t)}:{t}" for t in texts)
        for texts in zip(*columns, strict=True)
    ]
    return np.array([np.nan if p is None else _hash_place(p, salt_key) for p in payloads], dtype="float64")


def _hash_place(payload: str, key: bytes) -> float:
    digest = hashlib.blake2b(payload.encode("utf-8", "surrogatepass"), digest_size=8, key=key).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def canonical_key_texts(values: pd.Series) -> list[str | None]:
    """Returns the canonical text of each key value, None for a missing one.

    The text is the same whichever type the column was read as, so 1, 1.0, "1", " 1 " and "1.0" are all
    ``1``. How each kind of value is written:

    - integers: decimal digits (``-5``, ``0``); beyond the int64 range (where CSV reading falls back to
      float) as that float is written.
    - floats: a whole number as an integer (``2.0`` -> ``2``, ``-0.0`` -> ``0``, ``1e20`` -> its digits);
      otherwise Python's shortest round-trip repr (``1.5``, ``0.1``, ``1e-05``); ``inf``/``-inf``; NaN is
      missing. float32 values are widened to float64 first (``0.1`` as float32 is ``0.10000000149011612``).
    - booleans: ``true``/``false``.
    - dates and times: ISO 8601 ``YYYY-MM-DDTHH:MM:SS`` with the fraction of a second when not zero (up to
      nanoseconds); a date is its midnight; a time with a zone is converted to UTC and ends with ``Z``.
    - text: stripped of surrounding blanks and written as the value it spells when it spells a number
      (``"007"`` -> ``7``, ``"1e3"`` -> ``1000``), a boolean (``"TRUE"`` -> ``true``) or an ISO date/time
      (``"2013-01-01"`` -> ``2013-01-01T00:00:00``), which is what CSV type inference would have read;
      any other text is kept as it is, blanks included.
    - missing: None, NaN, NaT and pd.NA.

    Distinct values may share a text ("007" and 7): they then always share a split, which is harmless.
    """
    if pd.api.types.is_integer_dtype(values) and values.dtype != "uint64":
        missing = values.isna().to_numpy()
        digits = values.to_numpy(dtype="int64", na_value=0).astype(str).astype(object)
        return [None if gap else text for gap, text in zip(missing, digits, strict=True)]
    if pd.api.types.infer_dtype(values, skipna=True) == "string":
        missing = values.isna().to_numpy()
        return [
            None if gap else _canonical_text(text)
            for gap, text in zip(missing, values.to_numpy(dtype=object), strict=True)
        ]
    return [canonical_key_text(value) for value in values.astype(object)]


_INTEGER_TEXT = re.compile(r"[+-]?\d+")
_NUMBER_TEXT = re.compile(r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|infinity)", re.IGNORECASE)
_TIME_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?")
_READABLE_STARTS = frozenset("0123456789+-.iItTfF")
_INT64_LIMIT = 2**63


def canonical_key_text(value: Any) -> str | None:
    """Returns the canonical text of one key value (see :func:`canonical_key_texts`), None when missing."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return _canonical_integer(int(value))
    if isinstance(value, (float, np.floating, Decimal)):
        return _canonical_float(float(value))
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else _canonical_time(pd.Timestamp(value))
    if isinstance(value, datetime):
        return _canonical_time(value)
    if isinstance(value, date):
        return _canonical_time(datetime(value.year, value.month, value.day))
    if isinstance(value, bytes):
        value = value.decode("utf-8", "surrogateescape")
    return _canonical_text(str(value))


def _canonical_integer(number: int) -> str:
    return str(number) if -_INT64_LIMIT <= number < _INT64_LIMIT else _canonical_float(float(number))


def _canonical_float(number: float) -> str | None:
    if math.isnan(number):
        return None
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    return str(int(number)) if number.is_integer() else repr(number)


def _canonical_time(moment: datetime) -> str:
    zone = ""
    if moment.tzinfo is not None:
        moment, zone = moment.astimezone(timezone.utc), "Z"
    text = moment.strftime("%Y-%m-%dT%H:%M:%S") if moment.year >= 1000 else moment.isoformat()[:19]
    nanoseconds = moment.microsecond * 1000 + getattr(moment, "nanosecond", 0)
    if nanoseconds:
        text += f".{nanoseconds:09d}".rstrip("0")
    return text + zone


def _canonical_text(text: str) -> str:
    stripped = text.strip()
    if stripped[:1] not in _READABLE_STARTS:  # most identifiers ("N14228"): no number, boolean or date
        return text
    if _INTEGER_TEXT.fullmatch(stripped):
        return _canonical_integer(int(stripped))
    if _NUMBER_TEXT.fullmatch(stripped):
        return _canonical_float(float(stripped))
    if stripped.lower() in ("true", "false"):
        return stripped.lower()
    if _TIME_TEXT.fullmatch(stripped):
        try:
            return _canonical_time(pd.Timestamp(stripped))
        except (ValueError, OverflowError):
            try:
                return _canonical_time(datetime.fromisoformat(stripped.replace("Z", "+00:00")))
            except ValueError:
                return text
    return text


def prepare_chunk(
    frame: pd.DataFrame, lookups: Mapping[str, pd.DataFrame], config: UseCaseConfig
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Turns raw primary rows into dataset rows: joined, labelled, pruned and assigned a split.

    Returns:
        The rows with a ``__split__`` column, and counts of rows dropped by reason: ``no_match_in_<source>``
        for each inner join, ``label_missing`` and ``split_value_missing``.
    """
    frame, unmatched = join_lookups(frame, lookups, config.joins)
    frame, label_missing = derive_target(frame, config.target)
    splits = assign_splits(frame, config.split, config.timezone)
    frame = frame.drop(columns=[c for c in config.drop if c in frame.columns])
    _require_columns(frame.columns, config.features.all(), "the data (features)")
    frame = frame.assign(**{SPLIT_COLUMN: splits})
    undecided = frame[SPLIT_COLUMN].isna()
    counts = {**unmatched, "label_missing": label_missing, "split_value_missing": int(undecided.sum())}
    return frame[~undecided], counts


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

    CSV column types are inferred from the first ``CSV_INFERENCE_BYTES`` of the file (whole lines), not
    from the first block, so the block size never changes the values read; a column empty there is read
    as text, so no later value can contradict it.

    Raises:
        SourceError: If the file is not valid CSV or Parquet, or a later value contradicts the type
            inferred for its column (naming the column, the type and the value).
    """
    schema = None
    try:
        if spec.resolved_format() == "parquet":
            parquet = open_parquet(path)
            for batch in parquet.iter_batches(batch_size=max(1, block_bytes // 256)):
                yield dates_as_timestamps(batch)
            return
        parse = pa_csv.ParseOptions(delimiter=spec.delimiter)
        # Without strings_can_be_null, "NA" or an empty field in a text column would be a category.
        convert = pa_csv.ConvertOptions(strings_can_be_null=True)
        if spec.null_values:
            convert.null_values = list(spec.null_values)
        schema = _infer_csv_schema(path, CSV_INFERENCE_BYTES, parse, convert)
        check_csv_columns(schema, spec.delimiter, f"source {name!r} ({path.name})")
        convert.column_types = {f.name: _stored_type(f.type) for f in schema}
        with open_source(path, progress) as stream:
            # A first block within the inferred prefix cannot fail: a failure inside open_csv would leave
            # its read-ahead running on a file about to close (a crash at exit, seen 2 runs in 6).
            reader = pa_csv.open_csv(
                stream,
                read_options=pa_csv.ReadOptions(block_size=min(block_bytes, CSV_INFERENCE_BYTES)),
                parse_options=parse,
                convert_options=convert,
            )
            try:
                yield from reader
            finally:
                reader.close()  # before the file closes: its read-ahead must not outlive the file
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError, UnicodeDecodeError) as error:
        if "invalid UTF8" in _first_line(error):
            raise SourceError(
                f"source {name!r} ({path.name}) is not UTF-8 text: {_first_line(error)}",
                hint=NOT_UTF8_HINT,
            ) from None
        contradiction = _CONVERSION_ERROR.search(_first_line(error)) if schema is not None else None
        if contradiction:
            column = schema.field(int(contradiction["column"])).name
            raise SourceError(
                f"source {name!r} ({path.name}): column {column!r} was read as {contradiction['type']} from the "
                f"first {CSV_INFERENCE_BYTES // 1024:,} KiB of the file, but a later value is "
                f"{contradiction['value']!r}",
                hint=f"clean that value, or move a row showing {column!r}'s real type (e.g. text) to the top, "
                "or convert the source to Parquet with explicit types",
            ) from None
        raise SourceError(
            f"source {name!r} ({path.name}) is malformed: {_first_line(error)}", hint="fix or replace the file"
        ) from None


def _stored_type(inferred: pa.DataType) -> pa.DataType:
    """The type a CSV column is read as: text when empty in the inferred block, a timestamp for a date."""
    if pa.types.is_null(inferred):
        return pa.string()
    # A date is the midnight that starts it (naive: in the use case's time zone); TFDV and the calendar
    # features read timestamps, not dates.
    return pa.timestamp("s") if pa.types.is_date(inferred) else inferred


def dates_as_timestamps(batch: pa.RecordBatch) -> pa.RecordBatch:
    """A batch whose date columns are timestamps of their midnights, as CSV dates are read."""
    if not any(pa.types.is_date(field.type) for field in batch.schema):
        return batch
    columns = [column.cast(pa.timestamp("s")) if pa.types.is_date(column.type) else column for column in batch.columns]
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


NOT_UTF8_HINT = "save it as UTF-8, e.g. `iconv -f latin1 -t utf-8 in.csv > out.csv` for a Latin-1 file"
# Delimiters people use instead of commas, for the hint when a header holds one of them and no comma.
OTHER_DELIMITERS = {";": "';'", "\t": "'\\t' (tab)", "|": "'|'"}


def check_csv_columns(schema: pa.Schema, delimiter: str, what: str) -> None:
    """Refuses a CSV header that cannot make a dataset: duplicated or empty names, another delimiter, non-UTF-8.

    A UTF-8 byte-order mark needs no check: the CSV reader drops it.

    Args:
        schema: The schema inferred from the file's first block.
        delimiter: The delimiter the source is read with.
        what: How to name the source in messages.

    Raises:
        SourceError: Naming the problem and the fix, in one line.
    """
    names = schema.names
    if len(names) == 1 and delimiter not in names[0]:
        found = [label for char, label in OTHER_DELIMITERS.items() if char in names[0] and char != delimiter]
        if found:
            raise SourceError(
                f"{what} has a single column {names[0][:60]!r}: its header holds {found[0]}, not {delimiter!r}",
                hint=f"set `delimiter:` of the source to {found[0].split()[0]}",
            )
    seen: dict[str, int] = {}
    for position, column in enumerate(names, 1):
        if not column.strip():
            raise SourceError(
                f"{what}: column {position} of the header has no name", hint="name every column in the header line"
            )
        if column in seen:
            raise SourceError(
                f"{what}: the header names column {column!r} twice (columns {seen[column]} and {position})",
                hint="rename one of them so that every column name is unique",
            )
        seen[column] = position
    binary = [field.name for field in schema if pa.types.is_binary(field.type)]
    if binary:
        raise SourceError(f"{what} is not UTF-8 text (column {binary[0]!r} holds other bytes)", hint=NOT_UTF8_HINT)


_CONVERSION_ERROR = re.compile(
    r"In CSV column #(?P<column>\d+): .*CSV conversion error to (?P<type>[^:]+): invalid value '(?P<value>.*)'"
)


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


def conform_rows(frame: pd.DataFrame, schema: pa.Schema, timezone: str = DEFAULT_TIMEZONE) -> pa.Table:
    """Gives rows from outside the sources a version's columns.

    Each value takes its column's type, absent columns stay empty, timestamps are read from ISO text:
    text without a zone is a local time of the use case's ``timezone``, as serving read it
    (:func:`components.common.wallclock.utc_instants` for a UTC column, the wall clock for a naive one).

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
                pd.to_datetime(values, utc=True)  # raises for a value that is no time
                times = utc_instants(values, timezone) if column.type.tz else local_times(values, timezone)
                array = pa.Array.from_pandas(times)
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
    inner = {f"no_match_in_{join.source}": 0 for join in config.joins if join.how == "inner"}
    rows_read, counts = 0, dict.fromkeys(SPLITS, 0)
    dropped = {**inner, "label_missing": 0, "split_value_missing": 0}
    schema = None

    def write(split: str, table: pa.Table) -> None:
        if split not in writers:
            writers[split] = pq.ParquetWriter(scratch / f"{split}.parquet", schema, compression="zstd")
        writers[split].write_table(table)
        counts[split] += table.num_rows

    try:
        known_types = {f.name: f.type for lookup in lookups.values() for f in pa.Schema.from_pandas(lookup, False)}
        for batch in read_batches(local[primary], config.sources[primary], primary, options.block_bytes, tick):
            rows_read += batch.num_rows
            frame, chunk_dropped = prepare_chunk(to_frame(batch), lookups, config)
            for reason, count in chunk_dropped.items():
                dropped[reason] += count
            for split, rows in frame.groupby(SPLIT_COLUMN, sort=False):
                rows = rows.drop(columns=[SPLIT_COLUMN])
                table = pa.Table.from_pandas(rows, schema=schema, preserve_index=False)
                schema = schema or fill_null_types(
                    table.schema, {**known_types, **{f.name: f.type for f in batch.schema}}
                )
                write(split, table.cast(schema))
        for split, rows in extra.splits.items() if extra and schema is not None else ():
            if len(rows):
                write(split, conform_rows(rows, schema, config.timezone))
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
            + "".join(f"{dropped[reason]} without a match in {reason[len('no_match_in_') :]!r}, " for reason in inner)
            + f"{dropped['label_missing']} without a label, {dropped['split_value_missing']} without a split value",
            hint="check the target and split settings against the data",
        )
    for split in SPLITS:
        if counts[split] == 0:
            log.warning("split %r of %s is empty", split, ref.version)
            pq.write_table(schema.empty_table(), scratch / f"{split}.parquet", compression="zstd")

    manifest = {
        "format_version": FORMAT_VERSION,
        **({"split_hash_version": SPLIT_HASH_VERSION} if config.split.method == "hash" else {}),
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
    listed = rule.op in ("in", "not in")
    if not listed and isinstance(rule.value, (list, tuple, dict)):
        raise DataError(
            f"the rule {rule.column} {rule.op} {rule.value!r} compares column {rule.column!r} with a list",
            hint="give target.derive.value one value, or use op `in` / `not in` with a list",
        )
    candidates = _rule_values(values, rule)
    if listed:
        inside = values.isin(candidates)
        return ~inside if rule.op == "not in" else inside
    operations = {">": "gt", ">=": "ge", "<": "lt", "<=": "le", "==": "eq", "!=": "ne"}
    try:
        return getattr(values, operations[rule.op])(candidates[0]).astype(bool)
    except TypeError:
        raise DataError(
            f"cannot compare column {rule.column!r} ({values.dtype}) with {rule.value!r} "
            f"in the rule {rule.column} {rule.op} {rule.value!r}",
            hint="target.derive.value must have the column's type",
        ) from None


def _rule_values(values: pd.Series, rule: DeriveSpec) -> list[Any]:
    """Returns the rule's values, checked against the column's kind (times read as times).

    pandas compares across types without a word: an integer column never equals ``"2"`` (``==`` gives
    constant labels, ``in [2, "3"]`` drops ``"3"``), a time column never equals ``5``, ``isin`` never finds
    the text ``"2013-01-01"`` among times, and nothing equals a missing value (rows without one are
    dropped before the rule). So numbers go with numeric columns, text with text columns, true/false with
    boolean ones (also when their gaps made them object columns), and ISO dates, dates or times with time
    columns (a time without a zone is in UTC for a zoned column, as in the time split); a missing value is
    refused. Columns of mixed types are compared as pandas does.

    Raises:
        DataError: Naming the column, the rule and the value to write instead.
    """
    kind = _column_kind(values)
    candidates = list(rule.value) if rule.op in ("in", "not in") else [rule.value]
    checked = []
    for value in candidates:
        reason = None
        if value is None:
            reason = "a missing value equals nothing (rows without a value are dropped before the rule)"
        elif kind == "time":
            value, reason = _as_column_time(value, values)
        elif kind is not None and not _fits(value, kind):
            reason = f"a {type(value).__name__} is never equal to a {kind}"
        if reason:
            raise DataError(
                f"cannot compare column {rule.column!r} ({values.dtype}, {kind or 'mixed'}) with {value!r} "
                f"in the rule {rule.column} {rule.op} {rule.value!r}: {reason}",
                hint=f"write target.derive.value as {_ARTICLED[kind]}, e.g. {_as_kind(value, kind)}"
                if value is not None and kind
                else "give a value; rows without one are kept out by target.missing",
            )
        checked.append(value)
    return checked


_ARTICLED = {"number": "a number", "text": "text", "true/false": "true or false", "time": "a date or time"}


def _column_kind(values: pd.Series) -> str | None:
    if pd.api.types.is_bool_dtype(values):
        return "true/false"
    if pd.api.types.is_numeric_dtype(values):
        return "number"
    if pd.api.types.is_datetime64_any_dtype(values):
        return "time"
    if pd.api.types.is_string_dtype(values) or values.dtype == object:
        inferred = pd.api.types.infer_dtype(values, skipna=True)
        return {"string": "text", "boolean": "true/false", "integer": "number", "floating": "number"}.get(inferred)
    return None


def _as_column_time(value: Any, values: pd.Series) -> tuple[Any, str | None]:
    """Reads a rule value as a time comparable with the column's; returns it, or why it cannot be."""
    if isinstance(value, str) and _TIME_TEXT.fullmatch(value.strip()):
        stamp = pd.Timestamp(value.strip())
    elif isinstance(value, (datetime, date)):
        stamp = pd.Timestamp(value)
    else:
        return value, f"a {type(value).__name__} is never equal to a time"
    zoned = getattr(values.dtype, "tz", None) is not None
    if stamp.tzinfo is not None and not zoned:
        return value, "the value has a zone and the column's times have none"
    return (stamp.tz_localize("UTC") if zoned and stamp.tzinfo is None else stamp), None


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
        except (ValueError, TypeError):  # text, or a YAML date
            number = None
        return "a number such as 2" if number is None else f"{number:g} (no quotes)"
    if kind == "time":
        return "'2013-06-01' or '2013-06-01T12:00:00Z'"
    return "true or false (no quotes)"


def _orderable(
    values: pd.Series, bounds: tuple[Any, Any], column: str, timezone: str
) -> tuple[pd.Series, tuple[Any, Any]]:
    """Returns values and bounds in one comparable type: numbers, or wall-clock times of the time zone.

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
        pd.to_datetime(values, utc=True)  # raises for a value that is no time (local_times would make it missing)
        times = local_times(values, timezone)
        parsed = tuple(local_times(pd.Series([pd.Timestamp(str(b))]), timezone).iloc[0] for b in bounds)
    except (ValueError, TypeError) as error:
        raise DataError(
            f"split column {column!r} or its bounds cannot be read as time: {error}",
            hint="use ISO dates such as '2013-09-01' (or numbers for a numeric column)",
        ) from None
    return times, parsed


def fill_null_types(schema: pa.Schema, known: Mapping[str, pa.DataType]) -> pa.Schema:
    """Gives the columns without a value in the first rows written (null-typed) their sources' type.

    A boolean or date column arrives in pandas as objects: without a value in the first rows written it
    has no type of its own, and text would refuse the next rows' values. Its source's type (the primary
    source's Arrow type, a lookup's column type) is used, or text when no source knows it.
    """
    fields = []
    for field in schema:
        if pa.types.is_null(field.type):
            typed = known.get(field.name)
            field = field.with_type(typed if typed is not None and not pa.types.is_null(typed) else pa.string())
        fields.append(field)
    return pa.schema(fields)


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
