"""The inbox step: read, validate, authorize and apply request files; results and archive.

A rejected request is a result in the outbox, not an exception. A directory outage
(DirectoryError) stops the run and leaves the claimed file in inbox/.processing/,
where the next run finds and finishes it.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import structlog
import yaml
from ldap3.utils.conv import escape_filter_chars

from .accountstate import ACCOUNT_ATTRS, account_from_entry
from .directory import ONELEVEL, Directory
from .errors import ConfigError
from .inbox import Claimed, Inbox, InboxBusy, redact_file_text
from .layout import Layout
from .passwords import generate
from .provisioning import DirectoryView, PartnerState, RequestPlan, failed_ops, plan_request
from .requests import ParsedRequest, parse_request, redact, request_id_of
from .runtime import Runtime
from .yamlfile import parse_yaml

log = structlog.get_logger(__name__)
FILTER_CHUNK = 200


@dataclass
class InboxSummary:
    statuses: Counter = field(default_factory=Counter)
    results: list[Path] = field(default_factory=list)
    busy: bool = False

    def line(self) -> str:
        if self.busy:
            return "requests: skipped (another mopldap run holds the inbox)"
        parts = [f"{self.statuses[s]} {s}" for s in ("applied", "rejected", "failed", "duplicate") if self.statuses[s]]
        return f"requests: {', '.join(parts) if parts else 'none'}"


def read_min_password_length(directory: Directory, layout: Layout) -> int:
    entry = directory.read(layout.default_policy, ("pwdMinLength",))
    try:
        return int(entry.first("pwdMinLength")) if entry and entry.first("pwdMinLength") else 0
    except ValueError:
        return 0


def load_view(rt: Runtime, request: ParsedRequest, min_length: int) -> DirectoryView:
    """Read what `request` needs, in a few searches: its accounts (by uid, anywhere), its partner."""
    layout = rt.layout
    usernames = {request.requested_by}
    for op in request.operations:
        if hasattr(op, "username"):
            usernames.add(op.username)
        if op.op == "create_partner":
            usernames.add(op.admin.username)
    accounts, entries = {}, {}
    names = sorted(usernames)
    for start in range(0, len(names), FILTER_CHUNK):
        terms = "".join(f"(uid={escape_filter_chars(n)})" for n in names[start:start + FILTER_CHUNK])
        for entry in rt.directory.search(layout.base_dn, f"(|{terms})", ACCOUNT_ATTRS):
            state = account_from_entry(entry, layout)
            if state.username in accounts:
                log.warning("duplicate_username", username=state.username, dns=[accounts[state.username].dn, entry.dn])
                continue
            accounts[state.username] = state
            entries[state.username] = entry
    partners = {}
    partner_dn = layout.partner(request.partner)
    found = rt.directory.read(partner_dn, ("ou", "mopPartnerName", "mopPartnerStatus"))
    if found is not None:
        partners[request.partner] = PartnerState(request.partner, found.dn, True, found.first("mopPartnerName"),
                                                 found.first("mopPartnerStatus") or "active")
    partner_accounts = {}
    if found is not None and any(op.op in ("suspend_partner", "resume_partner") for op in request.operations):
        members = rt.directory.search(partner_dn, "(objectClass=inetOrgPerson)", ACCOUNT_ATTRS, scope=ONELEVEL)
        partner_accounts[request.partner] = []
        for entry in members:
            state = account_from_entry(entry, layout)
            partner_accounts[request.partner].append(state)
            entries.setdefault(state.username, entry)
    return DirectoryView(accounts, entries, partners, partner_accounts, min_length)


class RequestProcessor:
    """Processes request files for one run (the inbox step, or `mopldap apply`)."""

    def __init__(self, rt: Runtime, inbox: Inbox, echo=print) -> None:
        self.rt = rt
        self.inbox = inbox
        self.echo = echo
        self.summary = InboxSummary()
        self._min_length: int | None = None

    @property
    def min_length(self) -> int:
        if self._min_length is None:
            self._min_length = read_min_password_length(self.rt.directory, self.rt.layout)
        return self._min_length

    def _base_result(self, request_id: str | None, name: str, status: str) -> dict[str, Any]:
        return {"request_id": request_id, "file": name, "status": status, "run_id": self.rt.run_id,
                "processed_at": self.rt.now.isoformat()}

    def _finish(self, claimed: Claimed | None, name: str, result: dict[str, Any], folder: str,
                redacted: str | None, request_id: str | None) -> None:
        """Count and log the result; unless dry-run, write it to the outbox and archive the request."""
        status = result["status"]
        self.summary.statuses[status] += 1
        (log.info if status == "applied" else log.warning)(
            "request_" + status, request_id=request_id, file=name, problems=result.get("problems"))
        if self.rt.dry_run:
            lines = [f"{name}: would be {status}"] + [f"  {p}" for p in result.get("problems", [])]
            lines += [f"  operations[{r['index']}] {r['op']} {r['target']}: {r['result']}: {r['message']}"
                      for r in result.get("operations", []) if r["result"] != "rejected"]
            self.echo("\n".join(lines))
            return
        assert claimed is not None
        if status == "duplicate":
            stamp = self.rt.now.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            result_name = f"{request_id}.duplicate-{stamp}"
        else:
            result_name = request_id or name
        # result first, then archive: a crash in between leaves the file to be re-run, harmlessly
        self.summary.results.append(self.inbox.write_result(result_name, result))
        self.inbox.archive_request(claimed, folder, redacted, self.rt.now, request_id)

    def process(self, claimed: Claimed | None, path: Path) -> str:
        """Process one claimed file (or, in dry-run, the file in place). Return its status."""
        name = claimed.name if claimed else path.name
        text, why = Inbox.read(path)
        if text is None:
            result = self._base_result(None, name, "rejected") | {"problems": [f"{name}: {why}"]}
            self._finish(claimed, name, result, "rejected", None, None)
            return "rejected"
        try:
            doc = parse_yaml(text, name)
        except ConfigError as exc:
            result = self._base_result(None, name, "rejected") | {"problems": [str(exc)]}
            self._finish(claimed, name, result, "rejected", redact_file_text(text), None)
            return "rejected"
        redacted = yaml.safe_dump(redact(doc.data), allow_unicode=True, sort_keys=False)
        request_id = request_id_of(doc.data)
        request, problems = parse_request(doc)
        if request is None:
            result = self._base_result(request_id, name, "rejected") | {"problems": [f"{name}: {p}" for p in problems]}
            self._finish(claimed, name, result, "rejected", redacted, request_id)
            return "rejected"
        bound = structlog.contextvars.bound_contextvars(request_id=request.request_id)
        with bound:
            return self._process_request(claimed, name, request, redacted)

    def _process_request(self, claimed: Claimed | None, name: str, request: ParsedRequest, redacted: str) -> str:
        rid = request.request_id
        resumed = bool(claimed and claimed.resumed)
        if self.inbox.seen(rid) and not resumed:
            result = self._base_result(rid, name, "duplicate") | {
                "problems": [f"request_id {rid} was applied before (see {self.inbox.result_path(rid).name}); "
                             "not applied again: give a new request_id"]}
            self._finish(claimed, name, result, "duplicates", redacted, rid)
            return "duplicate"
        resume = resumed or self.inbox.last_status(rid) == "failed"
        view = load_view(self.rt, request, self.min_length)
        plan = plan_request(request, view, self.rt.rolemap, self.rt.layout, self.rt.now,
                            self.rt.config.passwords.scheme,
                            partial(generate, self.rt.config.passwords.generated_length), resume=resume)
        if plan.rejected:
            result = self._result(plan, name, "rejected")
            self._finish(claimed, name, result, "rejected", redacted, rid)
            return "rejected"
        if plan.secrets and not self.rt.dry_run:
            self.inbox.write_secrets(rid, plan.secrets)  # before writing: a crash must not lose a password
        outcome = self.rt.executor().execute(plan.changes, requester=request.requested_by)
        if outcome.failed is not None:
            unapplied = plan.changes[len(outcome.applied):]
            for index in failed_ops(plan, unapplied):
                result_op = plan.results[index]
                result_op.status = "failed"
                result_op.message = (f"failed: {outcome.error}" if outcome.failed.dn in plan.touched.get(index, set())
                                     else f"not applied: stopped at the failure of {outcome.failed.dn}: {outcome.error}")
            result = self._result(plan, name, "failed")
            result["problems"] = [outcome.error]
            self._finish(claimed, name, result, "failed", redacted, rid)
            return "failed"
        result = self._result(plan, name, "applied")
        self._finish(claimed, name, result, "requests", redacted, rid)
        return "applied"

    def _result(self, plan: RequestPlan, name: str, status: str) -> dict[str, Any]:
        request = plan.request
        result = self._base_result(request.request_id, name, status)
        result |= {"requested_by": request.requested_by, "partner": request.partner}
        if plan.problems:
            result["problems"] = plan.problems
        result["operations"] = [
            {"index": r.index, "op": r.op, "target": r.target, "result": r.status, "message": r.message}
            for r in plan.results
        ]
        if plan.secrets and status != "rejected":
            result["secrets"] = f"{request.request_id}.secret (generated passwords for: {', '.join(sorted(plan.secrets))})"
        return result


def run_inbox(rt: Runtime, echo=print) -> InboxSummary:
    """Process every file waiting in the inbox (and any left by a run that died)."""
    inbox = Inbox(rt.config.paths)
    processor = RequestProcessor(rt, inbox, echo)
    if rt.dry_run:
        for path, _ in inbox.pending():
            processor.process(None, path)
        return processor.summary
    try:
        with inbox.locked():
            for path, resumed in inbox.pending():
                claimed = inbox.claim(path, resumed)
                if claimed is not None:
                    processor.process(claimed, claimed.path)
    except InboxBusy as exc:
        log.warning("inbox_busy", why=str(exc))
        processor.summary.busy = True
    return processor.summary


def apply_file(rt: Runtime, path: Path, echo=print) -> str:
    """`mopldap apply FILE`: process one file now, as the inbox would. Return its status."""
    inbox = Inbox(rt.config.paths)
    processor = RequestProcessor(rt, inbox, echo)
    if not os.path.lexists(path):
        raise ConfigError(f"{path}: no such file")
    if rt.dry_run:
        return processor.process(None, path)
    with inbox.locked():
        target = inbox.processing / path.name
        if target.exists():
            raise ConfigError(f"{target} exists: a run that died left it; run `mopldap sync` to finish it")
        try:
            path.rename(target)
        except OSError:  # another filesystem: copy, then remove the original
            shutil.copyfile(path, target, follow_symlinks=False)
            path.unlink()
        return processor.process(Claimed(target, path.name, False), target)


__all__ = ["run_inbox", "apply_file", "InboxSummary", "load_view"]
