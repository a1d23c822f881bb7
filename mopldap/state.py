"""What a run leaves for the next one: a watermark and the entryCSN of every group.

This is a cache, not a database: without it (first run, file lost, role map or base
DN changed) the next reconcile is a full one. It lets a routine run read only what
changed since the previous one:

- accounts whose modifyTimestamp or createTimestamp is at or after the watermark
  (the previous run's start, less reconcile.clock_skew_seconds);
- groups whose entryCSN is not the one recorded: someone else edited them. mopldap's
  own group writes carry the pre-read and post-read controls (RFC 4527), so it knows
  which CSN it produced and whether someone wrote in between.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from .directory import ONELEVEL
from .layout import normalize_dn

log = structlog.get_logger(__name__)
VERSION = 1
CHANGED = ""  # recorded CSN that matches no real one: the group is processed at the next run


@dataclass
class RunState:
    base_dn: str = ""
    rolemap: str = ""
    watermark: str | None = None  # ISO time: accounts changed since then are re-read
    last_full: str | None = None
    groups: dict[str, str] = field(default_factory=dict)  # normalized group DN -> entryCSN

    def watermark_time(self) -> dt.datetime | None:
        return dt.datetime.fromisoformat(self.watermark) if self.watermark else None

    def last_full_time(self) -> dt.datetime | None:
        return dt.datetime.fromisoformat(self.last_full) if self.last_full else None


def rolemap_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_state(path: Path) -> RunState | None:
    """Return the saved state, or None if there is none or it cannot be trusted."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != VERSION:
            return None
        return RunState(data["base_dn"], data["rolemap"], data.get("watermark"), data.get("last_full"),
                        dict(data.get("groups", {})))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("state_unreadable", path=str(path), error=str(exc), consequence="a full reconcile")
        return None


def save_state(path: Path, state: RunState) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    data = {"version": VERSION, "base_dn": state.base_dn, "rolemap": state.rolemap, "watermark": state.watermark,
            "last_full": state.last_full, "groups": state.groups}
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


class GroupWatch:
    """Tracks the entryCSN of every role and system group through a run.

    `changed` holds the groups someone else edited since mopldap last saw them; the
    reconcile step handles them and marks them seen.
    """

    def __init__(self, recorded: dict[str, str], containers: tuple[str, ...]) -> None:
        self.recorded = recorded
        self.containers = containers
        self.current: dict[str, str] = {}
        self.changed: set[str] = set()
        self.loaded = False

    def ensure(self, directory) -> None:
        """Read every group's entryCSN once per run (one search per container, no members)."""
        if self.loaded:
            return
        for container in self.containers:
            for entry in directory.search(container, "(objectClass=groupOfNames)", ("entryCSN",), scope=ONELEVEL):
                self.observe(entry.dn, entry.first("entryCSN") or "")
        self.loaded = True

    def observe(self, dn: str, csn: str) -> None:
        norm = normalize_dn(dn)
        self.current[norm] = csn
        if self.recorded.get(norm) != csn:
            self.changed.add(norm)

    def wrote(self, dn: str, before: str | None, after: str | None) -> None:
        """Record one of mopldap's writes: `before`/`after` from the pre-/post-read controls."""
        norm = normalize_dn(dn)
        if before is not None and self.loaded and before != self.current.get(norm):
            self.changed.add(norm)  # someone else wrote since we looked
        if after is not None:
            self.current[norm] = after

    def handled(self, dns) -> None:
        self.changed -= {normalize_dn(dn) for dn in dns}

    def to_record(self) -> dict[str, str]:
        return {dn: (CHANGED if dn in self.changed else csn) for dn, csn in sorted(self.current.items())}

