"""The reconcile and inactivity steps of a run: read what they need, plan (pure), execute."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import structlog

from .accounts import ADMIN_LOCK
from .accountstate import ACCOUNT_ATTRS, AccountState, account_from_entry
from .directory import ONELEVEL, Directory, Entry
from .errors import DirectoryError
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
from .reconcile import Drift, ReconcilePlan, plan_reconcile
from .runtime import Runtime

log = structlog.get_logger(__name__)
ACCOUNT_FILTER = "(objectClass=inetOrgPerson)"


def account_bases(layout: Layout) -> tuple[str, str]:
    return (layout.partners, layout.hq)


def iter_accounts(directory: Directory, layout: Layout, filter: str = ACCOUNT_FILTER,
                  attrs=ACCOUNT_ATTRS, bases: tuple[str, ...] | None = None) -> Iterator[Entry]:
    """Yield the entries under ou=partners and ou=hq (or `bases`) matching `filter`, page by page."""
    for base in bases or account_bases(layout):
        yield from directory.search(base, filter, attrs)


def group_members(directory: Directory, container: str) -> dict[str, list[str]]:
    """Return {group cn: member values} for the groupOfNames directly under `container`."""
    found = {}
    for entry in directory.search(container, "(objectClass=groupOfNames)", ("cn", "member"), scope=ONELEVEL):
        found[(entry.first("cn") or "").lower()] = entry.get("member")
    return found


# -- reconcile -------------------------------------------------------------------------


@dataclass
class ReconcileSummary:
    plan: ReconcilePlan
    applied: int = 0
    failed: list[str] = field(default_factory=list)


def run_reconcile(rt: Runtime) -> ReconcileSummary:
    """Bring status and system groups in line with the directory and the role map."""
    layout = rt.layout
    states = (account_from_entry(entry, layout) for entry in iter_accounts(rt.directory, layout))
    plan = plan_reconcile(states, group_members(rt.directory, layout.systems),
                          group_members(rt.directory, layout.roles), rt.rolemap, layout, rt.now)
    for drift in plan.drift[:50]:
        log.warning("drift", kind=drift.kind, dn=drift.dn, detail=drift.detail)
    if len(plan.drift) > 50:
        log.warning("drift_truncated", more=len(plan.drift) - 50)
    summary = ReconcileSummary(plan)
    summary.applied, summary.failed = rt.executor().execute_all(plan.changes)
    return summary


# -- inactivity ------------------------------------------------------------------------


@dataclass
class InactivitySummary:
    plan: InactivityPlan
    applied: int = 0
    failed: list[str] = field(default_factory=list)
    ignored_attributes: list[str] = field(default_factory=list)


def _servers(rt: Runtime) -> list[tuple[str, Directory]]:
    servers = [(rt.directory.url, rt.directory)]
    for url in rt.config.ldap.replicas:
        servers.append((url, Directory(rt.config.ldap, url=url).connect()))
    return servers


def _idle_on(directory: Directory, layout: Layout, attributes: list[str], since: dt.datetime,
             exempt: list[str], bases: tuple[str, ...] | None = None) -> dict[str, Entry]:
    """The accounts `directory` reports idle since `since`: a filtered search, not a download."""
    known = directory.known_attributes()
    usable = [a for a in attributes if a.lower() in known]
    query = idle_filter(usable, since, exempt)
    return {normalize_dn(e.dn): e
            for e in iter_accounts(directory, layout, query, (*ACCOUNT_ATTRS, *usable), bases)}


def count_enabled(directory: Directory, layout: Layout, cap: int | None = None) -> int:
    """Count enabled accounts (DNs only), stopping at `cap`: the brake needs no more."""
    query = f"(&{ACCOUNT_FILTER}(!(pwdAccountLockedTime={ADMIN_LOCK})))"
    count = 0
    for _ in iter_accounts(directory, layout, query, ("1.1",)):
        count += 1
        if cap is not None and count >= cap:
            break
    return count


def lock_limit(rt: Runtime, wanted: int) -> int:
    """The most accounts this run may lock, reading no more enabled DNs than that answer needs."""
    config = rt.config.inactivity
    if isinstance(config.max_locks_per_run, int):
        return config.max_locks_per_run
    percent = float(config.max_locks_per_run.strip().rstrip("%"))
    if percent <= 0:
        return 0
    # the limit reaches `wanted` once enabled >= wanted * 100 / percent: count no further
    cap = math.ceil(wanted * 100 / percent) + 1
    return config.lock_limit(count_enabled(rt.directory, rt.layout, cap))


def find_idle(rt: Runtime, bases: tuple[str, ...] | None = None) -> tuple[list[IdleAccount], list[IdleAccount], list[str]]:
    """Return (accounts to lock, accounts in the warning window, attributes no server defines).

    Each server answers one filtered search per base; an account is idle only if
    every server reports it idle.
    """
    config = rt.config.inactivity
    layout = rt.layout
    attributes = activity_attributes(config.attributes)
    exempt = [layout.role(r) for r in config.exempt_roles]
    threshold = rt.now - dt.timedelta(days=config.max_idle_days)
    warn_since = rt.now - dt.timedelta(days=config.max_idle_days - config.warn_days)
    servers = _servers(rt)
    try:
        ignored = sorted({a for _, d in servers for a in attributes if a.lower() not in d.known_attributes()})
        if ignored:
            log.info("activity_attributes_undefined", attributes=ignored,
                     why="not in the schema of every server: those servers cannot hold them")
        # warn_since is later than the threshold: its idle set holds the accounts to lock too
        idle_warn = merge_idle([_idle_on(d, layout, attributes, warn_since, exempt, bases) for _, d in servers])
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
    to_lock.sort(key=lambda a: a.state.dn.lower())
    warnings.sort(key=lambda a: (a.last or rt.now, a.state.dn.lower()))
    return to_lock, warnings, ignored


def run_inactivity(rt: Runtime, force: bool = False) -> InactivitySummary:
    """Disable enabled, non-exempt accounts idle longer than max_idle_days on every server."""
    config = rt.config.inactivity
    to_lock, warnings, ignored = find_idle(rt)
    limit = lock_limit(rt, len(to_lock)) if to_lock else None
    plan = plan_inactivity(to_lock, warnings, limit, rt.now, rt.layout.system, force=force)
    for account in warnings:
        log.warning("inactivity_warning", dn=account.state.dn,
                    last_activity=account.last.isoformat() if account.last else None,
                    days_until_lock=config.max_idle_days - (account.idle_days(rt.now) or 0))
    summary = InactivitySummary(plan, ignored_attributes=ignored)
    if plan.braked:
        log.error("safety_brake", would_lock=len(to_lock), limit=limit, why=plan.braked,
                  first=[a.state.dn for a in to_lock[:20]])
        if rt.dry_run:  # still show who would be locked
            for account in to_lock:
                print(f"would lock {account.state.dn}: last activity "
                      f"{account.last.isoformat() if account.last else 'never'} ({account.source or 'no record'})")
        return summary
    summary.applied, summary.failed = rt.executor().execute_all(plan.changes)
    return summary


__all__ = ["run_reconcile", "run_inactivity", "find_idle", "iter_accounts", "Drift", "AccountState"]
