"""The inbox, outbox and archive folders: claiming files atomically, results, secrets, archive copies.

- Writers drop `*.yaml` into the inbox (names starting with '.' or ending in
  .tmp/.part are ignored, so they can write then rename).
- A run holds `inbox/.lock` (flock) and claims a file by renaming it into
  `inbox/.processing/`; a file found there when the lock is taken was left by a
  run that died, and is finished first.
- Results go to `outbox/<request_id>.result.yaml`; generated passwords to
  `outbox/<request_id>.secret` (0600). The request itself moves to the archive,
  passwords redacted: `archive/requests/` (applied: its id is now taken),
  `archive/rejected/`, `archive/failed/`, `archive/duplicates/`.
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import os
import shutil
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .config import PathsConfig
from .errors import MopldapError
from .secrets_file import write_secret
from .yamlfile import dump

MAX_REQUEST_BYTES = 1024 * 1024
IGNORED_SUFFIXES = (".tmp", ".part")


class InboxBusy(MopldapError):
    """Another mopldap process holds the inbox lock."""


@dataclass(frozen=True)
class Claimed:
    path: Path  # in inbox/.processing/
    name: str  # the name it had in the inbox
    resumed: bool  # left there by a run that died


def is_ignored(name: str) -> bool:
    return name.startswith(".") or name.endswith(IGNORED_SUFFIXES)


def _atomic_write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _stamp(now: dt.datetime) -> str:
    return now.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


class Inbox:
    def __init__(self, paths: PathsConfig) -> None:
        self.inbox = paths.inbox
        self.outbox = paths.outbox
        self.archive = paths.archive
        self.processing = self.inbox / ".processing"

    # -- claiming -----------------------------------------------------------------

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the inbox lock for one run. Raise InboxBusy if another process holds it."""
        self.processing.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.inbox / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise InboxBusy(f"{self.inbox}: another mopldap run is processing the inbox") from None
            yield
        finally:
            os.close(fd)

    def pending(self) -> list[tuple[Path, bool]]:
        """Return (path, resumed) for files to process: leftovers of a dead run first, then the inbox, oldest first."""
        leftovers = sorted(self.processing.iterdir()) if self.processing.is_dir() else []
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
        target = self.processing / f"{_stamp(dt.datetime.now(dt.timezone.utc))}.{os.getpid()}{CLAIM_MARK}{path.name}"
        try:
            os.rename(path, target)
        except FileNotFoundError:
            return None
        return Claimed(target, path.name, False)

    def claim_from(self, path: Path) -> Claimed:
        """Claim a file given on the command line (`mopldap apply`), from any folder."""
        target = self.processing / f"{_stamp(dt.datetime.now(dt.timezone.utc))}.{os.getpid()}{CLAIM_MARK}{path.name}"
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

    def seen(self, request_id: str) -> bool:
        """True if a request with this id was applied before (its archive copy exists)."""
        return (self.archive / "requests" / f"{request_id}.yaml").exists()

    def last_status(self, request_id: str) -> str | None:
        path = self.result_path(request_id)
        try:
            return (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("status")
        except (OSError, yaml.YAMLError, AttributeError):
            return None

    # -- writing --------------------------------------------------------------------

    def result_path(self, request_id: str) -> Path:
        return self.outbox / f"{request_id}.result.yaml"

    def write_result(self, name: str, result: dict[str, Any]) -> Path:
        path = self.outbox / f"{name}.result.yaml"
        _atomic_write(path, dump(result))
        return path

    def write_secrets(self, request_id: str, secrets: dict[str, str]) -> Path:
        """Merge generated passwords into outbox/<request_id>.secret (0600)."""
        path = self.outbox / f"{request_id}.secret"
        known: dict[str, str] = {}
        if path.exists():
            try:
                known = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            except yaml.YAMLError:
                known = {}
        known.update(secrets)
        write_secret(path, dump(dict(sorted(known.items()))))
        return path

    def archive_request(self, claimed: Claimed, folder: str, redacted_text: str | None, now: dt.datetime,
                        request_id: str | None = None) -> Path:
        """Write the redacted request to archive/<folder>/ and remove the claimed file.

        Without `redacted_text`: a regular file (too big, not UTF-8) is copied line by
        line with its password values redacted; anything else (a symlink, a FIFO, a
        folder) is moved there as it is, without being opened.
        """
        target_dir = self.archive / folder
        target_dir.mkdir(parents=True, exist_ok=True)
        if folder == "requests" and request_id:
            target = target_dir / f"{request_id}.yaml"
        else:
            target = target_dir / f"{_stamp(now)}-{request_id or claimed.name}"
            if request_id:
                target = target.with_name(target.name + ".yaml")
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
            _atomic_write(target, redacted_text, 0o640)
            os.unlink(claimed.path)
        return target


CLAIM_MARK = "__"  # .processing/<time>.<pid>__<name as dropped>
_SECRET_KEY = re.compile(r"^(\s*(?:-\s+)?)([\"']?(?:initial_password|new_password)[\"']?\s*:)")
_SECRET_INLINE = re.compile(r"((?:initial_password|new_password)[\"']?\s*:\s*)(\"[^\"]*\"|'[^']*'|[^,}\s]+)")


def _original_name(claimed_name: str) -> str:
    return claimed_name.split(CLAIM_MARK, 1)[1] if CLAIM_MARK in claimed_name else claimed_name


def redact_lines(lines):
    """Yield the lines of a file that could not be parsed, password values redacted: a value on
    the key's line, in a flow mapping, or on the lines below it (a block scalar, a continued
    plain scalar) is replaced by <redacted>."""
    skip_below = None  # the key's column while its value's continuation lines are dropped
    for line in lines:
        body = line.rstrip("\n")
        if skip_below is not None:
            stripped = body.lstrip()
            if not stripped or len(body) - len(stripped) > skip_below:
                continue
            skip_below = None
        match = _SECRET_KEY.match(body)
        if match:
            yield f"{match.group(1)}{match.group(2)} <redacted>\n"
            skip_below = len(match.group(1))
            continue
        yield _SECRET_INLINE.sub(lambda m: m.group(1) + "<redacted>", body) + "\n"


def redact_file_text(text: str) -> str:
    """Redact password values in the text of a file whose YAML could not be trusted."""
    return "".join(redact_lines(text.splitlines()))
