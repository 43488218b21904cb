"""The serving logs in S3: the contract between the server, which writes them, and the stages that read them.

In the ``feedback`` bucket::

    <use_case>/requests/date=<YYYY-MM-DD>/<HHMMSS>-<model_version>-<8 hex>.jsonl.gz
    <use_case>/feedback/date=<YYYY-MM-DD>/<HHMMSS>-<model_version>-<8 hex>.jsonl.gz

Each object is a batch of gzip-compressed JSON lines, written once at the UTC date and time in its name and
never modified. A feedback line is one row: ``time`` (when the server received the message, ISO 8601 UTC),
``request_id``, ``row``, ``model_version``, ``features``, ``probabilities`` (by class label as text),
``prediction`` (the class) and ``truth`` (the true class); a regressor's line has no ``probabilities``, and
its ``prediction`` and ``truth`` are numbers. A request line is one request, all its rows in columns: the
same ``time``, ``request_id`` and ``model_version``, ``rows`` (how many) instead of ``row``, and
``features`` (by feature, a list of the rows' values), ``probabilities`` (by class label, a list) and
``prediction`` (a list), each holding ``rows`` values: under half the text of a line per row, encoded at
a fifteenth of the CPU. Readers see rows either way: :func:`decode_lines` and :func:`parse_lines` expand a
request line into one line per row, ``row`` numbering them from 0, exactly the lines a server writing one
line per row (as servers before this format did, still read) would have written.

A window is read by listing the date prefixes it spans, and the ``LATE_WRITE_DAYS`` dates after it, and
keeping the lines whose own ``time`` falls inside it: a batch the server could only write later (an
object-store outage, a slow flush) is still read if it was written at most ``LATE_WRITE_DAYS`` days after
the window's last day. A batch written later still is not read.

Redaction: the features of the model's serving schema's ``log_exclude`` (the use case's
``serving.log_exclude``) are never written, neither under ``features`` nor anywhere else in a line;
a line that left features out lists their names under ``redacted`` (absent: nothing was left out).
Readers treat a redacted feature as not logged, never as missing values: :func:`unlogged_features`
gives the features a window's lines lack, from the use case and the lines' ``redacted``.

The server (components.serve.logs) writes through :func:`log_key`, :func:`encode_line` (feedback),
:func:`encode_line_fast` (requests) and :func:`encode_lines`; monitoring reads requests and feedback, and
retraining ingestion reads feedback, through :func:`read_logs` and :func:`to_frame`. Nothing here needs
TensorFlow, and the serving image holds it.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import deflate
import numpy as np
import orjson
import pandas as pd

from components.common.config import UseCaseConfig, parse_instant
from components.common.errors import UserError
from components.common.storage import ObjectStore

log = logging.getLogger(__name__)

REQUESTS, FEEDBACK = "requests", "feedback"
LOG_KINDS = (REQUESTS, FEEDBACK)
KEY_PATTERN = re.compile(r"/date=(\d{4}-\d{2}-\d{2})/(\d{6})-([^/]+)-([0-9a-f]{8})\.jsonl\.gz$")
# Days after a window whose log prefixes are read too: a batch written up to this many days after
# its lines arrived is still monitored (and learned from). Each day costs one more listing, and the
# objects of those days are downloaded to read their lines' times.
LATE_WRITE_DAYS = 3
REQUIRED_FIELDS = ("time", "features")
ROWS = "rows"  # the field of a request line holding its number of rows (its other fields are columns)
REDACTED = "redacted"  # the field of a line naming the features whose values were left out
# Columns of a frame of log lines besides the features (which are prefixed, so no feature name clashes).
FEATURE_PREFIX = "feature."


# --- writing: keys and batches ---------------------------------------------------------------


def utc_timestamp(at: datetime) -> str:
    """ISO 8601 with microseconds and a ``Z``, as the contract writes ``time``."""
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def log_key(use_case: str, kind: str, model_version: str, at: datetime, token: str | None = None) -> str:
    """The object key of one batch written at ``at`` (UTC).

    Args:
        use_case: The use case.
        kind: ``requests`` or ``feedback``.
        model_version: The version that served the rows.
        at: When the batch is written.
        token: 8 hex characters that keep keys of the same second apart (random when None).
    """
    if kind not in LOG_KINDS:
        raise ValueError(f"unknown log kind {kind!r}")
    at = at.astimezone(timezone.utc)
    token = token or secrets.token_hex(4)
    return f"{log_prefix(use_case, kind, f'{at:%Y-%m-%d}')}{at:%H%M%S}-{model_version}-{token}.jsonl.gz"


# Built once: json.dumps with options builds an encoder per call, a quarter of a line's cost.
_LINE_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def encode_line(line: Mapping[str, Any]) -> str:
    """One line of JSON Lines, newline included: what :func:`encode_lines` writes for ``line``.

    Raises:
        ValueError: If the line holds NaN or an infinity (not JSON).
    """
    return _LINE_ENCODER.encode(line) + "\n"


def encode_line_fast(line: Mapping[str, Any]) -> bytes:
    """:func:`encode_line`'s JSON at a tenth of its CPU (orjson), as UTF-8 bytes: the same values, spelled its way.

    Bytes, as :func:`encode_lines` compresses them: a buffer of them is joined, never encoded again.

    orjson writes text as UTF-8 rather than escaping it to ASCII, and some numbers in other digits of the
    same value; readers get the same line. What orjson cannot write (integers beyond 64 bits, text with
    lone surrogates) goes through :func:`encode_line`.

    Raises:
        ValueError: If the line holds NaN or an infinity (not JSON; checked by :func:`encode_line` only
            where orjson fails: orjson writes them as null, so the caller keeps them out, as request
            validation does).
    """
    try:
        return orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE)
    except orjson.JSONEncodeError:
        return encode_line(line).encode()


def encode_lines(lines: Sequence[Mapping[str, Any] | str | bytes], compresslevel: int = 6) -> bytes:
    """Gzip-compressed JSON Lines.

    Args:
        lines: Lines as mappings, or already encoded by :func:`encode_line` (text) or :func:`encode_line_fast`
            (bytes; the server encodes each request's line as it answers, so its buffer holds bytes, not objects
            the garbage collector scans).
        compresslevel: The compression level, 1 (fastest) to 9 (or up to libdeflate's 12); readers read any.
    """
    data = b"".join(
        line if isinstance(line, bytes) else (line if isinstance(line, str) else encode_line(line)).encode()
        for line in lines
    )
    # libdeflate: at level 1 half of zlib's CPU and a fifth fewer bytes (request logs are written beside serving).
    return deflate.gzip_compress(data, compresslevel)


def decode_lines(data: bytes) -> list[dict[str, Any]]:
    """Reads what :func:`encode_lines` wrote, a request line expanded into its rows (:func:`expand_line`)."""
    return [
        row for text in gzip.decompress(data).decode().splitlines() if text for row in expand_line(json.loads(text))
    ]


# The fields of a request line that hold one value per row.
_COLUMNS = ("features", "probabilities", "prediction")


def expand_line(line: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of a log line: a request line's (it has ``rows``) one line per row, any other line as it is.

    Each row's line holds the request line's other fields, ``row`` (0 up), its ``features`` and
    ``probabilities`` by name and its ``prediction``: the line a server writing one line per row wrote.

    Raises:
        ValueError: If a request line's columns do not each hold ``rows`` values (at least one), or it also
            holds a single row's ``row`` or ``truth``.
    """
    if not isinstance(line, dict) or ROWS not in line:
        return [line]
    if "row" in line or "truth" in line:
        raise ValueError("a log line holds both a request's rows and a single row's fields")
    rows, features = line[ROWS], line.get("features")
    probabilities, predictions = line.get("probabilities"), line.get("prediction")
    columns = [*features.values(), predictions] if isinstance(features, dict) else [None]
    if isinstance(probabilities, dict):
        columns += probabilities.values()
    elif probabilities is not None:
        columns.append(None)
    if type(rows) is not int or rows < 1 or not all(isinstance(c, list) and len(c) == rows for c in columns):
        raise ValueError(f"a request line's columns do not each hold its {rows!r} rows")
    shared = {name: value for name, value in line.items() if name != ROWS and name not in _COLUMNS}
    expanded = []
    for row in range(rows):
        one = {**shared, "row": row, "features": {name: values[row] for name, values in features.items()}}
        if probabilities is not None:
            one["probabilities"] = {label: values[row] for label, values in probabilities.items()}
        one["prediction"] = predictions[row]
        expanded.append(one)
    return expanded


# --- reading: windows, lines, frames ---------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """A half-open time window [start, end) in UTC."""

    start: datetime
    end: datetime

    @classmethod
    def resolve(cls, start: str = "", end: str = "", hours: int = 24, now: datetime | None = None) -> Window:
        """Turns a run's parameters into a window.

        Both bounds given: that window. Only ``end``: the ``hours`` before it. Only ``start``: the
        ``hours`` after it. Neither: the last ``hours`` ending ``now``.

        Raises:
            UserError: If a bound is not ISO 8601, the window is empty or ``hours`` is not positive.
        """
        now = now or datetime.now(timezone.utc)
        if hours < 1 and not (start and end):
            raise UserError(f"a window of {hours} hours is empty", hint="give a positive number of hours")
        span = timedelta(hours=hours)
        first = parse_instant(start, "window start") if start else None
        last = parse_instant(end, "window end") if end else None
        if first is None:
            last = last or now
            first = last - span
        elif last is None:
            last = first + span
        if first >= last:
            raise UserError(
                f"the window ends ({last.isoformat()}) before it starts ({first.isoformat()})", hint="swap the bounds"
            )
        return cls(first, last)

    def dates(self) -> list[str]:
        """The dates whose prefixes may hold the window's lines, as YYYY-MM-DD.

        The ``LATE_WRITE_DAYS`` days after the window are listed too: a batch is filed under the
        date it was written, which can be later than its lines arrived (after midnight, after an
        object-store outage).
        """
        last = (self.end - timedelta(microseconds=1)).date() + timedelta(days=LATE_WRITE_DAYS)
        day = self.start.date()
        dates = []
        while day <= last:
            dates.append(day.isoformat())
            day += timedelta(days=1)
        return dates

    def contains(self, instant: datetime) -> bool:
        """Whether an instant falls in [start, end)."""
        return self.start <= instant < self.end

    def to_json(self) -> dict[str, str]:
        """The bounds as ISO 8601 text (what lineage records)."""
        return {"start": _iso(self.start), "end": _iso(self.end)}

    def label(self) -> str:
        """A short text for titles and messages."""
        return f"{_iso(self.start)} to {_iso(self.end)}"


@dataclass
class LogRows:
    """The lines of one kind of log that fall in a window.

    Attributes:
        kind: ``requests`` or ``feedback``.
        lines: The parsed lines, in the order of their objects' keys and of the lines within.
        objects: Every object that held lines of the window: key, sha256 and lines kept.
        malformed: Lines skipped because they were not JSON objects with ``time`` and ``features``,
            by object key.
    """

    kind: str
    lines: list[dict[str, Any]] = field(default_factory=list)
    objects: list[dict[str, Any]] = field(default_factory=list)
    malformed: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.lines)


