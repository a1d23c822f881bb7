"""The inbox step of a run, and `mopldap apply FILE`: claim each file, hand it to the
request processor (runs/requests.py), which is loaded only when a file waits, so that a
run with an empty inbox does not even load the request models.
"""

from __future__ import annotations

import os
from pathlib import Path

import structlog

from ..files.inbox import Inbox
from ..model.errors import ConfigError
from .runtime import Runtime
from .summary import InboxSummary

log = structlog.get_logger(__name__)


def run_inbox(rt: Runtime, echo=print, limit: int | None = None, leftovers_only: bool = False) -> InboxSummary:
    """Process the files waiting in the inbox (and any left by a run that died), oldest first: all
    of them, or the first `limit` (the daemon's runs, so that a flood of files never holds back
    its other jobs; the summary says how many wait for the next run)."""
    inbox = Inbox(rt.config.paths.inbox, rt.config.paths.work)
    pending = [(path, True) for path in inbox.leftovers()] if leftovers_only else inbox.pending()
    if not pending:
        return InboxSummary()
    left = 0
    if limit is not None and len(pending) > limit:
        pending, left = pending[:limit], len(pending) - limit
    from .requests import RequestProcessor

    processor = RequestProcessor(rt, echo)
    processor.summary.left = left
    if rt.dry_run:
        for path, _ in pending:
            processor.process(None, path)
        processor.close()
        return processor.summary
    try:
        for path, resumed in pending:  # the run holds the run lock: nobody else claims meanwhile
            claimed = inbox.claim(path, resumed)
            if claimed is not None:
                processor.process(claimed, claimed.path)
    except BaseException:
        processor.abort()  # stop at once: nothing more is written
        raise
    processor.close()
    return processor.summary


def apply_file(rt: Runtime, path: Path, echo=print) -> str:
    """`mopldap apply FILE`: process one file now, as the inbox would. Return its status."""
    from .requests import RequestProcessor

    inbox = Inbox(rt.config.paths.inbox, rt.config.paths.work)
    processor = RequestProcessor(rt, echo)
    if not os.path.lexists(path):
        raise ConfigError(f"{path}: no such file")
    if rt.dry_run:
        processor.process(None, path)
        processor.close()
        return next(iter(processor.statuses.values()))
    claimed = inbox.claim_from(path)
    try:
        processor.process(claimed, claimed.path)
    except BaseException:
        processor.abort()
        raise
    processor.close()
    return next(iter(processor.statuses.values()))
