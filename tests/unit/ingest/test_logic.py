"""The pure parts of ingestion on tiny frames: joins, labels, splits, ids, and reading sources."""

from __future__ import annotations

import gzip
import hashlib
import zipfile
from datetime import date, datetime, timezone
from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import ORDERS_CONFIG

from components.common.config import (
    DeriveSpec,
    JoinSpec,
    SourceSpec,
    SplitSpec,
    TargetSpec,
    canonical_json,
    load_use_case,
    parse_use_case,
)
from components.common.errors import DataError, SourceError
from components.ingest import logic
from components.ingest.logic import (
    SPLIT_COLUMN,
    assign_splits,
    canonical_key_text,
    canonical_key_texts,
    conform_rows,
    dataset_version_id,
    derive_target,
    fill_null_types,
    ingest_dataset,
    join_lookups,
    prepare_chunk,
    prepare_lookup,
    read_batches,
    to_frame,
)

PLANES = pd.DataFrame({"tailnum": ["A", "B", "B", "C"], "year": [2000, 2005, 1999, 2010], "seats": [100, 200, 201, 50]})


def test_prepare_lookup_selects_renames_and_keeps_the_first_of_duplicated_keys():
    join = JoinSpec(source="planes", keys=("tailnum",), columns=("year",), rename={"year": "plane_year"})
    lookup, duplicates = prepare_lookup(PLANES, join, "planes")
    assert list(lookup.columns) == ["tailnum", "plane_year"]
    assert duplicates == 1
    assert lookup.set_index("tailnum")["plane_year"].to_dict() == {"A": 2000, "B": 2005, "C": 2010}


def test_a_lagged_join_gives_each_row_the_lookup_row_of_the_previous_hour():
    # Weather of hour H is observed up to H:51: a flight of 10:05 may only see the hour before.
    weather = pd.DataFrame(
        {
            "origin": ["EWR", "EWR"],
            "time_hour": pd.to_datetime(["2013-01-01T09:00Z", "2013-01-01T10:00Z"]),
            "temp": [1, 2],
        }
    )
    join = JoinSpec(source="weather", keys=("origin", "time_hour"), columns=("temp",), lag={"time_hour": "1h"})
    lookup, _ = prepare_lookup(weather, join, "weather")
    flights = pd.DataFrame(
        {"origin": ["EWR", "EWR"], "time_hour": pd.to_datetime(["2013-01-01T10:00Z", "2013-01-01T09:00Z"])}
    )
    joined, _ = join_lookups(flights, {"weather": lookup}, (join,))
    assert joined["temp"].tolist()[0] == 1 and pd.isna(joined["temp"].iloc[1])
    assert joined["time_hour"].tolist() == flights["time_hour"].tolist()  # the primary rows keep their times


def test_a_lag_on_a_key_that_is_no_time_is_a_data_error():
    join = JoinSpec(source="planes", keys=("tailnum",), lag={"tailnum": "1h"})
    with pytest.raises(DataError, match="join of 'planes' lags key 'tailnum' by 1h, but it holds no times"):
        prepare_lookup(PLANES, join, "planes")


def test_prepare_lookup_names_an_absent_key():
    with pytest.raises(DataError, match="column 'tail' is absent from lookup source 'planes'"):
        prepare_lookup(PLANES, JoinSpec(source="planes", keys=("tail",)), "planes")


def test_left_join_keeps_every_primary_row_and_never_multiplies_them():
    flights = pd.DataFrame({"tailnum": ["A", "B", "Z", "B"], "delay": [1, 2, 3, 4]})
    join = JoinSpec(source="planes", keys=("tailnum",), columns=("seats",))
    lookup, _ = prepare_lookup(PLANES, join, "planes")
    joined, _ = join_lookups(flights, {"planes": lookup}, (join,))
    assert len(joined) == 4
    assert joined["seats"].tolist()[:2] == [100, 200] and np.isnan(joined["seats"].iloc[2])


def test_inner_join_drops_unmatched_rows():
    flights = pd.DataFrame({"tailnum": ["A", "Z"], "delay": [1, 3]})
    join = JoinSpec(source="planes", keys=("tailnum",), how="inner", columns=("seats",))
    lookup, _ = prepare_lookup(PLANES, join, "planes")
    joined, removed = join_lookups(flights, {"planes": lookup}, (join,))
    assert joined["tailnum"].tolist() == ["A"] and removed == {"no_match_in_planes": 1}


