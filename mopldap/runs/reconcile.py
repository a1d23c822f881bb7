"""The reconcile step: read what changed (or, in a full run, every group), plan
(plan/reconcile.py), write status and group changes."""

from __future__ import annotations

import datetime as dt
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import chain

from ldap3.utils.conv import escape_filter_chars

from ..ldap.accounts import existing, iter_accounts
from ..ldap.directory import Directory
from ..ldap.executor import Executor
from ..logs import get_logger
from ..model.layout import Layout, normalize_dn, normalize_dns
from ..model.schema import ACCOUNT_ATTRS, ACCOUNT_FILTER, LOCKED_FILTER, RESET_FILTER
from ..model.times import format_time
from ..plan.accounts import account_from_entry
from ..plan.membership import chunks, in_slapd_order, packed_in_slapd_order
from ..plan.reconcile import (
    Drift,
    GroupPlan,
    GroupRead,
    SystemDiff,
    drift_filters,
    drift_of,
    granting_members,
    member_key,
    plan_additions,
    plan_placeholder,
    plan_reconcile,
    plan_role_group,
    plan_system_group,
    status_filter,
    system_filters,
    unwanted_members,
)
from .runtime import Runtime
from .summary import ReconcileSummary

log = get_logger(__name__)


def _dns(directory: Directory, base: str, query: str) -> set[str]:
    return {entry.dn for entry in directory.search(base, query, ("1.1",))}


def _everything(rt: Runtime, force_full: bool) -> str | None:
    """Why this run must look at everything and check it (None: it depends on the clock)."""
    state = rt.state
    if force_full:
        return "asked for (--full)"
    if state is None or not state.base_dn:  # none, or only an inactivity check's
        return "no state from an earlier run"
    if normalize_dn(state.base_dn) != normalize_dn(rt.layout.base_dn):
        return "the base DN changed"
    if state.writing_groups:
        return f"run {state.writing_groups} stopped while writing groups (memberOf may disagree with them)"
    return None


def _not_since(moment: dt.datetime | None, hours: float) -> bool:
    return moment is None or dt.datetime.now(dt.timezone.utc) - moment >= dt.timedelta(hours=hours)


def full_reconcile_reason(rt: Runtime, force_full: bool) -> str | None:
    """Why this run must look at everything (None: a routine run reads only what changed)."""
    if reason := _everything(rt, force_full):
        return reason
    state, every = rt.state, rt.config.reconcile.full_every_hours
    if state.rolemap != rt.rolemap.digest:
        return "the role map changed"
    if _not_since(state.last_full_time(), every):
        return f"the last full reconcile is older than {every:g} h"
    if state.watermark_time() is None:
        return "no watermark"
    return None


def _system_diff(rt: Runtime, system: str) -> SystemDiff:
    diff = SystemDiff()
    for base, add, remove in system_filters(system, rt.rolemap, rt.layout, rt.config.access.first_password_gate):
        diff.add |= _dns(rt.directory, base, add)
        diff.remove |= _dns(rt.directory, base, remove)
    return diff


def read_group(directory: Directory, dn: str, layout: Layout, verify: bool = True,
               wanted: set[int] | None = None) -> GroupRead:
    """A group's member values, as they arrive (one read): their keys are kept, and the values a
    decision needs (those not where accounts live; given `wanted`, those not in it, which is left
    holding what the group lacks: GroupRead.take). To `verify` them, then the entries whose
    memberOf names it (one paged search, DNs only); if some members do not hold it, their values
    are read again, and which of them are entries is searched for (one search per 200)."""
    group = GroupRead(dn)
    place = layout.place
    for norm, value in _members(directory, dn):
        group.take(norm, value, place(norm), wanted)
    if not verify:
        return group
    group.verified = True
    not_holding = set(group.members)
    outside = {member_key(norm) for norm in group.outside}
    for entry in directory.search(layout.base_dn, _holding(dn), ("1.1",)):
        key = member_key(normalize_dn(entry.dn))
        if key in not_holding:
            not_holding.discard(key)
        elif key not in outside and (wanted is None or key not in wanted):  # wanted: what the group lacks
            group.stale.append(entry.dn)
    if not_holding:
        group.suspects = {norm: value for norm, value in _members(directory, dn) if member_key(norm) in not_holding}
        group.found = existing(directory, layout, group.suspects)
        log.info("members_without_memberof", group=dn, count=len(group.suspects), entries=len(group.found))
    return group


