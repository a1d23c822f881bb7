"""`mopldap init`: the base tree, the default password policy, one group per role and system.

Empty groups hold one placeholder member, cn=nobody,<base DN> (groupOfNames
requires a member; it is also the refint overlay's olcRefintNothing). The
placeholder is a value, not an entry, and never an account.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import structlog
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import parse_dn

from .accounts import ACTIVE, profile
from .accountstate import AccountState, creation_changes
from .changes import Change
from .config import Config
from .directory import BASE, ONELEVEL, Directory, Entry, Modification
from .errors import ConfigError, DirectoryError
from .groups import membership_changes
from .layout import EMAIL_PATTERN, USERNAME_PATTERN, Layout, normalize_dn
from .ldaptime import format_time, parse_as_of
from .passwords import generate
from .rolemap import RoleMap
from .runtime import open_runtime
from .secrets_file import write_secret
from .yamlfile import dump

log = structlog.get_logger(__name__)

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
    "pwdCheckQuality": ("1",),
}
CONTAINERS = {
    "partners": "Partner companies, one organizationalUnit each (mopldap)",
    "hq": "HQ staff accounts (mopldap)",
    "roles": "One groupOfNames per MOP role: membership is the truth (mopldap)",
    "systems": "One groupOfNames per system, derived from roles by mopldap: never edit by hand",
    "policies": "Password policies (mopldap)",
}


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
    layout: Layout, rolemap: RoleMap, admin: HqAdmin, password: str, scheme: str, now: dt.datetime
) -> list[Change]:
    """Return the changes that create the first HQ administrator with every HQ role."""
    hq_roles = sorted(rolemap.hq_roles)
    dn = layout.account(admin.username, None)
    state = AccountState(dn, admin.username, None, "hq",
                         profile=tuple(sorted(profile(admin.name, email=admin.email).items())),
                         user_type=rolemap.roles[hq_roles[0]].user_types[0], status=ACTIVE,
                         enabled_at=format_time(now), roles=frozenset(hq_roles))
    changes = creation_changes(state, password, scheme, reason="first HQ administrator", operation="init")
    additions = {layout.role(r): [dn] for r in hq_roles}
    additions |= {layout.system(s): [dn] for s in rolemap.granted_systems(hq_roles)}
    changes += membership_changes(additions, {}, reason="HQ administrator", operation="init")
    return changes


def read_tree(directory: Directory, layout: Layout) -> dict[str, Entry]:
    """Return the entries init looks at, by normalized DN: base, containers, policy, groups."""
    attrs = ("objectClass", "description")  # never `member`: a system group may hold 100,000
    found: list[Entry] = []
    found += directory.search(layout.base_dn, "(objectClass=*)", attrs, scope=BASE)
    found += directory.search(layout.base_dn, "(objectClass=organizationalUnit)", attrs, scope=ONELEVEL)
    found += directory.search(layout.policies, "(objectClass=pwdPolicy)", ("objectClass", "pwdLockout"),
                              scope=ONELEVEL)
    for container in (layout.roles, layout.systems):
        found += directory.search(container, "(objectClass=groupOfNames)", attrs, scope=ONELEVEL)
    return {normalize_dn(entry.dn): entry for entry in found}


def run_init(
    config: Config,
    rolemap: RoleMap,
    hq_admin: str | None = None,
    name: str | None = None,
    email: str | None = None,
    dry_run: bool = False,
    now: dt.datetime | None = None,
) -> int:
    """`mopldap init`: complete the tree; with hq_admin, create the first HQ administrator."""
    now = now or parse_as_of(None)
    admin = HqAdmin(hq_admin, name or hq_admin, email) if hq_admin else None
    if admin is not None:
        _check_hq_admin(admin, rolemap)
    with open_runtime(config, rolemap, now, dry_run) as rt:
        layout = rt.layout
        existing = read_tree(rt.directory, layout)
        _warn_about_policy(existing, layout)
        plan = plan_init(layout, rolemap, existing)
        secret_path = None
        password = None
        if admin is not None:
            admin_dn = layout.account(admin.username, None)
            taken = list(rt.directory.search(layout.base_dn, f"(uid={escape_filter_chars(admin.username)})", ("uid",)))
            if any(normalize_dn(e.dn) == normalize_dn(admin_dn) for e in taken):
                print(f"unchanged: HQ administrator {admin_dn} exists (its password was not changed)")
            elif taken:
                raise ConfigError(f"init: --hq-admin: username '{admin.username}' is taken by {taken[0].dn}")
            else:
                password = generate(config.passwords.generated_length)
                plan += plan_hq_admin(layout, rolemap, admin, password, config.passwords.scheme, now)
                secret_path = config.paths.outbox / f"init-hq-admin-{admin.username}.secret"
        if not plan:
            print(f"init: nothing to do, the tree under {layout.base_dn} is complete")
            return 0
        if secret_path is not None and not dry_run:
            write_secret(secret_path, dump({"username": admin.username, "password": password}))
        outcome = rt.executor().execute(plan)
        if outcome.failed is not None:
            raise DirectoryError(f"init: {outcome.error}")
        verb = "would make" if dry_run else "made"
        print(f"init: {verb} {len(outcome.applied)} change(s) under {layout.base_dn}")
        if secret_path is not None and not dry_run:
            print(f"init: the password of {admin.username} is in {secret_path} (mode 0600); "
                  "it must be changed at first login")
    return 0


def _check_hq_admin(admin: HqAdmin, rolemap: RoleMap) -> None:
    if not USERNAME_PATTERN.match(admin.username):
        raise ConfigError(f"init: --hq-admin '{admin.username}': a username matches {USERNAME_PATTERN.pattern}")
    if not rolemap.hq_roles:
        raise ConfigError("init: --hq-admin: the role map has no role with `hq: true` to give it")
    if not admin.name.strip() or len(admin.name) > 64 or any(ord(c) < 32 for c in admin.name):
        raise ConfigError(f"init: --name '{admin.name}': give the administrator's real name, 1 to 64 characters")
    if admin.email is not None and not EMAIL_PATTERN.match(admin.email):
        raise ConfigError(f"init: --email '{admin.email}' is not an email address like name@example.com")


def _warn_about_policy(existing: dict[str, Entry], layout: Layout) -> None:
    policy = existing.get(normalize_dn(layout.default_policy))
    if policy is not None and policy.first("pwdLockout") != "TRUE":
        log.warning("policy_without_lockout", dn=layout.default_policy,
                    why="slapd ignores pwdAccountLockedTime unless pwdLockout is TRUE: disabled accounts can bind")
