"""The one loop that writes: runs a plan of Changes through the Directory.

Dry-run prints the same plan ("would modify ...") and writes nothing. Each write
is one audit event.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from ldap3.utils.conv import escape_filter_chars

from .changes import Change
from .directory import NO_SUCH_ATTRIBUTE, OBJECT_CLASS_VIOLATION, VALUE_EXISTS, Directory, Modification, WriteError
from .groups import is_membership_change
from .layout import normalize_dn
from .logging import AuditLog
from .state import GroupWatch

log = structlog.get_logger(__name__)


@dataclass
class Outcome:
    """What an execution did: the changes written, and the one that failed, if any."""

    applied: list[Change] = field(default_factory=list)
    failed: Change | None = None
    error: str | None = None


@dataclass
class Executor:
    """Writes changes, or prints them when `dry_run`."""

    directory: Directory | None
    audit: AuditLog
    dry_run: bool = False
    run_id: str = ""
    archive_dir: Path | None = None
    placeholder: str = ""
    base_dn: str = ""
    watch: GroupWatch | None = None
    echo: Callable[[str], None] = print
    _holders: set[str] | None = field(default=None, repr=False)

    def execute(self, plan: Sequence[Change], requester: str | None = None) -> Outcome:
        """Apply `plan` in order; stop at the first refused write (WriteError) and report it."""
        outcome = Outcome()
        for change in plan:
            if self.dry_run:
                self.echo("would " + change.describe())
                outcome.applied.append(change)
                continue
            try:
                self._write(change)
            except WriteError as exc:
                self._audit(change, requester, "failed", str(exc))
                log.error("change_failed", dn=change.dn, action=change.action, error=str(exc),
                          request_id=change.request_id)
                outcome.failed, outcome.error = change, str(exc)
                return outcome
            self._audit(change, requester, "applied")
            log.info("change_applied", change=change.describe(), request_id=change.request_id)
            outcome.applied.append(change)
        return outcome

    def execute_all(self, plan: Sequence[Change]) -> tuple[int, list[str]]:
        """Apply `plan`, going on past refused writes (each is logged and audited).

        For the reconcile and inactivity steps, whose changes are independent of one another.
        Return the number of changes applied and the errors.
        """
        applied, errors = 0, []
        remaining = list(plan)
        while remaining:
            outcome = self.execute(remaining)
            applied += len(outcome.applied)
            if outcome.failed is None:
                break
            errors.append(outcome.error or outcome.failed.dn)
            remaining = remaining[len(outcome.applied) + 1:]
        return applied, errors

    def _write(self, change: Change) -> None:
        assert self.directory is not None
        if change.action == "add":
            self.directory.add(change.dn, change.attributes())
        elif change.action == "modify" and is_membership_change(change):
            self._write_membership(change)
        elif change.action == "modify":
            self.directory.modify(change.dn, change.mods)
        elif change.action == "delete":
            if change.archive_ldif is not None:
                self._archive(change)
            self.directory.delete(change.dn)
        elif change.action == "password":
            assert change.secret is not None
            self.directory.set_password(change.dn, change.secret)
        else:  # pragma: no cover - a planning bug
            raise ValueError(f"unknown change action {change.action!r}")

    # -- group membership and the empty-group placeholder ---------------------------

    def _placeholder_holders(self) -> set[str]:
        """Normalized DNs of the groups holding the placeholder (one indexed search per run)."""
        if self._holders is None:
            assert self.directory is not None
            found = self.directory.search(
                self.base_dn, f"(&(objectClass=groupOfNames)(member={escape_filter_chars(self.placeholder)}))", ("1.1",))
            self._holders = {normalize_dn(entry.dn) for entry in found}
        return self._holders

    def _modify_group(self, dn: str, mods: list[Modification]) -> None:
        """Modify a group; tell the GroupWatch which entryCSN this write replaced and produced."""
        assert self.directory is not None
        if self.watch is None:
            self.directory.modify(dn, mods)
            return
        self.watch.ensure(self.directory)
        before, after = self.directory.modify(dn, mods, read_csn=True)
        self.watch.wrote(dn, before, after)

    def _write_membership(self, change: Change) -> None:
        """Add and remove members in one modify; keep the placeholder exactly in the empty groups.

        If the directory changed under us (a value already there, or already gone),
        fall back to one modify per value and accept those values as done.
        """
        assert self.directory is not None
        group = normalize_dn(change.dn)
        holders = self._placeholder_holders() if self.placeholder else set()
        adds = any(m.action == "add" for m in change.mods)
        mods = list(change.mods)
        if adds and group in holders:
            mods.append(Modification("member", "delete", (self.placeholder,)))
        try:
            self._modify_group(change.dn, mods)
        except WriteError as exc:
            if exc.code == OBJECT_CLASS_VIOLATION and self.placeholder:  # the last member left
                self._modify_group(change.dn, mods + [Modification("member", "add", (self.placeholder,))])
                holders.add(group)
                return
            if exc.code not in (VALUE_EXISTS, NO_SUCH_ATTRIBUTE):
                raise
            log.info("membership_drift", dn=change.dn, why="retrying value by value")
            self._membership_value_by_value(change, holders)
            return
        if adds:
            holders.discard(group)

    def _membership_value_by_value(self, change: Change, holders: set[str]) -> None:
        assert self.directory is not None
        group = normalize_dn(change.dn)
        for mod in change.mods:
            for value in mod.values:
                try:
                    self._modify_group(change.dn, [Modification("member", mod.action, (value,))])
                except WriteError as exc:
                    if exc.code == OBJECT_CLASS_VIOLATION and self.placeholder:
                        self._modify_group(change.dn, [Modification("member", "delete", (value,)),
                                                       Modification("member", "add", (self.placeholder,))])
                        holders.add(group)
                    elif exc.code not in (VALUE_EXISTS, NO_SUCH_ATTRIBUTE):
                        raise
                    continue
                if mod.action == "add" and group in holders:
                    try:
                        self._modify_group(change.dn, [Modification("member", "delete", (self.placeholder,))])
                    except WriteError as exc:
                        if exc.code != NO_SUCH_ATTRIBUTE:
                            raise
                    holders.discard(group)

    def _archive(self, change: Change) -> None:
        """Write the entry's LDIF under the archive before it is deleted (fsync'd)."""
        if self.archive_dir is None:
            raise WriteError(f"delete {change.dn}: no archive folder configured; refusing to delete")
        folder = self.archive_dir / "deleted"
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{change.request_id or 'run-' + self.run_id}-{_safe(change.dn)}.ldif"
        path = folder / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(change.archive_ldif or "")
            fh.flush()
            os.fsync(fh.fileno())
        log.info("entry_archived", dn=change.dn, path=str(path))

    def _audit(self, change: Change, requester: str | None, result: str, error: str | None = None) -> None:
        fields = dict(
            run_id=self.run_id,
            request_id=change.request_id,
            requester=requester,
            operation=change.operation,
            action=change.action,
            dn=change.dn,
            attributes=change.audit_attributes(),
            reason=change.reason or None,
            result=result,
        )
        if error:
            fields["error"] = error
        self.audit.write("ldap_change", **fields)


def _safe(dn: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.=" else "_" for c in dn)[:120]
