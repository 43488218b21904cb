"""Request and feedback log lines, and the batch writer (group commit, retries, flush on close)."""

from __future__ import annotations

import gc
import gzip
import json
import logging
import threading
import time
from datetime import datetime, timezone

import numpy as np
import pytest

from components.common.serving_logs import decode_lines, encode_line, encode_lines
from components.serve.logs import BatchWriter, WriteFailed, prediction_lines, regression_lines, request_line

AT = datetime(2026, 11, 27, 8, 0, 0, 123456, tzinfo=timezone.utc)


def test_lines_carry_the_contract_fields_and_survive_encoding():
    records = [{"carrier": "UA", "temp": None}, {"carrier": "AA", "temp": 51.5}]
    lines = prediction_lines(records, np.array([[0.7, 0.3], [0.2, 0.8]]), (0, 1), "m-1", AT, "abc", truth=[0, 1])
    assert lines[1] == {
        "time": "2026-11-27T08:00:00.123456Z",
        "request_id": "abc",
        "row": 1,
        "model_version": "m-1",
        "features": {"carrier": "AA", "temp": 51.5},
        "probabilities": {"0": 0.2, "1": 0.8},
        "prediction": 1,
        "truth": 1,
    }
    assert "truth" not in prediction_lines(records, [[0.7, 0.3], [0.2, 0.8]], (0, 1), "m-1", AT, "abc")[0]
    assert decode_lines(encode_lines(lines)) == lines


def test_excluded_features_never_enter_a_line_and_each_line_names_them():
    email = "alice.doe@example.com"
    records = [{"email": email, "carrier": "UA", "temp": None}]
    request = prediction_lines(records, [[0.7, 0.3]], (0, 1), "m-1", AT, "abc", exclude=("email",))
    feedback = prediction_lines(records, [[0.7, 0.3]], (0, 1), "m-1", AT, "abc", truth=[1], exclude=("email",))
    for lines in (request, feedback):
        assert lines[0]["features"] == {"carrier": "UA", "temp": None}
        assert lines[0]["redacted"] == ["email"]
        text = gzip.decompress(encode_lines(lines))
        assert b"alice" not in text and b"example.com" not in text
    assert records[0]["email"] == email  # the caller's row is left as it was
    kept = prediction_lines(records, [[0.7, 0.3]], (0, 1), "m-1", AT, "abc")
    assert email.encode() in gzip.decompress(encode_lines(kept)) and "redacted" not in kept[0]


COLUMNS = {
    "carrier": ["UA", None, 'say "hi", then\\ go', "é, ü 😀"],
    "distance": [1200, None, 10**40, -3],
    "temp": [51.5, 7, None, 1e-300],
    "grade": [2, "b", None, 3],
    "nothing": [None, None, None, None],
    "share %s": [0.5, None, 1, "100%"],
    "email": ["a@example.com", "b@example.com", None, "c,d@example.com"],
}
PROBABILITIES = np.array([[0.7, 0.3], [0.5, 0.5], [1 / 3, 2 / 3], [0.0, 1.0]])


def records_of(columns):
    return [{name: values[row] for name, values in columns.items()} for row in range(len(PROBABILITIES))]


def read_back(text: bytes) -> list[dict]:
    return decode_lines(encode_lines([text], compresslevel=1))


@pytest.mark.parametrize("exclude", [(), ("email",), tuple(COLUMNS)])
@pytest.mark.parametrize("classes, request_id", [((0, 1), "abc"), (("late", "on time"), None), ((0.0, "1%"), "%d")])
def test_a_request_line_reads_back_as_the_line_of_each_row(classes, request_id, exclude):
    expected = prediction_lines(records_of(COLUMNS), PROBABILITIES, classes, "m-1", AT, request_id, exclude=exclude)
    text = request_line(COLUMNS, PROBABILITIES, classes, "m-1", AT, request_id, exclude)
    assert text.endswith(b"\n") and text.count(b"\n") == 1
    assert read_back(text) == expected
    assert b"example.com" not in text or not exclude
    assert json.loads(text)["rows"] == len(PROBABILITIES)