@pytest.mark.parametrize("how", ["left", "inner"])
def test_a_missing_join_key_matches_nothing_not_a_missing_lookup_key(how):
    planes = pd.DataFrame({"tailnum": ["A", None, "B"], "seats": [100, 7, 8]})
    flights = pd.DataFrame({"tailnum": ["A", None, np.nan], "delay": [1, 2, 3]})
    join = JoinSpec(source="planes", keys=("tailnum",), how=how, columns=("seats",))
    lookup, duplicates = prepare_lookup(planes, join, "planes")
    assert duplicates == 0 and lookup["tailnum"].tolist() == ["A", "B"]  # a row without a key matches nothing
    joined, _ = join_lookups(flights, {"planes": lookup}, (join,))
    assert joined["seats"].tolist()[0] == 100
    if how == "left":
        assert len(joined) == 3 and joined["seats"].iloc[1:].isna().all()
    else:
        assert joined["tailnum"].tolist() == ["A"]
    unprepared, _ = join_lookups(flights, {"planes": planes[["tailnum", "seats"]]}, (join,))
    assert unprepared["seats"].iloc[1:].isna().all() and len(unprepared) == (3 if how == "left" else 1)


def test_a_row_with_one_of_two_join_keys_missing_matches_nothing():
    lookup = pd.DataFrame({"origin": ["EWR", "EWR"], "hour": [5.0, np.nan], "temp": [10.0, 99.0]})
    flights = pd.DataFrame({"origin": ["EWR", "EWR"], "hour": [5.0, np.nan]})
    join = JoinSpec(source="weather", keys=("origin", "hour"))
    joined, _ = join_lookups(flights, {"weather": prepare_lookup(lookup, join, "weather")[0]}, (join,))
    assert joined["temp"].iloc[0] == 10.0 and np.isnan(joined["temp"].iloc[1])


def test_join_reports_column_clashes_and_key_type_mismatches():
    flights = pd.DataFrame({"tailnum": ["A"], "year": [2013]})
    join = JoinSpec(source="planes", keys=("tailnum",), columns=("year",))
    lookup, _ = prepare_lookup(PLANES, join, "planes")
    with pytest.raises(DataError, match="would duplicate column 'year'.*rename"):
        join_lookups(flights, {"planes": lookup}, (join,))
    numbered = pd.DataFrame({"tailnum": [1], "x": [0]})
    with pytest.raises(DataError, match="cannot join 'planes' on 'tailnum': it is int64 \\(integer\\)"):
        join_lookups(
            numbered, {"planes": PLANES[["tailnum", "seats"]]}, (JoinSpec(source="planes", keys=("tailnum",)),)
        )


@pytest.mark.parametrize(
    "op, value, expected",
    [
        (">", 15, [0, 0, 1]),
        (">=", 15, [0, 1, 1]),
        ("<", 15, [1, 0, 0]),
        ("==", 15, [0, 1, 0]),
        ("in", [3, 40], [1, 0, 1]),
    ],
)
def test_derive_target_applies_the_rule(op, value, expected):
    frame = pd.DataFrame({"arr_delay": pd.array([3, 15, 40], dtype="Int64")})
    labelled, dropped = derive_target(frame, TargetSpec(name="late", derive=DeriveSpec("arr_delay", op, value)))
    assert labelled["late"].tolist() == expected and dropped == 0


@pytest.mark.parametrize(
    "column, op, value, shown",
    [
        (pd.array([1, 2, 3], dtype="Int64"), "==", "2", "'2'"),
        (pd.array([1, 2, 3], dtype="Int64"), "!=", "2", "'2'"),
        (pd.array([1, 2, 3], dtype="Int64"), "in", [2, "3"], "'3'"),
        (pd.array([1, 2, 3], dtype="Int64"), "not in", ["2"], "'2'"),
        (pd.Series([1.5, 2.0, 3.0]), "==", True, "True"),
        (pd.Series(["a", "b", "c"]), "==", 2, "2"),
        (pd.Series(["a", "b", "c"]), "in", ["a", 3], "3"),
        (pd.array([1, 2, 3], dtype="Int64"), ">", "2", "'2'"),
    ],
)
def test_a_label_rule_value_of_the_wrong_type_is_a_one_line_error(column, op, value, shown):
    frame = pd.DataFrame({"grade": column})
    with pytest.raises(DataError) as caught:
        derive_target(frame, TargetSpec(name="good", derive=DeriveSpec("grade", op, value)))
    message = str(caught.value)
    assert "\n" not in message and "cannot compare column 'grade'" in message and shown in message
    assert "target.derive.value" in message and op in message


def test_a_label_rule_on_a_boolean_or_text_column_takes_values_of_its_type():
    frame = pd.DataFrame({"flag": [True, False, True], "grade": ["a", "b", None]})
    flagged, _ = derive_target(frame, TargetSpec(name="good", derive=DeriveSpec("flag", "==", True)))
    assert flagged["good"].tolist() == [1, 0, 1]
    graded, _ = derive_target(frame, TargetSpec(name="good", derive=DeriveSpec("grade", "in", ["a"]), missing="drop"))
    assert graded["good"].tolist() == [1, 0]


