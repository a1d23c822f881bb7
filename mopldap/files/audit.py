"""The audit file: one JSON line per directory write, written before the run reports it."""

from __future__ import annotations

import datetime as dt
import json
import errno
import os
import stat
import threading
from pathlib import Path
from typing import Any

from .atomic import cannot_write


class AuditLog:
    """Appends one JSON line per directory write to the audit file, one write(2) per line (no
    buffer to lose), fsync'd when the run closes it."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._fd: int | None = None
        self._lock = threading.Lock()  # writers of several threads: one whole line each

    def write(self, event: str, **fields: Any) -> None:
        """Append one event. Raise LocalFilesError (exit 4) if it cannot be written whole."""
        if self.path is None:
            return
        record = {"time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "event": event, **fields}
        line = (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode("utf-8")
        with self._lock:
            try:
                if self._fd is None:
                    self._fd = self._open()
                written = os.write(self._fd, line)
                if written != len(line):
                    raise OSError(28, "No space left on device (line written in part)")
            except OSError as exc:
                raise cannot_write(self.path, exc) from None

    def _open(self) -> int:
        """Open the audit file for appending: never through a symbolic link, never a file that is
        also linked elsewhere or that belongs to another user."""
        assert self.path is not None
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, 0o640)
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1 or info.st_uid != os.geteuid():
            os.close(fd)
            raise OSError(errno.EPERM, "not a regular file of mopldap's own (a hard link, or another user's)")
        return fd

    def close(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.fsync(fd)
        except OSError as exc:
            assert self.path is not None
            raise cannot_write(self.path, exc) from None
        finally:
            os.close(fd)