def _holding(group: str) -> str:
    return f"(memberOf={escape_filter_chars(group)})"


def _members(directory: Directory, dn: str) -> Iterator[tuple[str, str]]:
    """(normalized, as stored) of each member value of `dn`, as the values arrive."""
    return chain.from_iterable(zip(normalize_dns(chunk), chunk) for chunk in directory.values(dn, "member"))


def _values_of(rt: Runtime, lacking: set[int], roles: list[str]) -> Iterator[str]:
    """The values of the members whose keys are `lacking` (taken out of it as they are found),
    read again from the role groups `roles` (a full reconcile keeps keys, not values): only when a
    system group lacks members. In slapd_order, so that slapd adds each after the ones before it
    (into an empty system group, a first run's: at the end; over 1,000,000 accounts, 200 s of
    slapd's time less): each role group's are packed in that order as they arrive (the connection
    carries one answer at a time), then the role groups' are merged."""
    runs = []
    for role in roles:
        if not lacking:
            break
        if run := packed_in_slapd_order(_taken(_members(rt.directory, rt.layout.role(role)), lacking)):
            runs.append(run)
    return in_slapd_order(runs)


def _taken(members: Iterator[tuple[str, str]], lacking: set[int]) -> Iterator[str]:
    """The values of `members` whose keys are `lacking`, each key taken out of it."""
    for norm, value in members:
        key = member_key(norm)
        if key in lacking:
            lacking.discard(key)
            yield value


def verify_reason(rt: Runtime, force_full: bool) -> str | None:
    """Why this full run must also check every member's memberOf and entry (None: member values only)."""
    if reason := _everything(rt, force_full):
        return reason
    every = rt.config.reconcile.verify_every_hours
    if _not_since(rt.state.last_verified_time(), every):
        return f"the last check is older than {every:g} h (or there was none)"
    return None


def _entries_only(rt: Runtime, group: GroupRead, adding: list[str]) -> list[str]:
    """`adding` without the members that name no entry (not `verified`: a role group's values
    were taken on trust): one search per 200."""
    if group.verified or not adding:
        return adding
    named = dict(zip(normalize_dns(adding), adding))
    found = existing(rt.directory, rt.layout, named)
    return [dn for norm, dn in named.items() if norm in found]


@dataclass
class FullRun:
    """What a full reconcile's pass over the groups read and wrote."""

    drift: list[Drift] = field(default_factory=list)
    repaired: int = 0  # memberOf values rewritten
    read: int = 0  # member values read
    memberships: int = 0  # member values added to or removed from system groups
    groups: set[str] = field(default_factory=set)  # the system groups those were written to
    errors: list[str] = field(default_factory=list)  # writes refused