def log_prefix(use_case: str, kind: str, date: str) -> str:
    """The key prefix of one kind of log on one date."""
    return f"{use_case}/{kind}/date={date}/"


def written_at(key: str) -> datetime | None:
    """The UTC second a log object was written, from its key; None when the key is not of the contract."""
    match = KEY_PATTERN.search(key)
    if not match:
        return None
    return datetime.strptime(f"{match.group(1)} {match.group(2)}", "%Y-%m-%d %H%M%S").replace(tzinfo=timezone.utc)


def parse_lines(data: bytes) -> tuple[list[dict[str, Any]], int]:
    """Parses a gzip-compressed JSON Lines batch.

    Returns:
        The lines that are JSON objects with a readable ``time`` and a ``features`` mapping (their
        ``time`` parsed to a UTC datetime under ``_time``), request lines expanded into their rows
        (:func:`expand_line`), and the number of other lines.
    """
    try:
        text = gzip.decompress(data).decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError):
        return [], 1  # the whole object is unreadable: counted as one malformed line
    lines, malformed = [], 0
    for raw in text.splitlines():
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
            if (
                not isinstance(line, dict)
                or any(name not in line for name in REQUIRED_FIELDS)
                or not isinstance(line["features"], dict)
            ):
                raise ValueError("not a log line")
            line["_time"] = parse_instant(line["time"], "time")
            rows = expand_line(line)
        except (ValueError, UserError):
            malformed += 1
            continue
        lines.extend(rows)
    return lines, malformed


