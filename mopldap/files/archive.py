"""The archive: every request file once handled (passwords redacted), and the entries
`delete_user` removed (LDIF, written before the delete).

- `requests/<request_id>.yaml`: applied; its existence is what makes the id "seen";
- `rejected/`, `failed/`, `duplicates/`: `<time>-<request_id or file name>`;
  a file that could not be read or parsed is not archived (it could hold a password in
  clear): it stays in `<paths.work>/quarantine/`, which only mopldap can read;
- `deleted/<request_id>-<dn>.ldif` (0600).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from ..model.times import stamp
from .atomic import write_atomic
from .inbox import Claimed, safe_name
from .together import FlushedTogether


class Archive:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def seen(self, request_id: str) -> bool:
        """True if a request with this id was applied before (its archive copy exists)."""
        return (self.folder / "requests" / f"{request_id}.yaml").exists()

    def file_request(self, claimed: Claimed, folder: str, redacted_text: str, now: dt.datetime,
                     request_id: str | None, files: FlushedTogether) -> Path:
        """Write the request, passwords redacted, to <archive>/<folder>/, durable with `files`; the
        caller removes the claimed file once they are. (A file that could not be read or parsed is
        not archived: see quarantine.py.)"""
        if folder == "requests" and request_id:
            target = self.folder / folder / f"{request_id}.yaml"
        else:
            target = self.folder / folder / f"{stamp(now)}-{request_id or safe_name(claimed.name)}"
            if request_id:
                target = target.with_name(target.name + ".yaml")
        return files.write(target, redacted_text, 0o640)

    def write_deleted_entry(self, name: str, text: str) -> Path:
        """Write the LDIF of an entry about to be deleted to deleted/<name> (0600, fsync'd)."""
        path = self.folder / "deleted" / name
        write_atomic(path, text, 0o600)
        return path
