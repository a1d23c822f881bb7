"""The run lock: one mopldap run writes at a time, whichever step or process it is.

An flock(2) on a file of mopldap's own; it goes away with the process that holds it,
however it ends. The holder writes its pid and run id into the file, so a run that has
to wait can say who it waits for.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path

from ..model.errors import MopldapError


class RunBusy(MopldapError):
    """Another mopldap run held the run lock for longer than this run would wait (exit 5)."""

    exit_code = 5


class RunLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def holder(self) -> str:
        """Who holds the lock, as its holder wrote it ('pid 123, run ...'), or 'another process'."""
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            text = ""
        return text[:200] or "another process"

    def acquire(self, run_id: str, wait: float, on_wait: Callable[[str], None] = lambda who: None,
                stop: Callable[[], bool] = lambda: False) -> None:
        """Take the lock, waiting up to `wait` seconds (float('inf'): until `stop()` says so).
        Call `on_wait(holder)` once if it must wait. Raise RunBusy if it could not take it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        deadline = time.monotonic() + wait
        told = False
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline or stop():
                        raise RunBusy(f"another mopldap run holds {self.path} ({self.holder()}); "
                                      "nothing was done: run again once it has finished") from None
                    if not told:
                        on_wait(self.holder())
                        told = True
                    time.sleep(0.2)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()}, run {run_id}\n".encode(), 0)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the last descriptor releases the flock
            self._fd = None
