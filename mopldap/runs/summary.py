"""What each step of a run did, and the line of the run's summary that says so."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..plan.inactivity import InactivityPlan
from ..plan.reconcile import ReconcilePlan


@dataclass
class InboxSummary:
    statuses: Counter = field(default_factory=Counter)
    results: list[Path] = field(default_factory=list)
    left: int = 0  # files left for the next run (a daemon run takes a bounded number)

    def line(self) -> str:
        parts = [f"{self.statuses[s]} {s}" for s in ("applied", "rejected", "failed", "duplicate") if self.statuses[s]]
        if self.left:
            parts.append(f"{self.left} left for the next run")
        return f"requests: {', '.join(parts) if parts else 'none'}"


@dataclass
class ReconcileSummary:
    plan: ReconcilePlan
    failed: list[str] = field(default_factory=list)

    def line(self) -> str:
        plan = self.plan
        groups = plan.group_changes
        members = sum(len(m.values) for c in groups for m in c.mods)
        if plan.full:
            parts = [f"every group read ({plan.memberships_read} memberships)"]
        else:
            parts = [f"{plan.accounts} changed account(s) read"]
        parts.append(f"{members} group membership(s) changed in {len({c.dn.lower() for c in groups})} group(s)")
        if plan.enabled_by_hand:
            parts.append(f"{len(plan.enabled_by_hand)} enabled by hand")
        if plan.disabled_by_hand:
            parts.append(f"{len(plan.disabled_by_hand)} disabled by hand")
        if plan.adopted:
            parts.append(f"{len(plan.adopted)} adopted")
        if plan.repaired:
            parts.append(f"{plan.repaired} memberOf value(s) rewritten")
        if plan.ghosts:
            parts.append(f"{plan.ghosts} member value(s) naming no entry removed")
        parts.append(f"{len(plan.drift)} drift")
        if self.failed:
            parts.append(f"{len(self.failed)} failed writes")
        return f"reconcile ({'full' if plan.full else 'changes only'}): " + ", ".join(parts)


@dataclass
class InactivitySummary:
    plan: InactivityPlan
    locked: int = 0
    failed: list[str] = field(default_factory=list)

    def line(self) -> str:
        plan = self.plan
        if plan.braked and plan.braked.startswith("nothing records logins"):
            return f"inactivity: BRAKE: {len(plan.to_lock)} would be locked, but nothing records logins; none locked"
        if plan.braked:
            return f"inactivity: BRAKE: {len(plan.to_lock)} would be locked, limit {plan.limit}; none locked"
        text = f"inactivity: {self.locked} locked, {len(plan.warnings)} warned"
        if self.failed:
            text += f", {len(self.failed)} failed writes"
        return text
