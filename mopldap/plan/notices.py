"""Who is told what about the inactivity lock, and when (pure).

An account's lock date is its last activity plus inactivity.max_idle_days. A warning is due at each
of notify.warn_days before that date, once: the time the mail server accepted the last one is kept
in `mopWarnedAt`, so a warning is due when the latest level reached is later than that time (a run
that missed a day sends one warning, not two). An account is locked only when a warning given
after its last activity is at least notify.min_warning_days old; a late warning moves the lock
accordingly, and the warning names that later date. The lock notice is due when `mopWarnedAt` is
older than `mopDisabledAt`, and sending it moves `mopWarnedAt` past the lock. A digest goes to an
administrator at most once per local day (`mopDigestAt` on the administrator's account).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from ..model.layout import EMAIL_PATTERN

DAY = dt.timedelta(days=1)
CLOCK_SKEW = dt.timedelta(minutes=1)
"""A recorded time later than the clock by more than this is not believed (a hand edit, a clock ahead)."""
UPGRADE = "schema/upgrade/2026-12-notify.ldif"
RECORDS = ("mopWarnedAt", "mopDigestAt")
"""The attributes the mail is recorded in: every server must define them (schema/upgrade/)."""


def schema_gap(url: str, known: set[str]) -> str | None:
    """Why mail cannot be recorded on the server at `url` (its schema predates RECORDS), or None."""
    missing = [a for a in RECORDS if a.lower() not in known]
    if not missing:
        return None
    return (f"{url} has an earlier mopldap schema without {' and '.join(missing)}, where mopldap records the mails "
            f"it sent (and which replication would carry to it); no mail was sent and no account locked: upgrade "
            f"every server with ldapmodify -Y EXTERNAL -H ldapi:/// -f {UPGRADE} (README, Upgrading the schema)")


def lock_date(last: dt.datetime | None, max_idle_days: int, now: dt.datetime) -> dt.datetime:
    """When an account idle since `last` is due for the lock (now, if nothing records any activity)."""
    return now if last is None else last + max_idle_days * DAY


def warned_since(last: dt.datetime | None, warned: dt.datetime | None) -> dt.datetime | None:
    """The warning that counts for this idle period: one given after the last activity."""
    if warned is None or (last is not None and warned < last):
        return None
    return warned


def warning_due(last: dt.datetime | None, warned: dt.datetime | None, now: dt.datetime, levels: Sequence[int],
                max_idle_days: int, min_warning_days: int) -> bool:
    """True if a warning is to go out now: a level of `levels` (days before the lock) was reached
    after the last warning of this idle period, or the lock is due and no warning counts."""
    lock_at = lock_date(last, max_idle_days, now)
    current = warned_since(last, warned)
    if current is None and now >= lock_at - min_warning_days * DAY:
        return True  # too late for any level: the lock waits for this warning
    reached = [lock_at - days * DAY for days in levels if lock_at - days * DAY <= now]
    return bool(reached) and (current is None or current < max(reached))


def lock_allowed(last: dt.datetime | None, warned: dt.datetime | None, now: dt.datetime, min_warning_days: int) -> bool:
    """True if the warning of this idle period was given at least `min_warning_days` ago."""
    current = warned_since(last, warned)
    return current is not None and now - current >= min_warning_days * DAY


def announced_lock(last: dt.datetime | None, max_idle_days: int, warned: dt.datetime, min_warning_days: int) -> dt.datetime:
    """The lock date a warning given at `warned` names: never sooner than min_warning_days after it."""
    return max(lock_date(last, max_idle_days, warned), warned + min_warning_days * DAY)


def notice_due(disabled_at: dt.datetime | None, warned: dt.datetime | None) -> bool:
    """True if an account locked at `disabled_at` has not been told of it yet."""
    return disabled_at is not None and (warned is None or warned < disabled_at)


def digest_due(last_digest: dt.datetime | None, now: dt.datetime, zone: str) -> bool:
    """True if an administrator's last digest was on an earlier day (in the readers' time zone)."""
    if last_digest is None:
        return True
    tz = ZoneInfo(zone)
    return last_digest.astimezone(tz).date() < now.astimezone(tz).date()


def mail_address(values: Sequence[str]) -> str | None:
    """The first well-formed address of an entry's `mail` values (a value with a line break, a
    display name or anything else is not an address to send to)."""
    return next((value for value in values if EMAIL_PATTERN.fullmatch(value)), None)


def language_of(values: Sequence[str], default: str) -> str:
    """zh or en from preferredLanguage (RFC 2798: zh, zh-CN, en-US, 'en;q=0.8'...), else `default`."""
    for value in values:
        tag = value.split(";")[0].split(",")[0].strip().lower()
        for lang in ("zh", "en"):
            if tag == lang or tag.startswith(lang + "-"):
                return lang
    return default