@pytest.mark.parametrize("exclude", [(), ("email",)])
def test_a_regressors_request_line_reads_back_as_the_line_of_each_row(exclude):
    predictions = np.array([12.5, -3.0, 1e20, 0.1], dtype=np.float32)
    expected = regression_lines(records_of(COLUMNS), predictions, "m-1", AT, "abc", exclude=exclude)
    text = request_line(COLUMNS, predictions, None, "m-1", AT, "abc", exclude)
    assert read_back(text) == expected
    assert read_back(text)[2]["prediction"] == float(np.float32(1e20))


def test_a_single_row_request_line_reads_back_as_one_line():
    single = {name: values[:1] for name, values in COLUMNS.items()}
    (line,) = read_back(request_line(single, PROBABILITIES[:1], (0, 1), "m-1", AT, "abc"))
    assert line["row"] == 0 and line["features"]["carrier"] == "UA" and line["prediction"] == 0


def test_a_request_line_is_a_fraction_of_the_text_of_a_line_per_row():
    rows = 100
    columns = {name: values * (rows // len(PROBABILITIES)) for name, values in COLUMNS.items()}
    probabilities = np.tile(PROBABILITIES, (rows // len(PROBABILITIES), 1))
    records = [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]
    per_row = "".join(map(encode_line, prediction_lines(records, probabilities, (0, 1), "m", AT, "a")))
    assert len(request_line(columns, probabilities, (0, 1), "m", AT, "a")) < 0.6 * len(per_row.encode())


def test_a_request_line_refuses_a_non_finite_output_as_encoding_does():
    with pytest.raises(ValueError):
        request_line(COLUMNS, PROBABILITIES * np.array([1.0, np.nan]), (0, 1), "m-1", AT, "abc")
    with pytest.raises(ValueError):
        request_line(COLUMNS, np.array([1.0, np.inf, 0.0, 0.0]), None, "m-1", AT, "abc")


class Sink:
    """Stores batches in memory; fails while `failing` is set."""

    def __init__(self, delay: float = 0.0):
        self.batches: list[list[dict]] = []
        self.failing = False
        self.delay = delay

    def __call__(self, lines):
        time.sleep(self.delay)
        if self.failing:
            raise OSError("S3 is down")
        self.batches.append(list(lines))


def test_fire_and_forget_lines_wait_for_a_full_batch_then_go_as_one_object():
    sink = Sink()
    writer = BatchWriter(sink, max_rows=3, max_seconds=60)
    writer.add([{"row": 0}])
    writer.add([{"row": 1}])
    time.sleep(0.1)
    assert sink.batches == []
    writer.add([{"row": 2}])
    deadline = time.monotonic() + 5
    while not sink.batches and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sink.batches == [[{"row": 0}, {"row": 1}, {"row": 2}]]
    writer.close()


def test_old_lines_are_written_after_max_seconds():
    sink = Sink()
    writer = BatchWriter(sink, max_rows=100, max_seconds=0.2)
    writer.add([{"row": 0}])
    time.sleep(0.6)
    assert sink.batches == [[{"row": 0}]]
    writer.close()


def test_batches_are_measured_in_rows_a_request_line_counting_its_own():
    sink = Sink()
    writer = BatchWriter(sink, max_rows=100, max_seconds=60)
    writer.add(["request of 60 rows"], rows=60)
    time.sleep(0.1)
    assert sink.batches == [] and writer.stats().buffered == 60
    writer.add(["request of 40 rows"], rows=40)
    deadline = time.monotonic() + 5
    while not sink.batches and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sink.batches == [["request of 60 rows", "request of 40 rows"]]
    stats = writer.close()
    assert (stats.objects, stats.rows, stats.buffered) == (1, 100, 0)


def test_rows_are_dropped_by_the_request_while_writes_fail():
    sink = Sink()
    sink.failing = True
    writer = BatchWriter(sink, max_rows=1000, max_seconds=60, max_buffered=250)
    for request in range(4):
        writer.add([f"request {request}"], rows=100)
    stats = writer.stats()
    assert (stats.buffered, stats.dropped) == (200, 200)
    sink.failing = False
    writer.close()
    assert [line for batch in sink.batches for line in batch] == ["request 2", "request 3"]


def test_close_flushes_what_is_buffered():
    sink = Sink()
    writer = BatchWriter(sink, max_rows=100, max_seconds=60)
    writer.add([{"row": 0}, {"row": 1}])
    stats = writer.close()
    assert sink.batches == [[{"row": 0}, {"row": 1}]]
    assert (stats.objects, stats.rows, stats.buffered) == (1, 2, 0)


def test_waiting_callers_are_group_committed_and_return_only_once_stored():
    sink = Sink(delay=0.2)
    writer = BatchWriter(sink, max_rows=1000, max_seconds=60)
    done = []

    def send(row):
        writer.add_and_wait([{"row": row}])
        done.append(row)

    threads = [threading.Thread(target=send, args=(row,)) for row in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(done) == list(range(6))
    stored = sorted(line["row"] for batch in sink.batches for line in batch)
    assert stored == list(range(6)) and len(sink.batches) < 6  # later callers shared a batch
    writer.close()


def test_a_failed_write_fails_its_waiters_and_keeps_fire_and_forget_lines_for_later():
    sink = Sink()
    sink.failing = True
    writer = BatchWriter(sink, max_rows=1000, max_seconds=60)
    writer.add([{"row": "logged"}])
    with pytest.raises(WriteFailed, match="S3 is down"):
        writer.add_and_wait([{"row": "feedback"}])
    assert writer.stats().buffered == 1
    sink.failing = False
    stats = writer.close()
    assert sink.batches == [[{"row": "logged"}]] and stats.failures == 1


def test_the_buffer_is_bounded_while_writes_fail():
    sink = Sink()
    sink.failing = True
    writer = BatchWriter(sink, max_rows=2, max_seconds=60, max_buffered=4)
    for row in range(10):
        writer.add([{"row": row}])
        time.sleep(0.01)
    stats = writer.stats()
    assert stats.buffered <= 4 and stats.dropped >= 6
    sink.failing = False
    writer.close()
    assert [line["row"] for batch in sink.batches for line in batch] == list(range(10))[-stats.buffered :]


def test_buffering_a_request_leaves_the_garbage_collector_nothing_to_track():
    # A young collection runs after so many tracked objects more were allocated than freed: objects the
    # buffer kept per request would start one every few thousand requests, at a request's expense.
    writer = BatchWriter(Sink(), max_rows=10**9, max_seconds=60)
    line = b'{"rows":1}\n'
    writer.add([line], rows=1)  # the lists have grown once
    gc.collect()
    gc.disable()
    try:
        before = gc.get_count()[0]
        for _ in range(5000):
            writer.add([line], rows=1)
        grown = gc.get_count()[0] - before
    finally:
        gc.enable()
    assert writer.stats().buffered == 5001
    assert grown < 50, f"{grown} tracked objects kept by 5,000 buffered requests"
    writer.close()


def test_rows_given_for_several_lines_count_once_and_are_dropped_with_their_first_line():
    sink = Sink()
    sink.failing = True
    writer = BatchWriter(sink, max_rows=1000, max_seconds=60, max_buffered=10)
    writer.add(["a1", "a2"], rows=6)
    writer.add(["b"], rows=6)
    stats = writer.stats()
    assert (stats.buffered, stats.dropped) == (6, 6)
    sink.failing = False
    writer.close()
    assert sink.batches == [["a2", "b"]]


def test_a_batch_holds_fire_and_forget_lines_then_waiting_callers_lines():
    sink = Sink()
    writer = BatchWriter(sink, max_rows=1000, max_seconds=60)
    writer.add([{"row": "logged"}])
    writer.add_and_wait([{"row": "feedback"}])
    writer.add([{"row": "later"}])
    stats = writer.close()
    assert sink.batches == [[{"row": "logged"}, {"row": "feedback"}], [{"row": "later"}]]
    assert (stats.objects, stats.rows) == (2, 3)


def test_drops_while_writes_fail_are_reported_once_a_minute_not_per_request(caplog):
    sink = Sink()
    sink.failing = True
    writer = BatchWriter(sink, max_rows=1000, max_seconds=60, max_buffered=3)
    with caplog.at_level(logging.WARNING, logger="components.serve.logs"):
        for row in range(50):
            writer.add([{"row": row}])
    warnings = [record.getMessage() for record in caplog.records if "dropped" in record.getMessage()]
    assert writer.stats().dropped == 47
    assert warnings == ["log-writer: dropped 1 old rows (buffer full while writes fail; 1 dropped in all)"]
    sink.failing = False
    writer.close()