def test_derive_target_drops_or_refuses_rows_without_a_label():
    frame = pd.DataFrame({"arr_delay": pd.array([3, None, 40], dtype="Int64")})
    labelled, dropped = derive_target(frame, TargetSpec(name="late", derive=DeriveSpec("arr_delay", ">", 15)))
    assert labelled["late"].tolist() == [0, 1] and dropped == 1
    with pytest.raises(DataError, match="1 rows have no value in 'arr_delay'"):
        derive_target(frame, TargetSpec(name="late", derive=DeriveSpec("arr_delay", ">", 15), missing="error"))


def test_plain_target_must_exist():
    with pytest.raises(DataError, match="column 'grade' is absent from the data"):
        derive_target(pd.DataFrame({"x": [1]}), TargetSpec(name="grade"))


def test_time_split_uses_exclusive_bounds_and_leaves_undecidable_rows_out():
    frame = pd.DataFrame({"t": ["2013-08-31T23:00:00Z", "2013-09-01T00:00:00Z", "2013-11-01T00:00:00Z", None]})
    split = SplitSpec(method="time", column="t", train_end="2013-09-01", eval_end="2013-11-01")
    assert assign_splits(frame, split).tolist()[:3] == ["train", "eval", "test"]
    assert pd.isna(assign_splits(frame, split).iloc[3])


def test_time_split_bounds_are_dates_of_the_use_cases_time_zone():
    # The evening of 31 August in New York is 1 September in UTC: it trains in New York's calendar.
    aware = pd.to_datetime(["2013-09-01T02:30:00Z", "2013-09-01T04:00:00Z", "2013-11-01T03:59:00Z"], utc=True)
    naive = ["2013-08-31 22:30:00", "2013-09-01 00:00:00", "2013-10-31 23:59:00"]
    split = SplitSpec(method="time", column="t", train_end="2013-09-01", eval_end="2013-11-01")
    for values in (aware, naive):
        splits = assign_splits(pd.DataFrame({"t": values}), split, timezone="America/New_York")
        assert splits.tolist() == ["train", "eval", "eval"]
    assert assign_splits(pd.DataFrame({"t": aware}), split).tolist() == ["eval", "eval", "test"]


def test_time_split_bounds_with_an_offset_are_converted_to_the_zone():
    split = SplitSpec(method="time", column="t", train_end="2013-09-01T04:00:00Z", eval_end="2013-11-01")
    values = pd.to_datetime(["2013-09-01T03:59:00Z", "2013-09-01T04:00:00Z"], utc=True)
    assert assign_splits(pd.DataFrame({"t": values}), split, timezone="America/New_York").tolist() == ["train", "eval"]


def test_time_split_on_a_numeric_column():
    frame = pd.DataFrame({"month": pd.array([1, 8, 9, 10, 11, 12], dtype="Int64")})
    split = SplitSpec(method="time", column="month", train_end=9, eval_end=11)
    assert assign_splits(frame, split).tolist() == ["train", "train", "eval", "eval", "test", "test"]


def test_time_split_rejects_unreadable_times():
    split = SplitSpec(method="time", column="t", train_end="2013-09-01", eval_end="2013-11-01")
    with pytest.raises(DataError, match="split column 't' or its bounds cannot be read as time"):
        assign_splits(pd.DataFrame({"t": ["soon", "later"]}), split)


def test_feedback_times_without_a_zone_are_local_times_of_the_use_case():
    frame = pd.DataFrame({"t": ["2013-08-30 22:30:00", "2013-08-31T02:30:00Z", "2013-03-10 02:30", None]}, dtype=object)
    stored = conform_rows(frame, pa.schema([("t", pa.timestamp("us", tz="UTC"))]), "America/New_York")
    utc = timezone.utc
    assert stored.column(0).to_pylist() == [
        datetime(2013, 8, 31, 2, 30, tzinfo=utc),
        datetime(2013, 8, 31, 2, 30, tzinfo=utc),
        datetime(2013, 3, 10, 7, 0, tzinfo=utc),  # 02:30 never showed in New York: moved to 03:00 EDT
        None,
    ]
    wall = conform_rows(frame, pa.schema([("t", pa.timestamp("us"))]), "America/New_York").column(0).to_pylist()
    assert wall[:2] == [datetime(2013, 8, 30, 22, 30)] * 2


