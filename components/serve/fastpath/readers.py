"""Reading request columns and frames into typed numpy columns, as the pipeline's column functions would.

:class:`Columns` gives uniform access to a pandas DataFrame or a mapping of column name to a 1-D
array-like (each column one value per row; extra columns are ignored) and refuses what scikit-learn
refuses: an absent column, columns of unequal length, no rows. Per feature kind, the readers take:

- numeric (:func:`read_numbers`): numpy float, integer or bool arrays (NaN for missing); nullable
  pandas Int64/Float64; object arrays or lists of numbers with None/NaN/pd.NA for missing.
- categorical (:func:`read_texts`): object arrays or lists of str (None, NaN or pd.NA for missing;
  values become text as ``str(value)``, so 2 is "2" and 2.0 is "2.0", exactly as the training
  pipeline did); numpy integer, bool or float arrays; nullable pandas Int64.
- datetime (:func:`read_instants`): ``datetime64[ns]`` arrays (naive values are local times of the
  model's time zone) or tz-aware pandas columns; object arrays or lists of ISO 8601 text
  (``2013-01-01``, ``2013-01-01T05:00:00Z``, ``2013-01-01 05:00:00+01:00``) with None/NaN/NaT for
  missing; unparseable text is missing, as in training.

Lists are read the way pandas reads them into a DataFrame; values are read by position (the index
of a Series in a mapping is ignored, where pandas would align differing indexes). A column the
readers do not know (pandas categoricals, numbers as text, dates that are not ISO 8601, ...) raises
:class:`Fallback`, and the caller reads it with the pipeline's own function on :func:`as_frame`
instead: exact too, only slower.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, tzinfo
from typing import Any

import numpy as np
import pandas as pd

from components.common.errors import DataError
from components.common.timezones import DEFAULT_TIMEZONE, zone_info

NS_PER_HOUR = 3_600_000_000_000
NS_PER_DAY = 24 * NS_PER_HOUR
# A missing instant among int64 nanoseconds: pandas' own NaT value.
NAT = np.iinfo(np.int64).min
_ISO_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:\d{2})?)?")


class Fallback(Exception):
    """A column the fast readers do not know: read it with the pipeline's own function instead."""


class Columns:
    """Uniform access to the columns of a DataFrame or a mapping of arrays.

    Args:
        columns: A DataFrame, or a mapping of column name to 1-D values.
        required: The columns that must be present.

    Attributes:
        rows: The number of rows.

    Raises:
        DataError: If ``columns`` is neither form, a required column is absent, a column is not
            1-D, columns differ in length, or there are no rows.
    """

    def __init__(self, columns: pd.DataFrame | Mapping[str, Any], required: Sequence[str]) -> None:
        if isinstance(columns, pd.DataFrame):
            if columns.columns.has_duplicates:
                duplicated = columns.columns[columns.columns.duplicated()][0]
                raise DataError(f"column {duplicated!r} appears twice", hint="pass each feature once")
            self._get: Callable[[str], Any] = columns.__getitem__
            present = columns.columns
            self.rows = len(columns)
        elif isinstance(columns, Mapping):
            self._get = columns.__getitem__
            present = columns
            self.rows = -1
        else:
            raise DataError(
                f"columns must be a DataFrame or a mapping of name to values, not {type(columns).__name__}",
                hint="pass {name: array, ...}",
            )
        absent = [name for name in required if name not in present]
        if absent:
            raise DataError(
                f"feature column {absent[0]!r} is absent ({len(absent)} absent in all)",
                hint=f"pass every feature: {', '.join(required)}",
            )
        if self.rows < 0:
            self.rows = self._mapping_rows(columns, required)
        if self.rows == 0:
            raise DataError("no rows to predict", hint="pass at least one row")

    @staticmethod
    def _mapping_rows(columns: Mapping[str, Any], required: Sequence[str]) -> int:
        names = list(required) or list(columns)[:1]
        lengths = set()
        for name in names:
            values = columns[name]
            if getattr(values, "ndim", 1 if isinstance(values, (list, tuple)) else None) != 1:
                raise DataError(
                    f"column {name!r} must be a 1-D array or list of values, one per row",
                    hint="wrap single values in a list",
                )
            lengths.add(len(values))
        if len(lengths) > 1:
            raise DataError(
                f"columns have different lengths ({sorted(lengths)})", hint="pass one value per row in every column"
            )
        if not lengths:
            raise DataError("no columns to count rows by", hint="pass the feature columns")
        return lengths.pop()

    def __getitem__(self, name: str) -> Any:
        return self._get(name)


def as_frame(name: str, values: Any) -> pd.DataFrame:
    """One column as a DataFrame would hold it: the input of the pipeline's own functions."""
    if isinstance(values, pd.Series):
        return values.to_frame(name)
    return pd.DataFrame({name: values})


