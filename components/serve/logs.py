"""Request and feedback logs in S3, written by the server: the batch writer.

The layout of the objects and lines is the contract in :mod:`components.common.serving_logs` (bucket
role ``feedback``), which monitoring and retraining ingestion read through; this module builds the
lines (:func:`prediction_lines` of a classifier, :func:`regression_lines` of a regressor, both leaving
out the values of the serving schema's ``log_exclude``) and writes them.

:class:`BatchWriter` buffers lines and writes each batch as one object from a background thread.
Feedback is a group commit: the caller waits until the object holding its lines is stored, so an
acknowledged feedback is durable. Request logs are fire-and-forget, written when a batch is full or
old enough, kept and retried when a write fails, and flushed by :meth:`BatchWriter.close` on a
graceful shutdown.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

from components.common.serving_logs import (
    REDACTED,
    encode_line,
    encode_lines,
    encode_value,
    encode_values,
    log_key,
    utc_timestamp,
)

log = logging.getLogger(__name__)
# gzip level of log objects: written on the serving path, where CPU is dearer than bytes in S3.
LOG_COMPRESSLEVEL = 1


def prediction_lines(
    records: Sequence[Mapping[str, Any]],
    probabilities: Any,
    classes: Sequence[Any],
    model_version: str,
    received_at: datetime,
    request_id: str | None,
    truth: Sequence[Any] | None = None,
    exclude: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """One log line per row of a classifier's answer, without the values of excluded features.

    Args:
        records: The rows' features as JSON natives.
        probabilities: Per row, one probability per class (``classes`` order).
        classes: The model's class labels as JSON natives.
        model_version: The version that predicted.
        received_at: When the server received the request.
        request_id: The request's id (None when the client gave none, for feedback).
        truth: Per row, the true class label (feedback lines only).
        exclude: Features whose values never enter a line (the serving schema's ``log_exclude``):
            each line lists them under ``redacted`` instead.
    """
    labels = [str(c) for c in classes]
    lines = []
    for row, (features, probs) in enumerate(zip(records, probabilities, strict=True)):
        probs = [float(p) for p in probs]
        best = max(range(len(probs)), key=probs.__getitem__)
        line = _line(row, features, model_version, received_at, request_id, exclude)
        line["probabilities"] = dict(zip(labels, probs, strict=True))
        line["prediction"] = classes[best]
        _finish(line, row, truth, exclude)
        lines.append(line)
    return lines


def regression_lines(
    records: Sequence[Mapping[str, Any]],
    predictions: Any,
    model_version: str,
    received_at: datetime,
    request_id: str | None,
    truth: Sequence[float] | None = None,
    exclude: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """One log line per row of a regressor's answer: the predicted number, no probabilities.

    Args:
        records: The rows' features as JSON natives.
        predictions: Per row, the predicted value.
        model_version: The version that predicted.
        received_at: When the server received the request.
        request_id: The request's id (None when the client gave none, for feedback).
        truth: Per row, the true value (feedback lines only).
        exclude: Features whose values never enter a line (listed under ``redacted`` instead).
    """
    lines = []
    for row, (features, value) in enumerate(zip(records, predictions, strict=True)):
        line = _line(row, features, model_version, received_at, request_id, exclude)
        line["prediction"] = float(value)
        _finish(line, row, truth, exclude)
        lines.append(line)
    return lines


# Up to this many rows, lines are built as dicts and encoded one by one (the encoder's own walk is cheaper for a
# few rows); more rows are built from per-column texts (measured on the demo's 23 features: equal at 4 rows,
# 16 against 43 us at 1 row, 0.54 against 1.45 ms at 100 rows).
DICT_LINES_UP_TO = 3


def encoded_lines(
    values: Mapping[str, Sequence[Any]],
    outputs: Any,
    classes: Sequence[Any] | None,
    model_version: str,
    received_at: datetime,
    request_id: str | None,
    exclude: Sequence[str] = (),
) -> list[str]:
    """The request log lines of an answer as text, built from parts.

    Byte for byte :func:`~components.common.serving_logs.encode_line` of each line of :func:`prediction_lines`
    (``classes`` given) or :func:`regression_lines` (``classes`` None).

    Beyond a few rows, what every line shares is encoded once per request, each feature's values once per column
    (a column of numbers and nulls in one call), and each line is one formatting of those texts: no dict per row,
    no encoder walk per line. A NaN or an infinity is refused with encode_line's ValueError.

    Args:
        values: Per feature, the rows' values as JSON natives (a validated batch's ``values``).
        outputs: Per row, one probability per class (``classes`` order), or a regressor's predicted value.
        classes: The model's class labels as JSON natives; None for a regressor.
        model_version: The version that predicted.
        received_at: When the server received the request.
        request_id: The request's id.
        exclude: Features whose values never enter a line (listed under ``redacted`` instead).
    """
    numbers = np.asarray(outputs, dtype=np.float64)  # what float() of each output gives
    if len(numbers) <= DICT_LINES_UP_TO:
        records = [dict(zip(values, row, strict=True)) for row in zip(*values.values(), strict=True)]
        if classes is None:
            lines = regression_lines(records, numbers, model_version, received_at, request_id, exclude=exclude)
        else:
            lines = prediction_lines(records, numbers, classes, model_version, received_at, request_id, exclude=exclude)
        return [encode_line(line) for line in lines]
    kept = tuple(name for name in values if name not in exclude)
    # The texts of each slot of the lines, column by column; NaN and infinities are refused as encode_line does.
    slots = [range(len(numbers)), *(encode_values(values[name]) for name in kept)]
    if classes is None:
        label_keys = None
        slots.append(encode_values(numbers.tolist()))
    else:
        label_keys = tuple(encode_value(str(label)) for label in classes)
        slots.extend(encode_values(probabilities) for probabilities in numbers.T.tolist())
        predictions = [encode_value(label) for label in classes]
        slots.append([predictions[best] for best in np.argmax(numbers, axis=1).tolist()])
    head = f'{{"time":{encode_value(utc_timestamp(received_at))},"request_id":{encode_value(request_id)},"row":'
    template = head.replace("%", "%%") + _line_template(kept, label_keys, model_version, tuple(exclude))
    return list(map(template.__mod__, zip(*slots, strict=True)))


@functools.lru_cache(maxsize=16)
def _line_template(
    features: tuple[str, ...], label_keys: tuple[str, ...] | None, model_version: str, exclude: tuple[str, ...]
) -> str:
    """A line from its row number on, ``%s`` where the row's own texts go (row, features, probabilities, prediction).

    The same for every request a model answers, so built once: ``label_keys`` are the classes' labels as JSON text
    (None for a regressor).
    """
    slot = None
    parts: list[str | None] = [slot, f',"model_version":{encode_value(model_version)},"features":{{']
    for key in _keys(features):
        parts += [key, slot]
    parts.append("}")
    if label_keys is not None:
        parts.append(',"probabilities":{')
        for position, key in enumerate(label_keys):
            parts += [f"{',' if position else ''}{key}:", slot]
        parts.append("}")
    parts += [',"prediction":', slot, f',"{REDACTED}":{encode_value(list(exclude))}' if exclude else "", "}\n"]
    return "".join("%s" if part is slot else part.replace("%", "%%") for part in parts)


def _keys(names: Sequence[str]) -> list[str]:
    """The JSON text that opens each named member of an object: its name, after a comma but for the first."""
    return [("," if position else "") + encode_value(name) + ":" for position, name in enumerate(names)]


def _line(
    row: int,
    features: Mapping[str, Any],
    model_version: str,
    received_at: datetime,
    request_id: str | None,
    exclude: Sequence[str],
) -> dict[str, Any]:
    excluded = set(exclude)
    return {
        "time": utc_timestamp(received_at),
        "request_id": request_id,
        "row": row,
        "model_version": model_version,
        "features": {name: value for name, value in features.items() if name not in excluded},
    }


def _finish(line: dict[str, Any], row: int, truth: Sequence[Any] | None, exclude: Sequence[str]) -> None:
    if exclude:
        line[REDACTED] = list(exclude)
    if truth is not None:
        line["truth"] = truth[row]


class WriteFailed(Exception):
    """The batch holding the caller's lines could not be stored."""