@pytest.mark.parametrize(
    "column, values",
    [
        ("year", [2012, 2013, 2014]),
        ("epoch", [1.3e9, 1.38e9, 1.39e9]),
        ("year", pd.array([2012, None, 2014], dtype="Int64")),
    ],
)
def test_a_numeric_time_column_with_date_bounds_is_a_one_line_error(column, values):
    split = SplitSpec(method="time", column=column, train_end="2013-09-01", eval_end="2013-11-01")
    with pytest.raises(DataError) as caught:
        assign_splits(pd.DataFrame({column: values}), split)
    message = str(caught.value)
    assert "\n" not in message and f"split column {column!r} holds numbers" in message
    assert "split.train_end" in message


def test_hash_split_is_stable_proportional_and_independent_of_row_order():
    frame = pd.DataFrame({"id": np.arange(20_000)})
    split = SplitSpec(method="hash", key=("id",), fractions={"train": 0.7, "eval": 0.2, "test": 0.1}, salt="s")
    first = assign_splits(frame, split)
    shuffled = frame.sample(frac=1, random_state=3)
    assert assign_splits(shuffled, split).sort_index().equals(first)
    shares = first.value_counts(normalize=True)
    assert shares["train"] == pytest.approx(0.7, abs=0.02) and shares["test"] == pytest.approx(0.1, abs=0.02)
    resalted = assign_splits(frame, SplitSpec(method="hash", key=("id",), fractions=split.fractions, salt="t"))
    assert (resalted != first).mean() > 0.3


def test_a_whole_row_hash_split_depends_on_the_rows_content_only():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=5000).round(3), "colour": rng.choice(["red", "blue"], 5000)})
    split = SplitSpec(method="hash", key=("*",), salt="s")
    first = assign_splits(frame, split)
    reordered = frame[["colour", "x"]].sample(frac=1, random_state=1)
    assert assign_splits(reordered, split).sort_index().equals(first)
    assert first.value_counts(normalize=True)["train"] == pytest.approx(0.8, abs=0.03)
    doubled = pd.concat([frame, frame], ignore_index=True)
    halves = assign_splits(doubled, split).to_numpy()
    assert (halves[:5000] == halves[5000:]).all()  # a duplicated row never lands in two splits
    by_x = assign_splits(frame, SplitSpec(method="hash", key=("x",), salt="s"))
    assert (by_x != first).mean() > 0.1


def test_version_id_is_content_derived():
    fingerprint = {"split": {"method": "time"}}
    same = dataset_version_id(fingerprint, {"a": "00"})
    assert same == dataset_version_id({"split": {"method": "time"}}, {"a": "00"})
    assert same != dataset_version_id(fingerprint, {"a": "01"})
    assert same != dataset_version_id({"split": {"method": "hash"}}, {"a": "00"})
    assert same.startswith("ds-") and len(same) == 19


def test_prepare_chunk_joins_labels_drops_and_splits(loans_config_path):
    config = load_use_case(loans_config_path)
    loans = pd.read_csv(config.sources["loans"].uri)
    customers = pd.read_csv(config.sources["customers"].uri)
    lookup, _ = prepare_lookup(customers, config.joins[0], "customers")
    rows, dropped = prepare_chunk(loans, {"customers": lookup}, config)
    assert dropped["label_missing"] == loans["status"].isna().sum()
    assert {"age", "region", "defaulted", SPLIT_COLUMN} <= set(rows.columns)
    assert not {"status", "paid_back_at", "segment"} & set(rows.columns)
    assert set(rows[SPLIT_COLUMN]) == {"train", "eval", "test"}


def test_prepare_chunk_requires_every_feature(loans_config_path):
    config = load_use_case(loans_config_path)
    loans = pd.read_csv(config.sources["loans"].uri).drop(columns=["amount"])
    customers = pd.read_csv(config.sources["customers"].uri)
    lookup, _ = prepare_lookup(customers, config.joins[0], "customers")
    with pytest.raises(DataError, match="column 'amount' is absent from the data \\(features\\)"):
        prepare_chunk(loans, {"customers": lookup}, config)


# --- reading sources -----------------------------------------------------------------------------


def rows_of(path, spec, block_bytes=1 << 20):
    return pd.concat([to_frame(b) for b in read_batches(path, spec, "src", block_bytes)], ignore_index=True)


