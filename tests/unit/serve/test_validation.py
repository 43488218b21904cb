"""Request validation: both payload shapes, typed columns, and a message naming the field for each bad request."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from components.serve.schema import ServingFeature, ServingSchema
from components.serve.validation import RequestError, model_columns, model_frame, parse_request

SCHEMA = ServingSchema(
    "shop",
    (
        ServingFeature("quantity", "numeric", "int", nullable=False),
        ServingFeature("price", "numeric", "float", nullable=True),
        ServingFeature("channel", "categorical", "string", nullable=False),
        ServingFeature("engines", "categorical", "int", nullable=True),
        ServingFeature("ordered_at", "datetime", "datetime", nullable=True),
    ),
    max_batch=3,
)
NAMES = list(SCHEMA.names)
ROW = [2, 9.5, "web", 4, "2024-03-01T10:00:00Z"]


def ndarray(*rows, names=NAMES):
    return {"data": {"names": names, "ndarray": [list(r) for r in rows]}}


def test_ndarray_and_json_records_give_the_same_typed_columns():
    from_rows = parse_request(ndarray(ROW, [3.0, None, "shop", None, None]), SCHEMA)
    from_records = parse_request(
        {
            "jsonData": [
                dict(zip(NAMES, ROW, strict=True)),
                dict(zip(NAMES, [3.0, None, "shop", None, None], strict=True)),
            ]
        },
        SCHEMA,
    )
    assert from_rows.values == from_records.values
    assert from_rows.shape == "ndarray" and from_records.shape == "jsonData" and from_rows.rows == 2
    assert from_rows.values["quantity"] == [2, 3] and isinstance(from_rows.values["quantity"][1], int)
    columns = model_columns(from_rows, SCHEMA)
    assert columns["quantity"].dtype == np.float64 and columns["price"][0] == 9.5 and math.isnan(columns["price"][1])
    assert list(columns["engines"]) == [4, None]
    frame = model_frame(from_rows, SCHEMA)
    assert list(frame.columns) == NAMES
    assert frame["ordered_at"][0] == "2024-03-01T10:00:00Z" and pd.isna(frame["ordered_at"][1])


def test_other_record_wrappers_and_the_client_request_id():
    one = parse_request({"jsonData": dict(zip(NAMES, ROW, strict=True)), "meta": {"puid": "abc123"}}, SCHEMA)
    wrapped = parse_request({"jsonData": {"records": [dict(zip(NAMES, ROW, strict=True))]}}, SCHEMA)
    assert one.values == wrapped.values and one.rows == 1
    assert one.request_id == "abc123" and wrapped.request_id is None
    assert one.record(0) == dict(zip(NAMES, ROW, strict=True))


@pytest.mark.parametrize(
    "payload, message",
    [
        ([1, 2], "request body must be a JSON object, not a list"),
        ({"strData": "x"}, "strData requests are not supported"),
        ({"meta": {}}, "neither data nor jsonData"),
        ({"data": {"tensor": {"shape": [1, 5], "values": [1, 2, 3, 4, 5]}}}, "data.tensor is not supported"),
        ({"data": {"ndarray": [ROW]}}, "data.names must be a list of feature names"),
        (ndarray(ROW[:4], names=NAMES[:4]), "missing feature 'ordered_at' in data.names"),
        (ndarray(ROW + [1], names=NAMES + ["colour"]), "unknown feature 'colour' in data.names"),
        (ndarray(ROW, names=NAMES[:4] + ["quantity"]), "data.names lists feature 'quantity' twice"),
        ({"data": {"names": NAMES, "ndarray": "rows"}}, "data.ndarray must be a list of rows"),
        (ndarray(), "empty batch: data.ndarray has no rows"),
        (ndarray(ROW, ROW, ROW, ROW), "batch too large: data.ndarray has 4 rows, the limit is 3"),
        ({"data": {"names": NAMES, "ndarray": [ROW, 5]}}, "data.ndarray row 1 is a number, not a list"),
        (ndarray(ROW, ROW[:3]), "data.ndarray row 1 has 3 values but data.names has 5"),
        (ndarray(["2", *ROW[1:]]), "feature 'quantity' in row 0: expected whole number, got a string '2'"),
        (ndarray([2.5, *ROW[1:]]), "feature 'quantity' in row 0: expected whole number, got 2.5"),
        (ndarray([True, *ROW[1:]]), "feature 'quantity' in row 0: expected whole number, got a boolean True"),
        (ndarray([None, *ROW[1:]]), "feature 'quantity' in row 0 is null, but the model needs a value"),
        (ndarray(ROW, [2, float("inf"), *ROW[2:]]), "feature 'price' in row 1: is not a finite number"),
        (ndarray([2, 9.5, 7, *ROW[3:]]), "feature 'channel' in row 0: expected string, got a number 7"),
        (ndarray([2, 9.5, None, *ROW[3:]]), "feature 'channel' in row 0 is null"),
        (ndarray([*ROW[:3], "four", ROW[4]]), "feature 'engines' in row 0: expected whole number, got a string"),
        (ndarray([*ROW[:4], "yesterday"]), "feature 'ordered_at' in row 0: 'yesterday' is not a date and time"),
        (
            ndarray([*ROW[:4], "9999-01-01T00:00:00Z"]),
            "feature 'ordered_at' in row 0: '9999-01-01T00:00:00Z' is outside the years",
        ),
        (
            ndarray([*ROW[:4], 1700000000]),
            "feature 'ordered_at' in row 0: expected date and time as ISO 8601 text, got a number",
        ),
        ({"jsonData": "rows"}, "jsonData must be a list of records, not a string"),
        ({"jsonData": []}, "empty batch: jsonData has no rows"),
        ({"jsonData": [dict(zip(NAMES, ROW, strict=True)), 3]}, "jsonData record 1 is a number, not an object"),
        (
            {"jsonData": [{k: v for k, v in zip(NAMES, ROW, strict=True) if k != "price"}]},
            "missing feature 'price' in jsonData record 0",
        ),
        (
            {"jsonData": {"records": [{**dict(zip(NAMES, ROW, strict=True)), "x": 1, "y": 2}]}},
            "unknown features 'x', 'y' in jsonData.records record 0",
        ),
    ],
)
def test_each_bad_request_names_the_field_and_the_problem(payload, message):
    with pytest.raises(RequestError) as caught:
        parse_request(payload, SCHEMA)
    assert message in str(caught.value)
    assert "(hint: " in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "column, value, problem",
    [
        (0, "alice.doe@example.com", "expected whole number, got a string"),
        (0, 2.5, "expected whole number, got"),
        (2, ["alice.doe@example.com"], "expected string, got a list"),
        (4, "alice.doe@example.com", "is not a date and time"),
        (4, "9999-01-01T00:00:00Z", "is outside the years 1678 to 2261"),
    ],
)
def test_an_error_never_quotes_a_value_of_a_feature_kept_out_of_the_logs(column, value, problem):
    """Seldon logs every error answer: a withheld feature's value stays out of the server log too."""
    row = list(ROW)
    row[column] = value
    with pytest.raises(RequestError) as quoted:
        parse_request(ndarray(row), SCHEMA)
    assert repr(value) in str(quoted.value) or str(value) in str(quoted.value)
    withheld = dataclasses.replace(SCHEMA, log_exclude=(NAMES[column],))
    with pytest.raises(RequestError) as caught:
        parse_request(ndarray(row), withheld)
    message = str(caught.value)
    assert problem in message and f"feature {NAMES[column]!r} in row 0" in message
    assert "<withheld: serving.log_exclude>" in message and str(value).strip("[]'") not in message