def _plain(values: Any) -> np.ndarray:
    """A column's values as a numpy array where that loses nothing; raises Fallback otherwise."""
    if isinstance(values, pd.Series):
        if isinstance(values.dtype, np.dtype):
            return values.to_numpy()
        raise Fallback
    if isinstance(values, np.ndarray):
        return values
    if isinstance(values, (list, tuple)):
        return np.array(values, dtype=object)  # never guess a dtype: pandas' own inference is not numpy's
    raise Fallback


def read_numbers(values: Any) -> np.ndarray:
    """``as_numbers`` of one column: float64 with NaN for missing.

    Raises:
        Fallback: If pandas' ``to_numeric`` must decide (text, bools among objects, other types).
    """
    dtype = getattr(values, "dtype", None)
    if isinstance(values, pd.Series) and isinstance(dtype, (pd.Int64Dtype, pd.Float64Dtype)):
        return values.to_numpy(dtype="float64", na_value=np.nan)
    array = _plain(values)
    if array.dtype.kind in "fiub":
        return array.astype("float64")
    if array.dtype.kind != "O":
        raise Fallback
    numbers = np.empty(len(array), dtype="float64")
    for i, value in enumerate(array):
        if value is None or value is pd.NA:
            numbers[i] = np.nan
        elif type(value) in (float, int) or isinstance(value, (np.floating, np.integer)):
            numbers[i] = value
        else:  # text, bools and other objects: pandas' to_numeric decides
            raise Fallback
    return numbers


def read_texts(values: Any, missing: str) -> list[str]:
    """``as_text`` of one column: each value as ``str(value)``, missing values as ``missing``.

    Raises:
        Fallback: If pandas' own conversion must decide (lists of numbers, timestamps, other objects).
    """
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.Int64Dtype):
        return [missing if v is None else str(v) for v in values.to_numpy(dtype=object, na_value=None)]
    if isinstance(values, (list, tuple)):
        # pandas turns a list of numbers with gaps into floats ("2.0"): only text lists are read directly
        if not all(v is None or isinstance(v, str) for v in values):
            raise Fallback
        return [missing if v is None else v for v in values]
    array = _plain(values)
    kind = array.dtype.kind
    if kind in "iub":
        return [str(v) for v in array.tolist()]
    if kind == "f":
        return [missing if v != v else str(v) for v in array.tolist()]
    if kind != "O":
        raise Fallback
    texts = []
    for value in array:
        if value is None or value is pd.NA:
            texts.append(missing)
        elif isinstance(value, str):
            texts.append(value)
        elif isinstance(value, (bool, int, np.integer, np.bool_)):
            texts.append(str(value))
        elif isinstance(value, (float, np.floating)):
            texts.append(missing if value != value else str(value))
        else:  # timestamps and other objects: pandas' own conversion decides
            raise Fallback
    return texts


def read_instants(values: Any, timezone: str = DEFAULT_TIMEZONE) -> np.ndarray:
    """Timestamps of one column as int64 nanoseconds of a time zone's wall clock (:data:`NAT` for missing).

    As :func:`components.common.wallclock.local_times`: aware values are converted to the zone, naive
    ones are its local times already; with UTC these are nanoseconds since the epoch.

    Raises:
        Fallback: If pandas must parse them (text that is not ISO 8601, Python datetimes, other units).
    """
    dtype = getattr(values, "dtype", None)
    if isinstance(values, pd.Series) and isinstance(dtype, pd.DatetimeTZDtype):
        if timezone != DEFAULT_TIMEZONE:
            values = values.dt.tz_convert(zone_info(timezone)).dt.tz_localize(None)
        return np.asarray(values.array.asi8, dtype="int64")  # nanoseconds, NaT as int64 min
    array = _plain(values)
    if array.dtype == np.dtype("datetime64[ns]"):
        return array.view("int64")
    if array.dtype.kind != "O":
        raise Fallback
    zone = zone_info(timezone)
    instants = np.empty(len(array), dtype="int64")
    seen: dict[str, int] = {}  # rows of a batch often share a time (flights of the same hour)
    for i, value in enumerate(array):
        if value is None or value is pd.NaT or value is pd.NA or (isinstance(value, float) and value != value):
            instants[i] = NAT
        elif isinstance(value, str) and value in seen:
            instants[i] = seen[value]
        elif isinstance(value, str) and _ISO_TEXT.fullmatch(value):
            instants[i] = seen[value] = _iso_instant(value, zone)
        else:
            raise Fallback
    return instants


def _iso_instant(text: str, zone: tzinfo) -> int:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise Fallback from None
    if not 1678 <= moment.year <= 2261:  # pandas' nanosecond range: outside it pandas decides
        raise Fallback
    if moment.tzinfo is not None:
        moment = moment.astimezone(zone).replace(tzinfo=None)
    days = moment.toordinal() - 719_163  # 1970-01-01
    seconds = moment.hour * 3600 + moment.minute * 60 + moment.second
    return days * NS_PER_DAY + seconds * 1_000_000_000 + moment.microsecond * 1000