def test_csv_zip_gzip_and_parquet_read_the_same(tmp_path):
    frame = pd.DataFrame({"a": pd.array([1, 2, None], dtype="Int64"), "b": ["x", None, "z"]})
    frame.to_csv(tmp_path / "t.csv", index=False)
    with zipfile.ZipFile(tmp_path / "t.csv.zip", "w") as archive:
        archive.write(tmp_path / "t.csv", "t.csv")
    (tmp_path / "t.csv.gz").write_bytes(gzip.compress((tmp_path / "t.csv").read_bytes()))
    pq.write_table(pa.Table.from_pandas(frame), tmp_path / "t.parquet")
    expected = rows_of(tmp_path / "t.csv", SourceSpec(uri="t.csv"))
    assert expected["a"].dtype == "Int64" and expected["a"].isna().sum() == 1
    for name in ("t.csv.zip", "t.csv.gz", "t.parquet"):
        pd.testing.assert_frame_equal(rows_of(tmp_path / name, SourceSpec(uri=name)), expected, check_dtype=False)


def test_column_empty_in_the_first_block_is_read_as_text(tmp_path):
    lines = ["a,b"] + [f"{i}," for i in range(5000)] + ["5000,late text"]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    rows = rows_of(tmp_path / "t.csv", SourceSpec(uri="t.csv"), block_bytes=4096)
    assert rows["b"].iloc[-1] == "late text" and len(rows) == 5001


@pytest.mark.parametrize(
    "later",
    ["7", "late text", "2.5"],
    ids=["empty-then-integer", "integer-then-text", "integer-then-float"],
)
def test_the_csv_block_size_never_changes_what_a_source_reads(tmp_path, monkeypatch, later):
    # Column b is empty (first case) or integers (the others) in the first 4 KiB, then `later`: the type
    # inferred from the first block made --block-mb decide between text and integers, or between an error
    # and success, under the same version id.
    monkeypatch.setattr(logic, "CSV_INFERENCE_BYTES", 4096, raising=False)
    first = "" if later == "7" else "1"
    (tmp_path / "t.csv").write_text("\n".join(["a,b"] + [f"{i},{first}" for i in range(5000)] + [f"5000,{later}"]))
    outcomes = []
    for block_bytes in (4096, 1 << 20):
        try:
            outcomes.append(rows_of(tmp_path / "t.csv", SourceSpec(uri="t.csv"), block_bytes=block_bytes))
        except SourceError as error:
            outcomes.append(str(error))
    assert isinstance(outcomes[0], str) == isinstance(outcomes[1], str), outcomes
    if isinstance(outcomes[0], str):
        assert outcomes[0] == outcomes[1]
        assert "column 'b' was read as int64 from the first 4 KiB" in outcomes[0] and repr(later) in outcomes[0]
    else:
        pd.testing.assert_frame_equal(outcomes[0], outcomes[1])


def test_malformed_csv_is_a_source_error(tmp_path, monkeypatch):
    (tmp_path / "ragged.csv").write_text("a,b\n1,2\n3\n")
    with pytest.raises(SourceError, match="source 'src' \\(ragged.csv\\) is malformed: .*Expected 2 columns"):
        rows_of(tmp_path / "ragged.csv", SourceSpec(uri="ragged.csv"))
    lines = ["a,b"] + [f"{i},{i}" for i in range(5000)] + ["oops,1"]
    (tmp_path / "typed.csv").write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(logic, "CSV_INFERENCE_BYTES", 4096)
    with pytest.raises(SourceError, match="column 'a' was read as int64 from the first 4 KiB.*later value is 'oops'"):
        rows_of(tmp_path / "typed.csv", SourceSpec(uri="typed.csv"), block_bytes=4096)
    (tmp_path / "bad.csv.zip").write_bytes(b"not a zip")
    with pytest.raises(SourceError, match="is not a valid zip archive"):
        rows_of(tmp_path / "bad.csv.zip", SourceSpec(uri="bad.csv.zip"))


def test_na_and_empty_fields_are_missing_in_text_columns_too(tmp_path):
    (tmp_path / "t.csv").write_text("tailnum,seats\nN1,10\nNA,\n,30\n")
    rows = rows_of(tmp_path / "t.csv", SourceSpec(uri="t.csv"))
    assert rows["tailnum"].isna().tolist() == [False, True, True]
    assert rows["seats"].isna().tolist() == [False, True, False]


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


def test_a_use_case_with_a_feedback_window_needs_its_rows_handed_in():
    config = parse_use_case(ORDERS_CONFIG + "feedback: {start: '2026-11-27T00:00:00Z', end: '2026-11-28T00:00:00Z'}\n")
    with pytest.raises(ValueError, match="names a feedback window: hand its rows in"):
        ingest_dataset(config, store=None)  # refused before anything is read or written


HASH_SPLIT = SplitSpec(method="hash", key=("id",), fractions={"train": 0.7, "eval": 0.2, "test": 0.1}, salt="s")


