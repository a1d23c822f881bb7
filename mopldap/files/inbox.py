"""The inbox: request files waiting, claimed atomically by one run at a time.

- Writers drop `*.yaml` into the inbox (names starting with '.' or ending in
  .tmp/.part are ignored, so they can write then rename).
- A run holds the run lock (lock.py) and claims a file by renaming it into
  `<paths.work>/processing/`; a file found there when the lock is taken was left
  by a run that died, and is finished first.
- Once handled, a request gets its result in the outbox (outbox.py) and moves to
  the archive (archive.py).
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import os
import re
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from ..model.errors import ConfigError
from ..model.times import stamp
from .atomic import cannot_write, open_unfollowed, write_atomic

MAX_REQUEST_BYTES = 1024 * 1024
IGNORED_SUFFIXES = (".tmp", ".part")


@dataclass(frozen=True)
class Claimed:
    path: Path  # in <paths.work>/processing/
    name: str  # the name it had in the inbox
    resumed: bool  # left there by a run that died


def is_ignored(name: str) -> bool:
    return name.startswith(".") or name.endswith(IGNORED_SUFFIXES)


def shown_name(name: str) -> str:
    """A file name as it may appear in a result or a log: undecodable bytes and control
    characters replaced, at most 200 characters."""
    text = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    text = "".join(c if c.isprintable() else "\ufffd" for c in text)
    return text if len(text) <= 200 else text[:199] + "…"


_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def safe_name(name: str) -> str:
    """`name` if it is a plain short file name, else a stable stand-in (`file-<hash>`): what result
    and archive files of a file are named after."""
    if _SAFE_NAME.fullmatch(name):
        return name
    return "file-" + hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:16]


class Inbox:
    """The inbox folder, and the folder where a run keeps the files it claimed (in paths.work:
    only mopldap writes there)."""

    def __init__(self, folder: Path, work: Path) -> None:
        self.inbox = folder
        self.processing = work / "processing"

    # -- claiming -----------------------------------------------------------------

    def leftovers(self) -> list[Path]:
        """Files a run claimed and did not finish (it died): they are finished first."""
        if not self.processing.is_dir():
            return []
        return sorted(p for p in self.processing.iterdir() if not p.name.startswith("."))  # dotfiles: journals

    def pending(self) -> list[tuple[Path, bool]]:
        """Return (path, resumed) for files to process: leftovers of a dead run first, then the inbox, oldest first."""
        leftovers = self.leftovers()
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

    def _target(self, name: str) -> Path:
        self.processing.mkdir(mode=0o700, parents=True, exist_ok=True)
        return self.processing / f"{stamp(dt.datetime.now(dt.timezone.utc))}.{os.getpid()}.{secrets.token_hex(3)}" \
                                 f"{CLAIM_MARK}{safe_name(name)}"

    def claim(self, path: Path, resumed: bool) -> Claimed | None:
        """Move `path` into the processing folder under a name of its own (an atomic rename, which
        moves a symbolic link itself, never what it points to). Return None if another process
        took it first. A leftover of a dead run is claimed where it is."""
        if resumed:
            return Claimed(path, _original_name(path.name), True)
        target = self._target(path.name)
        try:
            os.rename(path, target)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise cannot_write(target, exc) from None
            _copy_regular(path, target)
            path.unlink()
        return Claimed(target, shown_name(path.name), False)

    def hand_in(self, name: str, text: str) -> Claimed:
        """Claim a request that comes as text (the console, the API): written straight into the
        processing folder, so that if the process dies before its result, the next run finishes it."""
        target = self._target(name)
        write_atomic(target, text, 0o600)
        return Claimed(target, shown_name(name), False)

    def claim_from(self, path: Path) -> Claimed:
        """Claim a file given on the command line (`mopldap apply`): moved if it is in the inbox,
        copied if it is elsewhere (a file of someone's own folder is left where it was)."""
        if os.path.realpath(path.parent) == os.path.realpath(self.inbox):
            claimed = self.claim(path, False)
            if claimed is None:
                raise ConfigError(f"{path}: no such file")
            return claimed
        target = self._target(path.name)
        _copy_regular(path, target)
        return Claimed(target, shown_name(path.name), False)

    # -- reading --------------------------------------------------------------------

    @staticmethod
    def read(path: Path) -> tuple[str | None, str | None]:
        """Return (text, None), or (None, why the file cannot be a request). Anything but a
        regular file is never opened (a FIFO could block, a device could act)."""
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return None, "no such file"
        except OSError as exc:
            return None, f"cannot be read: {exc.strerror}"
        why = _not_regular(info)
        if why:
            return None, why
        if info.st_size > MAX_REQUEST_BYTES:
            return None, f"is {info.st_size} bytes; a request may not exceed 1 MiB ({MAX_REQUEST_BYTES} bytes)"
        try:
            fd = open_unfollowed(path)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return None, "is a symbolic link; requests must be regular files"
            return None, f"cannot be read: {exc.strerror}"
        with os.fdopen(fd, "rb") as fh:
            opened = os.fstat(fh.fileno())
            if not stat.S_ISREG(opened.st_mode) or opened.st_ino != info.st_ino:
                return None, "was replaced while it was read; requests must be regular files"
            data = fh.read(MAX_REQUEST_BYTES + 1)
        if len(data) > MAX_REQUEST_BYTES:
            return None, f"exceeds 1 MiB ({MAX_REQUEST_BYTES} bytes)"
        try:
            return data.decode("utf-8"), None
        except UnicodeDecodeError as exc:
            return None, f"is not UTF-8 text (byte {exc.start})"


def _not_regular(info: os.stat_result) -> str | None:
    if stat.S_ISREG(info.st_mode):
        return None
    if stat.S_ISLNK(info.st_mode):
        return "is a symbolic link; requests must be regular files"
    kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
    return f"is {kind}; requests must be regular files"


def _copy_regular(source: Path, target: Path) -> None:
    """Copy a regular file (opened without following links, at most a request's size and one byte,
    so that reading it says it is too big) to `target`, atomically: a kill never leaves half a
    request to be claimed. Anything but a regular file cannot be copied."""
    try:
        fd = open_unfollowed(source)
    except OSError as exc:
        raise ConfigError(f"{source}: cannot be read: {exc.strerror} (requests are regular files)") from None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise ConfigError(f"{source}: not a regular file (requests are regular files)")
        try:
            data = fh.read(MAX_REQUEST_BYTES + 1)
        except OSError as exc:
            raise ConfigError(f"{source}: cannot be read: {exc.strerror}") from None
    write_atomic(target, data, 0o600)


CLAIM_MARK = "__"  # processing/<time>.<pid>.<random>__<name as dropped>


def _original_name(claimed_name: str) -> str:
    return claimed_name.split(CLAIM_MARK, 1)[1] if CLAIM_MARK in claimed_name else claimed_name
