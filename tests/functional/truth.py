"""What the role groups grant, computed by the tests themselves from ldapsearch output and the
role map's YAML: an independent check of what mopldap wrote (no mopldap code involved)."""

from __future__ import annotations

import base64
import subprocess
from dataclasses import dataclass, field

import yaml

from conftest import BASE_DN, ROOT, ROOT_PW

PLACEHOLDER = f"cn=nobody,{BASE_DN}".lower()
ADMIN_LOCK = "000001010000Z"


def norm(dn: str) -> str:
    return ",".join(part.strip().lower() for part in dn.split(","))


def ldapsearch(uri: str, base: str, query: str, *attrs: str) -> list[tuple[str, dict[str, list[str]]]]:
    """Entries as (dn, {attribute (lowercase): values}), read with the OpenLDAP tool, paged."""
    out = subprocess.run(["ldapsearch", "-x", "-H", uri, "-D", f"cn=admin,{BASE_DN}", "-w", ROOT_PW, "-LLL",
                          "-o", "ldif-wrap=no", "-E", "pr=1000/noprompt", "-b", base, query, *attrs],
                         capture_output=True, text=True)
    assert out.returncode in (0, 32), out.stderr
    entries = []
    for block in out.stdout.split("\n\n"):
        dn, attrs_out = None, {}
        for line in block.splitlines():
            if not line or line.startswith("#") or ":" not in line:
                continue
            name, _, value = line.partition(":")
            if value.startswith(":"):
                value = base64.b64decode(value[1:].strip()).decode("utf-8", "replace")
            else:
                value = value.strip()
            if name == "dn":
                dn = value
            else:
                attrs_out.setdefault(name.lower(), []).append(value)
        if dn is not None:
            entries.append((dn, attrs_out))
    return entries


def granted_systems(roles_yaml: dict) -> dict[str, set[str]]:
    """Role id -> every system it grants, through includes (computed here, not by mopldap)."""
    roles = roles_yaml["roles"]

    def systems(role: str, seen: frozenset = frozenset()) -> set[str]:
        out = set(roles[role].get("systems", []))
        for included in roles[role].get("includes", []):
            if included not in seen:
                out |= systems(included, seen | {role})
        return out

    return {role: systems(role) for role in roles}


@dataclass
class Truth:
    expected: dict[str, set[str]] = field(default_factory=dict)  # system -> account DNs it should hold
    actual: dict[str, set[str]] = field(default_factory=dict)  # system -> member values (placeholder left out)
    memberof_wrong: dict[str, tuple[set[str], set[str]]] = field(default_factory=dict)  # group -> (missing, extra)
    ghosts: dict[str, set[str]] = field(default_factory=dict)  # group -> members naming no entry

    def problems(self) -> list[str]:
        out = []
        for system in sorted(set(self.expected) | set(self.actual)):
            want, have = self.expected.get(system, set()), self.actual.get(system, set())
            if want != have:
                out.append(f"{system}: {len(want - have)} missing (e.g. {sorted(want - have)[:2]}), "
                           f"{len(have - want)} extra (e.g. {sorted(have - want)[:2]})")
        for group, (missing, extra) in sorted(self.memberof_wrong.items()):
            out.append(f"memberOf of {group}: {len(missing)} members lack it, {len(extra)} non-members have it")
        for group, ghosts in sorted(self.ghosts.items()):
            out.append(f"{group}: {len(ghosts)} members name no entry, e.g. {sorted(ghosts)[:2]}")
        return out


def truth(uri: str, roles_path=ROOT / "config" / "roles.yaml") -> Truth:
    roles_yaml = yaml.safe_load(roles_path.read_text(encoding="utf-8"))
    grants = granted_systems(roles_yaml)
    hq_roles = {r for r, role in roles_yaml["roles"].items() if role.get("hq")}
    partners, hq = norm(f"ou=partners,{BASE_DN}"), norm(f"ou=hq,{BASE_DN}")
    accounts = {}
    for base in (partners, hq):
        for dn, attrs in ldapsearch(uri, base, "(objectClass=inetOrgPerson)", "pwdAccountLockedTime", "memberOf"):
            accounts[norm(dn)] = attrs
    groups = {}
    for container in ("roles", "systems"):
        for dn, attrs in ldapsearch(uri, f"ou={container},{BASE_DN}", "(objectClass=groupOfNames)", "member"):
            groups[norm(dn)] = {norm(m) for m in attrs.get("member", [])} - {PLACEHOLDER}
    result = Truth()
    for system in roles_yaml["systems"]:
        result.expected[system] = set()
        result.actual[system] = groups.get(norm(f"cn={system},ou=systems,{BASE_DN}"), set())
    for role, systems in grants.items():
        for member in groups.get(norm(f"cn={role},ou=roles,{BASE_DN}"), set()):
            account = accounts.get(member)
            if account is None or ADMIN_LOCK in account.get("pwdaccountlockedtime", []):
                continue
            under_hq = member.endswith("," + hq) and member.count(",") == hq.count(",") + 1
            under_partner = member.endswith("," + partners) and member.count(",") == partners.count(",") + 2
            if (role in hq_roles and not under_hq) or not (under_hq or under_partner):
                continue
            for system in systems:
                result.expected[system].add(member)
    for group, members in groups.items():
        holders = {dn for dn, attrs in accounts.items() if group in {norm(g) for g in attrs.get("memberof", [])}}
        in_tree = {m for m in members if m.endswith("," + partners) or m.endswith("," + hq)}
        ghosts = {m for m in in_tree if m not in accounts}
        if ghosts:
            result.ghosts[group] = ghosts
        if (in_tree - ghosts) != holders:
            result.memberof_wrong[group] = ((in_tree - ghosts) - holders, holders - in_tree)
    return result