@pytest.mark.parametrize(
    "ids",
    [
        pd.Series(range(1, 301), dtype="Int64"),
        pd.Series(np.arange(1, 301, dtype="float64")),
        pd.Series([str(i) for i in range(1, 301)] + ["A301"]),
        pd.Series([f"{i}.0" for i in range(1, 301)], dtype="string"),
        pd.Series(list(range(1, 301)) + ["A301"], dtype=object),
    ],
    ids=["Int64", "float64", "text", "text-float", "object"],
)
def test_a_rows_hash_split_depends_on_its_key_values_not_on_the_type_read_for_the_key_column(ids):
    # Issue 18, bug 2: ids 1..300 read as integers, then again with "A301" appended (the column becomes
    # text): 105 of the 300 rows changed split.
    as_integers = assign_splits(pd.DataFrame({"id": np.arange(1, 301)}), HASH_SPLIT)
    assert assign_splits(pd.DataFrame({"id": ids}), HASH_SPLIT).iloc[:300].tolist() == as_integers.tolist()


@pytest.mark.parametrize(
    "values, expected",
    [
        ([1, 1.0, "1", " 1 ", "1.0", "001", np.int32(1), Decimal("1.00")], "1"),
        ([-0.0, 0, "-0", "0.0"], "0"),
        ([1.5, "1.50", np.float64(1.5), " 1.5"], "1.5"),
        ([0.1, "0.1", "1e-1"], "0.1"),
        ([1e20, "1e20", 10**20, "100000000000000000000"], "100000000000000000000"),
        ([1000.0, "1e3", "1E3"], "1000"),
        ([float("inf"), "inf", "Infinity"], "inf"),
        ([True, np.bool_(True), "true", "TRUE", "True"], "true"),
        ([False, "false"], "false"),
        ([pd.Timestamp("2013-01-01"), date(2013, 1, 1), "2013-01-01", "2013-01-01 00:00:00"], "2013-01-01T00:00:00"),
        ([pd.Timestamp("2013-01-01 05:00:00.25"), "2013-01-01T05:00:00.250"], "2013-01-01T05:00:00.25"),
        (
            [pd.Timestamp("2013-01-01 06:00", tz="Europe/Paris"), "2013-01-01T05:00:00Z", "2013-01-01T06:00+01:00"],
            "2013-01-01T05:00:00Z",
        ),
        (["N14228", "N14228"], "N14228"),
        ([" a b "], " a b "),
        ([None, np.nan, pd.NA, pd.NaT, float("nan")], None),
    ],
)
def test_key_values_have_one_canonical_text_whatever_their_type(values, expected):
    assert {canonical_key_text(value) for value in values} == {expected}


def test_canonical_key_texts_of_typed_columns_match_those_of_their_values():
    for column in (
        pd.Series([1, None, 3], dtype="Int64"),
        pd.Series([1.0, np.nan, 3.0]),
        pd.Series(["1", None, "3.0"], dtype="string"),
        pd.Series(["1", np.nan, 3], dtype=object),
    ):
        assert canonical_key_texts(column) == ["1", None, "3"], column.dtype


def test_a_row_without_any_key_value_has_no_split_and_a_partly_missing_key_still_places_its_row():
    split = SplitSpec(method="hash", key=("store", "day"), salt="s")
    frame = pd.DataFrame({"store": ["a", None, "a", None], "day": [1.0, 2.0, np.nan, np.nan]})
    splits = assign_splits(frame, split)
    assert splits.iloc[:3].notna().all() and pd.isna(splits.iloc[3])
    config = parse_use_case(ORDERS_CONFIG)
    orders = pd.DataFrame(
        {"order_id": [1, None], "quantity": [1, 2], "price": [1.0, 2.0], "channel": ["web", "web"]}
        | {"ordered_at": ["2024-01-01", "2024-01-02"], "returned": [0, 1]}
    )
    rows, dropped = prepare_chunk(orders, {}, config)
    assert len(rows) == 1 and dropped["split_value_missing"] == 1


def test_a_hash_split_version_id_names_the_split_hash_definition():
    hashed = {"split": {"method": "hash", "key": ["id"]}}
    assert dataset_version_id(hashed, {"a": "00"}) != dataset_version_id_without_split_hash(hashed, {"a": "00"})
    timed = {"split": {"method": "time"}}
    assert dataset_version_id(timed, {"a": "00"}) == dataset_version_id_without_split_hash(timed, {"a": "00"})


def dataset_version_id_without_split_hash(fingerprint, digests):
    """The id as computed before the split hash's definition was part of it (unchanged for time splits)."""
    payload = canonical_json({"format": 1, "config": fingerprint, "sources": digests})
    return "ds-" + hashlib.sha256(payload.encode()).hexdigest()[:16]


