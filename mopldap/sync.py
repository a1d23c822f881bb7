"""`mopldap sync`, `apply` and `lock-inactive`: one run with one run id, and its summary."""

from __future__ import annotations

import time
from pathlib import Path

import structlog

from .config import Config
from .errors import SafetyBrakeError
from .ldaptime import parse_as_of
from .inboxstep import InboxSummary, apply_file, run_inbox
from .rolemap import RoleMap
from .runtime import Runtime, open_runtime
from .steps import InactivitySummary, ReconcileSummary, run_inactivity, run_reconcile

log = structlog.get_logger(__name__)


def reconcile_line(summary: ReconcileSummary) -> str:
    plan = summary.plan
    groups = plan.group_changes
    members = sum(len(m.values) for c in groups for m in c.mods)
    if plan.full:
        parts = ["every account checked by filters on the server"]
    else:
        parts = [f"{plan.accounts} changed account(s) read"]
    parts.append(f"{members} group membership(s) changed in {len(groups)} group(s)")
    if plan.enabled_by_hand:
        parts.append(f"{len(plan.enabled_by_hand)} enabled by hand")
    if plan.disabled_by_hand:
        parts.append(f"{len(plan.disabled_by_hand)} disabled by hand")
    if plan.adopted:
        parts.append(f"{len(plan.adopted)} adopted")
    parts.append(f"{len(plan.drift)} drift")
    if summary.failed:
        parts.append(f"{len(summary.failed)} failed writes")
    return f"reconcile ({'full' if plan.full else 'changes only'}): " + ", ".join(parts)


def inactivity_line(summary: InactivitySummary) -> str:
    plan = summary.plan
    if plan.braked:
        return f"inactivity: BRAKE: {len(plan.to_lock)} would be locked, limit {plan.limit}; none locked"
    text = f"inactivity: {summary.locked} locked, {len(plan.warnings)} warned"
    if summary.failed:
        text += f", {len(summary.failed)} failed writes"
    return text


def run_steps(rt: Runtime, inbox: bool = True, reconcile: bool = True, inactivity: bool = True,
              force: bool = False, full: bool = False) -> tuple[list[str], str | None]:
    """Run the chosen steps in order; return the summary lines and the brake message, if any."""
    lines: list[str] = []
    brake = None
    if inbox:
        summary: InboxSummary = run_inbox(rt)
        lines.append(summary.line())
    if reconcile:
        recon = run_reconcile(rt, force_full=full)
        lines.append(reconcile_line(recon))
    if inactivity:
        idle = run_inactivity(rt, force)
        lines.append(inactivity_line(idle))
        brake = idle.plan.braked
    return lines, brake


def run_sync(config: Config, rolemap: RoleMap, dry_run: bool = False, as_of: str | None = None,
             force: bool = False, steps: tuple[bool, bool, bool] = (True, True, True), label: str = "sync",
             full: bool = False) -> int:
    """One run: inbox → reconcile → inactivity. Print a summary; exit 3 if the brake held the locks."""
    started = time.monotonic()
    with open_runtime(config, rolemap, parse_as_of(as_of), dry_run) as rt:
        lines, brake = run_steps(rt, *steps, force=force, full=full)
        elapsed = time.monotonic() - started
        print(f"{label}{' (dry run)' if dry_run else ''} {rt.run_id}:")
        for line in lines:
            print(f"  {line}")
        print(f"  took {elapsed:.2f}s")
        log.info("run_done", steps=lines, seconds=round(elapsed, 3), ldap_operations=dict(rt.directory.stats))
    if brake:
        raise SafetyBrakeError(brake)
    return 0


def run_apply(config: Config, rolemap: RoleMap, path: Path, dry_run: bool = False,
              as_of: str | None = None) -> int:
    """`mopldap apply FILE`: process one request file now; print where its result is."""
    with open_runtime(config, rolemap, parse_as_of(as_of), dry_run) as rt:
        status = apply_file(rt, path)
        if not dry_run:
            print(f"{path.name}: {status}; result in {config.paths.outbox}")
    return 0
