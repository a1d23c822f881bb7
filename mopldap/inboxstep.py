"""The inbox step of a run, and `mopldap apply FILE`.

Kept apart from provision.py so that a run with an empty inbox does not even load
the request models.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from .errors import ConfigError
from .inbox import Inbox, InboxBusy
from .runtime import Runtime

log = structlog.get_logger(__name__)


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



def run_inbox(rt: Runtime, echo=print) -> InboxSummary:
    """Process every file waiting in the inbox (and any left by a run that died)."""
    inbox = Inbox(rt.config.paths)
    pending = inbox.pending()
    if not pending:
        return InboxSummary()
    from .provision import RequestProcessor

    processor = RequestProcessor(rt, inbox, echo)
    if rt.dry_run:
        for path, _ in pending:
            processor.process(None, path)
        processor.close()
        return processor.summary
    try:
        with inbox.locked():
            try:
                for path, resumed in inbox.pending():  # again, under the lock
                    claimed = inbox.claim(path, resumed)
                    if claimed is not None:
                        processor.process(claimed, claimed.path)
            finally:
                processor.close()
    except InboxBusy as exc:
        log.warning("inbox_busy", why=str(exc))
        processor.summary.busy = True
    return processor.summary


def apply_file(rt: Runtime, path: Path, echo=print) -> str:
    """`mopldap apply FILE`: process one file now, as the inbox would. Return its status."""
    from .provision import RequestProcessor

    inbox = Inbox(rt.config.paths)
    processor = RequestProcessor(rt, inbox, echo)
    if not os.path.lexists(path):
        raise ConfigError(f"{path}: no such file")
    if rt.dry_run:
        processor.process(None, path)
        processor.close()
        return processor.statuses[path.name]
    with inbox.locked():
        claimed = inbox.claim_from(path)
        try:
            processor.process(claimed, claimed.path)
        finally:
            processor.close()
        return processor.statuses[path.name]