@pytest.mark.parametrize(
    "rows, lookup, shown",
    [
        (pd.array([1, 2], dtype="Int64"), [1.0, 2.0], ("Int64", "float64")),
        (pd.array([1, 2], dtype="Int64"), ["1", "2"], ("Int64", "object")),
        (
            pd.to_datetime(["2013-01-01", "2013-01-02"]),
            pd.to_datetime(["2013-01-01", "2013-01-02"], utc=True),
            ("UTC",),
        ),
    ],
    ids=["Int64-float64", "Int64-text", "naive-utc"],
)
def test_join_keys_of_different_types_are_a_one_line_error_naming_the_key_and_both_types(rows, lookup, shown):
    join = JoinSpec(source="planes", keys=("tailnum",))
    with pytest.raises(DataError) as caught:
        join_lookups(
            pd.DataFrame({"tailnum": rows}), {"planes": pd.DataFrame({"tailnum": lookup, "x": [1, 2]})}, (join,)
        )
    message = str(caught.value)
    assert "\n" not in message and "cannot join 'planes' on 'tailnum'" in message
    assert all(dtype in message for dtype in shown) and "hint:" in message


def test_join_keys_of_one_kind_but_different_widths_still_join():
    join = JoinSpec(source="planes", keys=("tailnum",))
    lookup = pd.DataFrame({"tailnum": np.array([1, 2], dtype="int32"), "x": [5, 6]})
    joined, _ = join_lookups(pd.DataFrame({"tailnum": pd.array([2, None], dtype="Int64")}), {"planes": lookup}, (join,))
    assert joined["x"].iloc[0] == 6 and np.isnan(joined["x"].iloc[1])


def test_a_key_column_renamed_or_missing_in_the_lookup_is_a_one_line_error_naming_it():
    renamed = JoinSpec(source="planes", keys=("tailnum",), rename={"tailnum": "plane"})
    with pytest.raises(DataError, match="renames its key column 'tailnum'") as caught:
        prepare_lookup(PLANES, renamed, "planes")
    assert "\n" not in str(caught.value)
    join = JoinSpec(source="planes", keys=("tailnum",))
    with pytest.raises(DataError, match="column 'tailnum' is absent from lookup source 'planes'"):
        join_lookups(pd.DataFrame({"tailnum": ["A"]}), {"planes": PLANES.rename(columns={"tailnum": "tail"})}, (join,))


def test_rows_an_inner_join_removes_are_counted_with_their_reason():
    config = parse_use_case(
        ORDERS_CONFIG.replace(
            "sources: {orders: {uri: orders.csv}}", "sources: {orders: {uri: o.csv}, shops: {uri: s.csv}}"
        )
        + "joins: [{source: shops, keys: [channel], how: inner, columns: [region]}]\n"
    )
    orders = pd.DataFrame(
        {"order_id": [1, 2, 3, 4], "quantity": [1, 2, 3, 4], "price": [1.0, 2.0, 3.0, 4.0]}
        | {"channel": ["web", "shop", "phone", None], "ordered_at": ["2024-01-01"] * 4, "returned": [0, 1, 0, 1]}
    )
    shops = pd.DataFrame({"channel": ["web", "shop"], "region": ["n", "s"]})
    rows, dropped = prepare_chunk(orders, {"shops": prepare_lookup(shops, config.joins[0], "shops")[0]}, config)
    assert len(rows) == 2 and dropped["no_match_in_shops"] == 2


@pytest.mark.parametrize(
    "column, op, value, shown",
    [
        (pd.array([1, 2, 3], dtype="Int64"), ">", [1, 2], "[1, 2]"),  # pandas: "Lengths must be equal"
        (pd.Series([True, None, False], dtype=object), "==", "yes", "'yes'"),  # CSV booleans with gaps
        (pd.Series([True, None, False], dtype=object), "in", [1], "1"),
        (pd.Series([1.5, 2.0, 3.0]), "!=", None, "None"),
        (pd.Series(["a", "b"]), "in", ["a", None], "None"),
        (pd.Series(pd.to_datetime(["2013-01-01", "2013-06-01"], utc=True)), "==", 5, "5"),
        (pd.Series(pd.to_datetime(["2013-01-01", "2013-06-01"], utc=True)), "==", "soon", "'soon'"),
        (pd.Series(pd.to_datetime(["2013-01-01", "2013-06-01"])), "==", "2013-01-01T00:00:00Z", "has a zone"),
        (pd.array([1, 2, 3], dtype="Int64"), ">", date(2013, 6, 1), "datetime.date(2013, 6, 1)"),  # YAML date
    ],
    ids=["list-for-comparison", "boolean-gaps-text", "boolean-gaps-number", "null", "null-in-list", "time-number"]
    + ["time-word", "naive-time-zoned-value", "number-date"],
)
def test_label_rules_pandas_would_answer_with_constant_labels_or_a_traceback_are_one_line_errors(
    column, op, value, shown
):
    frame = pd.DataFrame({"source": column})
    with pytest.raises(DataError) as caught:
        derive_target(frame, TargetSpec(name="label", derive=DeriveSpec("source", op, value)))
    message = str(caught.value)
    assert "\n" not in message and "'source'" in message and shown in message


