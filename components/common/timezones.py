"""The time zone a use case names: IANA names known to zoneinfo, and the closest ones to a typo.

Kept free of pandas so the config loader stays light; :mod:`components.common.wallclock` reads
timestamps in a zone.
"""

from __future__ import annotations

import difflib
import functools
import zoneinfo

from components.common.errors import ConfigError

DEFAULT_TIMEZONE = "UTC"


@functools.lru_cache(maxsize=1)
def known_timezones() -> tuple[str, ...]:
    """Returns the IANA time zone names this Python knows (its zoneinfo database), sorted."""
    return tuple(sorted(zoneinfo.available_timezones() | {DEFAULT_TIMEZONE}))


@functools.lru_cache(maxsize=64)
def zone_info(name: str) -> zoneinfo.ZoneInfo:
    """Returns the time zone of an IANA name.

    Raises:
        ConfigError: If the name is not a known time zone; the hint names the closest known ones.
    """
    if name not in known_timezones():
        raise ConfigError(f"unknown time zone {name!r}", hint=closest_timezones(name))
    return zoneinfo.ZoneInfo(name)


def closest_timezones(name: str) -> str:
    """Returns a one-line hint naming the known time zones closest to a mistyped name."""
    known = known_timezones()
    wanted = name.strip().replace(" ", "_")
    by_city = {zone.rsplit("/", 1)[-1].lower(): zone for zone in known}
    close = [by_city[city] for city in difflib.get_close_matches(wanted.lower(), by_city, n=3, cutoff=0.75)]
    close += [zone for zone in difflib.get_close_matches(wanted, known, n=3, cutoff=0.6) if zone not in close]
    if not close:
        return "give an IANA time zone name such as America/New_York, Europe/Paris or UTC"
    return f"did you mean {' or '.join(repr(zone) for zone in close[:3])}?"
