"""Wall-clock times of a use case's time zone, for calendar features and time splits.

A use case names one IANA time zone (``timezone: America/New_York``, UTC when it names none). Its
timestamps are read as wall-clock times of that zone: a time-zone-aware value (``...Z``,
``+02:00``, a tz-aware column, epoch numbers) is converted to the zone, a naive value is taken as
the local time it already is. Calendar parts (hour, day of week, weekend, month, day of year) and
time-split bounds are then read off that wall clock.

Daylight saving: working on the wall clock needs no choice at the edges. A naive time the clock
showed twice (01:30 on the night summer time ends) has one hour, day and month either way, and a
naive time the clock never showed (02:30 on the night summer time starts, e.g. typed by hand) keeps
the calendar parts it names (hour 2): no row is moved to another hour or made missing. A time split
compares wall clocks too, so a bound given as a date is midnight of that date in the zone.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from components.common.timezones import DEFAULT_TIMEZONE, zone_info


def local_times(values: Any, timezone: str) -> pd.Series:
    """Wall-clock times of a column in a time zone: aware values converted, naive ones as they are.

    Args:
        values: A column of timestamps: tz-aware or naive datetimes, ISO or other date text, or
            epoch nanoseconds (instants, so converted).
        timezone: An IANA time zone name.

    Returns:
        Naive ``datetime64[ns]`` values (NaT where a value is missing or cannot be read as time), on
        the index of ``values`` when it is a Series.
    """
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    zone = zone_info(timezone)
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return series.dt.tz_convert(zone).dt.tz_localize(None)
    if series.dtype == np.dtype("datetime64[ns]"):
        return series
    instants = pd.to_datetime(series, utc=True, errors="coerce")  # naive values are read as if UTC here
    converted = instants.dt.tz_convert(zone).dt.tz_localize(None)
    if timezone == DEFAULT_TIMEZONE:
        return converted
    aware = series.map(_aware_values(series)).fillna(False).astype(bool)
    return instants.dt.tz_localize(None).where(~aware, converted)


def utc_instants(values: Any, timezone: str) -> pd.Series:
    """Instants (tz-aware, UTC) of a column: aware values as they are, naive ones as local times of the zone.

    Where a wall clock is not enough (a dataset column stored in UTC), a naive local time needs a
    choice at daylight-saving edges: one the clock showed twice is the earlier instant (summer time),
    one it never showed is moved forward to the first instant after the gap (02:30 becomes 03:00).

    Args:
        values: A column of timestamps, as :func:`local_times` reads them.
        timezone: An IANA time zone name.

    Returns:
        ``datetime64[ns, UTC]`` values (NaT where missing or unreadable).
    """
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    if isinstance(series.dtype, pd.DatetimeTZDtype) or timezone == DEFAULT_TIMEZONE:
        return pd.to_datetime(series, utc=True, errors="coerce")
    local = local_times(series, timezone)
    localized = local.dt.tz_localize(
        timezone,
        ambiguous=np.ones(len(local), dtype=bool),
        nonexistent="shift_forward",  # by name: pandas 1.5 shifts a ZoneInfo wrong
    ).dt.tz_convert("UTC")
    if series.dtype == np.dtype("datetime64[ns]"):
        return localized
    aware = series.map(_aware_values(series)).fillna(False).astype(bool)
    return localized.where(~aware, pd.to_datetime(series, utc=True, errors="coerce"))


def _aware_values(series: pd.Series) -> dict[Any, bool]:
    """Whether each distinct value names an instant (an offset or zone, or epoch numbers) or a local time."""
    aware = {}
    for value in series.dropna().unique():
        if isinstance(value, str):
            try:
                aware[value] = pd.Timestamp(value).tzinfo is not None
            except (ValueError, TypeError, OverflowError):
                aware[value] = False  # unreadable: missing whichever way
        elif isinstance(value, dt.datetime):
            aware[value] = value.tzinfo is not None
        else:
            aware[value] = isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
    return aware
