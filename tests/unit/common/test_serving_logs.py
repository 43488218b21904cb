"""The serving-log contract: object names as serving writes them; windows, lines and frames as they are read."""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timedelta, timezone

import pytest

from components.common.errors import UserError
from components.common.serving_logs import (
    LATE_WRITE_DAYS,
    Window,
    decode_lines,
    encode_line,
    encode_line_fast,
    encode_lines,
    expand_line,
    features_of,
    log_key,
    log_prefix,
    parse_lines,
    superseded_feedback,
    to_frame,
    written_at,
)

NOW = datetime(2026, 11, 27, 8, 30, tzinfo=timezone.utc)
AT = datetime(2026, 11, 27, 8, 0, 0, 123456, tzinfo=timezone.utc)


def batch(*lines) -> bytes:
    return gzip.compress(
        "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines).encode()
    )


def line(time="2026-11-27T08:00:00.123456Z", **extra):
    return {
        "time": time,
        "request_id": "ab12",
        "row": 0,
        "model_version": "m-0123456789abcdef",
        "features": {"x": 1},
        **extra,
    }


def test_a_window_is_both_bounds_or_hours_before_the_end_or_after_the_start():
    assert Window.resolve("2026-11-26T00:00:00Z", "2026-11-27", hours=5) == Window(
        datetime(2026, 11, 26, tzinfo=timezone.utc), datetime(2026, 11, 27, tzinfo=timezone.utc)
    )
    assert Window.resolve(hours=6, now=NOW) == Window(NOW - timedelta(hours=6), NOW)
    assert Window.resolve(end="2026-11-27T06:00:00+02:00", hours=1).start == datetime(
        2026, 11, 27, 3, tzinfo=timezone.utc
    )
    assert Window.resolve(start="2026-11-27T08:00:00", hours=2).end == datetime(2026, 11, 27, 10, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "start, end, hours, message",
    [
        (
            "2026-11-28",
            "2026-11-27",
            24,
            "the window ends (2026-11-27T00:00:00+00:00) before it starts (2026-11-28T00:00:00+00:00)",
        ),
        (
            "yesterday",
            "",
            24,
            "window start 'yesterday' is not an ISO 8601 time (hint: for example 2026-11-27T08:00:00Z)",
        ),
        ("", "", 0, "a window of 0 hours is empty"),
    ],
)
def test_a_bad_window_is_refused_with_the_fix(start, end, hours, message):
    with pytest.raises(UserError) as error:
        Window.resolve(start, end, hours, now=NOW)
    assert str(error.value).startswith(message)


def test_a_window_lists_the_dates_it_spans_and_the_days_after_for_late_batches():
    window = Window.resolve("2026-11-26T22:00:00Z", "2026-11-28T00:00:00Z")
    assert LATE_WRITE_DAYS == 3
    assert window.dates() == ["2026-11-26", "2026-11-27", "2026-11-28", "2026-11-29", "2026-11-30"]
    assert window.contains(window.start) and not window.contains(window.end)
    assert window.to_json() == {"start": "2026-11-26T22:00:00Z", "end": "2026-11-28T00:00:00Z"}


def test_key_follows_the_shared_layout():
    assert log_key("flights", "requests", "m-0123456789abcdef", AT, "0a1b2c3d") == (
        "flights/requests/date=2026-11-27/080000-m-0123456789abcdef-0a1b2c3d.jsonl.gz"
    )
    assert log_key("flights", "feedback", "m-1", AT).startswith("flights/feedback/date=2026-11-27/080000-m-1-")
    with pytest.raises(ValueError):
        log_key("flights", "other", "m-1", AT)


def test_object_names_follow_the_contract():
    key = f"{log_prefix('flights', 'feedback', '2026-11-27')}081500-m-0123456789abcdef-0a1b2c3d.jsonl.gz"
    assert key == "flights/feedback/date=2026-11-27/081500-m-0123456789abcdef-0a1b2c3d.jsonl.gz"
    assert written_at(key) == datetime(2026, 11, 27, 8, 15, tzinfo=timezone.utc)
    assert written_at("flights/feedback/date=2026-11-27/notes.txt") is None


def test_malformed_lines_are_counted_and_skipped_never_fatal():
    lines, malformed = parse_lines(
        batch(
            line(), "{not json", line(time="soon"), {"time": "2026-11-27T08:00:00Z"}, line(features=[1]), "[1, 2]", ""
        )
    )
    assert len(lines) == 1 and malformed == 5
    assert lines[0]["_time"] == datetime(2026, 11, 27, 8, 0, 0, 123456, tzinfo=timezone.utc)
    assert parse_lines(b"not gzip") == ([], 1)


def test_lines_become_a_frame_with_every_named_feature():
    lines, _ = parse_lines(
        batch(line(probabilities={"0": 0.2, "1": 0.8}, prediction=1, truth=0), line(features={"x": 2, "y": "a"}))
    )
    frame = to_frame(lines, ["x", "y"])
    assert list(frame["truth"]) == [0, None] and frame["probabilities"][0] == {"0": 0.2, "1": 0.8}
    assert features_of(frame).to_dict("list") == {"x": [1, 2], "y": [None, "a"]}
    assert list(to_frame([], ["x"]).columns)[-1] == "feature.x"


