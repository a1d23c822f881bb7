"""The shipped server configuration (schema/*.ldif) does what the README promises."""

from __future__ import annotations

import subprocess
from pathlib import Path

from mopldap.ldap.slapd import schema_dir
from mopldap.plan.membership import slapd_order

ROOT = Path(__file__).resolve().parents[2]


def config_search(server, filter: str, *attrs: str) -> str:
    return subprocess.run(
        ["ldapsearch", "-Q", "-Y", "EXTERNAL", "-H", server.ldapi_uri, "-LLL", "-o", "ldif-wrap=no",
         "-b", "cn=config", filter, *attrs],
        capture_output=True, text=True, check=True,
    ).stdout


def test_schema_files_were_loaded_over_ldapi_with_every_overlay(slapd_server):
    text = config_search(slapd_server, "(|(olcOverlay=*)(olcDatabase=*)(cn=*mop*))",
                         "olcOverlay", "olcLastBind", "olcDbIndex", "olcSortVals", "olcPPolicyDefault",
                         "olcPPolicyHashCleartext", "olcRefintNothing", "olcMemberOfGroupOC")
    for expected in ("olcOverlay: {0}memberof", "olcOverlay: {1}refint", "olcOverlay: {2}ppolicy",
                     "olcLastBind: TRUE", "olcSortVals: member", "olcPPolicyHashCleartext: TRUE",
                     "olcPPolicyDefault: cn=default,ou=policies,dc=example,dc=com",
                     "olcRefintNothing: cn=nobody,dc=example,dc=com", "olcDbIndex: mopAccountStatus eq",
                     "olcDbIndex: pwdLastSuccess eq", "olcDbIndex: mopLastLogon eq", "olcDbIndex: cn,uid eq",
                     "olcDbIndex: member,memberUid eq", "dn: cn={4}mop,cn=schema,cn=config"):
        assert expected in text, expected


def test_shipped_files_are_the_ones_in_the_source_tree():
    assert schema_dir() == ROOT / "schema"
    assert [p.name for p in sorted(schema_dir().glob("*.ldif"))] == ["modules.ldif", "mop.ldif", "server.ldif"]


def test_mop_schema_is_accepted_as_a_slapadd_include(tmp_path):
    """A customer building cn=config offline with slapadd can `include:` schema/mop.ldif."""
    conf = tmp_path / "slapd.d"
    conf.mkdir()
    ldif = f"""dn: cn=config
objectClass: olcGlobal
cn: config

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif

include: file:///etc/ldap/schema/cosine.ldif

include: file:///etc/ldap/schema/inetorgperson.ldif

include: file://{ROOT}/schema/mop.ldif

dn: olcDatabase=config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: config
"""
    subprocess.run(["slapadd", "-n0", "-F", str(conf)], input=ldif, text=True, check=True, capture_output=True)
    subprocess.run(["slaptest", "-F", str(conf), "-u"], check=True, capture_output=True)
    schema = next(conf.glob("cn=config/cn=schema/*mop.ldif")).read_text().replace("\n ", "")
    assert "NAME 'mopAccountStatus'" in schema and "NAME 'mopPartner'" in schema


def test_locked_account_cannot_bind_and_unlocked_can(initialized):
    env = initialized
    env.ldap_tool("ldapadd", input=(
        "dn: uid=probe,ou=hq,dc=example,dc=com\nobjectClass: inetOrgPerson\nobjectClass: mopAccount\n"
        "uid: probe\ncn: Probe\nsn: Probe\nuserPassword: Probe-pass-123\nmopAccountStatus: active\n"))
    dn = "uid=probe,ou=hq,dc=example,dc=com"
    assert env.can_bind(dn, "Probe-pass-123")
    stored = env.ldapsearch("(uid=probe)", "userPassword")
    assert "Probe-pass-123" not in stored  # olcPPolicyHashCleartext hashed it
    env.ldapmodify(f"dn: {dn}\nchangetype: modify\nadd: pwdAccountLockedTime\npwdAccountLockedTime: 000001010000Z\n")
    assert not env.can_bind(dn, "Probe-pass-123")
    env.ldapmodify(f"dn: {dn}\nchangetype: modify\ndelete: pwdAccountLockedTime\n")
    assert env.can_bind(dn, "Probe-pass-123")
    assert "pwdLastSuccess: " in env.ldapsearch("(uid=probe)", "pwdLastSuccess")


def test_deleting_the_last_member_leaves_the_placeholder_and_memberof_follows(initialized):
    env = initialized
    env.ldap_tool("ldapadd", input=(
        "dn: uid=probe,ou=hq,dc=example,dc=com\nobjectClass: inetOrgPerson\nuid: probe\ncn: P\nsn: P\n"))
    env.ldapmodify("dn: cn=hotline-specialist,ou=roles,dc=example,dc=com\nchangetype: modify\n"
                   "replace: member\nmember: uid=probe,ou=hq,dc=example,dc=com\n")
    assert "memberOf: cn=hotline-specialist,ou=roles,dc=example,dc=com" in env.ldapsearch("(uid=probe)", "memberOf")
    env.ldap_tool("ldapdelete", "uid=probe,ou=hq,dc=example,dc=com")
    group = env.ldapsearch("(cn=hotline-specialist)", "member")
    assert "member: cn=nobody,dc=example,dc=com" in group
    assert "uid=probe" not in group


def test_the_server_keeps_member_values_in_the_order_mopldap_writes_them_in(initialized):
    """olcSortVals: member keeps a group's values sorted; mopldap writes what a system group lacks in
    that order (slapd_order), so that each value slapd adds lands at the end of the group's values
    instead of moving the ones after it (bench/sorted_values.py). The order is the server's: by
    length, then bytes, whatever the case (for plain DNs: escapes and some case mappings sort
    elsewhere there, which costs time only)."""
    env = initialized
    values = ["uid=Zed,ou=b,dc=example,dc=com", "uid=a,ou=b,dc=example,dc=com", "UID=Ab,OU=B,DC=Example,DC=com",
              "uid=bb,ou=b,dc=example,dc=com", "uid=été,ou=b,dc=example,dc=com", "uid=Ze,ou=b,dc=example,dc=com",
              "uid=z,ou=b,dc=example,dc=com", "uid=ab,ou=a,dc=example,dc=com", "uid=Eté,ou=b,dc=example,dc=com"]
    group = "cn=hotline-specialist,ou=roles,dc=example,dc=com"
    env.ldapmodify(f"dn: {group}\nchangetype: modify\nreplace: member\n" + "".join(f"member: {v}\n" for v in values))
    stored = [value.lower() for value in env.entry(group, "member").get("member")]
    assert stored == [value.lower() for value in sorted(values, key=slapd_order)]
    assert stored != sorted(stored)  # not the order of the values' text
