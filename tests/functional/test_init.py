"""`mopldap init` against a real slapd, inspected with ldapsearch."""

from __future__ import annotations

import json
import os
import stat

import yaml

BASE = "dc=example,dc=com"


def dns(ldif: str) -> set[str]:
    return {line[4:] for line in ldif.splitlines() if line.startswith("dn: ")}


def test_init_builds_the_tree_policy_and_one_group_per_role_and_system(env):
    result = env.cli("init")
    assert "init: made" in result.out
    assert dns(env.ldapsearch("(objectClass=organizationalUnit)", "1.1")) == {
        f"ou={ou},{BASE}" for ou in ("partners", "hq", "roles", "systems", "policies", "services")
    }
    config, rolemap = env.settings()
    roles = dns(env.ldapsearch("(objectClass=groupOfNames)", "1.1", base=f"ou=roles,{BASE}"))
    assert roles == {f"cn={r},ou=roles,{BASE}" for r in rolemap.roles}
    systems = dns(env.ldapsearch("(objectClass=groupOfNames)", "1.1", base=f"ou=systems,{BASE}"))
    assert systems == {f"cn={s},ou=systems,{BASE}" for s in rolemap.systems}
    assert dns(env.ldapsearch("(objectClass=groupOfNames)", "1.1", base=f"ou=services,{BASE}")) == {
        f"cn=applications,ou=services,{BASE}"}  # application accounts go in it (access rules)
    group = env.ldapsearch("(cn=service-manager)", "member", "description", base=f"ou=roles,{BASE}")
    assert f"member: cn=nobody,{BASE}" in group  # the documented empty-group placeholder
    policy = env.ldapsearch("(objectClass=pwdPolicy)", "pwdLockout", "pwdAttribute", base=f"ou=policies,{BASE}")
    assert f"dn: cn=default,ou=policies,{BASE}" in policy
    assert "pwdLockout: TRUE" in policy


def test_second_init_changes_nothing(env):
    env.cli("init")
    before = env.snapshot()
    audit_lines = env.audit_file.read_text().count("\n")
    result = env.cli("init")
    assert "nothing to do" in result.out
    assert env.snapshot() == before
    assert env.audit_file.read_text().count("\n") == audit_lines


def test_init_after_a_role_map_change_adds_only_the_new_groups(env):
    env.cli("init")
    roles_file = env.config_path.parent / "roles.yaml"
    data = yaml.safe_load(roles_file.read_text(encoding="utf-8"))
    data["systems"]["mop-bi"] = {"name": "MOP-BI"}
    data["roles"]["bi-analyst"] = {"name": "BI 分析员", "user_types": ["sales"], "systems": ["mop-bi"]}
    roles_file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = env.cli("init", "--dry-run")
    assert "would add cn=bi-analyst,ou=roles" in result.out
    assert "cn=bi-analyst" not in env.ldapsearch("(cn=bi-analyst)", "1.1")
    result = env.cli("init")
    assert "made 2 change(s)" in result.out
    assert f"dn: cn=bi-analyst,ou=roles,{BASE}" in env.ldapsearch("(cn=bi-analyst)", "1.1")
    assert f"dn: cn=mop-bi,ou=systems,{BASE}" in env.ldapsearch("(cn=mop-bi)", "1.1")


def test_init_keeps_existing_groups_and_their_members(env):
    env.cli("init")
    env.ldap_tool("ldapadd", input=f"dn: uid=probe,ou=hq,{BASE}\nobjectClass: inetOrgPerson\nuid: probe\ncn: P\nsn: P\n")
    env.ldapmodify(f"dn: cn=hq-admin,ou=roles,{BASE}\nchangetype: modify\nadd: member\nmember: uid=probe,ou=hq,{BASE}\n")
    env.cli("init")
    assert f"member: uid=probe,ou=hq,{BASE}" in env.ldapsearch("(cn=hq-admin)", "member")


def test_init_hq_admin_creates_the_first_hq_administrator_with_a_0600_password_file(env):
    result = env.cli("init", "--hq-admin", "wangwu", "--name", "王五", "--email", "wangwu@hq.example.com")
    secret = env.outbox / "init-hq-admin-wangwu.secret"
    assert str(secret) in result.out
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600
    password = yaml.safe_load(secret.read_text())["password"]
    assert len(password) >= 16
    dn = f"uid=wangwu,ou=hq,{BASE}"
    entry = env.ldapsearch("(uid=wangwu)", "*", "pwdReset", "memberOf")
    assert "mopAccountStatus: active" in entry and "pwdReset: TRUE" in entry
    assert "objectClass: mopAccount" in entry and "mail: wangwu@hq.example.com" in entry
    assert f"memberOf: cn=hq-admin,ou=roles,{BASE}" in entry
    assert f"memberOf: cn=mop-orders,ou=systems,{BASE}" in entry
    assert env.can_bind(dn, password)
    # the password shows nowhere but in the secret file
    for text in (result.out, result.err, env.audit_file.read_text(), env.ldapsearch("(uid=wangwu)", "userPassword")):
        assert password not in text
    audit = [json.loads(line) for line in env.audit_file.read_text().splitlines()]
    add = next(e for e in audit if e["dn"] == dn and e["action"] == "add")
    assert add["attributes"]["userPassword"] == {"new": ["(hidden)"]}
    # a second run neither recreates the account nor rewrites the password file
    again = env.cli("init", "--hq-admin", "wangwu", "--name", "王五")
    assert "unchanged: HQ administrator" in again.out
    assert yaml.safe_load(secret.read_text())["password"] == password


def test_init_hq_admin_refuses_a_username_taken_elsewhere(initialized):
    env = initialized
    env.ldap_tool("ldapadd", input=f"dn: uid=zhaoliu,ou=partners,{BASE}\nobjectClass: inetOrgPerson\nuid: zhaoliu\ncn: Z\nsn: Z\n")
    result = env.cli("init", "--hq-admin", "zhaoliu", "--name", "赵六", expect=1)
    assert "username 'zhaoliu' is taken by uid=zhaoliu,ou=partners" in result.err


def test_init_with_server_side_password_hashing(env):
    env.write_config(passwords={"scheme": "server"})
    env.cli("init", "--hq-admin", "qianqi", "--name", "钱七")
    password = yaml.safe_load((env.outbox / "init-hq-admin-qianqi.secret").read_text())["password"]
    entry = env.ldapsearch("(uid=qianqi)", "userPassword", "pwdReset")
    assert "pwdReset: TRUE" in entry
    assert env.can_bind(f"uid=qianqi,ou=hq,{BASE}", password)
