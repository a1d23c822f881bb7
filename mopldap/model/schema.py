"""What a mopldap account entry looks like: its object classes, status values, the lock, the
attributes mopldap reads and the filters that find accounts."""

from __future__ import annotations

ACTIVE = "active"
DISABLED = "disabled"
ADMIN_LOCK = "000001010000Z"
"""ppolicy's permanent administrative lock value of pwdAccountLockedTime."""
ACCOUNT_CLASSES = ("top", "inetOrgPerson", "mopAccount")
ACCOUNT_FILTER = "(objectClass=inetOrgPerson)"
LOCKED_FILTER = f"(pwdAccountLockedTime={ADMIN_LOCK})"
NO_ENTRY_FILTER = "(!(objectClass=*))"
"""Matches nothing: the empty side of an OR built from a list that turned out empty."""
RESET_FILTER = "(pwdReset=TRUE)"
"""Accounts still on a password an administrator (or mopldap) set: until the person sets their
own, the first password gate keeps them out of every system group."""
ACCOUNT_ATTRS = (
    "objectClass", "uid", "cn", "sn", "displayName", "title", "mail", "mobile", "mopUserType",
    "mopAccountStatus", "mopDisabledReason", "mopDisabledAt", "mopEnabledAt", "mopInactivityExempt",
    "pwdAccountLockedTime", "memberOf", "createTimestamp", "hasSubordinates", "pwdChangedTime", "pwdReset",
)
"""What mopldap reads of an account (one search gives its state, roles and systems)."""
PROFILE_ATTRS = ("cn", "sn", "displayName", "title", "mail", "mobile")
NOTICE_ATTRS = ("mail", "displayName", "preferredLanguage", "mopWarnedAt")
"""What the mails about the inactivity lock need of an account, beyond its state."""


def profile(name: str, title: str | None = None, email: str | None = None,
            mobile: str | None = None) -> dict[str, tuple[str, ...]]:
    """Return the person-facing attributes of an account (absent ones as empty tuples)."""
    return {"cn": (name,), "sn": (name,), "displayName": (name,), "title": (title,) if title else (),
            "mail": (email,) if email else (), "mobile": (mobile,) if mobile else ()}
