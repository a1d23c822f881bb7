"""The inbox step of a run, and `mopldap apply FILE`: claim each file, hand it to the
request processor (runs/requests.py), which is loaded only when a file waits, so that a
run with an empty inbox does not even load the request models.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..files.inbox import Claimed, Inbox
from ..logs import get_logger
from ..model.errors import ConfigError
from .runtime import Runtime
from .summary import InboxSummary

if TYPE_CHECKING:
    from .requests import RequestProcessor

log = get_logger(__name__)


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
    processor = _process(rt, echo, pending, inbox.claim)
    processor.summary.left = left
    if rt.config.notify.smtp is not None and rt.config.notify.request_results:
        from .notices import mail_results

        processor.summary.mail = mail_results(rt, processor.results.values())
    return processor.summary


def apply_file(rt: Runtime, path: Path, echo=print) -> str:
    """`mopldap apply FILE`: process one file now, as the inbox would. Return its status."""
    inbox = Inbox(rt.config.paths.inbox, rt.config.paths.work)
    if not os.path.lexists(path):
        raise ConfigError(f"{path}: no such file")
    processor = _process(rt, echo, [(path, False)], lambda file, _: inbox.claim_from(file))
    return next(iter(processor.statuses.values()))


def process_claimed(rt: Runtime, claimed: Claimed) -> RequestProcessor:
    """Process one request already claimed (handed in by the console or the API, whose requester
    is shown the generated passwords: they are handed back, not left in the outbox)."""
    return _process(rt, lambda text: None, [(claimed.path, False)], lambda file, _: claimed, hand_back=True)


def _process(rt: Runtime, echo, files: list[tuple[Path, bool]],
             claim: Callable[[Path, bool], Claimed | None], hand_back: bool = False) -> RequestProcessor:
    """Claim and process each (file, left by a run that died) (in a dry run: read it where it is);
    stop at once, writing nothing more, if the run fails (it holds the run lock: nobody else claims
    meanwhile). Return the processor, which has the results."""
    from .requests import RequestProcessor  # loaded only when a file waits

    processor = RequestProcessor(rt, echo, hand_back)
    if rt.dry_run:
        for path, _ in files:
            processor.process(None, path)
    else:
        try:
            for path, resumed in files:
                claimed = claim(path, resumed)
                if claimed is not None:
                    processor.process(claimed, claimed.path)
        except BaseException:
            processor.abort()
            raise
    processor.close()
    return processor
