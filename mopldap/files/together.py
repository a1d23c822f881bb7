"""Files made durable together: a batch's journals, or its results and archived copies.

Each file of mopldap's is written whole and renamed into place (atomic.py); one fsync a
file made a request cost three flushes of the file system's journal, each of which the
directory server's own commits waited behind when both share a disk (about 1.5 s in a run
of 200 requests at 1,000,000 accounts, bench/results-large.md). Files written through
`Together` are flushed at once by `sync()`: one syncfs(2) for each file system they are on
(Linux), else one fsync each. What a file replaces (a claimed request, its journal) is
removed only after `sync()` returned: a machine that stops in between has both, and the
next run finishes the request again, as after a kill.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path

from .atomic import cannot_write, write_atomic


class Together:
    def __init__(self) -> None:
        self._written: list[Path] = []
        self._afterwards: list[Callable[[], object]] = []

    def write(self, path: Path, text: str | bytes, mode: int = 0o640) -> Path:
        """write_atomic without its fsync: durable once `sync()` returns (LocalFilesError, exit 4,
        if it cannot be written)."""
        write_atomic(path, text, mode, durable=False)
        self._written.append(path)
        return path

    def after(self, action: Callable[[], object]) -> None:
        """Do `action` (remove what a file written replaces) once the files are durable."""
        self._afterwards.append(action)

    def sync(self) -> None:
        """Make every file written since the last sync durable, its name included; then do what
        was to be done after, in order."""
        written, self._written = self._written, []
        afterwards, self._afterwards = self._afterwards, []
        by_device: dict[int, list[Path]] = {}
        for path in written:
            try:
                by_device.setdefault(os.stat(path.parent).st_dev, []).append(path)
            except OSError as exc:
                raise cannot_write(path, exc) from None
        for files in by_device.values():
            try:
                _sync_file_system(files)
            except OSError as exc:
                raise cannot_write(files[0].parent, exc) from None
        for action in afterwards:
            action()


def _sync_file_system(files: list[Path]) -> None:
    """syncfs(2) of the file system `files` are on; where there is none, fsync each of them and
    their folders. Raise OSError if the kernel reports a write error."""
    syncfs = _syncfs()
    if syncfs is not None:
        fd = os.open(files[0].parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            if syncfs(fd) != 0:
                import ctypes  # loaded by _syncfs already

                code = ctypes.get_errno()
                raise OSError(code, os.strerror(code))
        finally:
            os.close(fd)
        return
    for path in [*files, *dict.fromkeys(p.parent for p in files)]:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@functools.cache
def _syncfs() -> Callable[[int], int] | None:
    """libc's syncfs, or None (not Linux, or no such function). ctypes is imported here, on the
    first sync: not at the start-up of every command."""
    import ctypes

    try:
        function = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int]
    return function
