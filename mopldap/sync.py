"""`mopldap sync` and `mopldap apply`: one run with one run id, and its summary."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import structlog

from .config import Config
from .ldaptime import parse_as_of
from .provision import apply_file, run_inbox
from .rolemap import RoleMap
from .runtime import open_runtime

log = structlog.get_logger(__name__)


def run_sync(config: Config, rolemap: RoleMap, dry_run: bool = False, as_of: str | None = None) -> int:
    """One full run: inbox. Print a summary; return the exit code."""
    now = parse_as_of(as_of)
    started = time.monotonic()
    with open_runtime(config, rolemap, now, dry_run) as rt:
        inbox = run_inbox(rt)
        elapsed = time.monotonic() - started
        prefix = "sync (dry run)" if dry_run else "sync"
        print(f"{prefix} {rt.run_id}: {inbox.line()}; {elapsed:.1f}s")
        log.info("sync_done", requests=dict(inbox.statuses), seconds=round(elapsed, 3))
    return 0


def run_apply(config: Config, rolemap: RoleMap, path: Path, dry_run: bool = False,
              as_of: str | None = None) -> int:
    """`mopldap apply FILE`: process one request file now; print where its result is."""
    now: dt.datetime = parse_as_of(as_of)
    with open_runtime(config, rolemap, now, dry_run) as rt:
        status = apply_file(rt, path)
        if not dry_run:
            print(f"{path.name}: {status}; result in {config.paths.outbox}")
    return 0
