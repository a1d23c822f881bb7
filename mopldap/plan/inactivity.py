"""Pure inactivity computation: the server-side idle filter, last activity, the lock plan, the brake.

Last activity = the latest of the configured last-logon attributes on every server
(provider and replicas), of mopEnabledAt, of pwdChangedTime and of createTimestamp.
pwdChangedTime counts because slapd's ppolicy deletes pwdLastSuccess whenever a password
is set: without it, a person who changed their password would look idle since creation. The idle filter
asks each server for the enabled, non-exempt accounts with no activity since the
threshold; an account is idle only if every server says so.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from ldap3.utils.conv import escape_filter_chars

from ..model.change import Change, Modification
from ..model.entry import Entry
from ..model.schema import ACCOUNT_FILTER, LOCKED_FILTER
from ..model.times import format_time, parse_time
from .accounts import AccountState, account_modifications
from .membership import membership_changes

ALWAYS = ("mopEnabledAt", "pwdChangedTime", "createTimestamp")


def activity_attributes(configured: Sequence[str]) -> list[str]:
    """The attributes whose latest value is an account's last activity."""
    return list(dict.fromkeys([*configured, *ALWAYS]))


def idle_filter(attributes: Sequence[str], since: dt.datetime, exempt_group_dns: Iterable[str]) -> str:
    """Return the filter of enabled, non-exempt accounts with no activity at or after `since`.

    `attributes` must all be defined on the server: a filter on an unknown attribute
    is Undefined in LDAP, and (!Undefined) matches nothing.
    """
    when = format_time(since)
    parts = [
        ACCOUNT_FILTER,
        f"(!{LOCKED_FILTER})",
        "(!(mopInactivityExempt=TRUE))",
        *(f"(!(memberOf={escape_filter_chars(dn)}))" for dn in exempt_group_dns),
        *(f"(!({attr}>={when}))" for attr in attributes),
    ]
    return "(&" + "".join(parts) + ")"


def last_activity(entries: Iterable[Entry], attributes: Sequence[str]) -> tuple[dt.datetime | None, str | None]:
    """Return the latest activity over the copies of one account (one entry per server) and its attribute."""
    best: tuple[dt.datetime | None, str | None] = (None, None)
    for entry in entries:
        for attr in attributes:
            for value in entry.get(attr):
                moment = parse_time(value)
                if moment is not None and (best[0] is None or moment > best[0]):
                    best = (moment, attr)
    return best


@dataclass
class IdleAccount:
    state: AccountState
    last: dt.datetime | None
    source: str | None
    warned: dt.datetime | None = None
    """mopWarnedAt: when the person (or their administrators) was last told of the lock"""
    languages: tuple[str, ...] = ()
    """preferredLanguage: the language of the person's mail"""

    def idle_days(self, now: dt.datetime) -> int | None:
        return None if self.last is None else (now - self.last).days


@dataclass
class InactivityPlan:
    changes: list[Change] = field(default_factory=list)
    to_lock: list[IdleAccount] = field(default_factory=list)
    warnings: list[IdleAccount] = field(default_factory=list)
    limit: int | None = None
    braked: str | None = None


CARRY_AFTER = dt.timedelta(days=1)


def carried_logins(provider: dict[str, Entry], replica_copies: dict[str, list[tuple[str, Entry]]],
                   attributes: Sequence[str], login_attributes: Sequence[str]) -> list[Change]:
    """The logins to write into mopLastLogon on the provider: for each account (normalized DN ->
    its provider entry), the latest login a replica holds (`replica_copies`: normalized DN -> (url,
    entry)), when it is newer than the provider's latest activity by more than a day (so at most one
    write a day per account). A consumer's pwdLastSuccess lives only there, and the provider's next
    change to the entry replicates over it."""
    changes = []
    for key, entry in sorted(provider.items()):
        copies = replica_copies.get(key) or []
        seen, attr = last_activity([copy for _, copy in copies], login_attributes)
        if seen is None:
            continue
        held, _ = last_activity([entry], attributes)
        if held is not None and seen - held <= CARRY_AFTER:
            continue
        where = next(url for url, copy in copies if seen in [parse_time(v) for v in copy.get(attr or "")])
        changes.append(Change("modify", entry.dn, (Modification("mopLastLogon", "replace", (format_time(seen),)),),
                              {"mopLastLogon": tuple(entry.get("mopLastLogon"))}, operation="carry-login",
                              reason=f"{attr} {format_time(seen)} on replica {where}: kept on the provider, "
                                     "where replication cannot overwrite it"))
    return changes


def merge_idle(per_server: Sequence[dict[str, Entry]]) -> dict[str, list[Entry]]:
    """Keep the accounts every server reports idle (by normalized DN), with all their copies."""
    if not per_server:
        return {}
    common = set(per_server[0])
    for found in per_server[1:]:
        common &= set(found)
    merged: dict[str, list[Entry]] = defaultdict(list)
    for found in per_server:
        for key in common:
            merged[key].append(found[key])
    return dict(merged)


def brake(idle: Sequence[IdleAccount], limit: int | None, force: bool = False, logins_recorded: bool = True,
          max_idle_days: int = 30) -> str | None:
    """Why no account may be locked (and no warning mailed) in this run, or None: more than `limit`
    would be locked, or no server has recorded any login within the idle period (`logins_recorded`
    false: then every account looks idle because nothing records logins); never with `force`."""
    if force:
        return None
    if limit is not None and len(idle) > limit:
        return (f"safety brake: {len(idle)} accounts would be locked for inactivity, more than the limit of "
                f"{limit} (inactivity.max_locks_per_run); none was locked. Check that every server records "
                "logins (pwdLastSuccess), then rerun with --force if the list is right")
    if idle and not logins_recorded:
        return (f"nothing records logins: no enabled account has a login in the last {max_idle_days} days on "
                "any server (inactivity.attributes); none was locked. Turn on olcLastBind on every server "
                "(`mopldap check --probe` tells), or rerun with --force if the directory really was idle")
    return None


def plan_inactivity(
    idle: Sequence[IdleAccount],
    warn: Sequence[IdleAccount],
    limit: int | None,
    now: dt.datetime,
    system_dn: Callable[[str], str],
    force: bool = False,
    logins_recorded: bool = True,
    max_idle_days: int = 30,
) -> InactivityPlan:
    """Return the locks and the warnings; no lock when the brake holds (see `brake`).

    A locked account leaves every system group it is in (from its memberOf) and keeps its roles.
    """
    plan = InactivityPlan(to_lock=list(idle), warnings=list(warn), limit=limit)
    plan.braked = brake(idle, limit, force, logins_recorded, max_idle_days)
    if plan.braked:
        return plan
    removals: dict[str, list[str]] = defaultdict(list)
    for account in idle:
        state = account.state
        new = state.disabled("inactivity", now)
        mods, old = account_modifications(state, new)
        last = format_time(account.last) if account.last else "never"
        plan.changes.append(Change("modify", state.dn, tuple(mods), old, operation="lock-inactive",
                                   reason=f"no activity since {last} ({account.source or 'no record'})"))
        for system in state.systems:
            removals[system_dn(system)].append(state.dn)
    plan.changes += membership_changes({}, removals, reason="disabled for inactivity", operation="lock-inactive")
    return plan
