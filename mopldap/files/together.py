"""Files flushed to the disk together: a batch's journals and generated passwords, or its results
and archived copies.

Each file of mopldap's is written whole and renamed into place (atomic.py). One fsync a file
made a request cost three flushes of the file system's journal, and the directory server's
own commits waited behind each when both share a disk (about 1.5 s in a run of 200 requests
at 1,000,000 accounts, bench/results-large.md). A batch's files are written without their
fsync and flushed at once by `sync()`: one syncfs(2) for each file system they are on.
What they replace (a claimed request, its journal) is removed only after `sync()` returned:
a machine that stops in between has both, and the next run finishes the request again, as
after a kill.

syncfs is used only where it is known to flush what it is given and to report the errors
of doing so (Linux 5.8 or later, a local file system: FUSE and network file systems may not
pass it on), and only for SYNCFS_FROM files or more (it also flushes whatever else waits on
the file system). Otherwise, and for a file that replaces one (a journal or result written
again), each file is fsync'd before its rename, as write_atomic does.
"""

from __future__ import annotations

import errno
import functools
import os
import re
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from .atomic import cannot_write, write_atomic

SYNCFS_FROM = 4
"""Fewer files than this (one request's) are fsync'd one by one."""
LOCAL_FILE_SYSTEMS = frozenset({"ext4", "ext3", "xfs", "btrfs", "f2fs", "tmpfs"})


class FlushedTogether:
    """Use as a context manager (it holds a descriptor of a folder on each file system written to)."""

    def __init__(self, count: int) -> None:
        """`count`: how many files will be written."""
        self._syncfs = _syncfs() if count >= SYNCFS_FROM else None
        self._folders: dict[Path, bool] = {}  # folder -> whether its file system is flushed by syncfs
        self._devices: dict[int, tuple[Path, int]] = {}  # st_dev -> (a folder on it, its descriptor)
        self._afterwards: list[Callable[[], object]] = []

    def __enter__(self) -> FlushedTogether:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        for _, fd in self._devices.values():
            os.close(fd)
        self._devices.clear()

    def write(self, path: Path, text: str | bytes, mode: int = 0o640) -> Path:
        """Write a file, on the disk once `sync()` returns (LocalFilesError, exit 4, if it cannot be
        written). A file that replaces one is fsync'd now: the one it replaces stays until it is."""
        together = self._syncfs is not None and self._flushed_by_syncfs(path.parent) and not os.path.lexists(path)
        write_atomic(path, text, mode, durable=not together)
        return path

    def after(self, action: Callable[[], object]) -> None:
        """Do `action` once the files are on the disk (remove what they replace, hand passwords back)."""
        self._afterwards.append(action)

    def sync(self) -> None:
        """Flush the files written; then do what was to be done after, in order. Raise
        LocalFilesError (and do none of it) if the kernel reports an error."""
        afterwards, self._afterwards = self._afterwards, []
        assert self._syncfs is not None or not self._devices
        for folder, fd in self._devices.values():
            if self._syncfs(fd) != 0:  # type: ignore[misc]
                import ctypes  # imported by _syncfs already

                code = ctypes.get_errno()
                raise cannot_write(folder, OSError(code, os.strerror(code)))
        for action in afterwards:
            action()

    def _flushed_by_syncfs(self, folder: Path) -> bool:
        """Whether files written to `folder` are flushed by syncfs (once it is opened: the errors
        syncfs reports are those since a descriptor of the file system was opened)."""
        if folder not in self._folders:
            try:
                folder.mkdir(mode=0o700, parents=True, exist_ok=True)
                fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            except OSError as exc:
                raise cannot_write(folder, exc) from None
            device = os.fstat(fd).st_dev  # of the folder opened, not of a name looked up again
            local = _local(device)
            if local and device not in self._devices:
                self._devices[device] = (folder, fd)
            else:
                os.close(fd)
            self._folders[folder] = local
        return self._folders[folder]


@functools.cache
def _local(device: int) -> bool:
    """Whether the file system of `device` is a local one that syncfs flushes (/proc/self/mountinfo)."""
    wanted = f"{os.major(device)}:{os.minor(device)}"
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as mounts:
            for line in mounts:
                fields = line.split()
                if len(fields) > 3 and fields[2] == wanted and " - " in line:
                    return line.split(" - ", 1)[1].split()[0] in LOCAL_FILE_SYSTEMS
    except OSError:
        pass
    return False


@functools.cache
def _syncfs() -> Callable[[int], int] | None:
    """libc's syncfs where the kernel has it and reports write errors through it (Linux 5.8 or
    later), else None. ctypes is imported here, on the first flush of a batch: not at the start-up
    of every command."""
    version = re.match(r"(\d+)\.(\d+)", os.uname().release)
    if version is None or (int(version[1]), int(version[2])) < (5, 8):
        return None
    try:
        import ctypes

        function = ctypes.CDLL(None, use_errno=True).syncfs
    except (ImportError, OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int]
    function(-1)  # a system call that exists answers EBADF; a sandbox that refuses it, ENOSYS or EPERM
    return function if ctypes.get_errno() == errno.EBADF else None