def test_timestamps_reach_the_model_as_sent_for_its_own_time_zone_to_read():
    # Text without a zone is a local time of the zone the model was trained in, which serving does not know.
    rows = [
        [*ROW[:4], "2024-03-01T12:00:00+02:00"],
        [*ROW[:4], "2024-03-01 10:00:00"],
        [*ROW[:4], "2024-03-01T10:00:00Z"],
    ]
    batch = parse_request(ndarray(*rows), SCHEMA)
    assert list(model_columns(batch, SCHEMA)["ordered_at"]) == [row[4] for row in rows]
    assert list(batch.datetimes["ordered_at"]) == [np.datetime64("2024-03-01T10:00:00", "ns")] * 3  # checked
    assert batch.values["ordered_at"][0] == "2024-03-01T12:00:00+02:00"  # logged as sent


def test_nan_counts_as_missing_and_integral_floats_become_integers():
    batch = parse_request(ndarray([5.0, float("nan"), "web", 4.0, None]), SCHEMA)
    assert batch.values["quantity"] == [5] and batch.values["price"] == [None] and batch.values["engines"] == [4]


@pytest.mark.parametrize(
    "column, value",
    [("quantity", 10**400), ("price", 10**400), ("price", -(10**400)), ("quantity", 10**39), ("price", 1e39)],
)
def test_a_number_beyond_the_range_the_model_takes_is_refused_naming_the_field_and_row(column, value):
    row = dict(zip(NAMES, ROW, strict=True)) | {column: value}
    with pytest.raises(RequestError) as caught:
        batch = parse_request(ndarray(ROW, list(row.values())), SCHEMA)
        model_columns(batch, SCHEMA)  # where 10**400 overflowed float64 before
    assert caught.value.message.startswith(f"feature {column!r} in row 1: ")
    assert "too large" in caught.value.message and len(caught.value.message) < 200


