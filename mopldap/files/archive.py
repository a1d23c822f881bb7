"""The archive: every request file once handled (passwords redacted), and the entries
`delete_user` removed (LDIF, written before the delete).

- `requests/<request_id>.yaml`: applied; its existence is what makes the id "seen";
- `rejected/`, `failed/`, `duplicates/`: `<time>-<request_id or file name>`;
- `deleted/<request_id>-<dn>.ldif` (0600).
"""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

from ..model.redaction import redact_lines
from ..model.times import stamp
from .atomic import cannot_write, write_atomic
from .inbox import Claimed


class Archive:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def seen(self, request_id: str) -> bool:
        """True if a request with this id was applied before (its archive copy exists)."""
        return (self.folder / "requests" / f"{request_id}.yaml").exists()

    def file_request(self, claimed: Claimed, folder: str, redacted_text: str | None, now: dt.datetime,
                     request_id: str | None = None) -> Path:
        """Write the redacted request to <archive>/<folder>/ and remove the claimed file.

        Without `redacted_text`: a regular file (too big, not UTF-8) is copied line by
        line with its password values redacted; anything else (a symlink, a FIFO, a
        folder) is moved there as it is, without being opened.
        """
        target_dir = self.folder / folder
        if folder == "requests" and request_id:
            target = target_dir / f"{request_id}.yaml"
        else:
            target = target_dir / f"{stamp(now)}-{request_id or claimed.name}"
            if request_id:
                target = target.with_name(target.name + ".yaml")
        try:
            target_dir.mkdir(parents=True, exist_ok=True)
            if redacted_text is None and stat.S_ISREG(os.lstat(claimed.path).st_mode):
                tmp = target.with_name(f".{target.name}.tmp")
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
                with open(claimed.path, encoding="utf-8", errors="replace") as src, os.fdopen(fd, "w") as dst:
                    dst.writelines(redact_lines(src))
                    dst.flush()
                    os.fsync(dst.fileno())
                os.replace(tmp, target)
                os.unlink(claimed.path)
            elif redacted_text is None:
                os.rename(claimed.path, target)
            else:
                write_atomic(target, redacted_text, 0o640)
                os.unlink(claimed.path)
        except OSError as exc:
            raise cannot_write(target, exc) from None
        return target

    def write_deleted_entry(self, name: str, text: str) -> Path:
        """Write the LDIF of an entry about to be deleted to deleted/<name> (0600, fsync'd)."""
        path = self.folder / "deleted" / name
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise cannot_write(path, exc) from None
        return path
