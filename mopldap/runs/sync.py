"""`mopldap sync`, `apply` and `lock-inactive`: one run with one run id, and its summary."""

from __future__ import annotations

import time
from pathlib import Path

import structlog

from ..model.config import Config
from ..model.errors import SafetyBrakeError
from ..model.rolemap import RoleMap
from ..model.times import parse_as_of
from .inactivity import run_inactivity
from .inbox import apply_file, run_inbox
from .reconcile import run_reconcile
from .runtime import WAIT, Runtime, open_runtime

log = structlog.get_logger(__name__)


def run_steps(rt: Runtime, inbox: bool = True, reconcile: bool = True, inactivity: bool = True,
              force: bool = False, full: bool = False, files: int | None = None) -> tuple[list[str], str | None]:
    """Run the chosen steps in order (the inbox step on at most `files` files); return the summary
    lines and the brake message, if any."""
    lines: list[str] = []
    brake = None
    if inbox:
        lines.append(run_inbox(rt, limit=files).line())
    if reconcile:
        lines.append(run_reconcile(rt, force_full=full).line())
    if inactivity:
        idle = run_inactivity(rt, force)
        lines.append(idle.line())
        brake = idle.plan.braked
    return lines, brake


def run_sync(config: Config, rolemap: RoleMap, dry_run: bool = False, as_of: str | None = None,
             force: bool = False, steps: tuple[bool, bool, bool] = (True, True, True), label: str = "sync",
             full: bool = False, wait: float = WAIT) -> int:
    """One run: inbox → reconcile → inactivity. Print a summary; exit 3 if the brake held the locks."""
    started = time.monotonic()
    with open_runtime(config, rolemap, parse_as_of(as_of), dry_run, wait) as rt:
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
              as_of: str | None = None, wait: float = WAIT) -> int:
    """`mopldap apply FILE`: process one request file now; print where its result is."""
    with open_runtime(config, rolemap, parse_as_of(as_of), dry_run, wait) as rt:
        status = apply_file(rt, path)
        if not dry_run:
            print(f"{path.name}: {status}; result in {config.paths.outbox}")
    return 0