def read_logs(store: ObjectStore, use_case: str, kind: str, window: Window) -> LogRows:
    """Reads the lines of one kind of log that fall in a window.

    Objects written before the window starts are not downloaded: they hold only earlier lines.
    Each object's sha256 is checked against its metadata when the object store records one.

    Args:
        store: The object store (its ``feedback`` bucket holds the logs).
        use_case: The use case.
        kind: ``requests`` or ``feedback``.
        window: The window.
    """
    if kind not in LOG_KINDS:
        raise ValueError(f"unknown log kind {kind!r}")  # a bug of the caller, not a user's mistake
    bucket = store.bucket("feedback")
    rows = LogRows(kind)
    for date in window.dates():
        for key in store.list_keys(bucket, log_prefix(use_case, kind, date)):
            written = written_at(key)
            if written is None:
                log.warning(
                    "skipping s3://%s/%s: its name is not <HHMMSS>-<model version>-<8 hex>.jsonl.gz", bucket, key
                )
                continue
            if written + timedelta(seconds=1) <= window.start:
                continue
            data = store.get_bytes(bucket, key)
            lines, malformed = parse_lines(data)
            kept = [line for line in lines if window.contains(line["_time"])]
            if malformed:
                rows.malformed[key] = malformed
            if kept:
                rows.lines.extend(kept)
                rows.objects.append({"key": key, "sha256": hashlib.sha256(data).hexdigest(), "lines": len(kept)})
    return rows


