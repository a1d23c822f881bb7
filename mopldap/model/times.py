"""generalizedTime <-> datetime, and the --as-of clock."""

from __future__ import annotations

import datetime as dt
import re

UTC = dt.timezone.utc
_GENERALIZED = re.compile(r"(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})?(\d{2})?(?:[.,](\d+))?(Z|[+-]\d{2,4})?")


def format_time(moment: dt.datetime) -> str:
    """Return `moment` as an LDAP generalizedTime in UTC, e.g. 20261123120000Z."""
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%SZ")


def stamp(moment: dt.datetime) -> str:
    """Return `moment` in UTC for a file name, e.g. 20261123T120000Z."""
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def parse_time(value: str) -> dt.datetime | None:
    """Return the datetime of a generalizedTime value, or None if it is not one."""
    match = _GENERALIZED.fullmatch(value.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        moment = dt.datetime(int(year), int(month), int(day), int(hour), int(minute or 0), int(second or 0),
                             int((fraction or "0")[:6].ljust(6, "0")))
    except ValueError:
        return None
    if zone in (None, "Z"):
        return moment.replace(tzinfo=UTC)
    sign = 1 if zone[0] == "+" else -1
    hours, minutes = int(zone[1:3]), int(zone[3:5] or 0)
    return moment.replace(tzinfo=dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes)))


def parse_as_of(text: str | None) -> dt.datetime:
    """Return the run's clock: now, or the ISO 8601 time given with --as-of (UTC if no zone)."""
    if text is None:
        return dt.datetime.now(UTC).replace(microsecond=0)
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--as-of: '{text}' is not an ISO 8601 time, e.g. 2026-12-01 or 2026-12-01T02:00:00+08:00") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
