"""What `mopldap init` adds: the base tree, the default password policy, one group per role and
system, and the first HQ administrator.

Empty groups hold one placeholder member, cn=nobody,<base DN> (groupOfNames
requires a member; it is also the refint overlay's olcRefintNothing). The
placeholder is a value, not an entry, and never an account.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ldap3.utils.dn import parse_dn

from ..model.change import Change, Modification
from ..model.entry import Entry
from ..model.layout import Layout, normalize_dn
from ..model.rolemap import RoleMap
from ..model.schema import ACTIVE, profile
from ..model.times import format_time
from .accounts import AccountState, creation_changes
from .membership import membership_changes

DEFAULT_POLICY: dict[str, tuple[str, ...]] = {
    "objectClass": ("top", "device", "pwdPolicy"),
    "cn": ("default",),
    "description": ("mopldap default password policy: pwdLockout TRUE makes slapd refuse locked accounts",),
    "pwdAttribute": ("userPassword",),
    "pwdLockout": ("TRUE",),
    "pwdMaxFailure": ("5",),
    "pwdLockoutDuration": ("900",),
    "pwdFailureCountInterval": ("900",),
    "pwdMustChange": ("TRUE",),
    "pwdAllowUserChange": ("TRUE",),
    "pwdMinLength": ("8",),
    "pwdCheckQuality": ("2",),  # 2: a pre-hashed password from anyone but a password administrator is refused
}
CONTAINERS = {
    "partners": "Partner companies, one organizationalUnit each (mopldap)",
    "hq": "HQ staff accounts (mopldap)",
    "roles": "One groupOfNames per MOP role: membership is the truth (mopldap)",
    "systems": "One groupOfNames per system, derived from roles by mopldap: never edit by hand",
    "policies": "Password policies (mopldap)",
    "services": "mopldap's service account and the applications' accounts (mopldap)",
}
APPLICATIONS = "The applications' accounts: they read accounts and system groups (mopldap access rules)"


@dataclass(frozen=True)
class HqAdmin:
    username: str
    name: str
    email: str | None = None


def base_entry(base_dn: str) -> dict[str, tuple[str, ...]]:
    """Return the attributes of the suffix entry, from its first RDN."""
    attr, value, _ = parse_dn(base_dn, escape=False, strip=True)[0]
    attr = attr.lower()
    if attr == "dc":
        return {"objectClass": ("top", "dcObject", "organization"), "dc": (value,), "o": (value,)}
    if attr == "o":
        return {"objectClass": ("top", "organization"), "o": (value,)}
    if attr == "ou":
        return {"objectClass": ("top", "organizationalUnit"), "ou": (value,)}
    raise ValueError(f"cannot create the base entry {base_dn}: create it yourself (first RDN must be dc=, o= or ou=)")


def _add(dn: str, attrs: dict[str, tuple[str, ...]], reason: str) -> Change:
    return Change("add", dn, tuple(Modification(k, "replace", v) for k, v in attrs.items()), reason=reason,
                  operation="init")


def group_description(kind: str, name: str) -> str:
    return f"{name} (derived by mopldap from the role map: never edit by hand)" if kind == "system" else name


def plan_init(layout: Layout, rolemap: RoleMap, existing: dict[str, Entry]) -> list[Change]:
    """Given the entries that exist (by normalized DN), return the changes that complete the tree."""
    changes: list[Change] = []

    def has(dn: str) -> Entry | None:
        return existing.get(normalize_dn(dn))

    if not has(layout.base_dn):
        changes.append(_add(layout.base_dn, base_entry(layout.base_dn), "base entry"))
    for name, description in CONTAINERS.items():
        dn = f"ou={name},{layout.base_dn}"
        if not has(dn):
            attrs = {"objectClass": ("top", "organizationalUnit"), "ou": (name,), "description": (description,)}
            changes.append(_add(dn, attrs, "container"))
    if not has(layout.default_policy):
        changes.append(_add(layout.default_policy, DEFAULT_POLICY, "default password policy"))
    groups = [("role", layout.role(r), r, role.name) for r, role in rolemap.roles.items()]
    groups += [("system", layout.system(s), s, system.name) for s, system in rolemap.systems.items()]
    groups.append(("applications", layout.applications, "applications", APPLICATIONS))
    for kind, dn, group_id, name in groups:
        description = group_description(kind, name)
        entry = has(dn)
        if entry is None:
            attrs = {
                "objectClass": ("top", "groupOfNames"),
                "cn": (group_id,),
                "description": (description,),
                "member": (layout.placeholder,),
            }
            changes.append(_add(dn, attrs, f"{kind} group"))
        elif entry.get("description") != [description]:
            changes.append(
                Change("modify", dn, (Modification("description", "replace", (description,)),),
                       old={"description": tuple(entry.get("description"))}, reason="role map name changed",
                       operation="init")
            )
    return changes


def plan_hq_admin(
    layout: Layout, rolemap: RoleMap, admin: HqAdmin, password: str, scheme: str, now: dt.datetime,
    gate: bool = True,
) -> list[Change]:
    """Return the changes that create the first HQ administrator with every HQ role (and, without the
    first password gate, their systems: with it, the first run after they set their password adds them)."""
    hq_roles = sorted(rolemap.hq_roles)
    dn = layout.account(admin.username, None)
    state = AccountState(dn, admin.username, None, "hq",
                         profile=tuple(sorted(profile(admin.name, email=admin.email).items())),
                         user_type=rolemap.roles[hq_roles[0]].user_types[0], status=ACTIVE,
                         enabled_at=format_time(now), roles=frozenset(hq_roles))
    changes = creation_changes(state, password, scheme, reason="first HQ administrator", operation="init")
    additions = {layout.role(r): [dn] for r in hq_roles}
    if not gate:
        additions |= {layout.system(s): [dn] for s in rolemap.granted_systems(hq_roles)}
    changes += membership_changes(additions, {}, reason="HQ administrator", operation="init")
    return changes
