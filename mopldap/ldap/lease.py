"""The daemons' lease: one entry in the directory, taken and renewed with one atomic modify.

The entry (`cn=daemon-lease,ou=services,<base>`, an applicationProcess) holds `description`
values `<holder> <until>`. Taking or renewing the lease is one modify that deletes exactly the
values read and adds the new one: if another daemon changed any of them in between, a delete finds
no such value and the whole modify fails (noSuchAttribute), so two takers can never both succeed.
The entry is never deleted. A value whose time cannot be read counts as expired; an entry with no
value at all (a hand edit) first gets an expired one, so that the next round has a value to guard on.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ..model.change import Modification
from .directory import NO_SUCH_ATTRIBUTE, Directory, WriteError

ALREADY_EXISTS = 68
NOBODY = "-"


@dataclass(frozen=True)
class LeaseState:
    held: bool  # by us, until `until`
    holder: str | None  # who holds it now (None: nobody, or unknown this round)
    until: dt.datetime | None


def _parse(value: str) -> tuple[str, dt.datetime | None]:
    holder, _, until = value.partition(" ")
    try:
        moment = dt.datetime.fromisoformat(until)
    except ValueError:
        return holder, None
    return holder, moment if moment.tzinfo is not None else None  # no zone: unreadable, expired


def take_or_renew(directory: Directory, dn: str, me: str, now: dt.datetime, seconds: float,
                  skew: dt.timedelta) -> LeaseState:
    """Take the lease if no other holder's time (plus `skew`) is still to come, or renew ours; in one
    atomic write either way. Report who holds it."""
    entry = directory.read(dn, ("description",))
    until = now + dt.timedelta(seconds=seconds)
    mine = f"{me} {until.isoformat()}"
    if entry is None:
        try:
            directory.add(dn, {"objectClass": ["applicationProcess"], "cn": [dn.split(",", 1)[0].split("=", 1)[1]],
                               "description": [mine]})
        except WriteError as exc:
            if exc.code != ALREADY_EXISTS:
                raise
            return LeaseState(False, None, None)  # another daemon added it first: next round
        return LeaseState(True, me, until)
    values = entry.get("description")
    for value in values:
        holder, expires = _parse(value)
        if holder not in (me, NOBODY) and expires is not None and expires + skew > now:
            return LeaseState(False, holder, expires)
    if not values:  # nothing to guard the write on: an expired value first, the lease next round
        directory.modify(dn, [Modification("description", "add", (f"{NOBODY} {now.isoformat()}",))])
        return LeaseState(False, None, None)
    try:  # the values read out, ours in: fails as a whole if any of them is gone
        directory.modify(dn, [Modification("description", "delete", tuple(values)),
                              Modification("description", "add", (mine,))])
    except WriteError as exc:
        if exc.code != NO_SUCH_ATTRIBUTE:
            raise
        return LeaseState(False, None, None)  # someone renewed or took it since we read it
    return LeaseState(True, me, until)


def release(directory: Directory, dn: str, me: str, now: dt.datetime) -> None:
    """Give the lease up (a clean stop): it expires now, so the other daemon need not wait."""
    entry = directory.read(dn, ("description",))
    values = entry.get("description") if entry else []
    if any(_parse(value)[0] == me for value in values):
        try:
            directory.modify(dn, [Modification("description", "delete", tuple(values)),
                                  Modification("description", "add", (f"{NOBODY} {now.isoformat()}",))])
        except WriteError:
            pass  # taken meanwhile: nothing of ours to give up
