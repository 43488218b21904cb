"""The fast readers against pandas and scikit-learn on the same rows: every input form they take or hand back.

Each form is compared with ``pipeline.predict_proba(pd.DataFrame(columns))`` to 1e-9: typed numpy
columns (what request validation hands over), lists, nullable pandas columns, ISO 8601 text, and the
forms the readers hand to the pipeline's own functions (pandas decides).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from unit.serve.synthetic import SERVING_FORM, TOLERANCE, assert_same

from components.common.errors import DataError
from components.preprocess.logic import calendar_parts
from components.serve.fastpath import preprocessing, readers


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"amount": [120.5, None, 80], "count": [3, 7, None], "ratio": [0.1, 0.5, 0.9], "blank": [None, None, 1]},
        {"color": ["red", None, "purple"], "level": [2, None, 4]},  # ints with a gap: pandas makes "2.0"
        {"level": np.array([2, 3, 4]), "color": np.array(["red", "blue", "cyan"])},
        {"level": np.array([2.0, np.nan, 4.0]), "color": np.array(["white", np.nan, pd.NA], dtype=object)},
        {"level": pd.Series([2, None, 4], dtype="Int64"), "count": pd.Series([3, None, 7], dtype="Int64")},
        {
            "amount": np.array([120.5, 3.0, 80.0], dtype=np.float32),
            "count": np.array([1, 2, 3], dtype=np.uint8),
            "ratio": np.array([True, False, True]),
        },
        {
            "amount": np.array([12, None, 7.5], dtype=object),
            "count": np.array([np.int64(3), np.nan, pd.NA], dtype=object),
        },
        {"seen_at": ["2024-01-05T13:00:00Z", None, "2023-07-01 08:30:00+02:00"]},
        {"seen_at": np.array(["2024-02-29", "2023-12-31T23:30:00-05:00", "2024-03-31T01:59:59.123456Z"], dtype=object)},
        {
            "seen_at": pd.Series(
                pd.to_datetime(["2024-01-05 13:00", None, "2023-07-01 08:30"]).tz_localize("America/New_York")
            )
        },
        {
            "seen_at": np.array(
                ["1960-02-29T10:00:00", "2199-12-31T23:00:00", "1970-01-01T00:00:00"], dtype="datetime64[ns]"
            )
        },
        # forms the fast readers hand to the pipeline's own functions (pandas decides)
        {"amount": ["12.5", "abc", None], "ratio": np.array(["1e-3", " 7 ", "nan"], dtype=object)},
        {
            "color": pd.Series(["red", None, "teal"], dtype="category"),
            "level": pd.Series(["2", None, "x"], dtype="string"),
        },
        {"level": np.array([dt.datetime(2024, 1, 1), None, 3], dtype=object)},
        {"seen_at": ["01/02/2024 10:00", "2024-02-30T00:00:00", "not a time"]},
        {"seen_at": ["1500-01-01T00:00:00", "2024-01-05T13:00:00Z", None]},
        {"seen_at": np.array([dt.datetime(2024, 1, 5, 13), pd.Timestamp("2024-01-05T13:00Z"), None], dtype=object)},
        {"seen_at": np.array(["2024-01-05T13:00", "2024-01-05", "NaT"], dtype="datetime64[s]")},
    ],
    ids=lambda change: "+".join(f"{k}:{type(v).__name__}" for k, v in change.items()) or "serving-form",
)
def test_every_input_form_gives_what_scikit_learn_gives_on_the_same_frame(boosted, change):
    pipeline, fast = boosted
    assert_same(fast, pipeline, {**SERVING_FORM, **change})


def test_typed_serving_columns_never_go_through_pandas(boosted, monkeypatch):
    pipeline, fast = boosted
    expected = pipeline.predict_proba(pd.DataFrame(SERVING_FORM))

    def refuse(name, values):
        raise AssertionError(f"column {name!r} fell back to pandas")

    monkeypatch.setattr(preprocessing, "as_frame", refuse)
    np.testing.assert_allclose(fast.predict_proba(SERVING_FORM), expected, rtol=0, atol=TOLERANCE)
    text_times = {
        **SERVING_FORM,
        "seen_at": np.array(["2024-01-05T13:00:00Z", None, "2023-07-01 08:30:00"], dtype=object),
    }
    np.testing.assert_allclose(fast.predict_proba(text_times), expected, rtol=0, atol=TOLERANCE)


def test_a_dataframe_with_extra_and_reordered_columns_is_read_by_name(boosted):
    pipeline, fast = boosted
    frame = pd.DataFrame(SERVING_FORM)[["seen_at", "level", "color", "amount", "count", "ratio", "blank"]].assign(
        extra="x"
    )
    assert_same(fast, pipeline, frame)


def test_iso_timestamps_give_pandas_calendar_parts_on_many_instants(boosted):
    pipeline, fast = boosted
    rng = np.random.default_rng(5)
    seconds = rng.integers(-60 * 365 * 86_400, 200 * 365 * 86_400, size=400)  # 1910 to 2170
    moments = pd.Timestamp("1970-01-01") + pd.to_timedelta(seconds, unit="s")
    offsets = rng.integers(-12 * 4, 14 * 4, size=400) * 15
    texts = []
    for moment, offset, style in zip(moments, offsets, rng.integers(0, 5, size=400), strict=True):
        if style == 0:
            texts.append(moment.strftime("%Y-%m-%dT%H:%M:%SZ"))
        elif style == 1:
            texts.append(moment.strftime("%Y-%m-%d %H:%M:%S"))
        elif style == 2:
            texts.append(moment.strftime("%Y-%m-%d"))
        elif style == 3:
            texts.append(moment.strftime("%Y-%m-%dT%H:%M"))
        else:
            sign, minutes = ("+" if offset >= 0 else "-"), abs(int(offset))
            texts.append(moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + f"{sign}{minutes // 60:02d}:{minutes % 60:02d}")
    columns = {**{k: np.resize(v, 400) for k, v in SERVING_FORM.items()}, "seen_at": np.array(texts, dtype=object)}
    fast_parts = fast.transform(columns)
    np.testing.assert_array_equal(fast_parts, pipeline[:-1].transform(pd.DataFrame(columns)))
    expected = calendar_parts(pd.DataFrame({"t": texts}), parts=("hour", "dayofweek", "month", "dayofyear", "weekend"))
    np.testing.assert_array_equal(
        preprocessing.calendar(
            readers.read_instants(np.array(texts, dtype=object)),
            ("hour", "dayofweek", "month", "dayofyear", "weekend"),
        ),
        expected,
    )


def test_a_time_repeated_in_a_batch_reads_as_each_row_alone_and_bad_text_after_it_still_falls_back():
    texts = ["2013-11-02T03:00:00+00:00", "2013-11-02T03:00:00+00:00", None, "2013-11-02 05:30", "2013-11-02 05:30"]
    alone = [readers.read_instants(np.array([text], dtype=object))[0] for text in texts]
    np.testing.assert_array_equal(readers.read_instants(np.array(texts, dtype=object)), alone)
    np.testing.assert_array_equal(
        readers.read_instants(np.array(texts, dtype=object), "America/New_York")[:2],
        [readers.read_instants(np.array(texts[:1], dtype=object), "America/New_York")[0]] * 2,
    )
    with pytest.raises(readers.Fallback):
        readers.read_instants(np.array([*texts, "02/11/2013"], dtype=object))


# --- bad input: refused where scikit-learn refuses it -----------------------------------------


def test_absent_columns_unequal_lengths_and_no_rows_are_data_errors(boosted):
    _, fast = boosted
    without = {k: v for k, v in SERVING_FORM.items() if k != "color"}
    with pytest.raises(DataError, match="'color' is absent"):
        fast.predict_proba(without)
    with pytest.raises(DataError, match="different lengths"):
        fast.predict_proba({**SERVING_FORM, "ratio": np.array([0.1, 0.2])})
    with pytest.raises(DataError, match="1-D"):
        fast.predict_proba({**SERVING_FORM, "ratio": 0.5})
    with pytest.raises(DataError, match="no rows"):
        fast.predict_proba(pd.DataFrame(SERVING_FORM).iloc[:0])
    with pytest.raises(DataError, match="DataFrame or a mapping"):
        fast.predict_proba([[1, 2, 3]])
