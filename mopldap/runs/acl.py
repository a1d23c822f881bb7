"""`mopldap acl`: print the access rules (olcAccess, olcLimits) for the database, from the configuration."""

from __future__ import annotations

from ..model.config import Config
from ..model.errors import ConfigError
from ..model.layout import Layout
from ..model.rolemap import RoleMap
from ..plan.acl import DEFAULT_DATABASE, LOCAL_ROOT, acl_ldif


def rules_ldif(config: Config, rolemap: RoleMap, database: str | None = None, local_admin: str | None = None) -> str:
    """The LDIF `mopldap acl` prints: the rules for ldap.bind_dn and the role map's HQ and partner
    administrator roles, for `database` (default: Debian's)."""
    layout = Layout(config.ldap.base_dn)
    hq = sorted(rolemap.hq_roles)
    admins = sorted(rolemap.admin_roles - rolemap.hq_roles)
    if not hq or not admins:
        raise ConfigError(f"{config.paths.role_map}: the access rules need an HQ role (hq: true) and a partner "
                          "administrator role (admin: true)")
    try:
        return acl_ldif(layout.base_dn, config.ldap.bind_dn, [layout.role(r) for r in hq],
                        [layout.role(r) for r in admins], database=database or DEFAULT_DATABASE,
                        local_admin_dn=local_admin or LOCAL_ROOT)
    except ValueError as exc:
        raise ConfigError(f"acl: {exc}") from None


def run_acl(config: Config, rolemap: RoleMap, database: str | None, local_admin: str | None) -> int:
    text = rules_ldif(config, rolemap, database, local_admin)
    if config.ldap.bind_dn.lower().startswith("cn=admin,"):
        print(f"# ldap.bind_dn is {config.ldap.bind_dn}: these rules are written for mopldap's own account")
    print(text, end="")
    return 0
