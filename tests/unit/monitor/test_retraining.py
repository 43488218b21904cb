"""Retraining data from feedback, without S3: training rows, their placement, the retraining inputs."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pyarrow as pa
import pytest
import yaml
from helpers import LOANS_CONFIG, ORDERS_CONFIG, make_orders

from components.common.config import parse_use_case
from components.common.errors import ConfigError, DataError
from components.ingest.logic import conform_rows
from components.monitor.logs import Window, to_frame
from components.monitor.retraining import (
    place_by_time,
    promotion_command,
    retraining_use_case,
    schema_for_feedback,
    training_rows,
)
from components.validate.logic import infer_schema, statistics_in_process

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
            (40, "b", 0, 1, 21.0),
            (50, None, 0, 0, 40.0),
        ),
        SHOP.features.all(),
    )
    rows, dropped = training_rows(frame, SHOP)
    assert dropped == {"without_truth": 1, "superseded": 1}
    assert list(rows["price"]) == [10.0, 21.0, 40.0]  # request b's corrected label replaced its first one
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


def test_feedback_rows_take_the_dataset_columns_and_types():
    schema = pa.schema(
        [
            ("order_id", pa.int64()),
            ("quantity", pa.int64()),
            ("price", pa.float64()),
            ("channel", pa.string()),
            ("ordered_at", pa.timestamp("us", tz="UTC")),
            ("returned", pa.int64()),
        ]
    )
    frame = pd.DataFrame(
        {
            "quantity": [2, None],
            "price": [3, 4.5],
            "channel": ["web", None],
            "ordered_at": ["2024-03-01T10:00:00Z", None],
            "returned": [1, 0],
        },
        dtype=object,
    )
    table = conform_rows(frame, schema)
    assert table.schema == schema
    assert table.column("order_id").null_count == 2 and table.column("quantity").to_pylist() == [2, None]
    assert table.column("ordered_at").to_pylist()[0] == datetime(2024, 3, 1, 10, tzinfo=timezone.utc)
    naive = pa.schema([("ordered_at", pa.timestamp("s"))])
    assert conform_rows(frame[["ordered_at"]], naive).column(0).to_pylist()[0] == datetime(2024, 3, 1, 10)


@pytest.mark.parametrize(
    "frame, message",
    [
        (pd.DataFrame({"coupon": ["x"]}), "feedback column 'coupon' is not a column of the dataset"),
        (pd.DataFrame({"quantity": ["two"]}, dtype=object), "feedback column 'quantity' cannot be read as int64"),
    ],
)
def test_feedback_that_does_not_fit_the_dataset_is_refused(frame, message):
    with pytest.raises(DataError) as error:
        conform_rows(frame, pa.schema([("quantity", pa.int64())]))
    assert str(error.value).startswith(message)


def test_the_retraining_use_case_is_the_use_case_with_the_window_as_feedback():
    text = LOANS_CONFIG.format(loans="/data/loans.csv", customers="/data/customers.csv")
    window = Window(START, START + timedelta(hours=24))
    retraining = retraining_use_case(text, window)
    config = parse_use_case(retraining)
    assert config.feedback.start == "2026-11-27T00:00:00Z" and config.feedback.end == "2026-11-28T00:00:00Z"
    assert config.ingest_fingerprint() == parse_use_case(text).ingest_fingerprint()
    assert {k: v for k, v in yaml.safe_load(retraining).items() if k != "feedback"} == yaml.safe_load(text)
    with pytest.raises(ConfigError):
        retraining_use_case("name: [", window)


def test_only_columns_that_feedback_cannot_have_lose_their_presence_constraint():
    schema = infer_schema(statistics_in_process({"all": make_orders(500, seed=1)}), SHOP)
    relaxed = schema_for_feedback(schema, SHOP)
    presence = {f.name: f.presence.min_fraction for f in relaxed.feature}
    assert presence["order_id"] == 0.0
    assert all(presence[name] == 1.0 for name in [*SHOP.features.all(), "returned"])
    assert {f.name: f.presence.min_fraction for f in schema.feature}[
        "order_id"
    ] == 1.0  # the curated schema is untouched


def test_the_proposal_is_a_promotion_on_a_branch_for_review():
    assert (
        promotion_command("flights", "m-0123456789abcdef")
        == "mlcycle promote m-0123456789abcdef --to production --branch retrain/flights-m-0123456789abcdef"
    )
    assert promotion_command("loans", "m-1", "uc/loans.yaml").startswith("mlcycle promote -c uc/loans.yaml m-1 ")
