"""The reconcile step: read what changed (or, in a full run, ask the server with filters), plan
(plan/reconcile.py), write status and system-group changes."""

from __future__ import annotations

import datetime as dt

import structlog
from ldap3.utils.conv import escape_filter_chars

from ..ldap.accounts import iter_accounts
from ..ldap.directory import Directory
from ..model.change import Change, Modification
from ..model.layout import normalize_dn
from ..model.schema import ACCOUNT_ATTRS, ACCOUNT_FILTER
from ..model.times import format_time
from ..plan.accounts import account_from_entry
from ..plan.reconcile import (
    Drift,
    SystemDiff,
    drift_filters,
    drift_of,
    plan_reconcile,
    role_group_drift,
    status_filter,
    stray_members,
    system_filters,
)
from .runtime import Runtime
from .summary import ReconcileSummary

log = structlog.get_logger(__name__)


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
