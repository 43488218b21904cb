"""Property: ingestion joins follow SQL semantics, checked against a tiny reference join.

A missing key value matches nothing, on either side; a lookup key that repeats keeps its first row (a join
never multiplies primary rows); a left join keeps every primary row in order, an inner join keeps the
matched ones and counts the others; keys read as integers of any width join alike.
"""

from __future__ import annotations

import math

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from components.common.config import JoinSpec
from components.ingest.logic import join_lookups, prepare_lookup

TEXT_KEYS = st.one_of(st.none(), st.sampled_from(["A", "B", "C", ""]))
INT_KEYS = st.one_of(st.none(), st.integers(0, 3))
INT_DTYPES = st.sampled_from(["Int64", "Int32", "Int8"])


def missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def reference_join(primary: list[tuple], lookup: list[tuple], how: str) -> list[tuple]:
    """(keys..., value) rows joined SQL-style: first lookup row per key, missing keys never match."""
    first: dict[tuple, object] = {}
    for *keys, value in lookup:
        if not any(missing(k) for k in keys):
            first.setdefault(tuple(keys), value)
    joined = []
    for keys in primary:
        matched = not any(missing(k) for k in keys) and keys in first
        if matched or how == "left":
            joined.append((*keys, first[keys] if matched else None))
    return joined


def rows_of(frame: pd.DataFrame, columns: list[str]) -> list[tuple]:
    return [tuple(None if pd.isna(v) else v for v in row) for row in frame[columns].itertuples(index=False)]


@given(
    primary=st.lists(st.tuples(TEXT_KEYS, INT_KEYS), max_size=25),
    lookup=st.lists(st.tuples(TEXT_KEYS, INT_KEYS, st.integers(0, 99)), max_size=25),
    how=st.sampled_from(["left", "inner"]),
    primary_ints=INT_DTYPES,
    lookup_ints=INT_DTYPES,
)
def test_joins_match_a_sql_reference_join(primary, lookup, how, primary_ints, lookup_ints):
    rows = pd.DataFrame(
        {
            "tail": pd.Series([p[0] for p in primary], dtype=object),
            "hour": pd.array([p[1] for p in primary], dtype=primary_ints),
        },
        columns=["tail", "hour"],
    )
    table = pd.DataFrame(
        {
            "tail": pd.Series([row[0] for row in lookup], dtype=object),
            "hour": pd.array([row[1] for row in lookup], dtype=lookup_ints),
            "seats": pd.array([row[2] for row in lookup], dtype="Int64"),
        },
        columns=["tail", "hour", "seats"],
    )
    join = JoinSpec(source="planes", keys=("tail", "hour"), how=how, columns=("seats",))
    prepared, duplicates = prepare_lookup(table, join, "planes")
    joined, removed = join_lookups(rows, {"planes": prepared}, (join,))

    expected = reference_join(primary, lookup, how)
    assert rows_of(joined, ["tail", "hour", "seats"]) == expected
    complete = [row[:2] for row in lookup if not any(missing(k) for k in row[:2])]
    assert duplicates == len(complete) - len(set(complete))
    assert len(table) - len(prepared) - duplicates == len(lookup) - len(complete)  # missing_keys_dropped
    assert removed == ({"no_match_in_planes": len(primary) - len(expected)} if how == "inner" else {})
    # The unprepared lookup (repeated keys removed, missing ones kept) joins the same: join_lookups drops them.
    deduplicated = table.drop_duplicates(subset=["tail", "hour"], keep="first")
    unprepared, _ = join_lookups(rows, {"planes": deduplicated}, (join,))
    assert rows_of(unprepared, ["tail", "hour", "seats"]) == expected


@given(
    primary=st.lists(st.one_of(st.none(), st.integers(-3, 3)), max_size=25),
    lookup=st.lists(st.tuples(st.one_of(st.none(), st.integers(-3, 3)), st.text(max_size=3)), max_size=15),
    how=st.sampled_from(["left", "inner"]),
)
def test_a_missing_lookup_key_never_matches_a_missing_primary_key(primary, lookup, how):
    # Also when the lookup is handed in unprepared, with its missing keys still in it.
    rows = pd.DataFrame({"k": pd.array(primary, dtype="Int64")})
    table = pd.DataFrame({"k": pd.array([r[0] for r in lookup], dtype="Int64"), "v": [r[1] for r in lookup]})
    table = table[~table["k"].duplicated(keep="first") | table["k"].isna()]
    kept = [(None if pd.isna(k) else int(k), v) for k, v in table.itertuples(index=False)]
    join = JoinSpec(source="l", keys=("k",), how=how)
    joined, _ = join_lookups(rows, {"l": table}, (join,))
    assert rows_of(joined, ["k", "v"]) == reference_join([(k,) for k in primary], kept, how)
