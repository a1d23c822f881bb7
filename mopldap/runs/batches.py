"""Writing the changes of many requests in batches: entries in parallel, group changes merged
into one modify per group, and a refusal failing only the request it belongs to."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from ..files.inbox import Claimed
from ..ldap.directory import Directory, WriteError
from ..ldap.executor import Executor
from ..model.change import Change
from ..plan.membership import merge_memberships
from ..plan.requests import RequestPlan
from .runtime import Runtime


@dataclass
class Queued:
    """A valid, authorized request whose changes wait in the batch."""

    claimed: Claimed | None
    name: str
    plan: RequestPlan
    redacted: str


class BatchWrite:
    """The writes of one batch of planned requests, in two stages.

    Entries first (in parallel); then, for the requests whose entries were all
    written, the group changes merged into one modify per group, and the deletes.
    A merged modify the server refuses is retried request by request, so that a
    refusal fails only the request it belongs to.
    """

    def __init__(self, batch: list[Queued]) -> None:
        self.batch = batch
        self.owner = {id(c): q for q in batch for c in q.plan.changes}
        self.failed: dict[int, str] = {}  # id(request) -> first error
        self.written: set[int] = set()  # id(change)

    @classmethod
    def joined(cls, writes: Sequence[BatchWrite]) -> BatchWrite:
        """One write of the group changes of several batches whose entries are written."""
        if len(writes) == 1:
            return writes[0]
        joined = cls([queued for write in writes for queued in write.batch])
        for write in writes:
            joined.failed.update(write.failed)
            joined.written |= write.written
        return joined

    def _run(self, executor: Executor, changes: list[Change]) -> None:
        outcome = executor.execute(changes, keep_going=True)
        for change in outcome.applied:
            self.written.update([id(change), *(id(part) for part in change.parts)])
        for change, error in zip(outcome.unapplied, outcome.errors):
            if change.parts:  # a merged write: halve it until the parts the server refuses are alone
                half = len(change.parts) // 2  # (each write costs slapd the group's size: not one a part)
                self._run(executor, merge_memberships(list(change.parts[:half])) +
                          merge_memberships(list(change.parts[half:])))
            else:
                self.failed.setdefault(id(self.owner[id(change)]), error)

    def _phase(self, select) -> list[Change]:
        return [c for q in self.batch if id(q) not in self.failed for c in q.plan.changes if select(c)]

    def entries(self, executor: Executor) -> None:
        for change in self._phase(lambda c: c.archive):  # before anything of the request is written
            try:
                executor.archive(change)
            except WriteError as exc:
                self.failed.setdefault(id(self.owner[id(change)]), str(exc))
        self._run(executor, self._phase(lambda c: c.action != "delete" and not c.is_membership))

    def groups(self, executor: Executor) -> tuple[dict[int, str], set[int]]:
        self._run(executor, merge_memberships(self._phase(lambda c: c.is_membership)))
        self._run(executor, self._phase(lambda c: c.action == "delete"))
        return self.failed, self.written


class BatchWriter:
    """Writes batches on two threads with a connection each: the entries of one batch while the
    group changes of the ones before (they touch different entries: no memberOf race).

    A batch whose entries are written while a later batch is already on its way does not write its
    group changes: the later batch writes them with its own, in one modify per group. A group write
    costs slapd in proportion to the group's size, however few values it carries (1 s at 1,000,000
    members), so a run whose writer is the slower side writes each group once; the requests of the
    carried batches get their results with that write. (The sender bounds what is carried: it
    waits for results while too many writes are unreported, and the last batch sent always writes.)
    """

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.directories = [Directory(rt.config.ldap).connect(), Directory(rt.config.ldap).connect()]
        self.executors = [rt.executor(d) for d in self.directories]
        self.stages = [ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"batch-{n}") for n in ("entries", "groups")]
        self.submitted = 0
        self._carried: list[tuple[BatchWrite, Future]] = []  # the groups thread's own

    def submit(self, batch: list[Queued]) -> tuple[Future, Future]:
        """Send a batch: (its entries are written, all of it is written: the `failed` and `written` of
        BatchWrite.groups)."""
        write = BatchWrite(batch)
        self.submitted += 1
        entries = self.stages[0].submit(write.entries, self.executors[0])
        done: Future = Future()
        self.stages[1].submit(self._groups, write, entries, done, self.submitted)
        return entries, done

    def _groups(self, write: BatchWrite, entries: Future, done: Future, number: int) -> None:
        """The group changes of one batch, once its entries are written: carried to the next batch
        if one is on its way, else written with those carried to this one. A failure (the entries',
        or the group write's) stops the run: every batch waiting for this write gets it, and the next
        run finishes them from their journals, as after a kill (a full disk must stop the writes)."""
        self._carried.append((write, done))
        carried = self._carried
        try:
            entries.result()
            if number < self.submitted:
                return  # the next batch writes these group changes with its own
            self._carried = []
            outcome = BatchWrite.joined([w for w, _ in carried]).groups(self.executors[1])
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits for these batches
            self._carried = []
            for _, future in carried:
                future.set_exception(exc)
            return
        for _, future in carried:
            future.set_result(outcome)

    def close(self, cancel: bool = False) -> None:
        """Wait for the batches being written; with `cancel`, those not started are not written, nor
        the group changes carried to them (their requests stay claimed, with their journals, and the
        next run finishes them, as after a kill)."""
        for stage in self.stages:
            stage.shutdown(wait=True, cancel_futures=cancel)
        for directory in self.directories:
            self.rt.directory.stats.update(directory.stats)
            directory.close()