def redacted_features(lines: Iterable[Mapping[str, Any]]) -> tuple[str, ...]:
    """The features any of the lines lists as redacted (left out by ``serving.log_exclude``), sorted."""
    names: set[str] = set()
    for line in lines:
        listed = line.get(REDACTED)
        if isinstance(listed, list):
            names.update(name for name in listed if isinstance(name, str))
    return tuple(sorted(names))


def unlogged_features(config: UseCaseConfig, lines: Iterable[Mapping[str, Any]]) -> tuple[str, ...]:
    """The use case's features whose values the logs do not hold, in feature order.

    Those of ``serving.log_exclude``, and those any line lists as redacted (a model served while the
    use case excluded them, before a change of the config).
    """
    excluded = set(config.serving.log_exclude) | set(redacted_features(lines))
    return tuple(name for name in config.features.all() if name in excluded)


def to_frame(lines: Iterable[dict[str, Any]], features: Iterable[str]) -> pd.DataFrame:
    """Turns log lines into a frame: one row per line, the named features as columns.

    Columns: ``time`` (UTC), ``request_id``, ``row``, ``model_version``, ``prediction``, ``truth``
    (missing for requests), ``probabilities`` (the mapping as logged) and one column per feature,
    prefixed ``feature.``, missing where a line lacks it. Values stay as JSON gave them (object
    columns); types are settled by the reader.
    """
    features = list(features)
    records = [
        {
            "time": line["_time"],
            "request_id": line.get("request_id"),
            "row": line.get("row"),
            "model_version": line.get("model_version"),
            "prediction": line.get("prediction"),
            "truth": line.get("truth"),
            "probabilities": line.get("probabilities") if isinstance(line.get("probabilities"), dict) else None,
            **{FEATURE_PREFIX + name: line["features"].get(name) for name in features},
        }
        for line in lines
    ]
    columns = [
        "time",
        "request_id",
        "row",
        "model_version",
        "prediction",
        "truth",
        "probabilities",
        *(FEATURE_PREFIX + f for f in features),
    ]
    # Object columns keep JSON's values as they were: a label 1 stays 1 (not 1.0) beside a missing one.
    frame = pd.DataFrame({name: pd.Series([record[name] for record in records], dtype=object) for name in columns})
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    return frame


def superseded_feedback(feedback: pd.DataFrame) -> pd.Series:
    """Marks the feedback lines a later line for the same request row replaces.

    A request row is keyed by the request id and the row's logged feature values, not by ``row``:
    feedback sent one message per row of a multi-row request has every row at 0 of its own message.
    A client that retries, or corrects a label, sends the same row again and the later line wins: the
    one with the later ``time`` (when the server received it), lines of the same time in log order. Log
    order alone is not enough: batches written in the same second are read in the order of their keys'
    random tokens. Lines without a request id are never superseded. Two rows of one request with the same feature
    values count as one row (they are one training example, whose latest truth wins). Retraining (its
    training rows) and monitoring (its live quality) both count each key once.

    Args:
        feedback: Feedback lines, a frame of :func:`to_frame` (with a unique index), in log order.

    Returns:
        A boolean Series on the frame's index, True for a line superseded by a later one.
    """
    if feedback.empty:
        return pd.Series(False, index=feedback.index, dtype=bool)
    columns = [c for c in feedback.columns if c.startswith(FEATURE_PREFIX)]
    values = feedback[columns].itertuples(index=False, name=None) if columns else [()] * len(feedback)
    keys = pd.Series(
        [
            json.dumps([request, list(row)], default=str)
            for request, row in zip(feedback["request_id"], values, strict=True)
        ],
        index=feedback.index,
    )
    by_time = keys.iloc[np.argsort(feedback["time"].to_numpy(), kind="stable")]
    return feedback["request_id"].notna() & by_time.duplicated(keep="last").reindex(feedback.index)


def features_of(frame: pd.DataFrame) -> pd.DataFrame:
    """The feature columns of a frame from :func:`to_frame`, under their own names."""
    columns = [c for c in frame.columns if c.startswith(FEATURE_PREFIX)]
    return frame[columns].rename(columns=lambda c: c[len(FEATURE_PREFIX) :])


def _iso(instant: datetime) -> str:
    return instant.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ").replace(".000000Z", "Z")
