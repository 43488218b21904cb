"""Drafting a use case from a table: each column's kind, the split, the search space, slices, defaults."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from components.common.config.drafting import (
    DraftSettings,
    RaisedThreshold,
    choose_column,
    choose_slices,
    default_search,
    draft_use_case,
    label_share_shift,
    raise_skew_thresholds,
    time_bounds,
    use_case_name,
)
from components.common.errors import DataError

SETTINGS = DraftSettings()


def table(rows: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "order_id": np.arange(1000, 1000 + rows),
            "amount": rng.normal(50, 10, rows).round(2),
            "colour": rng.choice(["red", "green", "blue"], rows),
            "engines": rng.choice([1, 2, 4], rows),
            "version": np.full(rows, 3),
            "note": [None] * (rows - 2) + ["a", "b"],
            "label": rng.choice(["yes", "no"], rows),
        }
    )


@pytest.mark.parametrize(
    ("column", "kind", "reason"),
    [
        ("order_id", "left_out", "ID-like: a different whole number in each row (consecutive whole numbers)"),
        ("amount", "numeric", "numbers with"),
        ("colour", "categorical", "text with 3 distinct values"),
        ("engines", "categorical", "whole numbers with 3 distinct values"),
        ("version", "left_out", "constant: every present value is 3"),
        ("note", "left_out", "almost empty: present in 1.0% of the rows"),
    ],
)
def test_each_column_gets_a_kind_or_is_left_out_with_the_reason(column, kind, reason):
    choice = choose_column(table()[column], SETTINGS)
    assert (choice.name, choice.kind) == (column, kind)
    assert choice.reason.startswith(reason)


def test_a_column_whose_values_all_but_a_handful_of_rows_share_is_almost_constant():
    rare = pd.Series([0] * 1796 + [1, 1, 3, 8], name="pixel")
    choice = choose_column(rare, SETTINGS)
    assert (choice.kind, choice.dropped) == ("left_out", True)
    assert choice.reason == "almost constant: all but 4 of 1,800 present values are 0"
    assert choose_column(pd.Series([0] * 1795 + [1] * 5, name="pixel"), SETTINGS).kind == "categorical"
    assert choose_column(pd.Series([0] * 99_850 + [1] * 150, name="flag"), SETTINGS).kind == "categorical"
    assert choose_column(pd.Series([0] * 99_950 + [1] * 50, name="flag"), SETTINGS).kind == "left_out"


def test_ids_stay_in_the_dataset_while_constant_and_empty_columns_are_dropped():
    frame = table()
    kept_id = choose_column(frame["order_id"], SETTINGS)
    assert not kept_id.dropped
    assert choose_column(frame["version"], SETTINGS).dropped and choose_column(frame["note"], SETTINGS).dropped


def test_a_unique_integer_named_like_an_id_is_an_id_but_unique_measurements_are_numbers():
    shuffled = pd.Series(np.random.default_rng(1).permutation(np.arange(0, 400, 2)), name="customer_id")
    assert choose_column(shuffled, SETTINGS).kind == "left_out"
    assert choose_column(shuffled.rename("weight"), SETTINGS).kind == "numeric"
    floats = pd.Series(np.random.default_rng(2).normal(size=200), name="id_like_but_float")
    assert choose_column(floats, SETTINGS).kind == "numeric"


def test_text_with_a_value_per_row_or_too_many_values_is_left_out():
    unique = pd.Series([f"user-{i}" for i in range(100)], name="login")
    assert choose_column(unique, SETTINGS).reason.startswith("ID-like: a different text in each of the 100 rows")
    tails = pd.Series([f"N{i % 1500}" for i in range(30_000)], name="tailnum")
    tail_choice = choose_column(tails, SETTINGS)
    assert (tail_choice.kind, tail_choice.dropped) == ("left_out", False)
    assert tail_choice.reason.startswith("ID-like: 1,500 distinct values, too many for a category")
    free = pd.Series([f"comment {i % 70}" for i in range(100)], name="comment")
    free_choice = choose_column(free, SETTINGS)
    assert free_choice.kind == "left_out" and free_choice.dropped
    assert choose_column(pd.Series(["a", "b"] * 50, name="group"), SETTINGS).kind == "categorical"


def test_booleans_are_categorical_and_timestamps_are_datetimes():
    assert choose_column(pd.Series([True, False] * 10, name="flag"), SETTINGS).kind == "categorical"
    times = pd.Series(pd.date_range("2024-01-01", periods=20, freq="h"), name="seen")
    assert choose_column(times, SETTINGS).kind == "datetime"


def test_an_obvious_timestamp_column_splits_by_time_with_bounds_at_80_and_90_percent():
    frame = table(100).assign(created_at=pd.date_range("2024-01-01", periods=100, freq="D"))
    draft = draft_use_case(frame, "label", "orders", "orders.csv", "classification", "2 classes")
    split = draft.split
    assert (split.method, split.column) == ("time", "created_at")
    assert (split.train_end, split.eval_end) == ("2024-03-21", "2024-03-31")
    assert draft.datetime_parts == ("dayofweek", "weekend")  # midnights only, and no month across a time split


def test_a_time_split_leaves_out_numbers_that_follow_the_time():
    times = pd.date_range("2024-01-01", periods=365, freq="D")
    rng = np.random.default_rng(4)
    frame = pd.DataFrame(
        {
            "created_at": times,
            "month": times.month,
            "day": times.day,
            "amount": rng.normal(size=365),
            "label": rng.choice(["a", "b"], 365),
        }
    )
    draft = draft_use_case(frame, "label", "x", "x.csv", "classification", "")
    month = next(c for c in draft.columns if c.name == "month")
    assert month.kind == "left_out" and month.reason.startswith(
        "follows the time: 82% of its values from 2024-10-19 on lie outside"
    )
    assert draft.kind_columns("numeric") == ("day", "amount")


def test_a_table_without_times_splits_by_a_salted_hash_of_the_whole_row():
    draft = draft_use_case(table(), "label", "orders", "orders.csv", "classification", "2 classes")
    assert (draft.split.method, draft.split.key, draft.split.salt) == ("hash", ("*",), "orders")
    assert "content" in draft.split_reason


def test_a_named_time_column_must_hold_times_and_exist():
    frame = table(50).assign(day=pd.date_range("2024-01-01", periods=50, freq="h"))
    draft = draft_use_case(frame, "label", "x", "x.csv", "classification", "", time_column="day")
    assert draft.split.column == "day" and draft.split.train_end == "2024-01-02 16:00:00"
    with pytest.raises(DataError, match="'amount' holds float64, not dates and times"):
        draft_use_case(frame, "label", "x", "x.csv", "classification", "", time_column="amount")
    with pytest.raises(DataError, match="'when' is not a column"):
        draft_use_case(frame, "label", "x", "x.csv", "classification", "", time_column="when")


def test_time_bounds_are_none_when_a_split_would_be_empty_and_in_utc_for_zoned_times():
    assert time_bounds(pd.Series(pd.to_datetime(["2024-01-01", "2024-01-02"] * 10)), 0.8) is None
    zoned = pd.Series(pd.date_range("2024-01-01 05:00", periods=10, freq="h", tz="America/New_York"))
    assert time_bounds(zoned, 0.8) == ("2024-01-01 18:00:00", "2024-01-01 19:00:00")


@pytest.mark.parametrize(
    ("task", "rows", "families", "trials"),
    [
        ("classification", 60, ["logistic_regression"], 1),
        ("regression", 20, ["linear"], 1),
        ("classification", 150, ["logistic_regression", "random_forest"], 5),
        ("classification", 20_000, ["hist_gradient_boosting", "logistic_regression", "random_forest"], 5),
        ("classification", 300_000, ["hist_gradient_boosting", "logistic_regression"], 3),
        ("regression", 150, ["linear", "random_forest"], 5),
        ("regression", 20_000, ["hist_gradient_boosting", "linear", "random_forest"], 5),
        ("regression", 300_000, ["hist_gradient_boosting", "linear"], 3),
    ],
)
def test_the_search_space_fits_the_task_and_the_data_size(task, rows, families, trials):
    search, max_trials = default_search(task, rows)
    assert [space.family for space in search] == families and max_trials == trials
    assert all(values for space in search for values in space.params.values())


def test_slices_are_the_categoricals_with_fewest_values():
    rng = np.random.default_rng(3)
    frame = table().assign(size=rng.choice(["S", "L"], 200), region=rng.choice(list("abcdefghijkl"), 200))
    draft = draft_use_case(frame, "label", "x", "x.csv", "classification", "")
    assert draft.kind_columns("categorical") == ("colour", "engines", "size", "region")
    # Ties (three values each) in name order; twelve regions are too many for a slice.
    assert choose_slices(frame, draft.columns, SETTINGS) == ("size", "colour", "engines") == draft.slices


def test_small_data_gets_small_row_and_slice_minimums_and_duplicates_raise_their_threshold():
    frame = table(200)
    draft = draft_use_case(frame, "label", "x", "x.csv", "classification", "")
    assert (draft.min_rows, draft.min_slice_rows, draft.max_duplicate_fraction) == (10, 5, 0.01)
    duplicated = pd.concat([frame, frame.head(20)], ignore_index=True)
    with_duplicates = draft_use_case(duplicated, "label", "x", "x.csv", "classification", "")
    assert with_duplicates.duplicate_share == pytest.approx(20 / 220)
    assert with_duplicates.max_duplicate_fraction == pytest.approx(0.182)


def test_a_target_that_is_absent_constant_or_leaves_no_feature_is_refused():
    with pytest.raises(DataError, match="--target 'price' is not a column"):
        draft_use_case(table(), "price", "x", "x.csv", "regression", "")
    with pytest.raises(DataError, match="the target 'version' has 1 distinct value"):
        draft_use_case(table(), "version", "x", "x.csv", "classification", "")
    with pytest.raises(DataError, match="no column of the data can be a feature"):
        draft_use_case(table()[["order_id", "label"]], "label", "x", "x.csv", "classification", "")


@pytest.mark.parametrize(
    ("uri", "name"),
    [("data/Sales Data.csv.gz", "sales_data"), ("s3://bucket/raw/iris.parquet", "iris"), ("---.csv", "use_case")],
)
def test_the_use_case_is_named_after_the_file(uri, name):
    assert use_case_name(uri) == name


def test_a_small_classification_table_gets_the_salt_with_the_closest_class_shares():
    frame = table(200)
    salts = []

    def place_rows(rows: pd.DataFrame, split) -> pd.Series:
        salts.append(split.salt)
        # Only the third salt gives every split the same class mix; the others put every "yes" in test.
        balanced = np.tile(["train"] * 8 + ["eval", "test"], len(rows) // 10)
        lopsided = np.where(rows["label"] == "yes", "test", np.tile(["train"] * 8 + ["eval", "eval"], len(rows) // 10))
        return pd.Series(balanced if split.salt == "x-2" else lopsided, index=rows.index)

    draft = draft_use_case(frame, "label", "x", "x.csv", "classification", "", place_rows=place_rows)
    assert salts == ["x"] + [f"x-{n}" for n in range(1, 10)]
    assert draft.split.salt == "x-2" and "closest class shares" in draft.split_reason
    regression = draft_use_case(frame, "amount", "x", "x.csv", "regression", "", place_rows=place_rows)
    assert regression.split.salt == "x"


def test_the_label_share_shift_is_the_largest_class_share_difference_to_train():
    labels = pd.Series(["a", "a", "b", "b", "a", "b", "a", "a"])
    splits = pd.Series(["train", "train", "train", "train", "eval", "eval", "test", "test"])
    assert label_share_shift(labels, splits) == pytest.approx(0.5)
    assert label_share_shift(labels, pd.Series(["train"] * 8)) == 1.0


def test_skew_thresholds_are_raised_a_margin_above_the_measured_distance_only_where_it_alerts():
    distances = {"precip": (0.64, 0.25), "wind": (0.56, 0.3), "temp": (0.26, 0.25), "hour": (0.1, 0.25)}
    assert raise_skew_thresholds(distances) == (
        RaisedThreshold("precip", 0.64, 0.8),  # 0.8 exactly: 0.64 * 1.25
        RaisedThreshold("temp", 0.26, 0.35),  # 0.325 rounded up to 0.05
        RaisedThreshold("wind", 0.56, 0.7),
    )


def test_raised_skew_thresholds_stay_on_their_step_and_never_exceed_one():
    assert raise_skew_thresholds({"a": (0.4, 0.25)}) == (RaisedThreshold("a", 0.4, 0.5),)  # not 0.55
    assert raise_skew_thresholds({"a": (0.9, 0.25)}) == (RaisedThreshold("a", 0.9, 1.0),)
    assert raise_skew_thresholds({"a": (0.25, 0.25)}) == ()  # at the threshold passes: nothing to raise
