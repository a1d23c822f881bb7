"""What an account entry looks like: the attributes mopldap writes (pure)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .changes import Change
from .directory import Modification
from .ldaptime import format_time
from .passwords import hash_password

ACTIVE = "active"
DISABLED = "disabled"
ADMIN_LOCK = "000001010000Z"
"""ppolicy's permanent administrative lock value of pwdAccountLockedTime."""
ACCOUNT_CLASSES = ("top", "inetOrgPerson", "mopAccount")


@dataclass(frozen=True)
class Profile:
    """The person-facing attributes of an account."""

    name: str
    title: str | None = None
    email: str | None = None
    mobile: str | None = None

    def attributes(self) -> dict[str, tuple[str, ...]]:
        """Return the LDAP attributes of this profile (absent ones as empty tuples)."""
        return {
            "cn": (self.name,),
            "sn": (self.name,),
            "displayName": (self.name,),
            "title": (self.title,) if self.title else (),
            "mail": (self.email,) if self.email else (),
            "mobile": (self.mobile,) if self.mobile else (),
        }


def new_account(
    username: str,
    profile: Profile,
    user_type: str,
    password_hash: str | None,
    now: dt.datetime,
) -> tuple[Modification, ...]:
    """Return the attributes of a new, enabled account that must change its password at first login."""
    attrs: dict[str, tuple[str, ...]] = {
        "objectClass": ACCOUNT_CLASSES,
        "uid": (username,),
        **{k: v for k, v in profile.attributes().items() if v},
        "mopUserType": (user_type,),
        "mopAccountStatus": (ACTIVE,),
        "mopEnabledAt": (format_time(now),),
    }
    if password_hash is not None:
        attrs["userPassword"] = (password_hash,)
        attrs["pwdReset"] = ("TRUE",)
    return tuple(Modification(name, "replace", values) for name, values in attrs.items())


def creation_changes(
    dn: str, username: str, profile: Profile, user_type: str, password: str, scheme: str, now: dt.datetime,
    **context: str | None,
) -> list[Change]:
    """Return the changes that create an account with `password`, stored as `scheme` says.

    Pre-hashed schemes put the hash in the add; 'server' sends the password with the
    Password Modify extended operation after the add, then sets pwdReset.
    """
    hashed = hash_password(password, scheme)
    changes = [Change("add", dn, new_account(username, profile, user_type, hashed, now), **context)]
    if hashed is None:
        changes.append(Change("password", dn, secret=password, **context))
        changes.append(Change("modify", dn, (Modification("pwdReset", "replace", ("TRUE",)),), **context))
    return changes
