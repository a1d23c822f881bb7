"""What each step of a run did, and how the run's summary says so: a line per step (with "would"
in a dry run), or one JSON object (`sync --format json`)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..model.errors import ConfigError, MopldapError

if TYPE_CHECKING:
    from ..plan.inactivity import InactivityPlan
    from ..plan.reconcile import ReconcilePlan
    from .notices import MailCounts

STATUSES = ("applied", "rejected", "failed", "duplicate")


@dataclass
class InboxSummary:
    statuses: Counter = field(default_factory=Counter)
    results: list[Path] = field(default_factory=list)
    left: int = 0  # files left for the next run (a daemon run takes a bounded number)
    mail: MailCounts | None = None  # the results mailed to their requesters (notify.request_results)

    def line(self, dry_run: bool = False) -> str:
        parts = [f"{self.statuses[s]} {'would be ' if dry_run else ''}{s}" for s in STATUSES if self.statuses[s]]
        if self.left:
            parts.append(f"{self.left} left for the next run")
        text = f"requests: {', '.join(parts) if parts else 'none'}"
        if self.mail is not None:
            failed = [*self.mail.problems, *([self.mail.error] if self.mail.error else [])]
            text += f"; {self.mail.results} results mailed" + (f" (FAILED: {'; '.join(failed)})" if failed else "")
        return text

    def data(self) -> dict[str, Any]:
        return {**{s: self.statuses[s] for s in STATUSES}, "left": self.left,
                "results": [str(p) for p in self.results],
                "results_mailed": self.mail.results if self.mail is not None else None}


@dataclass
class ReconcileSummary:
    plan: ReconcilePlan
    failed: list[str] = field(default_factory=list)

    def line(self, dry_run: bool = False) -> str:
        plan = self.plan
        members, groups = self.plan.group_counts()
        if plan.full:
            checked = "memberOf checked" if plan.verified else "member values only"
            parts = [f"every group read ({plan.memberships_read} memberships, {checked})"]
        else:
            parts = [f"{plan.accounts} changed account(s) read"]
        verb = "would change" if dry_run else "changed"
        parts.append(f"{members} group membership(s) {verb} in {groups} group(s)")
        would = "would be " if dry_run else ""
        for count, what in ((len(plan.enabled_by_hand), "enabled by hand"),
                            (len(plan.disabled_by_hand), "disabled by hand"), (len(plan.adopted), "adopted"),
                            (plan.repaired, "memberOf value(s) rewritten"),
                            (plan.ghosts, "member value(s) naming no entry removed")):
            if count:
                parts.append(f"{count} {would}{what}")
        parts.append(f"{len(plan.drift)} drift")
        if self.failed:
            parts.append(f"{len(self.failed)} failed writes")
        return f"reconcile ({'full' if plan.full else 'changes only'}): " + ", ".join(parts)

    def data(self) -> dict[str, Any]:
        plan = self.plan
        members, groups = self.plan.group_counts()
        return {"full": plan.full, "memberof_checked": plan.verified, "accounts_read": plan.accounts,
                "memberships_read": plan.memberships_read,
                "memberships_changed": members, "groups_changed": groups,
                "enabled_by_hand": plan.enabled_by_hand, "disabled_by_hand": plan.disabled_by_hand,
                "adopted": plan.adopted, "memberof_rewritten": plan.repaired, "ghosts_removed": plan.ghosts,
                "drift": [{"kind": d.kind, "dn": d.dn, "detail": d.detail} for d in plan.drift],
                "failed_writes": self.failed}


@dataclass
class InactivitySummary:
    plan: InactivityPlan
    locked: int = 0
    failed: list[str] = field(default_factory=list)
    mail: MailCounts | None = None

    def line(self, dry_run: bool = False) -> str:
        plan = self.plan
        if plan.braked and plan.braked.startswith("nothing records logins"):
            return f"inactivity: BRAKE: {len(plan.to_lock)} would be locked, but nothing records logins; none locked"
        if plan.braked:
            return f"inactivity: BRAKE: {len(plan.to_lock)} would be locked, limit {plan.limit}; none locked"
        text = (f"inactivity: {len(plan.to_lock)} would be locked" if dry_run else f"inactivity: {self.locked} locked")
        text += f", {len(plan.warnings)} in the warning window"
        if self.failed:
            text += f", {len(self.failed)} failed writes"
        if self.mail is not None:
            text += "; " + self.mail.line(dry_run)
        return text

    @property
    def complete(self) -> bool:
        """The step did all it had to: no brake, no failed write, every mail it owed sent."""
        mail = self.mail
        return not (self.plan.braked or self.failed or (mail is not None and (mail.problems or mail.error)))

    def data(self) -> dict[str, Any]:
        plan = self.plan
        return {"locked": self.locked, "to_lock": [a.state.dn for a in plan.to_lock],
                "warned": [a.state.dn for a in plan.warnings], "brake": plan.braked, "limit": plan.limit,
                "failed_writes": self.failed, "mail": self.mail.data() if self.mail is not None else None}


@dataclass
class NotDue:
    """`sync`'s inactivity step when it checked less than inactivity.check_every_hours ago."""

    checked: dt.datetime
    now: dt.datetime
    every_hours: float

    def line(self, dry_run: bool = False) -> str:
        minutes = int((self.now - self.checked).total_seconds() // 60)
        return (f"inactivity: not due (checked {minutes} min ago, at {self.checked.isoformat()}; "
                f"inactivity.check_every_hours: {self.every_hours:g}); `mopldap lock-inactive` checks now")

    def data(self) -> dict[str, Any]:
        return {"status": "not due", "checked_at": self.checked.isoformat(), "check_every_hours": self.every_hours}


StepSummary = InboxSummary | ReconcileSummary | InactivitySummary | NotDue


@dataclass
class StepResult:
    """One step of a run: what it did, or why it failed, or that it did not run."""

    name: str
    summary: StepSummary | None = None
    error: MopldapError | None = None
    skipped: bool = False

    def line(self, dry_run: bool = False) -> str:
        if self.error is not None:
            return f"{self.name}: FAILED (exit {self.error.exit_code}): {self.error.message}"
        if self.skipped or self.summary is None:
            return f"{self.name}: not run (an earlier step failed)"
        return self.summary.line(dry_run)

    def data(self) -> dict[str, Any]:
        if self.error is not None:
            return {"status": "failed", "exit_code": self.error.exit_code, "error": self.error.message}
        if self.skipped or self.summary is None:
            return {"status": "not run"}
        return {"status": "done", **self.summary.data()}


@dataclass
class RunOutcome:
    steps: list[StepResult] = field(default_factory=list)

    @property
    def brake(self) -> str | None:
        for step in self.steps:
            if isinstance(step.summary, InactivitySummary) and step.summary.plan.braked:
                return step.summary.plan.braked
        return None

    @property
    def failure(self) -> MopldapError | None:
        """The first step that failed; else a mail template that did not render (exit 1), or a mail
        server that could not be used (exit 2)."""
        failed = next((step.error for step in self.steps if step.error is not None), None)
        if failed is None:
            for step in self.steps:
                mail = step.summary.mail if isinstance(step.summary, InactivitySummary) else None
                if mail is not None and mail.problems:
                    return ConfigError(f"{step.name}: {mail.problems[0]}: its mails were not sent (no account whose "
                                       "warning it was is locked); see mopldap notify preview")
                if mail is not None and mail.error:
                    from ..notify.mailer import MailError

                    return MailError(f"{step.name}: {mail.error}; locks wait until the warnings can be sent")
        return failed

    def lines(self, dry_run: bool = False) -> list[str]:
        return [step.line(dry_run) for step in self.steps]