def reconcile_groups(rt: Runtime, executor: Executor, verify: bool = True) -> FullRun:
    """Every group, one at a time, each written (by `executor`) once read: memory holds the keys
    (member_key) of the members the roles grant systems to, and one group's members and changes (a
    first run over 1,000,000 accounts adds 1,000,000 members to a group). Without `verify`, member
    values only: no memberOf check, no search for members naming no entry nor for the accounts'
    drift (filters the server evaluates on every account)."""
    layout, rolemap, directory = rt.layout, rt.rolemap, rt.directory
    rt.watch.ensure(directory)  # it has listed every group: no second listing
    kept_out = f"(|{LOCKED_FILTER}{RESET_FILTER})" if rt.config.access.first_password_gate else LOCKED_FILTER
    locked = {member_key(normalize_dn(e.dn))  # locked, or (gate) still on a password set for them
              for e in iter_accounts(directory, layout, f"(&{ACCOUNT_FILTER}{kept_out})", ("1.1",))}
    run = FullRun()

    def write(plan: GroupPlan) -> None:
        run.drift += plan.drift
        run.repaired += plan.repaired
        for change in plan.changes:
            if change.operation == "reconcile-groups":
                run.memberships += sum(len(mod.values) for mod in change.mods)
                run.groups.add(change.dn.lower())
        run.errors += executor.execute(plan.changes, keep_going=True).errors

    granting: dict[str, array] = {}
    roles = sorted(r for dn in rt.watch.current if (r := layout.group_id(dn, layout.roles)) is not None)
    systems = sorted(s for dn in rt.watch.current if (s := layout.group_id(dn, layout.systems)) is not None)
    for role in roles:
        group = read_group(directory, layout.role(role), layout, verify)
        run.read += group.count
        granting[role] = granting_members(role, group, locked, rolemap)
        write(plan_role_group(role, group, rolemap, layout))
        del group  # not held while the next group is read: one group at a time
    for system in systems:
        sources = [role for role in granting if system in rolemap.systems_of(role)]
        lacking: set[int] = set().union(*(granting[role] for role in sources))
        group = read_group(directory, layout.system(system), layout, verify, lacking)  # leaves what it lacks
        run.read += group.count
        if system not in rolemap.systems:  # dropped from the role map: nothing grants it any more
            run.drift.append(Drift("unknown-system-group", group.dn, "not in the role map: its members were removed"))
        adding = chunks(_values_of(rt, lacking, sources))
        first = _entries_only(rt, group, next(adding, []))
        write(plan_system_group(group, first, layout))
        added = bool(first)
        for more in adding:  # what it still lacks (a first run), MAX_VALUES at a time
            more = _entries_only(rt, group, more)
            added = added or bool(more)
            write(plan_additions(group.dn, more))
        write(plan_placeholder(group, added, layout))
        del group, lacking, adding
    if verify:
        run.drift += _full_drift(rt, roles)
    return run


def _full_drift(rt: Runtime, role_groups: list[str]) -> list[Drift]:
    """The accounts' drift, found by filters: the directory returns only the accounts in question."""
    layout, rolemap = rt.layout, rt.rolemap
    found: dict[tuple[str, str], Drift] = {}
    for kind, base, query in drift_filters(rolemap, layout, role_groups):
        for entry in rt.directory.search(base, query, ACCOUNT_ATTRS):  # the filter found it; say why as always
            for item in drift_of(account_from_entry(entry, layout), rolemap):
                if item.kind == kind:
                    found.setdefault((kind, normalize_dn(item.dn)), item)
    return list(found.values())


def _disagreeing_role_group(rt: Runtime) -> str | None:
    """A role group someone else edited whose members and memberOf disagree (slapd stopped during
    the edit) makes this run a full one: only a full run rewrites memberOf. Cost: those groups."""
    layout = rt.layout
    for dn in sorted(rt.watch.changed):
        role = layout.group_id(dn, layout.roles)
        if role is None:
            continue
        group = read_group(rt.directory, layout.role(role), layout)
        plan = plan_role_group(role, group, rt.rolemap, layout)
        if plan.repaired or any(item.kind == "ghost-member" for item in plan.drift):
            return f"the members of role group {role} and their memberOf disagree"
    return None


def _hygiene(rt: Runtime, system: str) -> tuple[set[str], list[Drift]]:
    """Members of a system group someone else edited that name no account: to remove."""
    unwanted, drift = unwanted_members(read_group(rt.directory, rt.layout.system(system), rt.layout), rt.layout)
    return set(unwanted), drift


