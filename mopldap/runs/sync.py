"""`mopldap sync`, `apply` and `lock-inactive`: one run with one run id, and its summary."""

from __future__ import annotations

import json
import time
from pathlib import Path

from ..logs import get_logger
from ..model.config import Config
from ..ldap.directory import BindRefused, Directory, WriteError
from ..model.errors import DirectoryError, MopldapError, SafetyBrakeError
from ..model.rolemap import RoleMap
from ..model.times import parse_as_of
from .runtime import WAIT, Runtime, open_runtime
from .summary import NotDue, RunOutcome, StepResult

log = get_logger(__name__)


def run_steps(rt: Runtime, inbox: bool = True, reconcile: bool = True, inactivity: bool = True,
              force: bool = False, full: bool = False, files: int | None = None, when_due: bool = False) -> RunOutcome:
    """Run the chosen steps in order (the inbox step on at most `files` files). A step that fails
    (the directory went away, mopldap's files are full) ends the run: it is named with its error,
    the later steps are reported as not run. With `when_due` (plain `sync`), the inactivity step
    runs only if its last check is older than inactivity.check_every_hours (Runtime.inactivity_not_due)."""
    # each step's code is imported when the step runs: a command loads only the steps it runs
    def run_inbox(**options):
        from .inbox import run_inbox

        return run_inbox(rt, **options)

    def run_reconcile():
        from .reconcile import run_reconcile

        return run_reconcile(rt, force_full=full)

    def run_inactivity():
        if when_due and (checked := rt.inactivity_not_due()) is not None:
            return NotDue(checked, rt.now, rt.config.inactivity.check_every_hours)
        from .inactivity import run_inactivity

        summary = run_inactivity(rt, force)
        rt.inactivity_done = summary.complete
        return summary

    chosen = [("inbox", inbox, lambda: run_inbox(limit=files)),
              ("reconcile", reconcile, run_reconcile),
              ("inactivity", inactivity, run_inactivity)]
    outcome = RunOutcome()
    if not inbox:
        from ..files.inbox import Inbox

        if Inbox(rt.config.paths.inbox, rt.config.paths.work).leftovers():
            # a run that died left requests half written (a password set, its lock not yet back):
            # finish them before reconciling from what they left
            chosen.insert(0, ("inbox (left by a run that stopped)", True, lambda: run_inbox(leftovers_only=True)))
    for name, wanted, step in chosen:
        if not wanted:
            continue
        if outcome.failure is not None:
            outcome.steps.append(StepResult(name, skipped=True))
            continue
        try:
            outcome.steps.append(StepResult(name, _with_failover(rt, name, step)))
        except MopldapError as exc:
            log.error("step_failed", step=name, error=exc.message, exit_code=exc.exit_code)
            outcome.steps.append(StepResult(name, error=exc))
    return outcome


def _with_failover(rt: Runtime, name: str, step):
    """Run a step; if the provider it writes to goes away meanwhile and ldap.url lists others, run it
    again on the next that answers. Nothing is applied twice: what the first attempt wrote is read
    back (the inbox step resumes its claimed requests from their journals; reconcile and the
    inactivity lock compute from what the directory holds)."""
    tried = {rt.directory.url}
    while True:
        try:
            return step()
        except DirectoryError as exc:
            if isinstance(exc, (BindRefused, WriteError)) or rt.dry_run or len(rt.config.ldap.providers) < 2:
                raise
            if rt.directory.alive():  # the provider answers: the fault is elsewhere (a replica, a limit)
                raise
            others = [url for url in rt.config.ldap.providers if url not in tried]
            if not others:
                raise
            log.warning("provider_failed", step=name, url=rt.directory.url, error=exc.message,
                        next=others, why="moving on to the next provider; the step resumes there")
            rt.directory.close()
            rt.directory = Directory(rt.config.ldap, url=None).connect_first(others)
            tried.add(rt.directory.url)


def run_sync(config: Config, rolemap: RoleMap, dry_run: bool = False, as_of: str | None = None,
             force: bool = False, steps: tuple[bool, bool, bool] = (True, True, True), label: str = "sync",
             full: bool = False, wait: float = WAIT, fmt: str = "text", when_due: bool = False) -> int:
    """One run: inbox → reconcile → inactivity (`when_due`: see run_steps). Print its summary, also
    when a step failed; return the failed step's exit code, else 3 if the brake held the locks, else 0."""
    started = time.monotonic()
    with open_runtime(config, rolemap, parse_as_of(as_of), dry_run, wait) as rt:
        outcome = run_steps(rt, *steps, force=force, full=full, when_due=when_due)
        elapsed = time.monotonic() - started
        lines = outcome.lines(dry_run)
        log.info("run_done", steps=lines, seconds=round(elapsed, 3), ldap_operations=dict(rt.directory.stats),
                 dry_run=dry_run)
        if fmt == "json":
            print(json.dumps({"command": label, "run_id": rt.run_id, "dry_run": dry_run, "as_of": rt.now.isoformat(),
                              "steps": {step.name: step.data() for step in outcome.steps},
                              "seconds": round(elapsed, 3)}, ensure_ascii=False, default=str))
        else:
            print(f"{label}{' (dry run)' if dry_run else ''} {rt.run_id}:")
            for line in lines:
                print(f"  {line}")
            print(f"  took {elapsed:.2f}s")
    if outcome.failure is not None:
        raise outcome.failure
    if outcome.brake:
        raise SafetyBrakeError(outcome.brake)
    return 0


def run_apply(config: Config, rolemap: RoleMap, path: Path, dry_run: bool = False,
              as_of: str | None = None, wait: float = WAIT) -> int:
    """`mopldap apply FILE`: process one request file now; print where its result is."""
    from .inbox import apply_file

    with open_runtime(config, rolemap, parse_as_of(as_of), dry_run, wait) as rt:
        status = apply_file(rt, path)
        if not dry_run:
            print(f"{path.name}: {status}; result in {config.paths.outbox}")
    return 0
