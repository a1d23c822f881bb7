"""Reports: pure rows from accounts, rendered as a table, CSV or JSON."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import unicodedata
from collections.abc import Iterable, Sequence

from ..model.rolemap import RoleMap
from ..model.times import parse_time
from .accounts import AccountState, entitled_systems, status_of
from .inactivity import IdleAccount

STALE_DAYS = 90
Row = dict[str, object]


def _partner(state: AccountState) -> str:
    return state.partner or ("(HQ)" if state.where == "hq" else "?")


def _name(state: AccountState) -> str:
    return (state.profile_map.get("cn") or ("",))[0]


def _status(state: AccountState) -> str:
    status = status_of(state)
    return "active, password not yet changed" if status == "first-password" else status


def _days_since(value: str | None, now: dt.datetime) -> int | None:
    moment = parse_time(value) if value else None
    return None if moment is None else (now - moment).days


def account_rows(states: Iterable[AccountState]) -> list[Row]:
    return [{"partner": _partner(s), "username": s.username, "name": _name(s), "user_type": s.user_type or "",
             "roles": sorted(s.roles), "status": _status(s), "reason": s.reason or ""}
            for s in _sorted(states)]


def access_rows(states: Iterable[AccountState], rolemap: RoleMap, gate: bool = True) -> list[Row]:
    """Each account with its roles and the systems they give it (none while disabled); `pending`: the
    systems its groups do not match yet (+ to join, - to leave), until the next run writes them."""
    rows = []
    for s in _sorted(states):
        entitled = entitled_systems(s, rolemap, gate)
        pending = [f"+{x}" for x in sorted(entitled - s.systems)] + [f"-{x}" for x in sorted(s.systems - entitled)]
        rows.append({"partner": _partner(s), "username": s.username, "name": _name(s), "status": _status(s),
                     "roles": sorted(s.roles), "systems": sorted(entitled), "pending": pending})
    return rows


def locked_rows(states: Iterable[AccountState], now: dt.datetime) -> list[Row]:
    return [{"partner": _partner(s), "username": s.username, "name": _name(s), "reason": s.reason or "",
             "since": parse_time(s.disabled_at) if s.disabled_at else None, "days": _days_since(s.disabled_at, now)}
            for s in _sorted(states) if not s.enabled]


def stale_rows(states: Iterable[AccountState], now: dt.datetime, rolemap: RoleMap) -> list[Row]:
    """Accounts disabled for more than 90 days, or holding no role: the manual's periodic clean-up."""
    rows = []
    for s in _sorted(states):
        why = []
        days = _days_since(s.disabled_at, now)
        if not s.enabled and days is not None and days > STALE_DAYS:
            why.append(f"disabled for {days} days ({s.reason or 'no reason'})")
        if not any(r in rolemap.roles for r in s.roles):
            why.append("holds no role")
        if why:
            rows.append({"partner": _partner(s), "username": s.username, "name": _name(s), "status": _status(s),
                         "why": "; ".join(why)})
    return rows


def inactive_rows(accounts: Iterable[IdleAccount], now: dt.datetime, max_idle_days: int) -> list[Row]:
    rows = []
    for a in sorted(accounts, key=lambda a: (a.last or now, a.state.dn.lower())):
        idle = a.idle_days(now)
        rows.append({"partner": _partner(a.state), "username": a.state.username, "name": _name(a.state),
                     "last_activity": a.last,
                     "source": a.source or "", "idle_days": idle,
                     "days_until_lock": max(0, max_idle_days - (idle or 0))})
    return rows


def _cell(value: object, fmt: str) -> object:
    """A value for `fmt`: JSON keeps lists and gives times in ISO 8601 with their zone; a table or
    CSV joins lists with spaces and shows times to the minute, in UTC."""
    if isinstance(value, dt.datetime):
        return value.isoformat() if fmt == "json" else value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, list) and fmt != "json":
        return " ".join(str(v) for v in value)
    return "" if value is None and fmt != "json" else value


def _sorted(states: Iterable[AccountState]) -> list[AccountState]:
    return sorted(states, key=lambda s: (_partner(s), s.username))


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def render(rows: Sequence[Row], columns: Sequence[str], fmt: str) -> str:
    """Render rows as 'table' (aligned, CJK-aware), 'csv' or 'json'."""
    rows = [{k: _cell(v, fmt) for k, v in row.items()} for row in rows]
    if fmt == "json":
        return json.dumps(rows, ensure_ascii=False, indent=2) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue()
    cells = [[str(c).upper() for c in columns]] + [["" if r.get(c) is None else str(r.get(c)) for c in columns]
                                                    for r in rows]
    widths = [max(_width(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(cell + " " * (widths[i] - _width(cell)) for i, cell in enumerate(row)).rstrip()
             for row in cells]
    lines.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(lines) + "\n"


COLUMNS = {
    "accounts": ("partner", "username", "name", "user_type", "roles", "status", "reason"),
    "inactive": ("partner", "username", "name", "last_activity", "source", "idle_days", "days_until_lock"),
    "locked": ("partner", "username", "name", "reason", "since", "days"),
    "stale": ("partner", "username", "name", "status", "why"),
    "access": ("partner", "username", "name", "status", "roles", "systems", "pending"),
}
