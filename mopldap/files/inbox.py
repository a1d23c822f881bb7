"""The inbox: request files waiting, claimed atomically by one run at a time.

- Writers drop `*.yaml` into the inbox (names starting with '.' or ending in
  .tmp/.part are ignored, so they can write then rename).
- A run holds the run lock (lock.py) and claims a file by renaming it into
  `inbox/.processing/`; a file found there when the lock is taken was left by a
  run that died, and is finished first.
- Once handled, a request gets its result in the outbox (outbox.py) and moves to
  the archive (archive.py).
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from ..model.times import stamp

MAX_REQUEST_BYTES = 1024 * 1024
IGNORED_SUFFIXES = (".tmp", ".part")


@dataclass(frozen=True)
class Claimed:
    path: Path  # in inbox/.processing/
    name: str  # the name it had in the inbox
    resumed: bool  # left there by a run that died


def is_ignored(name: str) -> bool:
    return name.startswith(".") or name.endswith(IGNORED_SUFFIXES)


class Inbox:
    def __init__(self, folder: Path) -> None:
        self.inbox = folder
        self.processing = self.inbox / ".processing"

    # -- claiming -----------------------------------------------------------------

    def pending(self) -> list[tuple[Path, bool]]:
        """Return (path, resumed) for files to process: leftovers of a dead run first, then the inbox, oldest first."""
        leftovers = sorted(p for p in self.processing.iterdir() if not p.name.startswith(".")) \
            if self.processing.is_dir() else []  # dotfiles there are mopldap's own (journals)
        waiting = []
        if self.inbox.is_dir():
            with os.scandir(self.inbox) as entries:
                for entry in entries:
                    if is_ignored(entry.name):
                        continue
                    try:
                        waiting.append((entry.stat(follow_symlinks=False).st_mtime, entry.name))
                    except FileNotFoundError:  # another run claimed it meanwhile
                        continue
        return [(p, True) for p in leftovers] + [(self.inbox / name, False) for _, name in sorted(waiting)]

    def claim(self, path: Path, resumed: bool) -> Claimed | None:
        """Move `path` into .processing under a name of its own (atomic rename). Return None if
        another process took it first. A leftover of a dead run is claimed where it is."""
        if resumed:
            return Claimed(path, _original_name(path.name), True)
        self.processing.mkdir(parents=True, exist_ok=True)
        target = self.processing / f"{stamp(dt.datetime.now(dt.timezone.utc))}.{os.getpid()}{CLAIM_MARK}{path.name}"
        try:
            os.rename(path, target)
        except FileNotFoundError:
            return None
        return Claimed(target, path.name, False)

    def claim_from(self, path: Path) -> Claimed:
        """Claim a file given on the command line (`mopldap apply`), from any folder."""
        self.processing.mkdir(parents=True, exist_ok=True)
        target = self.processing / f"{stamp(dt.datetime.now(dt.timezone.utc))}.{os.getpid()}{CLAIM_MARK}{path.name}"
        try:
            os.rename(path, target)
        except OSError:  # another filesystem: copy, then remove the original
            shutil.copyfile(path, target, follow_symlinks=False)
            path.unlink()
        return Claimed(target, path.name, False)

    # -- reading --------------------------------------------------------------------

    @staticmethod
    def read(path: Path) -> tuple[str | None, str | None]:
        """Return (text, None), or (None, why the file cannot be a request)."""
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return None, "no such file"
        if stat.S_ISLNK(info.st_mode):
            return None, "is a symbolic link; requests must be regular files"
        if not stat.S_ISREG(info.st_mode):
            kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            return None, f"is {kind}; requests must be regular files"
        if info.st_size > MAX_REQUEST_BYTES:
            return None, f"is {info.st_size} bytes; a request may not exceed 1 MiB ({MAX_REQUEST_BYTES} bytes)"
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return None, "is a symbolic link; requests must be regular files"
            return None, f"cannot be read: {exc.strerror}"
        with os.fdopen(fd, "rb") as fh:
            data = fh.read(MAX_REQUEST_BYTES + 1)
        if len(data) > MAX_REQUEST_BYTES:
            return None, f"exceeds 1 MiB ({MAX_REQUEST_BYTES} bytes)"
        try:
            return data.decode("utf-8"), None
        except UnicodeDecodeError as exc:
            return None, f"is not UTF-8 text (byte {exc.start})"


CLAIM_MARK = "__"  # .processing/<time>.<pid>__<name as dropped>


def _original_name(claimed_name: str) -> str:
    return claimed_name.split(CLAIM_MARK, 1)[1] if CLAIM_MARK in claimed_name else claimed_name
