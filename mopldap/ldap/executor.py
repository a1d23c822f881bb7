"""The one loop that writes: runs a plan of Changes through the Directory.

Dry-run prints the same plan ("would modify ...") and writes nothing. Each write is
one audit event. Consecutive adds and modifies of distinct entries (none the parent of
another) form a wave, sent pipelined: slapd works on one while the next is encoded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from ldap3.utils.conv import escape_filter_chars

from ..logs import get_logger
from ..model.change import Change, Modification
from ..model.errors import LocalFilesError
from ..model.layout import Layout, normalize_dn
from .directory import NO_SUCH_ATTRIBUTE, OBJECT_CLASS_VIOLATION, VALUE_EXISTS, Directory, WriteError
from .groupwatch import GroupWatch
from .ldif import READ, entry_ldif

log = get_logger(__name__)
WAVE = 512  # changes per wave: bounds what one failure leaves in flight


class AuditSink(Protocol):
    def write(self, event: str, **fields: Any) -> None: ...


ArchiveWriter = Callable[[str, str], Path]
"""Writes (file name, LDIF) to the archive of deleted entries; returns the path."""


@dataclass
class Outcome:
    """What an execution did: the changes written, the first refused one, and those not written."""

    applied: list[Change] = field(default_factory=list)
    failed: Change | None = None
    error: str | None = None
    unapplied: list[Change] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def waves(plan: Sequence[Change]) -> list[list[Change]]:
    """Split `plan` into runs of writes that may go out together, in order.

    A wave holds adds and modifies of distinct entries, none an ancestor of another;
    deletes, password changes and group membership changes go alone. (The memberof
    overlay updates each member's memberOf in a separate internal write: two group
    modifies sharing a member at the same time can lose one of the memberOf values.)
    """
    out: list[list[Change]] = []
    current: list[Change] = []
    seen: set[str] = set()
    for change in plan:
        norm = normalize_dn(change.dn)
        parent = norm.split(",", 1)[1] if "," in norm else ""
        related = norm in seen or parent in seen  # plans add parents before children
        alone = change.action not in ("add", "modify") or change.is_membership
        if alone or related or len(current) >= WAVE:
            if current:
                out.append(current)
            current, seen = [], set()
            if alone:
                out.append([change])
                continue
        current.append(change)
        seen.add(norm)
    if current:
        out.append(current)
    return out


@dataclass
class Executor:
    """Writes changes, or prints them when `dry_run`."""

    directory: Directory | None
    audit: AuditSink
    dry_run: bool = False
    run_id: str = ""
    archive_to: ArchiveWriter | None = None
    watch: GroupWatch | None = None
    layout: Layout | None = None
    echo: Callable[[str], None] = print
    holders: dict[str, set[str]] = field(default_factory=dict, repr=False)
    """The groups holding the placeholder, under key "found" once searched (shared by a run's executors)."""
    archived: set[int] = field(default_factory=set, repr=False)
    """Deletes already archived (shared by the executors of a run: the archive is written once)."""
    before_group_write: Callable[[], None] = lambda: None
    """Called before each group write (the run notes, once, that it is writing groups)."""

    def execute(self, plan: Sequence[Change], requester: str | None = None, keep_going: bool = False) -> Outcome:
        """Apply `plan` in order. Stop after the wave holding the first refused write, unless
        `keep_going` (for changes independent of one another)."""
        outcome = Outcome()
        if self.dry_run:
            for change in plan:
                self.echo("would " + change.describe())
            outcome.applied = list(plan)
            return outcome
        batches = waves(plan)
        for index, wave in enumerate(batches):
            results = list(zip(wave, self._write_wave(wave)))
            self._audit_wave(results, requester)
            for change, error in results:
                if error is None:
                    log.debug("change_applied", change=change.describe(), request_id=change.request_id)
                    outcome.applied.append(change)
                    continue
                if not change.parts:
                    log.error("change_failed", dn=change.dn, action=change.action, error=error,
                              request_id=change.request_id)
                outcome.unapplied.append(change)
                outcome.errors.append(error)
                if outcome.failed is None:
                    outcome.failed, outcome.error = change, error
            if outcome.failed is not None and not keep_going:
                outcome.unapplied += [c for later in batches[index + 1:] for c in later]
                break
        return outcome

    # -- writing -------------------------------------------------------------------

    def _write_wave(self, wave: list[Change]) -> list[str | None]:
        """Write a wave; return None (written) or the error, per change, in order."""
        assert self.directory is not None
        if len(wave) == 1 and (wave[0].action not in ("add", "modify") or wave[0].is_membership):
            try:
                self._write_alone(wave[0])
            except WriteError as exc:
                return [str(exc)]
            return [None]
        pipe = self.directory.pipeline()
        for change in wave:
            if change.action == "add":
                pipe.add(change.dn, change.attributes())
            else:
                pipe.modify(change.dn, change.mods)
        return [None if result.ok else result.message for result in pipe.drain()]

    def _write_alone(self, change: Change) -> None:
        assert self.directory is not None
        if change.is_membership:
            self._write_membership(change)
        elif change.action == "delete":
            if change.archive and id(change) not in self.archived:
                self.archive(change)
            self.directory.delete(change.dn)
            self.holders.pop("found", None)  # refint may have put the placeholder back in groups it emptied
        elif change.action == "password":
            assert change.secret is not None
            self.directory.set_password(change.dn, change.secret)
        else:  # pragma: no cover - a planning bug
            raise ValueError(f"unknown change action {change.action!r}")

    # -- group membership and the empty-group placeholder ---------------------------

    @property
    def placeholder(self) -> str:
        return self.layout.placeholder if self.layout is not None else ""

    def _placeholder_holders(self) -> set[str]:
        """Normalized DNs of the groups holding the placeholder (one indexed search per run)."""
        if "found" not in self.holders:
            assert self.directory is not None
            found = self.directory.search(
                self.layout.base_dn, f"(&(objectClass=groupOfNames)(member={escape_filter_chars(self.placeholder)}))", ("1.1",))
            self.holders["found"] = {normalize_dn(entry.dn) for entry in found}
        return self.holders["found"]

    def _write_membership(self, change: Change, narrow: bool = True) -> None:
        """Add and remove members in one modify; keep the placeholder exactly in the empty groups.

        If the directory changed under us (a value already there, or already gone), `narrow` the
        modify to what the group still needs (_narrowed) and accept the other values as done.
        """
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
            if exc.code not in (VALUE_EXISTS, NO_SUCH_ATTRIBUTE) or not narrow:
                raise
            self._narrowed(change, holders)
            return
        if adds:
            holders.discard(group)

    def _modify_group(self, dn: str, mods: list[Modification]) -> None:
        """Modify a group; tell the GroupWatch which entryCSN this write replaced and produced."""
        assert self.directory is not None
        self.before_group_write()
        if self.watch is None:
            self.directory.modify(dn, mods)
            return
        self.watch.ensure(self.directory)
        before, after = self.directory.modify(dn, mods, read_csn=True)
        self.watch.wrote(dn, before, after)

    def _narrowed(self, change: Change, holders: set[str]) -> None:
        """The group changed since the plan: ask the server which of the values it holds (a compare
        each: the group is not read) and write, in one modify, those it still lacks or still holds (a
        group write costs slapd in proportion to the group: not one modify per value). If it changed
        again in between: value by value."""
        assert self.directory is not None
        mods = []
        for mod in change.mods:
            todo = tuple(value for value in mod.values
                         if self.directory.compare(change.dn, mod.attr, str(value)) == (mod.action == "delete"))
            if todo:
                mods.append(replace(mod, values=todo))
        log.info("membership_drift", dn=change.dn, why="the group changed since the plan: writing what it still needs",
                 values=sum(len(m.values) for m in change.mods), left=sum(len(m.values) for m in mods))
        if not mods:
            return
        try:
            self._write_membership(replace(change, mods=tuple(mods)), narrow=False)
        except WriteError as exc:
            if exc.code not in (VALUE_EXISTS, NO_SUCH_ATTRIBUTE):
                raise
            self._membership_value_by_value(change, holders)

    def _membership_value_by_value(self, change: Change, holders: set[str]) -> None:
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

    # -- archive and audit -----------------------------------------------------------

    def archive(self, change: Change) -> None:
        """Write the entry `change` deletes to the archive as LDIF, read whole just now.
        Raise WriteError if it cannot be read, LocalFilesError if it cannot be written: then nothing
        is deleted."""
        assert self.directory is not None and self.layout is not None
        if self.dry_run:
            return
        if self.archive_to is None:
            raise WriteError(f"delete {change.dn}: no archive folder configured; refusing to delete")
        attrs = self.directory.read_raw(change.dn, READ)
        if attrs is None:
            raise WriteError(f"archive of {change.dn}: the entry is gone")
        name = f"{change.request_id or 'run-' + self.run_id}-{_safe(change.dn)}.ldif"
        # LocalFilesError (exit 4) if it cannot be written: the run stops, nothing was deleted
        path = self.archive_to(name, entry_ldif(change.dn, attrs, self.layout, change.request_id or self.run_id))
        self.archived.add(id(change))
        log.info("entry_archived", dn=change.dn, path=str(path))

    def _audit_wave(self, results: list[tuple[Change, str | None]], requester: str | None) -> None:
        """Write one audit event per write of a wave (a merged write that failed is retried part by
        part, and audited then). If the audit file cannot take them, log every event not written
        (the log is the audit's last resort) and stop the run (LocalFilesError, exit 4)."""
        events = [event for change, error in results if error is None or not change.parts
                  for event in self._events(change, requester, "applied" if error is None else "failed", error)]
        for index, event in enumerate(events):
            try:
                self.audit.write("ldap_change", **event)
            except LocalFilesError:
                for unwritten in events[index:]:
                    log.error("audit_unwritten", why="the audit file cannot be written", **unwritten)
                raise

    def _events(self, change: Change, requester: str | None, result: str, error: str | None = None) -> list[dict]:
        if change.parts:  # one write for several requests: one event per request
            return [event for part in change.parts for event in self._events(part, requester, result, error)]
        fields = dict(
            run_id=self.run_id,
            request_id=change.request_id,
            requester=change.requester or requester,
            operation=change.operation,
            action=change.action,
            dn=change.dn,
            attributes=change.audit_attributes(),
            reason=change.reason or None,
            result=result,
        )
        if error:
            fields["error"] = error
        return [fields]


def _safe(dn: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.=" else "_" for c in dn)[:120]