def test_the_largest_float32_number_is_still_taken():
    batch = parse_request(ndarray([2, float(np.finfo(np.float32).max), "web", 4, None]), SCHEMA)
    assert model_columns(batch, SCHEMA)["price"][0] == float(np.finfo(np.float32).max)


@pytest.mark.parametrize("nullable", [True, False])
def test_a_category_of_numbers_reads_nan_as_null_and_refuses_an_infinity_like_a_number(nullable):
    # Categories of floats are unbounded: the quick column check let NaN and infinities through as floats,
    # where the value-by-value check reads NaN as null and refuses infinities (and request logs write neither).
    schema = ServingSchema("grades", (ServingFeature("grade", "categorical", "float", nullable=nullable),))
    if nullable:
        assert parse_request(ndarray([1.5], [float("nan")], names=["grade"]), schema).values["grade"] == [1.5, None]
    with pytest.raises(RequestError, match="feature 'grade' in row 1: is not a finite number|row 1 is null"):
        parse_request(ndarray([1.5], [float("inf" if nullable else "nan")], names=["grade"]), schema)


def test_a_huge_whole_number_is_a_category_like_any_other_for_a_categorical_feature():
    batch = parse_request(ndarray([2, 9.5, "web", 10**400, None]), SCHEMA)
    assert model_columns(batch, SCHEMA)["engines"][0] == 10**400


def test_a_request_carrying_the_target_is_told_to_leave_it_out():
    schema = dataclasses.replace(SCHEMA, target="basket_value")
    record = {**dict(zip(NAMES, ROW, strict=True)), "basket_value": 41.5}
    with pytest.raises(RequestError, match="unknown feature 'basket_value' in jsonData record 0") as caught:
        parse_request({"jsonData": [record]}, schema)
    assert caught.value.hint.startswith("'basket_value' is what the model predicts: leave it out of requests; ")
    with pytest.raises(RequestError) as other:  # another unknown name keeps the plain hint
        parse_request(ndarray(ROW + [1], names=NAMES + ["colour"]), schema)
    assert other.value.hint.startswith("the model takes: ")


MIXED = ServingSchema(
    "shop",
    (
        ServingFeature("quantity", "numeric", "int", nullable=True),
        ServingFeature("price", "numeric", "float", nullable=True),
        ServingFeature("engines", "categorical", "int", nullable=True),
        ServingFeature("grade", "categorical", "label", nullable=True),
        ServingFeature("channel", "categorical", "string", nullable=True),
    ),
    max_batch=10,
)