def test_a_later_feedback_line_for_the_same_request_row_supersedes_the_earlier():
    # A request row is its request id and its feature values; "row" is its place in its own message.
    lines = [
        {"_time": "2026-11-27T08:00:00Z", "request_id": rid, "row": 0, "features": {"x": x}, "truth": truth}
        for rid, x, truth in [("a", 0, 1), ("a", 1, 0), (None, 0, 1), ("a", 0, 0), (None, 0, 1), ("b", 0, 1)]
    ]
    frame = to_frame(lines, ["x"])
    assert superseded_feedback(frame).tolist() == [True, False, False, False, False, False]
    assert superseded_feedback(frame.iloc[:0]).tolist() == []
    assert superseded_feedback(to_frame(lines, [])).tolist() == [True, True, False, False, False, False]


def test_the_latest_feedback_line_wins_whatever_order_its_batches_are_read_in():
    # Batches written in one second are read in the order of their keys' random tokens, not of their lines'
    # times: a correction can be read before the line it corrects (found by tests/property/test_feedback_matching).
    lines = [
        {"_time": time, "request_id": "a", "row": 0, "features": {"x": 0}, "truth": truth}
        for time, truth in [("2026-11-27T08:00:00.700Z", 1), ("2026-11-27T08:00:00.300Z", 0)]
    ]
    frame = to_frame(lines, ["x"])
    assert superseded_feedback(frame).tolist() == [False, True]
    assert superseded_feedback(frame.iloc[::-1]).tolist() == [True, False]  # on the frame's own index


def test_lines_encoded_ahead_are_written_as_the_same_bytes_as_dicts():
    lines = [line(row=0, probabilities={"0": 0.25, "1": 0.75}), line(row=1, features={"x": None, "y": "é"})]
    text = [encode_line(one) for one in lines]
    assert all(one.endswith("\n") and one.count("\n") == 1 for one in text)
    assert encode_lines(text) == encode_lines(lines) == encode_lines([text[0], lines[1]])
    assert decode_lines(encode_lines(text, compresslevel=1)) == lines
    assert gzip.decompress(encode_lines(text, compresslevel=1)) == gzip.decompress(encode_lines(lines))


def test_a_line_with_a_non_finite_number_is_refused():
    with pytest.raises(ValueError):
        encode_line(line(probabilities={"0": float("nan")}))


@pytest.mark.parametrize(
    "values",
    [
        [1, 2.5, None, -0.0, 1e-300, 1e16, 2**63 - 1],
        ["UA", 'say "hi", then\\ go', "é, ü 😀", "", "\x00\x1f"],
        [2, "b", None, True, 1.5],
        [10**40, "lone \ud800 surrogate"],  # beyond orjson: the standard library writes them
    ],
)
def test_the_fast_encoding_reads_back_as_the_same_line(values):
    one = line(features={"x": values}, probabilities={"0": 0.1, "1": 0.9})
    text = encode_line_fast(one)
    assert text.endswith(b"\n") and text.count(b"\n") == 1
    assert json.loads(text) == json.loads(encode_line(one)) == one


def request(**extra):
    """A request line of two rows."""
    return {
        "time": "2026-11-27T08:00:00.123456Z",
        "request_id": "abc",
        "rows": 2,
        "model_version": "m-1",
        "features": {"x": [1, None], "y": ["a", "b"]},
        "probabilities": {"0": [0.25, 0.5], "1": [0.75, 0.5]},
        "prediction": [1, 0],
        **extra,
    }


def test_a_request_line_expands_into_the_line_of_each_row():
    rows = expand_line(request(redacted=["email"]))
    assert rows == [
        {
            "time": "2026-11-27T08:00:00.123456Z",
            "request_id": "abc",
            "row": row,
            "model_version": "m-1",
            "features": {"x": x, "y": y},
            "probabilities": {"0": p0, "1": 1 - p0},
            "prediction": prediction,
            "redacted": ["email"],
        }
        for row, x, y, p0, prediction in [(0, 1, "a", 0.25, 1), (1, None, "b", 0.5, 0)]
    ]
    regressor = {**request(), "prediction": [1.5, -2.0]}
    del regressor["probabilities"]
    assert [row["prediction"] for row in expand_line(regressor)] == [1.5, -2.0]
    assert "probabilities" not in expand_line(regressor)[0]
    assert expand_line(line()) == [line()]  # a line of one row stays as it is


def test_request_lines_and_lines_per_row_are_read_alike():
    data = batch(request(), line(row=0, features={"x": 3, "y": "c"}))
    assert [row["features"]["x"] for row in decode_lines(data)] == [1, None, 3]
    lines, malformed = parse_lines(data)
    assert malformed == 0 and [(row["request_id"], row["row"]) for row in lines] == [
        ("abc", 0),
        ("abc", 1),
        ("ab12", 0),
    ]
    assert lines[1]["_time"] == datetime(2026, 11, 27, 8, 0, 0, 123456, tzinfo=timezone.utc)
    assert features_of(to_frame(lines, ["x", "y"])).to_dict("list") == {"x": [1, None, 3], "y": ["a", "b", "c"]}


@pytest.mark.parametrize(
    "broken",
    [
        request(rows=3),
        request(rows="2"),
        request(rows=None),
        request(rows=0, features={"x": [], "y": []}, probabilities={"0": [], "1": []}, prediction=[]),
        request(row=0),
        request(truth=[1, 0]),
        {**request(), "prediction": 1},
        {**request(), "features": {"x": [1, 2], "y": "ab"}},
        {**request(), "probabilities": {"0": [0.1]}},
        {**request(), "probabilities": [0.1, 0.2]},
        {key: value for key, value in request().items() if key != "prediction"},
    ],
)
def test_a_request_line_whose_columns_do_not_hold_its_rows_is_malformed(broken):
    with pytest.raises(ValueError):
        expand_line(broken)
    assert parse_lines(batch(broken, request())) == (parse_lines(batch(request()))[0], 1)
