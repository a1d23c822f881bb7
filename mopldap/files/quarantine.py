"""Files set aside unopened or unparsed: in `<paths.work>/quarantine/`, which only mopldap's user
can read (0700). A symbolic link, a FIFO or a folder is moved there as it is, without being
opened; a file that could not be parsed goes there instead of the archive, since nothing can
tell where a password would be in it."""

from __future__ import annotations

import datetime as dt
import os
import secrets
from pathlib import Path

from ..model.times import stamp
from .atomic import cannot_write
from .inbox import Claimed, safe_name


class Quarantine:
    def __init__(self, work: Path) -> None:
        self.folder = work / "quarantine"

    def keep(self, claimed: Claimed, now: dt.datetime) -> Path:
        """Move a claimed entry here (a rename: a link is moved, not followed); return its new path."""
        target = self.folder / f"{stamp(now)}-{secrets.token_hex(3)}-{safe_name(claimed.name)}"
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.rename(claimed.path, target)
        except OSError as exc:
            raise cannot_write(target, exc) from None
        return target
