"""The inactivity step: ask every server for its idle accounts (a filter, not a download),
plan the locks and the brake (plan/inactivity.py), write them."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

from ..ldap.accounts import by_uid, count_enabled, iter_accounts
from ..ldap.directory import Directory, connect_replica
from ..logs import get_logger
from ..model.change import Change
from ..model.entry import Entry
from ..model.errors import DirectoryError
from ..model.layout import Layout, normalize_dn
from ..model.schema import ACCOUNT_ATTRS, ACCOUNT_FILTER, LOCKED_FILTER, NOTICE_ATTRS
from ..model.times import format_time, parse_time
from ..plan.accounts import account_from_entry
from ..plan.inactivity import (
    IdleAccount,
    brake,
    activity_attributes,
    carried_logins,
    idle_filter,
    last_activity,
    merge_idle,
    plan_inactivity,
)
from ..plan.notices import CLOCK_SKEW, RECORDS, schema_gap
from .runtime import Runtime
from .summary import InactivitySummary

log = get_logger(__name__)


def _connect_replicas(rt: Runtime, servers: list[tuple[str, Directory]]) -> None:
    """Append a connection to every replica to `servers` (the caller closes them, even on failure)."""
    for replica in rt.config.ldap.replicas:
        servers.append((replica.url, connect_replica(rt.config.ldap, replica)))


def _idle_on(directory: Directory, layout: Layout, attributes: list[str], since: dt.datetime,
             exempt: list[str], bases: tuple[str, ...] | None, read: tuple[str, ...]) -> dict[str, Entry]:
    """The accounts `directory` reports idle since `since`: a filtered search, not a download."""
    known = directory.known_attributes()
    usable = [a for a in attributes if a.lower() in known]
    query = idle_filter(usable, since, exempt)
    return {normalize_dn(e.dn): e for e in iter_accounts(directory, layout, query, (*read, *usable), bases)}


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


def logins_since(directory: Directory, layout: Layout, attributes: Sequence[str], since: dt.datetime) -> bool | None:
    """True if some enabled account has a login (one of `attributes`) at or after `since` on this
    server: one search per base, stopped at the first match. None if the server defines none of
    `attributes` (it cannot record logins in them)."""
    usable = [a for a in attributes if a.lower() in directory.known_attributes()]
    if not usable:
        return None
    when = format_time(since)
    query = f"(&{ACCOUNT_FILTER}(!{LOCKED_FILTER})(|{''.join(f'({a}>={when})' for a in usable)}))"
    return any(directory.any(base, query) for base in layout.account_bases)


def _logins_recorded(servers: list[tuple[str, Directory]], layout: Layout, attributes: list[str],
                     since: dt.datetime) -> bool:
    """True if some server records logins of some enabled account since `since`."""
    return any(logins_since(directory, layout, attributes, since) for _, directory in servers)


CARRY_WINDOW = dt.timedelta(days=2)  # logins read back on each replica: a daily run, and one missed


def _carry(rt: Runtime, servers: list[tuple[str, Directory]], attributes: list[str],
           bases: tuple[str, ...] | None) -> list[Change]:
    """The replica logins to keep on the provider: the accounts with a login in the last two days on
    some replica (a filtered search on each: the day's logins, not every account), their activity
    on the provider (one search per 200 uids), and those the provider is behind on by over a day."""
    login_attributes = list(rt.config.inactivity.attributes)
    when = format_time(rt.now - CARRY_WINDOW)
    copies: dict[str, list[tuple[str, Entry]]] = {}
    uids: set[str] = set()
    for url, directory in servers[1:]:
        usable = [a for a in login_attributes if a.lower() in directory.known_attributes()]
        if not usable:
            continue
        query = f"(&{ACCOUNT_FILTER}(|{''.join(f'({a}>={when})' for a in usable)}))"
        for entry in iter_accounts(directory, rt.layout, query, ("uid", *usable), bases):
            copies.setdefault(normalize_dn(entry.dn), []).append((url, entry))
            if entry.first("uid"):
                uids.add(entry.first("uid"))
    if not uids:
        return []
    known = rt.directory.known_attributes()
    provider = {normalize_dn(e.dn): e for e in by_uid(rt.directory, rt.layout.base_dn, uids,
                                                      ("uid", *(a for a in attributes if a.lower() in known)))}
    return carried_logins(provider, copies, attributes, login_attributes)


def _idle_account(entry: Entry, layout: Layout, last: dt.datetime | None, source: str | None) -> IdleAccount:
    warned = parse_time(entry.first("mopWarnedAt") or "")
    if warned is not None and warned > dt.datetime.now(dt.timezone.utc) + CLOCK_SKEW:
        log.warning("warning_time_in_the_future", dn=entry.dn, mopWarnedAt=entry.first("mopWarnedAt"),
                    why="a hand edit or a clock ahead: not counted as a warning; the next one replaces it")
        warned = None
    return IdleAccount(account_from_entry(entry, layout), last, source, warned, tuple(entry.get("preferredLanguage")))


def warning_window(rt: Runtime) -> int:
    """Days before the lock from which an idle account is read: inactivity.warn_days, or the first
    warning mail's when mail is on and that is earlier."""
    notify = rt.config.notify
    return max([rt.config.inactivity.warn_days, *(notify.warn_days if notify.smtp else [])])


def find_idle(rt: Runtime, bases: tuple[str, ...] | None = None, carry: list[Change] | None = None,
              records: Sequence[str] = ()) -> tuple[list[IdleAccount], list[IdleAccount], bool]:
    """Return (accounts to lock, accounts in the warning window, whether any server records logins);
    log the attributes no server defines.

    Each server answers one filtered search per base; an account is idle only if every server
    reports it idle. Whether logins are recorded is asked only when there is someone to lock.
    With `carry`, the logins replicas hold that the provider lacks are appended to it as changes
    (see plan.inactivity.carried_logins). `records`: attributes every server must define (the mail's
    records: replication would carry them everywhere), else DirectoryError.
    """
    config = rt.config.inactivity
    layout = rt.layout
    attributes = activity_attributes(config.attributes)
    exempt = [layout.role(r) for r in config.exempt_roles]
    threshold = rt.now - dt.timedelta(days=config.max_idle_days)
    warn_since = rt.now - dt.timedelta(days=config.max_idle_days - warning_window(rt))
    servers = [(rt.directory.url, rt.directory)]
    try:
        _connect_replicas(rt, servers)
        for url, directory in servers if records else []:
            if gap := schema_gap(url, directory.known_attributes()):
                raise DirectoryError(gap)
        ignored = sorted({a for _, d in servers for a in attributes if a.lower() not in d.known_attributes()})
        if ignored:
            log.info("activity_attributes_undefined", attributes=ignored,
                     why="not in the schema of every server: those servers cannot hold them")
        # warn_since is later than the threshold: its idle set holds the accounts to lock too.
        # Read little for them: most are only warned; those to lock are read in full below.
        read = ("uid", "cn", *NOTICE_ATTRS) if rt.config.notify.smtp else ("uid", "cn")
        idle_warn = merge_idle([_idle_on(d, layout, attributes, warn_since, exempt, bases, read) for _, d in servers])
        if carry is not None and len(servers) > 1:
            carry += _carry(rt, servers, attributes, bases)
        to_lock, warnings = [], []
        for copies in idle_warn.values():
            last, source = last_activity(copies, attributes)
            account = _idle_account(copies[0], layout, last, source)
            (to_lock if last is None or last < threshold else warnings).append(account)
        recorded = not to_lock or _logins_recorded(servers, layout, list(config.attributes), threshold)
    except DirectoryError as exc:
        raise DirectoryError(f"inactivity: {exc}; no account was locked") from None
    finally:
        for url, directory in servers[1:]:
            log.info("replica_read", url=url, ldap_operations=dict(directory.stats))
            directory.close()
    if to_lock:
        full = _idle_on(rt.directory, layout, attributes, threshold, exempt, bases, (*ACCOUNT_ATTRS, *NOTICE_ATTRS))
        to_lock = [_idle_account(full[key], layout, a.last, a.source)
                   for a in to_lock if (key := normalize_dn(a.state.dn)) in full]
    to_lock.sort(key=lambda a: a.state.dn.lower())
    warnings.sort(key=lambda a: (a.last or rt.now, a.state.dn.lower()))
    return to_lock, warnings, recorded


def run_inactivity(rt: Runtime, force: bool = False) -> InactivitySummary:
    """Disable enabled, non-exempt accounts idle longer than max_idle_days on every server; with mail
    configured, warn first and lock only the accounts warned long enough ago (runs/notices.py)."""
    mailing = rt.config.notify.smtp is not None
    carry: list[Change] = []
    to_lock, warnings, recorded = find_idle(rt, carry=carry, records=RECORDS if mailing else ())
    carry_failed: list[str] = []
    if carry:  # first: whatever happens to the locks, a login seen on a replica is kept
        carried = rt.executor().execute(carry, keep_going=True)
        carry_failed = list(carried.errors)
        log.info("replica_logins_kept", accounts=len(carried.applied), failed=len(carried.errors))
    lock = _mail_and_lock if mailing else _lock
    summary = lock(rt, to_lock, warnings, recorded, force)
    summary.failed += carry_failed  # a login not kept: the step is not done (the next sync checks)
    return summary


def _mail_and_lock(rt: Runtime, to_lock: list[IdleAccount], warnings: list[IdleAccount], recorded: bool,
                   force: bool) -> InactivitySummary:
    """Warn (and the digests) before locking, lock those warned long enough ago, notify the locks."""
    from .notices import Mailroom  # smtplib and Jinja2: only when mail is on

    config = rt.config.inactivity
    room = Mailroom(rt)
    try:
        # warnings and digests before the locks: a lock needs its warning. Not when nothing records
        # logins: then everyone looks idle, and warning them all would be the brake's mistake by mail
        if not brake(to_lock, None, force, recorded, config.max_idle_days):
            unmailed = room.warn([*to_lock, *warnings], config.max_idle_days)
            room.digests([*to_lock, *warnings], unmailed, config.max_idle_days)
        to_lock = room.gate(to_lock)  # the brake's limit counts the locks that may happen now
        room.close()  # the locks may take longer than the mail server keeps an idle connection
        summary = _lock(rt, to_lock, warnings, recorded, force)
        room.notify_locks(to_lock if not summary.plan.braked else [])  # earlier runs' notices too
        summary.mail = room.counts
    finally:
        room.close()
    return summary


def _lock(rt: Runtime, to_lock: list[IdleAccount], warnings: list[IdleAccount], recorded: bool,
          force: bool) -> InactivitySummary:
    """Lock `to_lock` (unless the brake holds) and sum up the step."""
    config = rt.config.inactivity
    limit = lock_limit(rt, len(to_lock)) if to_lock else None
    plan = plan_inactivity(to_lock, warnings, limit, rt.now, rt.layout.system, force=force,
                           logins_recorded=recorded, max_idle_days=config.max_idle_days)
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
    written = {c.dn.lower() for c in outcome.applied if not c.is_membership}
    for account in to_lock:
        if account.state.dn.lower() in written:
            log.info("account_would_be_locked" if rt.dry_run else "account_locked", dn=account.state.dn,
                     last_activity=account.last.isoformat() if account.last else None, source=account.source)
    summary.locked = len(written)
    summary.failed = outcome.errors
    return summary
