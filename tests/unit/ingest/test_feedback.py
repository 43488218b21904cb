"""Feedback as training rows, without S3: the rows kept, and their placement in splits by time."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
from helpers import ORDERS_CONFIG

from components.common.config import parse_use_case
from components.common.errors import ConfigError, DataError
from components.common.serving_logs import to_frame
from components.ingest.feedback import check_logged, place_by_time, training_rows

START = datetime(2026, 11, 27, tzinfo=timezone.utc)
SHOP = parse_use_case(ORDERS_CONFIG)


def lines(*rows):
    """Feedback lines: (seconds after START, request id, row, truth, price)."""
    return [
        {
            "_time": START + timedelta(seconds=seconds),
            "request_id": request,
            "row": row,
            "truth": truth,
            "features": {"quantity": 2, "price": price, "channel": "web", "ordered_at": "2024-03-01T10:00:00Z"},
        }
        for seconds, request, row, truth, price in rows
    ]


def test_feedback_lines_become_rows_of_features_and_label_in_time_order():
    frame = to_frame(
        lines(
            (30, "a", 0, 1, 10.0),
            (10, "b", 0, 0, 20.0),
            (20, None, 0, None, 30.0),
            (40, "b", 0, 1, 20.0),
            (50, None, 0, 0, 40.0),
        ),
        SHOP.features.all(),
    )
    rows, dropped = training_rows(frame, SHOP)
    assert dropped == {"without_truth": 1, "superseded": 1}
    assert list(rows["price"]) == [10.0, 20.0, 40.0]  # request b's corrected label replaced its first one
    assert list(rows["returned"]) == [1, 1, 0] and list(rows.columns) == [*SHOP.features.all(), "returned", "time"]


def test_rows_are_placed_by_time_the_newest_in_test():
    rows = pd.DataFrame({"n": range(10)})
    placed = place_by_time(rows, {"train": 0.6, "eval": 0.2, "test": 0.2})
    assert {split: list(frame["n"]) for split, frame in placed.items()} == {
        "train": [0, 1, 2, 3, 4, 5],
        "eval": [6, 7],
        "test": [8, 9],
    }
    everything = place_by_time(rows, {"train": 1.0, "eval": 0.0, "test": 0.0})
    assert len(everything["train"]) == 10 and everything["test"].empty


def test_feedback_without_a_feature_kept_out_of_the_logs_is_refused_not_imputed():
    excluding = parse_use_case(ORDERS_CONFIG + "serving: {log_exclude: [channel]}\n")
    with pytest.raises(ConfigError) as refused:
        check_logged(excluding)
    assert str(refused.value) == (
        "cannot retrain 'shop' on feedback: channel is in serving.log_exclude, so feedback rows lack a feature the "
        "model takes (hint: drop it from the features, so the next model does without it, or from "
        "serving.log_exclude, so feedback logged after the next deployment has it)"
    )
    # The exclusion lifted, lines logged under it are still without the feature.
    redacted = lines((10, "a", 0, 1, 10.0))
    del redacted[0]["features"]["channel"]
    redacted[0]["redacted"] = ["channel"]
    with pytest.raises(DataError, match=r"^cannot retrain 'shop' on this feedback window: its lines were logged "):
        check_logged(SHOP, lines((5, "b", 0, 0, 9.0)) + redacted)
    check_logged(SHOP, lines((5, "b", 0, 0, 9.0)))  # lines with every feature pass


def test_per_row_feedback_of_a_multi_row_request_keeps_every_row_and_a_retry_once():
    # One request of three rows (puid "p"), its feedback sent one message per row: each is row 0 of its
    # message. The third message is sent twice (a client retry), the first is corrected later.
    frame = to_frame(
        lines(
            (10, "p", 0, 1, 10.0),
            (20, "p", 0, 0, 20.0),
            (30, "p", 0, 1, 30.0),
            (40, "p", 0, 1, 30.0),
            (50, "p", 0, 0, 10.0),
        ),
        SHOP.features.all(),
    )
    rows, dropped = training_rows(frame, SHOP)
    assert dropped == {"without_truth": 0, "superseded": 2}
    assert sorted(zip(rows["price"], rows["returned"], strict=True)) == [(10.0, 0), (20.0, 0), (30.0, 1)]
