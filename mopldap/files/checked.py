"""The settings as last checked: a command reads its configuration and role map from here when
neither file changed since they were validated, without importing pydantic.

`<paths.work>/settings.checked` holds a digest line and the validated Config and RoleMap
(pickled frozen dataclasses). The digest covers the configuration file's bytes and path (as
given, which messages name it by, and absolute), the role map's bytes and path, and the files of
mopldap, pydantic and ldap3 (DN syntax) that decide what validation makes of them: change any of
these and the next command validates again and rewrites the file. Only a regular file of this
user's, no link, writable by no one else, is read, and only mopldap's settings classes and paths
are unpickled. `mopldap validate` and `check` always validate.

Where the work folder is, only the configuration says, in YAML: a command looks first where the
hint it left in the user's cache folder says (hints.py), and parses the YAML only when there is no
hint or it leads to no snapshot of these very files.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import sys
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from ..model import checks, cron
from ..model import config as config_module
from ..model import rolemap as rolemap_module
from ..model.config import Config, PathsConfig, load_settings, resolve_path
from ..model.errors import LocalFilesError
from ..model.rolemap import RoleMap
from .atomic import read_own_bytes, write_atomic
from .hints import hinted_work, leave_hint

NAME = "settings.checked"
HEADER = b"mopldap settings 1 "
_ALLOWED = {("pathlib", "PosixPath")} | {
    (module.__name__, name) for module in (config_module, rolemap_module)
    for name, value in vars(module).items() if isinstance(value, type) and "__dataclass_fields__" in vars(value)}


class _Unpickler(pickle.Unpickler):
    """Unpickles settings classes and paths, nothing else (no function, no other class)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not part of the settings")
        return super().find_class(module, name)


def work_folder(path: Path, text: bytes) -> Path:
    """Where the configuration at `path` puts paths.work, read from the file as it is (an odd
    file gives the default: a snapshot looked for in the wrong place is only not found)."""
    import yaml  # only here: a command that finds its hint never imports PyYAML

    work: object = PathsConfig.work  # the default
    try:
        work = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))["paths"]["work"]
    except Exception:  # noqa: BLE001 - any text at all: the full validation says what is wrong
        pass
    return resolve_path(Path(work if isinstance(work, str) else PathsConfig.work), path.resolve().parent)


def _stamp(origin: str | None) -> str:
    try:
        found = os.stat(origin) if origin else None
    except OSError:
        found = None
    return f"{origin}:{found.st_size}:{found.st_mtime_ns}" if found else f"{origin}:-"


def digest(path: Path, text: bytes, role_map: Path, role_map_text: bytes) -> bytes:
    """What the validated settings depend on, as a hex digest."""
    code: list[str | None] = [module.__file__ for module in
                              (config_module, rolemap_module, checks, cron, sys.modules[__name__])]
    code += [spec.origin if spec else None for spec in
             map(find_spec, ("mopldap.model.yamlfile", "pydantic", "pydantic_core", "ldap3"))]
    parts = [str(path), str(path.resolve()), hashlib.sha256(text).hexdigest(), str(role_map),
             hashlib.sha256(role_map_text).hexdigest(), *map(_stamp, code)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest().encode()


def _read_file(path: Path) -> bytes | None:
    """The bytes of the config or the role map, read as validation reads them (links followed)."""
    try:
        return path.read_bytes()
    except OSError:
        return None


def _read(path: Path) -> bytes | None:
    """The snapshot's bytes, if it is a regular file of this user's, no link, that no one else can write."""
    try:
        return read_own_bytes(path, private=True)
    except OSError:
        return None


def _found_in(work: Path, path: Path, text: bytes) -> tuple[Config, RoleMap] | None:
    """The settings the snapshot in `work` holds, if it was made of these files and this
    configuration puts its work folder there."""
    kept = _read(work / NAME)
    found = _settings(kept, path, text) if kept is not None else None
    return found if found is not None and found[0].paths.work == work else None


def load_checked(path: Path) -> tuple[Config, RoleMap]:
    """The configuration at `path` and its role map: as checked before if neither changed, else
    validated (load_settings: ConfigError naming every problem) and kept for the next command."""
    text = _read_file(path)
    if text is not None:
        hinted = hinted_work(path)
        found = _found_in(hinted, path, text) if hinted is not None else None
        if found is not None:
            return found
        work = work_folder(path, text)
        found = _found_in(work, path, text) if work != hinted else None  # that one was read already
        if found is not None:
            leave_hint(path, work)
            return found
    seen: dict[Path, bytes] = {} if text is None else {path: text}  # validation reads no file twice
    config, rolemap = load_settings(path, seen)
    keep(path, seen, config, rolemap)
    return config, rolemap


def _settings(kept: bytes, path: Path, text: bytes) -> tuple[Config, RoleMap] | None:
    """The settings in a snapshot, if it was made of these very files."""
    head, _, body = kept.partition(b"\n")
    if not head.startswith(HEADER):
        return None
    try:
        config, rolemap = _Unpickler(io.BytesIO(body)).load()
    except Exception:  # noqa: BLE001 - a damaged or foreign file: validate instead
        return None
    if not isinstance(config, Config) or not isinstance(rolemap, RoleMap):
        return None
    role_map_text = _read_file(config.paths.role_map)
    if role_map_text is None or head[len(HEADER):] != digest(path, text, config.paths.role_map, role_map_text):
        return None
    return config, rolemap


def keep(path: Path, seen: dict[Path, bytes], config: Config, rolemap: RoleMap) -> None:
    """Write the snapshot of settings validated from the files in `seen` into the work folder, if
    that exists (`mopldap init` makes it): it only saves the next command its validation."""
    work, text, role_map_text = config.paths.work, seen.get(path), seen.get(config.paths.role_map)
    if text is None or role_map_text is None or work.is_symlink() or not work.is_dir() \
            or work != work_folder(path, text):
        return
    body = pickle.dumps((config, rolemap), protocol=pickle.HIGHEST_PROTOCOL)
    try:
        write_atomic(work / NAME, HEADER + digest(path, text, config.paths.role_map, role_map_text) + b"\n" + body,
                     mode=0o600)
    except LocalFilesError:  # a full or read-only disk: the next command validates again
        return
    leave_hint(path, work)
