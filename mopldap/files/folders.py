"""mopldap's folders, checked before a run trusts them.

The inbox is an HQ integration channel: a request's `requested_by` is believed only because
nobody but the inbox's owner can put a file there. So every folder mopldap reads requests from
or writes to must be a real folder (not a symbolic link), owned by the user mopldap runs as,
writable by nobody else, below parents that nobody else can rename it away from.
"""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path

from ..model.errors import ConfigError, LocalFilesError

MODE = 0o700


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def folder_problem(path: Path, what: str) -> str | None:
    """Why `path` may not serve as mopldap's `what` folder, with the command that fixes it; None if fine."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return f"{what} {path} does not exist: run `mopldap init`, which creates it"
    except OSError as exc:
        return f"{what} {path}: {exc.strerror}"
    me = os.geteuid()
    if stat.S_ISLNK(info.st_mode):
        return f"{what} {path} is a symbolic link: point the configuration at the folder itself"
    if not stat.S_ISDIR(info.st_mode):
        return f"{what} {path} is not a folder"
    if info.st_uid != me:
        return (f"{what} {path} belongs to {_user(info.st_uid)}, not to {_user(me)}, the user mopldap runs as: "
                f"`chown {_user(me)} {path}`")
    if info.st_mode & 0o022:
        return f"{what} {path} can be written by other users: `chmod go-w {path}`"
    for parent in path.parents:
        try:
            up = os.stat(parent)
        except OSError:
            continue
        sticky = bool(up.st_mode & stat.S_ISVTX)
        if up.st_uid not in (0, me):
            return (f"{what} {path}: its parent {parent} belongs to {_user(up.st_uid)}, who could replace it: "
                    f"move it under a folder owned by root or {_user(me)}")
        if up.st_mode & 0o022 and not sticky:
            return f"{what} {path}: its parent {parent} can be written by other users: `chmod go-w {parent}`"
    return None


def check_folders(folders: dict[str, Path]) -> None:
    """Raise ConfigError (exit 1) naming every folder that may not be trusted, and the fix."""
    problems = [why for what, path in folders.items() if (why := folder_problem(path, what))]
    if problems:
        raise ConfigError(problems[0], problems)


def create_folders(folders: dict[str, Path]) -> list[Path]:
    """Create the missing folders (mode 0700) and return them; existing ones are left as they are."""
    made = []
    for path in folders.values():
        if not os.path.lexists(path):
            try:
                path.mkdir(mode=MODE, parents=True)
            except OSError as exc:
                raise LocalFilesError(f"{path}: cannot create the folder: {exc.strerror}") from None
            made.append(path)
    return made
