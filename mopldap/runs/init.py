"""`mopldap init`: complete the tree under the base DN; with --hq-admin, the first HQ administrator."""

from __future__ import annotations

import datetime as dt

from ldap3.utils.conv import escape_filter_chars

from ..files.atomic import write_secret
from ..files.folders import create_folders
from ..ldap.directory import BASE, ONELEVEL, Directory
from ..logs import get_logger
from ..model.config import Config
from ..model.entry import Entry
from ..model.errors import ConfigError, DirectoryError
from ..model.layout import EMAIL_PATTERN, USERNAME_PATTERN, Layout, normalize_dn
from ..model.passwords import generate
from ..model.rolemap import RoleMap
from ..model.times import parse_as_of
from ..model.yamlfile import dump
from ..plan.init import HqAdmin, plan_hq_admin, plan_init
from .runtime import open_runtime, trusted_folders

log = get_logger(__name__)


def read_tree(directory: Directory, layout: Layout) -> dict[str, Entry]:
    """Return the entries init looks at, by normalized DN: base, containers, policy, groups."""
    attrs = ("objectClass", "description")  # never `member`: a system group may hold 100,000
    found: list[Entry] = []
    found += directory.search(layout.base_dn, "(objectClass=*)", attrs, scope=BASE)
    found += directory.search(layout.base_dn, "(objectClass=organizationalUnit)", attrs, scope=ONELEVEL)
    found += directory.search(layout.policies, "(objectClass=pwdPolicy)", ("objectClass", "pwdLockout"),
                              scope=ONELEVEL)
    for container in (layout.roles, layout.systems, layout.services):
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
    if not dry_run:
        for path in create_folders(trusted_folders(config)):
            print(f"init: created {path} (mode 0700)")
    with open_runtime(config, rolemap, now, dry_run, folders=not dry_run) as rt:
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
                plan += plan_hq_admin(layout, rolemap, admin, password, config.passwords.scheme, now,
                                      config.access.first_password_gate)
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
    if not USERNAME_PATTERN.fullmatch(admin.username):
        raise ConfigError(f"init: --hq-admin '{admin.username}': a username matches {USERNAME_PATTERN.pattern}")
    if not rolemap.hq_roles:
        raise ConfigError("init: --hq-admin: the role map has no role with `hq: true` to give it")
    if not admin.name.strip() or len(admin.name) > 64 or any(ord(c) < 32 for c in admin.name):
        raise ConfigError(f"init: --name '{admin.name}': give the administrator's real name, 1 to 64 characters")
    if admin.email is not None and not EMAIL_PATTERN.fullmatch(admin.email):
        raise ConfigError(f"init: --email '{admin.email}' is not an email address like name@example.com")


def _warn_about_policy(existing: dict[str, Entry], layout: Layout) -> None:
    policy = existing.get(normalize_dn(layout.default_policy))
    if policy is not None and policy.first("pwdLockout") != "TRUE":
        log.warning("policy_without_lockout", dn=layout.default_policy,
                    why="slapd ignores pwdAccountLockedTime unless pwdLockout is TRUE: disabled accounts can bind")
