"""Hints in the user's cache folder: where a configuration's work folder is (files/checked.py).

Only the configuration says where its work folder is, in YAML, and importing PyYAML to read it
took 11 ms of each start-up. A command that finds or writes the settings snapshot leaves the work
folder's path in `<cache>/mopldap/work-<digest of the configuration's absolute path>`, where
<cache> is `$XDG_CACHE_HOME`, else `$HOME/.cache` (absolute paths only). A hint is only a place
to look (the snapshot found there is checked as always), but a hint folder someone else could
steer must not be written through: the cache folder must be this user's (mopldap makes it only in a
folder of this user's: never in another's home that a `sudo` kept in HOME), the `mopldap` folder in
it this user's, no link, writable by no one else, and every hint is opened relative to it,
never through a link. Anything else: no hint, and the command reads the YAML.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .atomic import private_to_me, read_own_bytes, replace_in

FOLDER = "mopldap"


def _cache_folder() -> Path | None:
    """$XDG_CACHE_HOME, else $HOME/.cache (a relative one is ignored, as XDG says), else None."""
    cache = os.environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(cache):
        return Path(cache)
    home = os.environ.get("HOME", "")
    return Path(home) / ".cache" if os.path.isabs(home) else None


def _open_folder(create: bool) -> int | None:
    """A descriptor of this user's hint folder (made, with `create`), or None."""
    cache = _cache_folder()
    if cache is None:
        return None
    try:
        if create and not cache.exists() and os.stat(cache.parent).st_uid == os.geteuid():
            cache.mkdir(mode=0o700)
        base = os.open(cache, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)  # a home's .cache may be a link
    except OSError:
        return None
    try:
        if os.fstat(base).st_uid != os.geteuid():
            return None
        if create:
            try:
                os.mkdir(FOLDER, 0o700, dir_fd=base)
            except FileExistsError:
                pass
        folder = os.open(FOLDER, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=base)
    except OSError:
        return None
    finally:
        os.close(base)
    if not private_to_me(os.fstat(folder)):
        os.close(folder)
        return None
    return folder


def hint_name(config: Path) -> str:
    """The file name of the hint for the configuration at `config`."""
    return "work-" + hashlib.sha256(os.fsencode(config.resolve())).hexdigest()[:32]


def hinted_work(config: Path) -> Path | None:
    """The work folder the hint for the configuration at `config` names, if there is such a hint."""
    folder = _open_folder(create=False)
    if folder is None:
        return None
    try:
        named = os.fsdecode(read_own_bytes(hint_name(config), private=True, dir_fd=folder))
    except OSError:
        return None
    finally:
        os.close(folder)
    return Path(named) if os.path.isabs(named) and "\0" not in named else None


def leave_hint(config: Path, work: Path) -> None:
    """Name `work` as the work folder of the configuration at `config` for the next command. A hint
    that cannot be written is only not there; it is not flushed to the disk (a lost one costs the
    next command its 11 ms)."""
    folder = _open_folder(create=True)
    if folder is None:
        return
    try:
        replace_in(folder, hint_name(config), os.fsencode(work), 0o600, durable=False)
    except OSError:
        pass
    finally:
        os.close(folder)
