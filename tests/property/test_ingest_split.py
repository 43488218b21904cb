"""Property: a row's hash split depends only on its key values.

Not on the type a key column was read as (integers, nullable integers, floats holding whole numbers, text,
a mix), row order, how the rows are chunked, the CSV block size, or rows appended later.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from helpers import ORDERS_CONFIG
from hypothesis import given
from hypothesis import strategies as st

from components.common.config import SourceSpec, SplitSpec, parse_use_case
from components.ingest.logic import (
    SPLIT_COLUMN,
    assign_splits,
    canonical_key_text,
    prepare_chunk,
    prepare_lookup,
    read_batches,
    to_frame,
)

SALTS = st.text(max_size=8)
FRACTIONS = st.sampled_from(
    [
        {"train": 0.8, "eval": 0.1, "test": 0.1},
        {"train": 0.5, "eval": 0.5, "test": 0.0},
        {"train": 0.6, "eval": 0.2, "test": 0.2},
    ]
)
IDS = st.lists(st.integers(min_value=-(2**53), max_value=2**53), min_size=1, max_size=60, unique=True)
# Text a key may hold: identifiers, numbers written many ways, words, blanks, anything.
KEY_TEXT = st.one_of(
    st.from_regex(r"[A-Z]{1,3}[0-9]{0,5}", fullmatch=True),
    st.integers(-(10**20), 10**20).map(str),
    st.floats(allow_nan=False).map(repr),
    st.sampled_from(["true", "False", "TRUE", " 7 ", "007", "1e3", "2013-01-01", "2013-01-01 05:00:00", "", " "]),
    st.text(max_size=10),
)


def split_of(values, salt: str, fractions) -> list:
    spec = SplitSpec(method="hash", key=("id",), fractions=fractions, salt=salt)
    return assign_splits(pd.DataFrame({"id": values}), spec).tolist()


@given(ids=IDS, salt=SALTS, fractions=FRACTIONS, appended=st.lists(KEY_TEXT, max_size=5))
def test_a_key_column_read_as_another_type_places_every_row_in_the_same_split(ids, salt, fractions, appended):
    expected = split_of(np.array(ids, dtype="int64"), salt, fractions)
    n = len(ids)
    readings = [
        pd.array(ids, dtype="Int64"),
        [str(i) for i in ids] + appended,  # the column became text when a non-numeric id was appended
        [f"{i}.0" for i in ids],
        pd.array([str(i) for i in ids] + appended, dtype="string"),
        list(ids) + appended,  # a mix of ints and text (object dtype)
    ]
    if all(abs(i) <= 2**53 for i in ids):  # floats hold these integers exactly
        readings.append(np.array(ids, dtype="float64"))
    for reading in readings:
        assert split_of(reading, salt, fractions)[:n] == expected


@given(
    ids=st.lists(KEY_TEXT, min_size=1, max_size=60),
    salt=SALTS,
    fractions=FRACTIONS,
    order=st.randoms(use_true_random=False),
    cuts=st.lists(st.integers(0, 60), max_size=4),
    appended=st.lists(KEY_TEXT, max_size=10),
)
def test_a_rows_split_does_not_depend_on_row_order_chunks_or_appended_rows(ids, salt, fractions, order, cuts, appended):
    expected = split_of(pd.Series(ids, dtype=object), salt, fractions)
    shuffled = list(range(len(ids)))
    order.shuffle(shuffled)
    assert split_of(pd.Series([ids[i] for i in shuffled], dtype=object), salt, fractions) == [
        expected[i] for i in shuffled
    ]
    bounds = [0, *sorted(c for c in cuts if c < len(ids)), len(ids)]
    chunked = [
        split_of(pd.Series(ids[a:b], dtype=object), salt, fractions) for a, b in zip(bounds, bounds[1:], strict=False)
    ]
    assert [s for chunk in chunked for s in chunk] == expected
    assert split_of(pd.Series(ids + appended, dtype=object), salt, fractions)[: len(ids)] == expected


@given(
    value=st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(),
        KEY_TEXT,
        st.datetimes(
            min_value=pd.Timestamp("1700-01-01").to_pydatetime(), max_value=pd.Timestamp("2200-01-01").to_pydatetime()
        ),
        st.dates(),
    )
)
def test_the_canonical_text_of_a_key_is_its_own_canonical_text(value):
    # A value written out as its canonical text and read back (as text) keeps its split.
    text = canonical_key_text(value)
    assert text is None or canonical_key_text(text) == text


@given(
    ids=st.lists(
        st.one_of(st.integers(-(10**15), 10**15), st.floats(-1e15, 1e15, allow_nan=False, allow_infinity=False)),
        min_size=1,
        max_size=40,
    ),
    salt=SALTS,
    block_kib=st.integers(1, 8),
)
def test_ids_read_from_csv_keep_their_split_when_a_text_id_is_appended(tmp_path_factory, ids, salt, block_kib):
    folder: Path = tmp_path_factory.mktemp("csv")
    lines = [repr(i) if isinstance(i, float) else str(i) for i in ids]
    pad = "x" * 60  # long lines: several blocks are read
    splits = []
    for extra in ([], ["A301"]):
        path = folder / f"ids{len(extra)}.csv"
        path.write_text("\n".join(["id,pad"] + [f"{line},{pad}" for line in lines + extra]) + "\n")
        batches = read_batches(path, SourceSpec(uri=path.name), "ids", block_kib * 1024)
        frame = pd.concat([to_frame(b) for b in batches], ignore_index=True)
        splits.append(split_of(frame["id"], salt, {"train": 0.6, "eval": 0.2, "test": 0.2})[: len(ids)])
    assert splits[0] == splits[1]
    assert splits[0] == split_of(pd.Series(ids, dtype=object), salt, {"train": 0.6, "eval": 0.2, "test": 0.2})


@given(
    rows=st.lists(
        st.tuples(st.one_of(st.none(), st.sampled_from(["a", "b", "7"])), st.one_of(st.none(), st.integers(0, 3))),
        min_size=1,
        max_size=40,
    ),
    salt=SALTS,
)
def test_a_composite_key_places_rows_by_all_their_values_and_never_places_a_row_without_any(rows, salt):
    spec = SplitSpec(method="hash", key=("store", "day"), salt=salt)
    frame = pd.DataFrame({"store": [r[0] for r in rows], "day": pd.array([r[1] for r in rows], dtype="Int64")})
    splits = assign_splits(frame, spec)
    as_text = assign_splits(
        frame.astype({"day": object}).assign(day=[None if r[1] is None else str(r[1]) for r in rows]), spec
    )
    assert splits.fillna("-").tolist() == as_text.fillna("-").tolist()
    for (store, day), split in zip(rows, splits, strict=True):
        assert pd.isna(split) == (store is None and day is None)
    by_key: dict = {}
    for row, split in zip(rows, splits.fillna("-"), strict=True):
        assert by_key.setdefault(row, split) == split  # equal keys, equal splits


SHOP = parse_use_case(
    ORDERS_CONFIG.replace(
        "sources: {orders: {uri: orders.csv}}", "sources: {orders: {uri: o.csv}, shops: {uri: s.csv}}"
    )
    + "joins: [{source: shops, keys: [channel], how: inner, columns: [region]}]\n"
)


@given(
    orders=st.lists(
        st.tuples(
            st.one_of(st.none(), st.integers(0, 50), st.sampled_from(["A7", "7", "7.0"])),
            st.one_of(st.none(), st.sampled_from(["web", "shop", "phone"])),
            st.one_of(st.none(), st.integers(0, 1)),
        ),
        min_size=1,
        max_size=40,
    ),
    cuts=st.lists(st.integers(0, 40), max_size=4),
)
def test_preparing_rows_in_chunks_gives_the_rows_and_counts_of_preparing_them_at_once(orders, cuts):
    frame = pd.DataFrame(
        {
            "order_id": pd.Series([o[0] for o in orders], dtype=object),
            "quantity": 1,
            "price": 1.0,
            "channel": pd.Series([o[1] for o in orders], dtype=object),
            "ordered_at": "2024-01-01",
            "returned": pd.array([o[2] for o in orders], dtype="Int64"),
        }
    )
    shops = pd.DataFrame({"channel": ["web", "shop"], "region": ["n", "s"]})
    lookups = {"shops": prepare_lookup(shops, SHOP.joins[0], "shops")[0]}
    whole, whole_dropped = prepare_chunk(frame, lookups, SHOP)
    bounds = [0, *sorted(c for c in cuts if c < len(orders)), len(orders)]
    parts = [prepare_chunk(frame.iloc[a:b], lookups, SHOP) for a, b in zip(bounds, bounds[1:], strict=False)]
    chunked = pd.concat([rows for rows, _ in parts])
    assert chunked[SPLIT_COLUMN].tolist() == whole[SPLIT_COLUMN].tolist()
    assert chunked["order_id"].tolist() == whole["order_id"].tolist()
    for reason, count in whole_dropped.items():
        assert sum(dropped[reason] for _, dropped in parts) == count
    assert len(whole) + sum(whole_dropped.values()) == len(orders)  # every row read is kept or counted