def test_a_label_rule_on_a_time_column_compares_times_whatever_way_they_are_written():
    frame = pd.DataFrame({"at": pd.to_datetime(["2013-01-01", "2013-06-01", None], utc=True)})
    for value in ("2013-01-01", "2013-01-01T00:00:00Z", datetime(2013, 1, 1), date(2013, 1, 1)):
        for op, expected in (("==", [1, 0]), ("in", [1, 0]), ("not in", [0, 1]), (">", [0, 1])):
            rule = DeriveSpec("at", op, [value] if "in" in op else value)
            labelled, dropped = derive_target(frame, TargetSpec(name="label", derive=rule))
            assert labelled["label"].tolist() == expected and dropped == 1, (value, op)


def test_columns_without_a_value_in_the_first_rows_written_take_their_sources_type():
    first = pa.Table.from_pandas(
        pd.DataFrame({"vip": [None, None], "since": [None, None], "note": [None, None], "n": [1, 2]}),
        preserve_index=False,
    ).schema
    schema = fill_null_types(first, {"vip": pa.bool_(), "since": pa.date32(), "n": pa.int64()})
    assert schema.types == [pa.bool_(), pa.date32(), pa.string(), pa.int64()]
    later = pd.DataFrame({"vip": [True, None], "since": [date(2013, 1, 1), None], "note": ["x", None], "n": [3, 4]})
    assert pa.Table.from_pandas(later, schema=schema, preserve_index=False).column("vip").to_pylist() == [True, None]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"id,amount,id\n1,2,3\n", "the header names column 'id' twice (columns 1 and 3)"),
        (b"id,,amount\n1,2,3\n", "column 2 of the header has no name"),
        (b"id;amount;region\n1;2;north\n", "has a single column 'id;amount;region': its header holds ';', not ','"),
        (b"id\tamount\n1\t2\n", "its header holds '\\t' (tab), not ','"),
        (b"id,city\n1,G\xf6teborg\n", "is not UTF-8 text (column 'city' holds other bytes)"),
    ],
)
def test_a_header_or_encoding_that_cannot_make_a_dataset_is_one_clear_error(tmp_path, content, message):
    (tmp_path / "t.csv").write_bytes(content)
    with pytest.raises(SourceError) as raised:
        rows_of(tmp_path / "t.csv", SourceSpec(uri="t.csv"))
    assert message in str(raised.value) and "source 'src' (t.csv)" in str(raised.value)
    assert "\n" not in str(raised.value) and raised.value.hint


def test_a_later_non_utf8_value_is_named_too(tmp_path):
    (tmp_path / "t.csv").write_bytes(b"id,city\n" + b"1,Oslo\n" * 20_000 + b"2,G\xf6teborg\n")
    with pytest.raises(SourceError, match="is not UTF-8 text") as raised:
        rows_of(tmp_path / "t.csv", SourceSpec(uri="t.csv"), block_bytes=4096)
    assert "iconv" in raised.value.hint


def test_a_byte_order_mark_is_dropped_and_a_declared_delimiter_is_used(tmp_path):
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbfid,amount\n1,2\n")
    (tmp_path / "semi.csv").write_bytes(b"id;amount\n1;2\n")
    assert list(rows_of(tmp_path / "bom.csv", SourceSpec(uri="bom.csv")).columns) == ["id", "amount"]
    semicolons = rows_of(tmp_path / "semi.csv", SourceSpec(uri="semi.csv", delimiter=";"))
    assert semicolons.to_dict("records") == [{"id": 1, "amount": 2}]


def test_dates_are_read_as_the_timestamps_of_their_midnights_from_csv_and_parquet(tmp_path):
    (tmp_path / "t.csv").write_text("id,measured_at\n1,2020-01-31\n2,2021-02-01\n")
    pd.DataFrame({"id": [1, 2], "measured_at": [date(2020, 1, 31), date(2021, 2, 1)]}).to_parquet(
        tmp_path / "t.parquet"
    )
    for name in ("t.csv", "t.parquet"):
        rows = rows_of(tmp_path / name, SourceSpec(uri=name))
        assert pd.api.types.is_datetime64_any_dtype(rows["measured_at"]), name
        assert rows["measured_at"].tolist() == [pd.Timestamp("2020-01-31"), pd.Timestamp("2021-02-01")]
