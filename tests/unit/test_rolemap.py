from pathlib import Path

import pytest
import yaml

from mopldap.model.errors import ConfigError
from mopldap.model.rolemap import load_rolemap, parse_rolemap
from mopldap.model.yamlfile import parse_yaml

ROOT = Path(__file__).resolve().parents[2]


def rolemap_from(text: str):
    return parse_rolemap(parse_yaml(text, "roles.yaml"))


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        rolemap_from(text)
    return info.value.problems


BASE = """\
systems:
  crm: {name: CRM}
  wiki: {name: Wiki}
user_types:
  sales: {name: Sales}
roles:
"""


def test_default_role_map_encodes_the_manual_table():
    rolemap = load_rolemap(ROOT / "config" / "roles.yaml")
    community_only = {"community"}
    service = {"mop-service", "community"}
    for role in ("service-manager", "service-assistant", "service-specialist", "hotline-specialist",
                 "service-supervisor"):
        assert rolemap.systems_of(role) == service, role
        assert rolemap.roles[role].user_types == ["service"]
    assert rolemap.systems_of("sales-marketing-staff") == community_only
    assert "community-channel-policy" in rolemap.systems_of("partner-admin")
    assert "mop-orders" in rolemap.systems_of("partner-admin")
    assert "mop-orders" in rolemap.systems_of("sales-manager")
    assert "mop-sales" in rolemap.systems_of("sales-specialist")
    assert rolemap.roles["partner-admin"].admin and not rolemap.roles["partner-admin"].hq
    assert rolemap.hq_roles == {"hq-admin"}
    # no partner role reaches the channel-policy column but the administrator's
    holders = {r for r in rolemap.roles if "community-channel-policy" in rolemap.systems_of(r)}
    assert holders == {"partner-admin", "hq-admin"}


def test_default_role_map_marks_inferred_rows():
    text = (ROOT / "config" / "roles.yaml").read_text(encoding="utf-8")
    for role in ("sales-manager:", "sales-specialist:"):
        block = text[text.index(role):].split("\n\n")[0]
        assert "INFERRED" in block, role


def test_includes_grant_the_included_roles_systems_transitively():
    rolemap = rolemap_from(BASE + """\
  lead: {name: Lead, user_types: [sales], includes: [member]}
  member: {name: Member, user_types: [sales], includes: [reader], systems: [crm]}
  reader: {name: Reader, user_types: [sales], systems: [wiki]}
""")
    assert rolemap.systems_of("lead") == {"crm", "wiki"}
    assert rolemap.systems_of("member") == {"crm", "wiki"}
    assert rolemap.systems_of("reader") == {"wiki"}
    assert rolemap.granted_systems(["reader", "unknown-role"]) == {"wiki"}
    assert rolemap.granted_systems([]) == frozenset()


def test_unknown_system_names_file_line_and_key():
    problems = problems_of(BASE + "  auditor: {name: A, user_types: [sales], systems: [wiki, crmx]}\n")
    assert problems == ["roles.yaml:7: roles.auditor.systems[1]: unknown system 'crmx'"]


def test_unknown_key_is_an_error_with_its_line():
    problems = problems_of(BASE + "  auditor:\n    name: A\n    user_types: [sales]\n    sytems: [crm]\n")
    assert problems == ["roles.yaml:10: roles.auditor.sytems: unknown key 'sytems'"]


def test_includes_cycle_is_an_error():
    problems = problems_of(BASE + """\
  a: {name: A, user_types: [sales], includes: [b]}
  b: {name: B, user_types: [sales], includes: [c]}
  c: {name: C, user_types: [sales], includes: [a]}
""")
    assert len(problems) == 1
    assert "includes cycle: a -> b -> c -> a" in problems[0]
    assert problems[0].startswith("roles.yaml:9: roles.c.includes[0]")


def test_empty_user_types_unknown_user_type_and_unknown_include():
    problems = problems_of(BASE + """\
  a: {name: A, user_types: []}
  b: {name: B, user_types: [service], includes: [zz]}
""")
    assert "roles.yaml:7: roles.a.user_types: must list at least one user type" in problems
    assert "roles.yaml:8: roles.b.user_types[0]: unknown user type 'service'" in problems
    assert "roles.yaml:8: roles.b.includes[0]: unknown role 'zz'" in problems


def test_duplicate_ids_are_refused():
    with pytest.raises(ConfigError, match=r"roles.yaml:8: invalid YAML: duplicate key 'a' \(first at line 7\)"):
        rolemap_from(BASE + "  a: {name: A, user_types: [sales]}\n  a: {name: A2, user_types: [sales]}\n")
    problems = problems_of(BASE + "  a: {name: A, user_types: [sales], systems: [crm, crm]}\n")
    assert problems == ["roles.yaml:7: roles.a.systems[1]: 'crm' is listed twice"]


def test_ids_must_be_usable_as_ldap_cn():
    problems = problems_of(BASE + "  Bad_Id: {name: A, user_types: [sales]}\n")
    assert "roles.yaml:7: roles.Bad_Id: id 'Bad_Id' must match" in problems[0]


def test_the_digest_follows_what_the_map_says_not_its_file(tmp_path):
    """The run state keeps the role map's digest: a changed grant changes it (the next run reconciles
    fully); a comment or another layout of the same map does not."""
    path = ROOT / "config" / "roles.yaml"
    shipped = load_rolemap(path)
    text = path.read_text(encoding="utf-8")
    copy = tmp_path / "roles.yaml"
    copy.write_text("# edited by HQ, nothing changed\n" + text + "\n\n", encoding="utf-8")
    assert load_rolemap(copy).digest == shipped.digest
    data = yaml.safe_load(text)
    role, granted = next((name, role["systems"]) for name, role in data["roles"].items() if role.get("systems"))
    data["roles"][role]["systems"] = granted[1:] if len(granted) > 1 else [s for s in data["systems"] if s != granted[0]][:1]
    copy.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    changed = load_rolemap(copy)
    assert changed.systems_of(role) != shipped.systems_of(role)
    assert changed.digest != shipped.digest
