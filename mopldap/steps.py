"""The reconcile and inactivity steps of a run: read what they need, plan (pure), execute."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import structlog
from ldap3.utils.conv import escape_filter_chars

from .accounts import ACCOUNT_FILTER, LOCKED_FILTER
from .accountstate import ACCOUNT_ATTRS, account_from_entry
from .changes import Change
from .directory import Directory, Entry, Modification
from .errors import DirectoryError
from .groups import is_membership_change
from .inactivity import (
    IdleAccount,
    InactivityPlan,
    activity_attributes,
    idle_filter,
    last_activity,
    merge_idle,
    plan_inactivity,
)
from .layout import Layout, normalize_dn
from .ldaptime import format_time
from .reconcile import (
    Drift,
    ReconcilePlan,
    drift_of,
    SystemDiff,
    drift_filters,
    plan_reconcile,
    role_group_drift,
    status_filter,
    stray_members,
    system_filters,
)
from .runtime import Runtime

log = structlog.get_logger(__name__)


def account_bases(layout: Layout) -> tuple[str, str]:
    return (layout.partners, layout.hq)


def iter_accounts(directory: Directory, layout: Layout, filter: str = ACCOUNT_FILTER,
                  attrs=ACCOUNT_ATTRS, bases: tuple[str, ...] | None = None) -> Iterator[Entry]:
    """Yield the entries under ou=partners and ou=hq (or `bases`) matching `filter`, page by page."""
    for base in bases or account_bases(layout):
        yield from directory.search(base, filter, attrs)


# -- reconcile -------------------------------------------------------------------------


@dataclass
class ReconcileSummary:
    plan: ReconcilePlan
    failed: list[str] = field(default_factory=list)


def _dns(directory: Directory, base: str, query: str) -> set[str]:
    return {entry.dn for entry in directory.search(base, query, ("1.1",))}


def full_reconcile_reason(rt: Runtime, force_full: bool) -> str | None:
    """Why this run must look at everything (None: a routine run reads only what changed)."""
    state = rt.state
    if force_full:
        return "asked for (--full)"
    if state is None:
        return "no state from an earlier run"
    if normalize_dn(state.base_dn) != normalize_dn(rt.layout.base_dn):
        return "the base DN changed"
    if state.rolemap != rt.rolemap_digest:
        return "the role map changed"
    last = state.last_full_time()
    every = dt.timedelta(hours=rt.config.reconcile.full_every_hours)
    if last is None or dt.datetime.now(dt.timezone.utc) - last >= every:
        return f"the last full reconcile is older than {rt.config.reconcile.full_every_hours} h"
    if state.watermark_time() is None:
        return "no watermark"
    return None


def _system_diff(rt: Runtime, system: str, strays: bool) -> SystemDiff:
    diff = SystemDiff()
    for base, add, remove in system_filters(system, rt.rolemap, rt.layout):
        diff.add |= _dns(rt.directory, base, add)
        diff.remove |= _dns(rt.directory, base, remove)
    if strays:  # values that are not accounts of the tree: only reading the group shows them
        group = rt.directory.read(rt.layout.system(system), ("member",))
        diff.remove |= set(stray_members(group.get("member") if group else [], rt.layout))
    return diff


def _stale_placeholders(rt: Runtime) -> list[Change]:
    """Groups holding the empty-group placeholder next to real members: drop the placeholder."""
    placeholder = rt.layout.placeholder
    query = f"(&(objectClass=groupOfNames)(member={escape_filter_chars(placeholder)}))"
    return [Change("modify", group.dn, (Modification("member", "delete", (placeholder,)),),
                   reason="the group has members", operation="reconcile-groups")
            for group in rt.directory.search(rt.layout.base_dn, query, ("member",)) if len(group.get("member")) > 1]


def _full_drift(rt: Runtime) -> list[Drift]:
    layout, rolemap = rt.layout, rt.rolemap
    rt.watch.ensure(rt.directory)  # it has read every group's DN with its entryCSN: no second listing
    role_groups = sorted(r for dn in rt.watch.current if (r := layout.group_id(dn, layout.roles)) is not None)
    found: dict[tuple[str, str], Drift] = {}
    for kind, base, query in drift_filters(rolemap, layout, role_groups):
        for entry in rt.directory.search(base, query, ACCOUNT_ATTRS):  # the filter found it; say why as always
            for item in drift_of(account_from_entry(entry, layout), rolemap):
                if item.kind == kind:
                    found.setdefault((kind, normalize_dn(item.dn)), item)
    drift = list(found.values())
    for role_id in role_groups:  # one group at a time: a role may have 100,000 members
        group = rt.directory.read(layout.role(role_id), ("member",))
        drift += role_group_drift(role_id, group.get("member") if group else [], rolemap, layout)
    return drift


def run_reconcile(rt: Runtime, force_full: bool = False) -> ReconcileSummary:
    """Bring status and system groups in line with the directory and the role map.

    Full (first run, role map changed, daily, --full): the directory is asked, with
    filters, for the accounts whose status or system groups are wrong. Routine: only
    the accounts changed since the last run, and the system groups whose roles or
    members someone else edited, are looked at.
    """
    layout, rolemap, directory = rt.layout, rt.rolemap, rt.directory
    rt.watch.ensure(directory)
    why_full = full_reconcile_reason(rt, force_full)
    started = dt.datetime.now(dt.timezone.utc)
    extra: list[Change] = []
    if why_full:
        log.info("reconcile_full", why=why_full)
        accounts = iter_accounts(directory, layout, status_filter())
        systems = {s: _system_diff(rt, s, strays=True) for s in rolemap.systems}
        drift = _full_drift(rt)
        extra = _stale_placeholders(rt)
    else:
        since = format_time(rt.state.watermark_time() - dt.timedelta(seconds=rt.config.reconcile.clock_skew_seconds))
        accounts = iter_accounts(directory, layout, f"(&{ACCOUNT_FILTER}(|(modifyTimestamp>={since})"
                                                    f"(createTimestamp>={since})))")
        affected, edited = set(), set()
        for dn in rt.watch.changed:
            role = layout.group_id(dn, layout.roles)
            if role is not None:
                affected |= rolemap.systems_of(role)
            system = layout.group_id(dn, layout.systems)
            if system is not None and system in rolemap.systems:
                affected.add(system)
                edited.add(system)
        if affected:
            log.info("reconcile_groups_edited", systems=sorted(affected))
        systems = {s: _system_diff(rt, s, strays=s in edited) for s in sorted(affected)}
        drift = []
    handled = set(rt.watch.changed)
    plan = plan_reconcile((account_from_entry(e, layout) for e in accounts), systems, rolemap, layout, rt.now, drift,
                          account_drift=not why_full)  # a full run found the drift with its own searches
    plan.full = bool(why_full)
    plan.changes += extra
    for item in plan.drift[:50]:
        log.warning("drift", kind=item.kind, dn=item.dn, detail=item.detail)
    if len(plan.drift) > 50:
        log.warning("drift_truncated", more=len(plan.drift) - 50)
    summary = ReconcileSummary(plan)
    outcome = rt.executor().execute(plan.changes, keep_going=True)
    summary.failed = outcome.errors
    if not summary.failed:
        rt.watch.handled(handled)
        rt.reconciled(started, full=bool(why_full))
    return summary


# -- inactivity ------------------------------------------------------------------------


@dataclass
class InactivitySummary:
    plan: InactivityPlan
    locked: int = 0
    failed: list[str] = field(default_factory=list)


def _connect_replicas(rt: Runtime, servers: list[tuple[str, Directory]]) -> None:
    """Append a connection to every replica to `servers` (the caller closes them, even on failure)."""
    for url in rt.config.ldap.replicas:
        servers.append((url, Directory(rt.config.ldap, url=url).connect()))


def _idle_on(directory: Directory, layout: Layout, attributes: list[str], since: dt.datetime,
             exempt: list[str], bases: tuple[str, ...] | None, read: tuple[str, ...]) -> dict[str, Entry]:
    """The accounts `directory` reports idle since `since`: a filtered search, not a download."""
    known = directory.known_attributes()
    usable = [a for a in attributes if a.lower() in known]
    query = idle_filter(usable, since, exempt)
    return {normalize_dn(e.dn): e for e in iter_accounts(directory, layout, query, (*read, *usable), bases)}


def count_enabled(directory: Directory, layout: Layout, cap: int | None = None) -> int:
    """Count enabled accounts (DNs only), stopping at `cap`: the brake needs no more."""
    query = f"(&{ACCOUNT_FILTER}(!{LOCKED_FILTER}))"
    count = 0
    for _ in iter_accounts(directory, layout, query, ("1.1",)):
        count += 1
        if cap is not None and count >= cap:
            break
    return count


def lock_limit(rt: Runtime, wanted: int) -> int:
    """The most accounts this run may lock, reading no more enabled DNs than that answer needs."""
    config = rt.config.inactivity
    percent = config.lock_percent
    if percent is None:
        return config.lock_limit(0)
    if percent <= 0:
        return 0
    # the limit reaches `wanted` once enabled >= wanted * 100 / percent: count no further
    cap = math.ceil(wanted * 100 / percent) + 1
    return config.lock_limit(count_enabled(rt.directory, rt.layout, cap))


def find_idle(rt: Runtime, bases: tuple[str, ...] | None = None) -> tuple[list[IdleAccount], list[IdleAccount]]:
    """Return (accounts to lock, accounts in the warning window); log the attributes no server defines.

    Each server answers one filtered search per base; an account is idle only if
    every server reports it idle.
    """
    config = rt.config.inactivity
    layout = rt.layout
    attributes = activity_attributes(config.attributes)
    exempt = [layout.role(r) for r in config.exempt_roles]
    threshold = rt.now - dt.timedelta(days=config.max_idle_days)
    warn_since = rt.now - dt.timedelta(days=config.max_idle_days - config.warn_days)
    servers = [(rt.directory.url, rt.directory)]
    try:
        _connect_replicas(rt, servers)
        ignored = sorted({a for _, d in servers for a in attributes if a.lower() not in d.known_attributes()})
        if ignored:
            log.info("activity_attributes_undefined", attributes=ignored,
                     why="not in the schema of every server: those servers cannot hold them")
        # warn_since is later than the threshold: its idle set holds the accounts to lock too.
        # Read little for them: most are only warned; those to lock are read in full below.
        idle_warn = merge_idle([_idle_on(d, layout, attributes, warn_since, exempt, bases, ("uid", "cn"))
                                for _, d in servers])
    except DirectoryError as exc:
        raise DirectoryError(f"inactivity: {exc}; no account was locked") from None
    finally:
        for _, directory in servers[1:]:
            directory.close()
    to_lock, warnings = [], []
    for copies in idle_warn.values():
        last, source = last_activity(copies, attributes)
        account = IdleAccount(account_from_entry(copies[0], layout), last, source)
        (to_lock if last is None or last < threshold else warnings).append(account)
    if to_lock:
        full = _idle_on(rt.directory, layout, attributes, threshold, exempt, bases, ACCOUNT_ATTRS)
        to_lock = [IdleAccount(account_from_entry(full[key], layout), a.last, a.source)
                   for a in to_lock if (key := normalize_dn(a.state.dn)) in full]
    to_lock.sort(key=lambda a: a.state.dn.lower())
    warnings.sort(key=lambda a: (a.last or rt.now, a.state.dn.lower()))
    return to_lock, warnings


def run_inactivity(rt: Runtime, force: bool = False) -> InactivitySummary:
    """Disable enabled, non-exempt accounts idle longer than max_idle_days on every server."""
    config = rt.config.inactivity
    to_lock, warnings = find_idle(rt)
    limit = lock_limit(rt, len(to_lock)) if to_lock else None
    plan = plan_inactivity(to_lock, warnings, limit, rt.now, rt.layout.system, force=force)
    for account in warnings:
        log.warning("inactivity_warning", dn=account.state.dn,
                    last_activity=account.last.isoformat() if account.last else None,
                    days_until_lock=config.max_idle_days - (account.idle_days(rt.now) or 0))
    summary = InactivitySummary(plan)
    if plan.braked:
        log.error("safety_brake", would_lock=len(to_lock), limit=limit, why=plan.braked,
                  first=[a.state.dn for a in to_lock[:20]])
        if rt.dry_run:  # still show who would be locked
            for account in to_lock:
                print(f"would lock {account.state.dn}: last activity "
                      f"{account.last.isoformat() if account.last else 'never'} ({account.source or 'no record'})")
        return summary
    outcome = rt.executor().execute(plan.changes, keep_going=True)
    summary.locked = sum(1 for c in outcome.applied if not is_membership_change(c))
    summary.failed = outcome.errors
    return summary

