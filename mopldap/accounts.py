"""What an account entry looks like: the values mopldap writes (pure)."""

from __future__ import annotations

ACTIVE = "active"
DISABLED = "disabled"
ADMIN_LOCK = "000001010000Z"
"""ppolicy's permanent administrative lock value of pwdAccountLockedTime."""
ACCOUNT_CLASSES = ("top", "inetOrgPerson", "mopAccount")
ACCOUNT_FILTER = "(objectClass=inetOrgPerson)"
LOCKED_FILTER = f"(pwdAccountLockedTime={ADMIN_LOCK})"


def profile(name: str, title: str | None = None, email: str | None = None,
            mobile: str | None = None) -> dict[str, tuple[str, ...]]:
    """Return the person-facing attributes of an account (absent ones as empty tuples)."""
    return {"cn": (name,), "sn": (name,), "displayName": (name,), "title": (title,) if title else (),
            "mail": (email,) if email else (), "mobile": (mobile,) if mobile else ()}
