"""The daemons' lease: one entry in the directory, taken and renewed with one atomic modify.

The entry (`cn=daemon-lease,ou=services,<base>`, an applicationProcess) holds one `description`:
`<holder> <until>`. Taking or renewing it is a modify that deletes the value read and adds the new
one in the same operation: if another daemon changed it in between, the delete finds no such value
and the whole modify fails (noSuchAttribute), so two takers can never both succeed. The first take
is an add, which only one can win (entryAlreadyExists).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ..model.change import Modification
from .directory import NO_SUCH_ATTRIBUTE, Directory, WriteError

ALREADY_EXISTS = 68
NO_SUCH_OBJECT = 32


@dataclass(frozen=True)
class LeaseState:
    held: bool  # by us, until `until`
    holder: str | None  # who holds it now (None: nobody)
    until: dt.datetime | None


def _parse(value: str | None) -> tuple[str | None, dt.datetime | None]:
    holder, _, until = (value or "").partition(" ")
    try:
        return holder or None, dt.datetime.fromisoformat(until)
    except ValueError:
        return holder or None, None  # unreadable: treated as expired


def take_or_renew(directory: Directory, dn: str, me: str, now: dt.datetime, seconds: float,
                  skew: dt.timedelta) -> LeaseState:
    """Take the lease if it is free or expired (its `until` more than `skew` in the past), or renew
    it if we hold it; in one atomic write either way. Report who holds it."""
    entry = directory.read(dn, ("description",))
    until = now + dt.timedelta(seconds=seconds)
    mine = f"{me} {until.isoformat()}"
    values = entry.get("description") if entry is not None else []
    if entry is not None and len(values) != 1:  # not as we write it (a hand edit): start it over
        try:
            directory.delete(dn)
        except WriteError as exc:
            if exc.code != NO_SUCH_OBJECT:
                raise
            return LeaseState(False, None, None)  # another daemon is at it: next round
        entry = None
    if entry is None:
        try:
            directory.add(dn, {"objectClass": ["applicationProcess"], "cn": [dn.split(",", 1)[0].split("=", 1)[1]],
                               "description": [mine]})
        except WriteError as exc:
            if exc.code != ALREADY_EXISTS:
                raise
            return LeaseState(False, None, None)  # another daemon added it first: next round
        return LeaseState(True, me, until)
    current = values[0]
    holder, expires = _parse(current)
    if holder not in (me, "-") and expires is not None and expires + skew > now:
        return LeaseState(False, holder, expires)
    try:  # the value read out, ours in: fails as a whole if it is no longer the value read
        directory.modify(dn, [Modification("description", "delete", (current,)),
                              Modification("description", "add", (mine,))])
    except WriteError as exc:
        if exc.code != NO_SUCH_ATTRIBUTE:
            raise
        return LeaseState(False, None, None)  # someone renewed or took it since we read it
    return LeaseState(True, me, until)


def release(directory: Directory, dn: str, me: str, now: dt.datetime) -> None:
    """Give the lease up (a clean stop): it expires now, so the other daemon need not wait. (An
    expired value, not none: takers always replace the one value they read.)"""
    entry = directory.read(dn, ("description",))
    current = entry.first("description") if entry else None
    if current is not None and _parse(current)[0] == me:
        try:
            directory.modify(dn, [Modification("description", "delete", (current,)),
                                  Modification("description", "add", (f"- {now.isoformat()}",))])
        except WriteError:
            pass  # taken meanwhile: nothing of ours to give up
