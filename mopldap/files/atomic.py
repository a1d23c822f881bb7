"""Whole files or nothing: written to a temporary name, fsync'd, renamed into place."""

from __future__ import annotations

import os
from pathlib import Path

from ..model.errors import LocalFilesError


def cannot_write(path: Path, exc: OSError) -> LocalFilesError:
    """The one-line error for a file of mopldap's own that could not be written (exit 4)."""
    return LocalFilesError(f"{path}: cannot write: {exc.strerror or exc}; mopldap stopped: free space on "
                           f"{path.parent} or make it writable, then run again (the next run finishes this one)")


def write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    """Write `text` to `path` with `mode` (a temporary file, fsync, rename): a reader sees the
    old file or the new one, never half of it. Raise LocalFilesError if it cannot."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)  # an old temporary file keeps its mode through O_CREAT
        os.replace(tmp, path)
    except OSError as exc:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        raise cannot_write(path, exc) from None


def write_secret(path: Path, text: str) -> None:
    """Write a file that holds a password: mode 0600, atomically."""
    write_atomic(path, text, 0o600)
