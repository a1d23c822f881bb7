"""The access rules for the database holding the base DN (`mopldap acl`): olcAccess and olcLimits
as LDIF that replaces Debian's default "everyone reads everything" (SPEC, Access control).

Pure: from the base DN, the service account, the applications group and the role map's HQ and
partner administrator roles. DNs are written normalized (lowercase, no spaces), as slapd compares
them: the dn.regex patterns are matched against normalized entry DNs. Each rule is proven by
binding as each identity against a real slapd (tests/functional/test_acl.py).
"""

from __future__ import annotations

from ..model.layout import Layout, split_dn
from .init import CONTAINERS as INIT_CONTAINERS

LOCAL_ROOT = "gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth"
DEFAULT_DATABASE = "olcDatabase={1}mdb,cn=config"  # Debian's: the database holding the base DN
CONTAINERS = tuple(INIT_CONTAINERS)  # what init creates under the base DN


def norm(dn: str) -> str:
    """The normalized form slapd matches ACLs against (mopldap's DNs: dc/ou/cn/uid, case-insensitive).
    Raise ValueError for a DN whose values need escaping: the rules' patterns could not match it."""
    try:
        parts = split_dn(dn)
    except ValueError:
        raise ValueError(f"{dn}: not a DN") from None
    if any(c in value for _, value in parts for c in '\\"+,;<>=#'):
        raise ValueError(f"{dn}: DN values with special characters are not supported in the ACL")
    return ",".join(f"{attr.lower()}={value.lower()}" for attr, value in parts)


def rx(text: str) -> str:
    """Escape `text` for a POSIX extended regex without backslashes (slapd's config parser keeps them,
    but brackets are unambiguous): every special character becomes a one-character bracket."""
    return "".join(f"[{c}]" if c in ".[]()*+?{}|^$" else c for c in text)


