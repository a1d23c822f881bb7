"""Whole files or nothing: written to a temporary name, fsync'd (or flushed with others: together.py),
renamed into place."""

from __future__ import annotations

import errno
import os
import secrets
import stat
from pathlib import Path

from ..model.errors import LocalFilesError


def cannot_write(path: Path, exc: OSError) -> LocalFilesError:
    """The one-line error for a file of mopldap's own that could not be written (exit 4)."""
    return LocalFilesError(f"{path}: cannot write: {exc.strerror or exc}; mopldap stopped: free space on "
                           f"{path.parent} or make it writable, then run again (the next run finishes this one)")


MAX_OWN_FILE = 16 * 1024 * 1024


def open_unfollowed(path: Path | str, dir_fd: int | None = None) -> int:
    """Open `path` (relative to the folder `dir_fd`, if given) for reading without following a
    symbolic link (ELOOP), without blocking on a FIFO and without taking a terminal; the caller
    checks with fstat what it opened."""
    return os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC, dir_fd=dir_fd)


def read_own(path: Path) -> str:
    """Read a file mopldap wrote itself (a result, a journal, the state, a .secret): never through
    a symbolic link, only a regular file, at most 16 MiB. Raise OSError (or UnicodeDecodeError)
    if it is not such a file."""
    return read_own_bytes(path).decode("utf-8")


def private_to_me(info: os.stat_result) -> bool:
    """Whether what `info` describes is this user's and no one else can write it."""
    return info.st_uid == os.geteuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def read_own_bytes(path: Path | str, private: bool = False, dir_fd: int | None = None) -> bytes:
    """read_own's bytes; with `private`, only from a file of this user's that no one else can write."""
    with os.fdopen(open_unfollowed(path, dir_fd), "rb") as fh:
        found = os.fstat(fh.fileno())
        if not stat.S_ISREG(found.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        if private and not private_to_me(found):
            raise OSError(errno.EPERM, "not mopldap's own file", str(path))
        return fh.read(MAX_OWN_FILE)


def create_new(path: Path | str, mode: int, dir_fd: int | None = None) -> int:
    """Open a file that did not exist (O_EXCL: never an existing file, a symbolic link or a hard
    link someone placed), with exactly `mode`, relative to the folder `dir_fd` if given; return
    its descriptor."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dir_fd)
    os.fchmod(fd, mode)  # whatever the umask
    return fd


def replace_in(folder: int, name: str, data: bytes, mode: int, durable: bool = True) -> None:
    """Write `data` as `name` in the folder open as `folder`: a new temporary file of a name chosen
    here, with `mode`, renamed over `name` (which replaces a link, never writes through it); if
    `durable`, the file is fsync'd before and the folder after the rename. Raise OSError, the
    temporary file removed."""
    tmp = f".{name}.{secrets.token_hex(4)}.tmp"
    try:
        with os.fdopen(create_new(tmp, mode, dir_fd=folder), "wb") as fh:
            fh.write(data)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, name, src_dir_fd=folder, dst_dir_fd=folder)
        if durable:  # the rename itself: without this, a machine that stops may come back without the file
            os.fsync(folder)
    except OSError:
        try:
            os.unlink(tmp, dir_fd=folder)
        except OSError:
            pass
        raise


def write_atomic(path: Path, text: str | bytes, mode: int = 0o640, durable: bool = True) -> None:
    """Write `text` (str as UTF-8, or bytes as they are) to `path` with `mode` (replace_in). A
    reader sees the old file or the new one, never half of it. Not `durable`: no fsync, the caller
    flushes it (together.py); until then a machine that stops may lose it. Raise LocalFilesError
    if it cannot."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise cannot_write(path, exc) from None
    try:
        replace_in(folder, path.name, text.encode("utf-8") if isinstance(text, str) else text, mode, durable)
    except OSError as exc:
        raise cannot_write(path, exc) from None
    finally:
        os.close(folder)


def remove_temporaries(folders: list[Path], with_subfolders: list[Path], inbox: Path) -> None:
    """Remove the temporary files (`.<name>.<hex>.tmp`) a killed run left in mopldap's own folders
    (and the sub-folders of `with_subfolders`): regular files of mopldap's user only, never through
    a link. Never the inbox: writers put their own `.tmp` files there."""
    me = os.geteuid()
    places = [f for f in folders if f.is_dir() and not f.is_symlink()]
    for folder in with_subfolders:
        if folder.is_dir() and not folder.is_symlink():
            places += [folder, *(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink())]
    for path in places:
        if os.path.realpath(path) == os.path.realpath(inbox):
            continue
        for leftover in path.glob(".*.tmp"):
            try:
                info = os.lstat(leftover)
                if stat.S_ISREG(info.st_mode) and info.st_uid == me:
                    leftover.unlink()
            except OSError:
                continue


def write_secret(path: Path, text: str) -> None:
    """Write a file that holds a password: mode 0600, atomically."""
    write_atomic(path, text, 0o600)