@dataclass
class _Waiter:
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


@dataclass(frozen=True)
class WriterStats:
    """What a writer did so far: objects and lines written, lines dropped, failed writes, lines buffered."""

    objects: int
    lines: int
    dropped: int
    failures: int
    buffered: int


class BatchWriter:
    """Buffers log lines and writes them in batches, one object per batch, from a background thread.

    Args:
        write: Stores one batch: receives the lines, returns when they are durable (raises otherwise).
        max_lines: A fire-and-forget batch is written once it holds this many lines.
        max_seconds: ...or once its oldest line waited this long.
        max_buffered: Lines kept while writes fail; the oldest are dropped beyond it (and counted).
        name: Names the thread, for logs.
    """

    def __init__(
        self,
        write: Callable[[list[dict[str, Any]]], None],
        max_lines: int = 1000,
        max_seconds: float = 10.0,
        max_buffered: int = 100_000,
        name: str = "log-writer",
    ) -> None:
        self._write = write
        self.max_lines = max_lines
        self.max_seconds = max_seconds
        self.max_buffered = max_buffered
        self._condition = threading.Condition()
        # Groups of lines as they came, each with the waiter of an add_and_wait (None for add).
        self._pending: list[tuple[list[dict[str, Any]], _Waiter | None]] = []
        self._buffered = 0
        self._waiting = 0
        self._oldest: float | None = None
        self._closing = False
        self._objects = self._lines = self._dropped = self._failures = 0
        self._retry_at = 0.0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def add(self, lines: list[dict[str, Any]]) -> None:
        """Buffers lines to be written with a later batch (fire-and-forget)."""
        if not lines:
            return
        with self._condition:
            self._append(lines, None)
            if self._buffered >= self.max_lines:
                self._condition.notify()

    def add_and_wait(self, lines: list[dict[str, Any]], timeout: float = 30.0) -> None:
        """Buffers lines and returns once the batch holding them is stored (group commit).

        Raises:
            WriteFailed: If the batch could not be stored, or not within ``timeout`` seconds.
        """
        waiter = _Waiter()
        with self._condition:
            if self._closing:
                raise WriteFailed("the server is shutting down")
            self._append(lines, waiter)
            self._condition.notify()
        if not waiter.done.wait(timeout):
            raise WriteFailed(f"not stored within {timeout:.0f} s")
        if waiter.error is not None:
            raise WriteFailed(str(waiter.error)) from waiter.error

    def stats(self) -> WriterStats:
        """Returns the counters."""
        with self._condition:
            return WriterStats(self._objects, self._lines, self._dropped, self._failures, self._buffered)

    def close(self, timeout: float = 20.0) -> WriterStats:
        """Writes everything buffered and stops the thread (idempotent). Returns the final counters."""
        with self._condition:
            self._closing = True
            self._condition.notify()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error(
                "%s: gave up flushing after %.0f s; %d lines not written", self._thread.name, timeout, self._buffered
            )
        return self.stats()

    # --- the thread ----------------------------------------------------------------------------

    def _append(self, lines: list[dict[str, Any]], waiter: _Waiter | None) -> None:
        if not self._pending:
            self._oldest = time.monotonic()
        self._pending.append((lines, waiter))
        self._buffered += len(lines)
        self._waiting += waiter is not None
        while self._buffered > self.max_buffered and self._pending[0][1] is None and len(self._pending) > 1:
            dropped, _ = self._pending.pop(0)  # only fire-and-forget lines are ever dropped
            self._buffered -= len(dropped)
            self._dropped += len(dropped)
            log.warning("%s: dropped %d old lines (buffer full while writes fail)", self._thread.name, len(dropped))

    def _due(self, now: float) -> bool:
        if not self._pending:
            return False
        if self._closing or self._waiting:
            return True
        if now < self._retry_at:
            return False
        return self._buffered >= self.max_lines or now - (self._oldest or now) >= self.max_seconds

    def _run(self) -> None:
        failures_in_a_row = 0
        while True:
            with self._condition:
                while not self._due(time.monotonic()):
                    if self._closing and not self._pending:
                        return
                    self._condition.wait(timeout=self._wait_seconds())
                groups = self._pending
                self._pending, self._buffered, self._waiting, self._oldest = [], 0, 0, None
            batch = [line for lines, _ in groups for line in lines]
            try:
                self._write(batch)
            except Exception as error:  # S3 failed beyond the storage layer's retries
                failures_in_a_row += 1
                log.error("%s: could not write %d lines (%s)", self._thread.name, len(batch), error)
                kept = [(lines, None) for lines, waiter in groups if waiter is None]
                with self._condition:
                    self._failures += 1
                    for _, waiter in groups:
                        if waiter is not None:  # its caller answers with an error: nothing acknowledged is lost
                            waiter.error = error
                            waiter.done.set()
                    if self._closing and failures_in_a_row >= 3:
                        lost = sum(len(lines) for lines, _ in kept) + self._buffered
                        log.error("%s: %d lines lost at shutdown", self._thread.name, lost)
                        return
                    self._pending[:0] = kept  # fire-and-forget lines wait for the next try
                    self._buffered += sum(len(lines) for lines, _ in kept)
                    self._oldest = time.monotonic() if self._pending else None
                    self._retry_at = time.monotonic() + min(30.0, 2.0**failures_in_a_row)
                continue
            failures_in_a_row = 0
            with self._condition:
                self._objects += 1
                self._lines += len(batch)
                self._retry_at = 0.0
            for _, waiter in groups:
                if waiter is not None:
                    waiter.done.set()

    def _wait_seconds(self) -> float:
        if not self._pending:
            return self.max_seconds
        now = time.monotonic()
        due = max(self._retry_at, (self._oldest or now) + self.max_seconds)
        return max(0.01, due - now)


def s3_batch_write(
    store: Any, use_case: str, kind: str, model_version: str
) -> Callable[[list[dict[str, Any] | str]], None]:
    """A ``write`` for :class:`BatchWriter` that stores each batch as one object in the feedback bucket.

    The batch's lines are dicts or text from :func:`~components.common.serving_logs.encode_line`;
    they are compressed at gzip level 1 (a third of level 6's CPU on request logs, a third more bytes).

    Args:
        store: An :class:`~components.common.storage.ObjectStore`.
        use_case: The use case.
        kind: ``requests`` or ``feedback``.
        model_version: The serving model version (in every key).
    """
    bucket = store.bucket("feedback")

    def write(lines: list[dict[str, Any] | str]) -> None:
        key = log_key(use_case, kind, model_version, datetime.now(timezone.utc))
        store.put_bytes(
            bucket, key, encode_lines(lines, compresslevel=LOG_COMPRESSLEVEL), content_type="application/gzip"
        )

    return write
