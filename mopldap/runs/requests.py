"""Processing request files: read, validate, authorize, plan, write in batches; results and archive.

A rejected request is a result in the outbox, not an exception. A directory outage
(DirectoryError) stops the run and leaves the claimed file in <paths.work>/processing/,
where the next run finds and finishes it.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from concurrent import futures
from concurrent.futures import Future
from functools import partial
from pathlib import Path
from typing import Any

from .. import logs
from ..files.archive import Archive
from ..files.inbox import Claimed, Inbox, safe_name, shown_name
from ..files.journal import read_journal, remove_journal, write_journal
from ..files.outbox import Outbox
from ..files.quarantine import Quarantine
from ..files.together import FlushedTogether
from ..ldap.accounts import by_uid, memberships
from ..ldap.directory import ONELEVEL, Directory
from ..logs import get_logger
from ..model.errors import MopldapError
from ..model.layout import Layout
from ..model.passwords import generate
from ..model.requests import HQ_OPERATIONS, ParsedRequest, read_request_text
from ..model.schema import ACCOUNT_ATTRS, ACCOUNT_FILTER
from ..model.times import stamp
from ..plan.accounts import account_from_entry
from ..plan.requests import DirectoryView, FirstRun, PartnerState, RequestPlan, failed_ops, plan_request
from .batches import BatchWrite, BatchWriter, Queued
from .runtime import Runtime
from .summary import InboxSummary

log = get_logger(__name__)
HANDED_BACK = "generated password shown once to the requester, stored nowhere"
BATCH_CHANGES = 1000  # writes a batch needs before it goes: the writer writes one while the next is planned
MAX_BATCH_CHANGES = 16000
"""A batch grows while the writer has the entries of two to write, up to this many writes."""
MAX_UNREPORTED_CHANGES = 48000
"""The most writes sent to the writer whose requests have no result yet (their group changes may
wait for a later batch's: BatchWriter): a batch that would pass it waits for results. What those
requests hold in memory, about 0.4 kB a write, with the batch being planned: under 30 MB."""


def read_min_password_length(directory: Directory, layout: Layout) -> int:
    entry = directory.read(layout.default_policy, ("pwdMinLength",))
    try:
        return int(entry.first("pwdMinLength")) if entry and entry.first("pwdMinLength") else 0
    except ValueError:
        return 0


def load_view(rt: Runtime, request: ParsedRequest, min_length: int) -> DirectoryView:
    """Read what `request` needs, in a few searches: its accounts (by uid, anywhere), its partner."""
    layout = rt.layout
    accounts = {}
    names = sorted(_usernames(request))
    for entry in by_uid(rt.directory, layout.base_dn, names, ACCOUNT_ATTRS):
        state = account_from_entry(entry, layout)
        if state.username in accounts:
            log.warning("duplicate_username", username=state.username, dns=[accounts[state.username].dn, entry.dn])
            continue
        accounts[state.username] = state
    partners = {}
    partner_dn = layout.partner(request.partner)
    found = rt.directory.read(partner_dn, ("ou", "mopPartnerName", "mopPartnerStatus"))
    if found is not None:
        partners[request.partner] = PartnerState(request.partner, found.dn, True, found.first("mopPartnerName"),
                                                 found.first("mopPartnerStatus") or "active")
    partner_accounts = {}
    requester = accounts.get(request.requested_by)
    is_hq = requester is not None and requester.where == "hq" and bool(requester.roles & rt.rolemap.hq_roles)
    if found is not None and is_hq and any(op.op in ("suspend_partner", "resume_partner") for op in request.operations):
        members = rt.directory.search(partner_dn, ACCOUNT_FILTER, ACCOUNT_ATTRS, scope=ONELEVEL)
        partner_accounts[request.partner] = [account_from_entry(entry, layout) for entry in members]
    missing = [layout.account(name, request.partner) for name in names if name not in accounts]
    return DirectoryView(accounts, partners, partner_accounts, min_length,
                         memberships(rt.directory, layout, missing))


class RequestProcessor:
    """Processes request files for one run (the inbox step, or `mopldap apply`).

    Valid requests are planned one after the other and their writes batched: the
    entries of a batch are added and modified in parallel, and its group changes are
    merged into one modify per group. A request that names an account or a partner an
    earlier request of the batch touches is planned only after that batch is written,
    so that every plan sees the directory as it is.
    """

    def __init__(self, rt: Runtime, echo=print, hand_back: bool = False) -> None:
        """`hand_back`: the requester is there to be shown the generated passwords (the console, the
        API): they are handed back in `handed_back` and their .secret file removed once the result
        is on the disk (it exists until then, so that a password is never lost)."""
        self.rt = rt
        self.hand_back = hand_back
        self.handed_back: dict[str, dict[str, str]] = {}  # request id -> username -> generated password
        self.results: dict[str, dict[str, Any]] = {}  # file name -> its result document
        self.outbox = Outbox(rt.config.paths.outbox)
        self.archive = Archive(rt.config.paths.archive)
        self.quarantine = Quarantine(rt.config.paths.work)
        self.echo = echo
        self.summary = InboxSummary()
        self.statuses: dict[str, str] = {}
        self._min_length: int | None = None
        self._batch: list[Queued] = []
        # what the requests waiting in the batch or being written act on: a request naming any of
        # it (as a target or as its requester) is planned only once they are written
        self._pending_names: set[str] = set()
        self._pending_ids: set[str] = set()
        self._pending_partners: set[str] = set()
        self._pending_partner_ops: set[str] = set()
        self._batch_changes = 0
        self._writer: BatchWriter | None = None
        self._inflight: deque[tuple[list[Queued], Future, Future]] = deque()  # (batch, entries written, done)

    @property
    def min_length(self) -> int:
        if self._min_length is None:
            self._min_length = read_min_password_length(self.rt.directory, self.rt.layout)
        return self._min_length

    def _base_result(self, request_id: str | None, name: str, status: str) -> dict[str, Any]:
        return {"request_id": request_id, "file": name, "status": status, "run_id": self.rt.run_id,
                "processed_at": self.rt.now.isoformat()}

    def _finish(self, claimed: Claimed | None, name: str, result: dict[str, Any], folder: str,
                redacted: str | None, request_id: str | None, files: FlushedTogether | None = None) -> None:
        """Count and log the result; unless dry-run, write it to the outbox and archive the request
        (redacted), or, without `redacted` (it could not be read or parsed), set it aside unopened.
        With `files` (a batch's), the claimed file goes once they are flushed; without, now."""
        status = result["status"]
        self.summary.statuses[status] += 1
        self.statuses[name] = status
        self.results[name] = result
        event = f"request_would_be_{status}" if self.rt.dry_run else f"request_{status}"
        (log.info if status == "applied" else log.warning)(
            event, request_id=request_id, file=name, problems=result.get("problems"))
        if self.rt.dry_run:
            lines = [f"{name}: would be {status}"] + [f"  {p}" for p in result.get("problems", [])]
            lines += [f"  operations[{r['index']}] {r['op']} {r['target']}: {r['result']}: {r['message']}"
                      for r in result.get("operations", []) if r["result"] != "rejected"]
            self.echo("\n".join(lines))
            return
        assert claimed is not None
        if status == "duplicate":
            result_name = f"{request_id}.duplicate-{stamp(self.rt.now)}"
        else:
            result_name = request_id or safe_name(name)
        if redacted is None:
            result["kept_in"] = str(self.quarantine.folder)  # not archived: it could hold a password in clear
        if files is not None:
            self._file(claimed, result_name, result, folder, redacted, request_id, files)
            return
        with FlushedTogether(2) as files:
            self._file(claimed, result_name, result, folder, redacted, request_id, files)
            files.sync()

    def _file(self, claimed: Claimed, result_name: str, result: dict[str, Any], folder: str, redacted: str | None,
              request_id: str | None, files: FlushedTogether) -> None:
        """Write the result and the archived copy; once they are on the disk the claimed file goes
        (set aside unopened, without `redacted`), and its journal: a crash before leaves the file
        to be re-run, harmlessly."""
        self.summary.results.append(self.outbox.write_result(result_name, result, files))
        if redacted is None:
            files.after(partial(self.quarantine.keep, claimed, self.rt.now))
        else:
            self.archive.file_request(claimed, folder, redacted, self.rt.now, request_id, files)
            files.after(claimed.path.unlink)
        files.after(partial(remove_journal, claimed.path))

    def _crashed(self, claimed: Claimed | None, name: str, exc: Exception) -> None:
        """Anything unforeseen while reading or planning one file: that file gets a result and is
        set aside; the run goes on with the next."""
        log.error("request_crashed", file=name, error=type(exc).__name__, exc_info=exc)
        why = (f"{name}: mopldap could not handle this file ({type(exc).__name__}); it is set aside unread; "
               "please report it")
        self._finish(claimed, name, self._base_result(None, name, "rejected") | {"problems": [why]}, "rejected",
                     None, None)

    def process(self, claimed: Claimed | None, path: Path) -> None:
        """Process one claimed file (or, in dry-run, the file in place). Its writes may wait in the batch."""
        name = claimed.name if claimed else shown_name(path.name)
        try:
            parsed = self._parse(claimed, path, name)
        except MopldapError:
            raise
        except Exception as exc:  # noqa: BLE001 - one bad file never blocks the inbox
            self._crashed(claimed, name, exc)
            return
        if parsed is None:
            return
        request, redacted = parsed
        with logs.bound(request_id=request.request_id):
            if self._depends_on_pending(request):
                self.flush(wait=True)  # it depends on writes still waiting: make them first
            try:
                plan = self._plan(claimed, name, request, redacted)
            except MopldapError:
                raise
            except Exception as exc:  # noqa: BLE001
                self._crashed(claimed, name, exc)
                return
            if plan is not None:
                self._enqueue(Queued(claimed, name, plan, redacted))

    def _parse(self, claimed: Claimed | None, path: Path, name: str) -> tuple[ParsedRequest, str] | None:
        """Read and parse a file: the request and its redacted text, or None once it has its result."""
        text, why = Inbox.read(path)
        if text is None:  # not read: set aside unopened
            self._finish(claimed, name, self._base_result(None, name, "rejected") | {"problems": [f"{name}: {why}"]},
                         "rejected", None, None)
            return None
        read = read_request_text(text, name)
        if read.request is None:
            request_id = read.request_id
            if request_id and self.archive.seen(request_id):
                request_id = None  # never overwrite the result of the request that took this id
            result = self._base_result(request_id, name, "rejected") | {"problems": read.problems}
            self._finish(claimed, name, result, "rejected", read.redacted, request_id)  # not parsed: quarantined
            return None
        assert read.redacted is not None
        return read.request, read.redacted

    def _depends_on_pending(self, request: ParsedRequest) -> bool:
        partner_op = any(op.op in HQ_OPERATIONS for op in request.operations)  # the partner-level ones
        return bool(_usernames(request) & self._pending_names or request.request_id in self._pending_ids
                    or request.partner in self._pending_partner_ops
                    or (partner_op and request.partner in self._pending_partners))

    def _plan(self, claimed: Claimed | None, name: str, request: ParsedRequest, redacted: str) -> RequestPlan | None:
        """Plan a parsed request against the directory: its plan, or None once it has its result."""
        rid = request.request_id
        journal = read_journal(claimed.path) if claimed is not None and claimed.resumed else None
        # a leftover is this request resumed only if its journal says so: one without a journal was
        # never written, and is a new file like any other (a duplicate if its id was applied)
        first_run = (_first_run(journal, self.rt.config.reconcile.clock_skew_seconds)
                     if journal is not None and journal.get("request_id") == rid else None)
        if self.archive.seen(rid) and first_run is None:
            result = self._base_result(rid, name, "duplicate") | {
                "problems": [f"request_id {rid} was applied before (see {self.outbox.result_path(rid).name}); "
                             "not applied again: give a new request_id"]}
            self._finish(claimed, name, result, "duplicates", redacted, rid)
            return None
        resume = first_run is not None or self.outbox.last_status(rid) == "failed"
        if first_run is not None:
            log.info("request_resumed", first_run=first_run.run_id, why="a run stopped after planning it")
        view = load_view(self.rt, request, self.min_length)
        plan = plan_request(request, view, self.rt.rolemap, self.rt.layout, self.rt.now,
                            self.rt.config.passwords.scheme,
                            partial(generate, self.rt.config.passwords.generated_length), resume=resume,
                            first_run=first_run, reuse=self.outbox.read_secrets(rid) if resume else None,
                            gate=self.rt.config.access.first_password_gate,
                            secrets_note=HANDED_BACK if self.hand_back else None)
        if plan.rejected:
            self._finish(claimed, name, self._result(plan, name, "rejected"), "rejected", redacted, rid)
            return None
        return plan

    def _enqueue(self, queued: Queued) -> None:
        request, plan = queued.plan.request, queued.plan
        self._batch.append(queued)
        self._pending_names |= _targets(request)  # not its requester: many files of one administrator share a batch
        self._pending_ids.add(request.request_id)
        self._pending_partners.add(request.partner)
        if any(op.op in HQ_OPERATIONS for op in request.operations):
            self._pending_partner_ops.add(request.partner)
        self._batch_changes += len(plan.changes)
        if self._batch_changes >= BATCH_CHANGES:
            while self._inflight and self._inflight[0][2].done():  # report what is written
                self._collect()
            if len(self._writing_entries()) < 2 or self._batch_changes >= MAX_BATCH_CHANGES:
                self.flush(wait=False)

    def _writing_entries(self) -> list[Future]:
        return [entries for _, entries, _ in self._inflight if not entries.done()]

    def _unreported(self) -> int:
        """The writes sent whose requests have no result yet."""
        return sum(_changes(batch) for batch, _, _ in self._inflight)

    def flush(self, wait: bool = True) -> None:
        """Send the batch to the writer; with `wait`, also wait until everything sent is written.

        While the writer writes a batch, the next requests are read and planned (a
        request depending on the batch waits for it: see _plan_request). Each batch's
        requests get their results once it is written, its group changes included (which a
        later batch may write with its own: BatchWriter).
        """
        batch, self._batch = self._batch, []
        self._batch_changes = 0
        if batch and self.rt.dry_run:
            write, executor = BatchWrite(batch), self.rt.executor()
            write.entries(executor)
            self._report(batch, *write.groups(executor))
        elif batch:
            claimed = [queued for queued in batch if queued.claimed is not None]
            generated = [queued.plan for queued in batch if queued.plan.secrets]
            with FlushedTogether(len(claimed) + len(generated)) as journals:  # on the disk before any of it is
                for plan in generated:  # written: the passwords mopldap generated (never lost),
                    self.outbox.write_secrets(plan.request.request_id, plan.secrets, journals)
                for queued in claimed:  # and what a resuming run needs to know
                    write_journal(queued.claimed.path, self._journal(queued), journals)
                journals.sync()
            while len(writing := self._writing_entries()) >= 2:  # one written, one waiting its turn
                futures.wait(writing, return_when=futures.FIRST_COMPLETED)
            while self._inflight and self._unreported() + _changes(batch) > MAX_UNREPORTED_CHANGES:
                self._collect()  # the last batch sent writes what is carried: this returns
            if self._writer is None:
                self._writer = BatchWriter(self.rt)
            self._inflight.append((batch, *self._writer.submit(batch)))
        if wait:
            while self._inflight:
                self._collect()
            self._pending_names, self._pending_ids = set(), set()
            self._pending_partners, self._pending_partner_ops = set(), set()

    def _collect(self) -> None:
        batch, _, done = self._inflight.popleft()
        self._report(batch, *done.result())  # a lost connection raises here: files stay claimed

    def close(self) -> None:
        """Write what waits, wait for the writer, stop it, and count its LDAP operations with the run's."""
        try:
            self.flush(wait=True)
        except BaseException:
            self.abort()
            raise
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def abort(self) -> None:
        """The run stops (mopldap's files cannot be written, the directory went away): write nothing
        more. The batch not yet sent is dropped (nothing of it was written: its requests stay claimed
        and are planned again next run); batches already sent finish or are cancelled unstarted, and
        group changes carried to a cancelled batch are not written (the next run finishes those
        requests from their journals, as after a kill)."""
        self._batch = []
        self._inflight.clear()
        if self._writer is not None:
            self._writer.close(cancel=True)
            self._writer = None

    def _report(self, batch: list[Queued], failed: dict[int, str], written: set[int]) -> None:
        """Each request of a written batch gets its result, flushed to the disk with the others'. If
        one cannot be written, none of the batch's claimed files goes: the next run finishes them."""
        with FlushedTogether(2 * len(batch)) as files:
            for queued in batch:
                plan, rid = queued.plan, queued.plan.request.request_id
                error = failed.get(id(queued))
                if error is None:
                    self._finish(queued.claimed, queued.name, self._result(plan, queued.name, "applied"), "requests",
                                 queued.redacted, rid, files)
                else:
                    for index in failed_ops(plan, [c for c in plan.changes if id(c) not in written]):
                        plan.results[index].status = "failed"
                        plan.results[index].message = f"not (all) written: {error}"
                    result = self._result(plan, queued.name, "failed")
                    result["problems"] = [error]
                    self._finish(queued.claimed, queued.name, result, "failed", queued.redacted, rid, files)
                files.after(partial(self._give_back, plan))
            files.sync()

    def _give_back(self, plan: RequestPlan) -> None:
        """Hand the generated passwords to the requester waiting for them; their file goes."""
        if self.hand_back and plan.secrets:
            self.handed_back[plan.request.request_id] = dict(plan.secrets)
            self.outbox.forget_secrets(plan.request.request_id)

    def _journal(self, queued: Queued) -> dict[str, Any]:
        return {"run_id": self.rt.run_id, "written_after": dt.datetime.now(dt.timezone.utc).isoformat(),
                "request_id": queued.plan.request.request_id,
                "operations": [{"index": r.index, "op": r.op, "target": r.target, "status": r.status,
                                "message": r.message} for r in queued.plan.results]}

    def _result(self, plan: RequestPlan, name: str, status: str) -> dict[str, Any]:
        request = plan.request
        result = self._base_result(request.request_id, name, status)
        result |= {"requested_by": request.requested_by, "partner": request.partner}
        if plan.resumed_from:
            result["resumed_from"] = plan.resumed_from  # the run that planned it and stopped before its result
        if plan.problems:
            result["problems"] = plan.problems
        result["operations"] = [
            {"index": r.index, "op": r.op, "target": r.target, "result": r.status, "message": r.message}
            for r in plan.results
        ]
        if plan.secrets and status != "rejected" and not self.hand_back:
            result["secrets"] = f"{request.request_id}.secret (generated passwords for: {', '.join(sorted(plan.secrets))})"
        return result


def _first_run(journal: dict[str, Any] | None, skew: float = 0) -> FirstRun | None:
    """The interrupted run's plan, from its journal (None if there is none or it makes no sense)."""
    if journal is None:
        return None
    try:
        statuses = {int(op["index"]): (str(op["status"]), str(op["message"])) for op in journal["operations"]}
        return FirstRun(str(journal["run_id"]), dt.datetime.fromisoformat(journal["written_after"]), statuses,
                        dt.timedelta(seconds=skew))
    except (KeyError, TypeError, ValueError):
        return None


def _changes(batch: list[Queued]) -> int:
    return sum(len(queued.plan.changes) for queued in batch)


def _targets(request: ParsedRequest) -> set[str]:
    """The accounts the request's operations create or change."""
    names = set()
    for op in request.operations:
        if hasattr(op, "username"):
            names.add(op.username)
        if op.op == "create_partner":
            names.add(op.admin.username)
    return names


def _usernames(request: ParsedRequest) -> set[str]:
    """The accounts planning the request reads: its targets and its requester."""
    return _targets(request) | {request.requested_by}
