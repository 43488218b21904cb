"""Property: a label rule computes the labels a tiny reference computes, or raises a one-line DataError.

The reference: rows whose source value is missing are dropped; a rule value must be of the column's kind
(a number for a numeric column, text for a text column, true/false for a boolean one, a time with a zone
for a zoned time column), never missing, and a single value for the comparison operators; then the label
is Python's own comparison of each value with the rule's.
"""

from __future__ import annotations

import math
import operator
from datetime import datetime

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from components.common.config import DeriveSpec, TargetSpec
from components.common.errors import DataError
from components.ingest.logic import derive_target

OPERATORS = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    "in": lambda value, allowed: value in allowed,
    "not in": lambda value, allowed: value not in allowed,
}
TIMES = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2030, 1, 1)).map(
    lambda moment: pd.Timestamp(moment, tz="UTC")
)
INTEGERS = st.integers(-5, 5)
FLOATS = st.floats(-5, 5, allow_nan=False).map(lambda x: round(x, 1))
WORDS = st.sampled_from(["a", "b", "B", "ab", "", "2", "true"])
SCALARS = st.one_of(INTEGERS, FLOATS, WORDS, st.booleans(), TIMES, st.none())

# Each column: its kind, how its values are drawn, and how the column is built as the source reads it.
COLUMNS = {
    "integer": (INTEGERS, lambda values: pd.array(values, dtype="Int64")),
    "float": (FLOATS, lambda values: pd.Series([np.nan if v is None else v for v in values], dtype="float64")),
    "text": (WORDS, lambda values: pd.Series(values, dtype=object)),
    "true/false": (st.booleans(), lambda values: pd.Series(values, dtype=object)),  # CSV booleans with gaps
    "time": (TIMES, lambda values: pd.Series(pd.to_datetime(values, utc=True))),
}


def fits(value, kind: str) -> bool:
    if value is None:
        return False
    if kind in ("integer", "float"):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "text":
        return isinstance(value, str)
    if kind == "true/false":
        return isinstance(value, bool)
    return isinstance(value, datetime) and value.tzinfo is not None


def reference_labels(values: list, kind: str, op: str, value) -> list[int] | None:
    """The labels of the rows with a value, or None when the rule must be refused."""
    listed = op in ("in", "not in")
    if listed != isinstance(value, list) or not all(fits(v, kind) for v in (value if listed else [value])):
        return None
    present = [v for v in values if v is not None]
    return [int(OPERATORS[op](v, value)) for v in present]


@given(data=st.data(), kind=st.sampled_from(sorted(COLUMNS)), op=st.sampled_from(sorted(OPERATORS)))
def test_a_label_rule_computes_the_reference_labels_or_refuses_in_one_line(data, kind, op):
    draw_value, build = COLUMNS[kind]
    values = data.draw(st.lists(st.one_of(st.none(), draw_value), max_size=12), label="values")
    own_kind = draw_value if data.draw(st.booleans(), label="value of the column's kind") else SCALARS
    if op in ("in", "not in") or data.draw(st.integers(0, 9), label="list for a comparison") == 0:
        value = data.draw(st.lists(own_kind, max_size=3), label="value")
    else:
        value = data.draw(own_kind, label="value")
    frame = pd.DataFrame({"source": build(values)})
    rule = TargetSpec(name="label", derive=DeriveSpec("source", op, value))

    expected = reference_labels(values, kind, op, value)
    untyped = kind in ("text", "true/false") and all(v is None for v in values)  # an object column, no values
    if expected is None and untyped:
        expected = []  # its kind is unknown: labelling nothing, or refusing, are both right
        try:
            derive_target(frame, rule)
        except DataError:
            return
    if expected is None:
        try:
            derive_target(frame, rule)
        except DataError as error:
            assert "\n" not in str(error) and "'source'" in str(error)
            return
        raise AssertionError(f"{kind} column {op} {value!r} was not refused")
    labelled, dropped = derive_target(frame, rule)
    assert labelled["label"].tolist() == expected
    assert dropped == sum(v is None for v in values)
    assert labelled["label"].dtype == "int64"


@given(values=st.lists(st.one_of(st.none(), FLOATS), min_size=1, max_size=12), bound=FLOATS)
def test_float_columns_compare_numerically_with_integer_and_float_bounds(values, bound):
    frame = pd.DataFrame({"source": [math.nan if v is None else v for v in values]})
    for value in (bound, int(bound)):
        labelled, _ = derive_target(frame, TargetSpec(name="label", derive=DeriveSpec("source", ">=", value)))
        assert labelled["label"].tolist() == [int(v >= value) for v in values if v is not None]
