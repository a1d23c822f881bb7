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
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..logs import get_logger
from .atomic import read_own, write_atomic

log = get_logger(__name__)
VERSION = 1


@dataclass
class RunState:
    base_dn: str = ""
    rolemap: str = ""
    watermark: str | None = None  # ISO time: accounts changed since then are re-read
    last_full: str | None = None
    groups: dict[str, str] = field(default_factory=dict)  # normalized group DN -> entryCSN
    writing_groups: str | None = None  # the run that started writing groups and has not finished
    last_verified: str | None = None  # ISO time of the last full reconcile that checked memberOf
    inactivity_checked: str | None = None  # ISO time of the last inactivity step that finished its work
    inactivity_settings: str = ""  # the digest of the settings it ran with

    def inactivity_checked_time(self) -> dt.datetime | None:
        """None also for a time that is not one, or has no zone: then the step checks again."""
        try:
            moment = dt.datetime.fromisoformat(self.inactivity_checked or "")
        except (TypeError, ValueError):
            return None
        return moment if moment.tzinfo is not None else None

    def watermark_time(self) -> dt.datetime | None:
        return dt.datetime.fromisoformat(self.watermark) if self.watermark else None

    def last_full_time(self) -> dt.datetime | None:
        return dt.datetime.fromisoformat(self.last_full) if self.last_full else None

    def last_verified_time(self) -> dt.datetime | None:
        return dt.datetime.fromisoformat(self.last_verified) if self.last_verified else None


def check_due(checked: dt.datetime | None, now: dt.datetime, every_hours: float) -> bool:
    """Whether a check made at `checked` (None: none) is due again at `now`: it is `every_hours` old,
    or lies after `now` (a clock set back, an --as-of run): then nothing says what it saw."""
    return checked is None or not checked <= now < checked + dt.timedelta(hours=every_hours)


def load_state(path: Path) -> RunState | None:
    """Return the saved state, or None if there is none or it cannot be trusted."""
    try:
        data = json.loads(read_own(path))
        if data.get("version") != VERSION:
            return None
        return RunState(data["base_dn"], data["rolemap"], data.get("watermark"), data.get("last_full"),
                        dict(data.get("groups", {})), data.get("writing_groups"), data.get("last_verified"),
                        data.get("inactivity_checked"), str(data.get("inactivity_settings", "")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("state_unreadable", path=str(path), error=str(exc), consequence="a full reconcile")
        return None


def save_state(path: Path, state: RunState) -> None:
    """Write the state (LocalFilesError, exit 4, if it cannot be written)."""
    data = {"version": VERSION, "base_dn": state.base_dn, "rolemap": state.rolemap, "watermark": state.watermark,
            "last_full": state.last_full, "groups": state.groups, "writing_groups": state.writing_groups,
            "last_verified": state.last_verified, "inactivity_checked": state.inactivity_checked,
            "inactivity_settings": state.inactivity_settings}
    write_atomic(path, json.dumps(data, indent=1, sort_keys=True), 0o600)