def run_reconcile(rt: Runtime, force_full: bool = False) -> ReconcileSummary:
    """Bring status and system groups in line with the directory and the role map.

    Full (first run, role map changed, daily, after a run stopped while writing groups,
    --full): every role and system group is read; the system groups are derived from the
    role groups' members. A full run that checks (--full, weekly, after a run stopped while
    writing groups, when a role group someone edited disagrees with memberOf) also checks
    memberOf against every group and rewrites it where it disagrees, removes members naming no
    entry, and finds every account's drift and status by filters; one that does not reads the
    member values only, and the accounts changed since the last run. Routine: only the accounts
    changed since the last run, and the system groups whose roles or members someone else
    edited, are looked at (through memberOf filters).
    """
    layout, rolemap, directory = rt.layout, rt.rolemap, rt.directory
    rt.watch.ensure(directory)
    why_full = full_reconcile_reason(rt, force_full)
    verify = verify_reason(rt, force_full) if why_full else None
    if not verify and (disagreeing := _disagreeing_role_group(rt)):  # only a checking run rewrites memberOf
        why_full, verify = why_full or disagreeing, disagreeing
    started = dt.datetime.now(dt.timezone.utc)
    handled = set(rt.watch.changed)  # before any write: a group someone edits meanwhile stays changed (GroupWatch.wrote)
    executor = rt.executor()
    full = FullRun()
    systems: dict[str, SystemDiff] = {}
    drift: list[Drift] = []
    if why_full:
        log.info("reconcile_full", why=why_full, memberof_checked=verify or "no: member values only")
        full = reconcile_groups(rt, executor, bool(verify))
        drift = full.drift
    if verify or (why_full and (rt.state is None or rt.state.watermark_time() is None)):
        accounts = iter_accounts(directory, layout, status_filter())  # every account's status, by a filter
        each_account = False  # their drift came from reconcile_groups' filters
    else:  # the accounts changed since the last run (a full run that does not check: their status and drift)
        since = format_time(rt.state.watermark_time() - dt.timedelta(seconds=rt.config.reconcile.clock_skew_seconds))
        accounts = iter_accounts(directory, layout, f"(&{ACCOUNT_FILTER}(|(modifyTimestamp>={since})"
                                                    f"(createTimestamp>={since})))")
        each_account = True
    if not why_full:
        affected = set()
        for dn in rt.watch.changed:
            role = layout.group_id(dn, layout.roles)
            if role is not None:
                affected |= rolemap.systems_of(role)
            system = layout.group_id(dn, layout.systems)
            if system is not None and system in rolemap.systems:
                affected.add(system)
        if affected:
            log.info("reconcile_groups_edited", systems=sorted(affected))
        for system in sorted(affected):  # a role edited by hand may also be a deleted account's last trace
            systems[system] = _system_diff(rt, system)
            unwanted, found = _hygiene(rt, system)
            systems[system].remove |= unwanted
            drift += found
    plan = plan_reconcile((account_from_entry(e, layout) for e in accounts), systems, rolemap, layout, rt.now, drift,
                          account_drift=each_account,
                          memberships=not why_full,  # a full run derived the groups from the role groups
                          gate=rt.config.access.first_password_gate)
    plan.full = bool(why_full)
    plan.verified = bool(verify)
    plan.memberships_read, plan.repaired = full.read, full.repaired
    plan.memberships_written, plan.groups_written = full.memberships, full.groups
    plan.ghosts = sum(1 for item in plan.drift if item.kind == "ghost-member")
    for item in plan.drift[:50]:
        log.warning("drift", kind=item.kind, dn=item.dn, detail=item.detail)
    if len(plan.drift) > 50:
        log.warning("drift_truncated", more=len(plan.drift) - 50)
    summary = ReconcileSummary(plan)
    summary.failed = full.errors + executor.execute(plan.changes, keep_going=True).errors
    if not summary.failed:
        rt.watch.handled(handled)
        rt.reconciled(started, full=bool(why_full), verified=bool(verify))
    return summary