def test_columns_mixing_nulls_whole_floats_and_integers_come_out_as_integers_and_none():
    rows = [
        [2, 9.5, 4, "a", "web"],
        [None, None, None, None, None],
        [3.0, 7, 5.0, 2.0, "shop"],
        [-4, float("nan"), 10**40, 1, None],
    ]
    values = parse_request({"data": {"names": list(MIXED.names), "ndarray": rows}}, MIXED).values
    assert values["quantity"] == [2, None, 3, -4] and [type(v) for v in values["quantity"]] == [
        int,
        type(None),
        int,
        int,
    ]
    assert (
        values["price"] == [9.5, None, 7, None] and type(values["price"][2]) is int
    )  # a float feature keeps 7 as sent
    assert values["engines"] == [4, None, 5, 10**40] and type(values["engines"][2]) is int
    assert values["grade"] == ["a", None, 2, 1] and type(values["grade"][2]) is int
    assert values["channel"] == ["web", None, "shop", None]


@pytest.mark.parametrize(
    "column, value, message",
    [
        (0, 2.5, "feature 'quantity' in row 2: expected whole number, got 2.5"),
        (0, True, "feature 'quantity' in row 2: expected whole number, got a boolean True"),
        (0, float("inf"), "feature 'quantity' in row 2: is not a finite number"),
        (0, 1e39, "feature 'quantity' in row 2: 1e+39 is too large"),
        (1, float("-inf"), "feature 'price' in row 2: is not a finite number"),
        (1, "9.5", "feature 'price' in row 2: expected number, got a string '9.5'"),
        (2, float("inf"), "feature 'engines' in row 2: is not a finite number"),
        (2, 4.5, "feature 'engines' in row 2: expected whole number, got 4.5"),
        (3, 1.5, "feature 'grade' in row 2: expected string or whole number, got 1.5"),
        (3, False, "feature 'grade' in row 2: expected string or whole number, got a boolean False"),
        (4, 3.0, "feature 'channel' in row 2: expected string, got a number 3.0"),
    ],
)
def test_a_bad_value_among_nulls_and_whole_floats_is_named_with_its_row(column, value, message):
    rows = [[2, 9.5, 4, "a", "web"], [None, None, 5.0, 2.0, None], [3.0, 7, 6, "b", "shop"]]
    rows[2][column] = value
    with pytest.raises(RequestError) as caught:
        parse_request({"data": {"names": list(MIXED.names), "ndarray": rows}}, MIXED)
    assert caught.value.message.startswith(message)


def test_a_null_where_the_feature_needs_a_value_is_named_among_whole_floats():
    schema = dataclasses.replace(MIXED, features=(ServingFeature("quantity", "numeric", "int", nullable=False),))
    with pytest.raises(RequestError, match="feature 'quantity' in row 1 is null, but the model needs a value"):
        parse_request({"data": {"names": ["quantity"], "ndarray": [[2.0], [float("nan")], [3]]}}, schema)


def test_a_time_repeated_in_a_batch_is_checked_as_each_row_alone():
    rows = [[*ROW[:4], "2024-03-01T12:00:00+02:00"], [*ROW[:4], None], [*ROW[:4], "2024-03-01T12:00:00+02:00"]]
    batch = parse_request(ndarray(*rows), SCHEMA)
    np.testing.assert_array_equal(
        batch.datetimes["ordered_at"],
        np.array(["2024-03-01T10:00:00", "NaT", "2024-03-01T10:00:00"], dtype="datetime64[ns]"),
    )
    rows[1][4] = "9999-01-01T00:00:00Z"
    with pytest.raises(RequestError, match="feature 'ordered_at' in row 1: '9999-01-01T00:00:00Z' is outside"):
        parse_request(ndarray(*rows), SCHEMA)