def acl_rules(base_dn: str, service_dn: str, applications_dn: str, hq_groups: list[str],
              partner_admin_groups: list[str], service_password_admin: bool = True,
              local_admin_dn: str | None = LOCAL_ROOT) -> list[tuple[str, str]]:
    """Return [(rule, why)] in order. Placeholders are filled; each rule is one olcAccess value."""
    b, svc, apps = norm(base_dn), norm(service_dn), norm(applications_dn)
    hq = [norm(g) for g in hq_groups]
    pa = [norm(g) for g in partner_admin_groups]
    rb = rx(b)
    hq_by = " ".join(f'by dn.onelevel="ou=hq,{b}" group.exact="{g}" {{access}}' for g in hq)
    hq_pw = hq_by.replace("{access}", "=w")
    hq_w = hq_by.replace("{access}", "write")
    rules: list[tuple[str, str]] = []
    add = lambda rule, why: rules.append((" ".join(rule.split()), why))  # noqa: E731

    if local_admin_dn:
        add(f"""to * by dn.exact="{local_admin_dn}" manage by * break""",
            "the local root over ldapi (SASL EXTERNAL), as in Debian's frontend rule (which our final "
            "`to * by * none` would otherwise shadow): it already manages cn=config")
    add("""to attrs=userPassword val.regex="^[{][cC][lL][eE][aA][rR][tT][eE][xX][tT][}]" by * none""",
        "no {CLEARTEXT} value, from anyone but the root DN: ppolicy counts the 11-character prefix towards "
        "pwdMinLength, never hashes it, and slapd cannot verify it (a self-inflicted lockout, stored in clear)")
    add(f"""to attrs=userPassword
            by self =wx
            by dn.exact="{svc}" {"=mw" if service_password_admin else "=w"} {hq_pw}
            by anonymous auth
            by * none""",
        "passwords: the owner changes its own (=wx: write, plus auth for the Password Modify exop's old-password "
        "check; first, so that it also holds for HQ admins and mopldap), mopldap sets others' pre-hashed (=mw: "
        "ppolicy accepts a pre-hashed value only from a password administrator, and its pwdCheckQuality 2 "
        "refuses them from everyone else), HQ admins set others' in clear (=w), nobody reads or compares them, "
        "anonymous binds")
    add("""to attrs=pwdHistory by * none""",
        "old password hashes: nobody reads them (ppolicy maintains them internally, without ACL checks)")
    add(f"""to dn.subtree="{b}" {hq_w} by * break""",
        "HQ administrators (hq-admin AND directly under ou=hq) write the whole tree (write includes read)")
    add(f"""to dn.base="{b}" attrs=children by dn.exact="{svc}" write by * break""",
        "mopldap may add/delete the six containers directly under the base (their own `entry` is granted below)")
    for c in CONTAINERS:
        add(f"""to dn.subtree="ou={c},{b}" by dn.exact="{svc}" write by * break""",
            f"mopldap writes ou={c} and everything below it (entries, children, all attributes but the "
            "password rules above)")
    add(f"""to dn.subtree="{b}" by dn.exact="{svc}" read by self read by * break""",
        "mopldap reads the rest (the base entry); every identity reads its own entry (userPassword/pwdHistory "
        "excluded above)")
    pa_by = " ".join(f'by dn.onelevel,expand="ou=$2,ou=partners,{b}" group.exact="{g}" read' for g in pa)
    add(f"""to dn.regex="^(.+,)?ou=([^,]+),ou=partners,{rb}$" {pa_by} by * break""",
        "a partner administrator (partner-admin AND an account of that partner) reads its partner's OU and "
        "everything below it")
    add(f"""to dn.regex="^uid=[^,]+,(ou=[^,]+,ou=partners|ou=hq),{rb}$"
            attrs=entry,objectClass,uid,cn,mail,memberOf,mopAccountStatus,pwdReset,pwdAccountLockedTime
            by group.exact="{apps}" read by * break""",
        "applications read what authentication and authorization need of every account")
    add(f"""to dn.regex="^uid=[^,]+,ou=([^,]+),ou=partners,{rb}$" attrs=entry,objectClass,uid,cn,title,mail
            by dn.onelevel,expand="ou=$1,ou=partners,{b}" read by * break""",
        "a partner's staff read the names of their own partner's accounts")
    add(f"""to dn.regex="^ou=([^,]+),ou=partners,{rb}$" attrs=entry
            by dn.onelevel,expand="ou=$1,ou=partners,{b}" search by * break""",
        "a partner's staff may use their own partner OU as a search base (search, not read: it is not returned)")
    add(f"""to dn.subtree="ou=systems,{b}" by group.exact="{apps}" read by * break""",
        "applications read the system groups with all their members")
    pa_val = " ".join(f'by dn.onelevel,expand="ou=${{v1}},ou=partners,{b}" group.exact="{g}" read' for g in pa)
    add(f"""to dn.one="ou=roles,{b}" attrs=member val.regex="^uid=[^,]+,ou=([^,]+),ou=partners,{rb}$"
            {pa_val} by users selfread by * none""",
        "role memberships, value by value: a partner administrator sees its own partner's accounts' values")
    add(f"""to dn.regex="^cn=[^,]+,ou=(roles|systems),{rb}$" attrs=member val.regex=".*"
            by users selfread by * none""",
        "every other member value of a role or system group: only the member itself sees its own value")
    add(f"""to dn.one="ou=roles,{b}" attrs=entry,objectClass,cn,description,member
            {" ".join(f'by group.exact="{g}" read' for g in pa)} by dnattr=member read by * none""",
        "role groups (names; member as an attribute, values filtered above): partner administrators, and members")
    add(f"""to dn.one="ou=systems,{b}" attrs=entry,objectClass,cn,description,member
            by dnattr=member read by * none""",
        "a system group is visible to its members (the systems an account is in), with only their own value")
    add(f"""to dn.regex="^(ou=(partners|hq|roles|systems),)?{rb}$" attrs=entry by users search by * none""",
        "any bound identity may use the base and the public containers as search bases (search, not read)")
    add("""to * by * none""", "nothing else, for anyone (slapd's default access would otherwise be read)")
    return rules


def limits(service_dn: str, hq_groups: list[str], partner_admin_groups: list[str]) -> list[str]:
    values = [f'dn.exact="{norm(service_dn)}" time=unlimited size=unlimited']
    values += [f'group/groupOfNames/member="{norm(g)}" time=unlimited size=unlimited'
               for g in [*hq_groups, *partner_admin_groups]]
    return values


def acl_ldif(base_dn: str, service_dn: str | None = None, hq_groups: list[str] | None = None,
             partner_admin_groups: list[str] | None = None, database: str = DEFAULT_DATABASE,
             comments: bool = True, service_password_admin: bool = True,
             local_admin_dn: str | None = LOCAL_ROOT) -> str:
    """The LDIF for `ldapmodify -Y EXTERNAL -H ldapi:///`: replace olcAccess and olcLimits of `database`.
    Defaults: init's layout (mopldap's own account, the applications group) and the shipped role map."""
    layout = Layout(base_dn)
    service_dn = service_dn or layout.service_account
    hq_groups = hq_groups or [layout.role("hq-admin")]
    partner_admin_groups = partner_admin_groups or [layout.role("partner-admin")]
    lines = [f"dn: {database}", "changetype: modify", "replace: olcAccess"]
    for i, (rule, why) in enumerate(acl_rules(base_dn, service_dn, layout.applications, hq_groups,
                                             partner_admin_groups, service_password_admin, local_admin_dn)):
        if comments:
            lines.append(f"# {{{i}}} {why}")
        lines.append(f"olcAccess: {{{i}}}{rule}")
    lines += ["-", "replace: olcLimits"]
    lines += [f"olcLimits: {{{i}}}{v}" for i, v in enumerate(limits(service_dn, hq_groups, partner_admin_groups))]
    lines += ["-", ""]
    return "\n".join(lines)
