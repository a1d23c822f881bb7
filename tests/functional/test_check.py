"""`mopldap check [--probe]`: each check proven by breaking the server (or the folders) that way."""

from __future__ import annotations

import subprocess


from conftest import BASE_DN, ROOT_PW, Env, account_dn, make_env, secure
from mopldap.ldap.slapd import MopSlapd


def lines(result) -> dict[str, str]:
    """check's output as {what: 'LEVEL detail'}."""
    out = {}
    for line in result.out.splitlines():
        level, rest = line.split(None, 1)
        what, _, detail = rest.partition(": ")
        out[what] = f"{level} {detail}"
    return out


def test_a_healthy_server_passes_every_check_and_the_probe_cleans_up(partner: Env):
    env = partner
    assert env.can_bind(account_dn("zhangsan"), "Zhangsan-Init-1")  # a login for "logins on provider"
    result = env.cli("check", "--probe")
    found = lines(result)
    assert all(v.startswith("ok") for k, v in found.items() if k not in ("size limit", "mail")), result.out
    assert found["size limit"].startswith("warn")  # fewer than 500 entries here: cannot tell
    assert found["mail"] == "warn notify.smtp is not set: nobody is warned before the inactivity lock"
    for what in ("schema", "tree", "access rules", "password policy", "memberOf (probe)", "binds recorded (probe)",
                 "password scheme (probe)", "folders", "logins on provider"):
        assert what in found, what
    assert "mopldap-probe" not in env.ldapsearch("(objectClass=*)", "1.1")


def test_a_policy_without_lockout_and_missing_folders_fail(partner: Env):
    env = partner
    env.ldapmodify(f"dn: cn=default,ou=policies,{BASE_DN}\nchangetype: modify\nreplace: pwdLockout\npwdLockout: FALSE\n")
    env.outbox.rename(env.root / "moved-outbox")
    result = env.cli("check", expect=1)
    found = lines(result)
    assert found["password policy"].startswith("FAIL") and "pwdLockout" in found["password policy"]
    assert found["folders"].startswith("FAIL") and "run `mopldap init`" in found["folders"]


def test_a_policy_that_lets_people_store_pre_hashed_passwords_fails(partner: Env):
    """pwdCheckQuality 1 (a policy made before mopldap, or by hand): a person can set their own
    password pre-hashed, dodging pwdMinLength; check says so, and the fix closes the hole."""
    env = partner
    policy = f"dn: cn=default,ou=policies,{BASE_DN}\nchangetype: modify\nreplace: pwdCheckQuality\npwdCheckQuality: "
    zhangsan = account_dn("zhangsan")

    def set_own_hashed_password() -> int:
        own = f"dn: {zhangsan}\nchangetype: modify\nreplace: userPassword\nuserPassword: {{SSHA}}c2hvcnQ=\n"
        return subprocess.run(["ldapmodify", "-x", "-H", env.server.ldap_uri, "-D", zhangsan, "-w", "Zhangsan-Init-1"],
                              input=own, capture_output=True, text=True).returncode

    assert lines(env.cli("check"))["password policy"].startswith("ok")  # as init made it
    assert set_own_hashed_password() == 19  # constraintViolation: the policy cannot check it, so it is refused
    env.ldapmodify(policy + "1\n")
    found = lines(env.cli("check", expect=1))
    assert found["password policy"].startswith("FAIL") and "pwdCheckQuality 1" in found["password policy"]
    assert "set pwdCheckQuality: 2" in found["password policy"]
    assert set_own_hashed_password() == 0  # the hole check points at


def test_a_server_without_the_schema_or_memberof_fails(tmp_path):
    def without(names):
        return lambda name, text: "" if name in names else text

    server = MopSlapd(tmp_path / "bare", base_dn=BASE_DN, root_pw=ROOT_PW,
                      edit_ldif=without({"mop.ldif", "server.ldif"}))
    server.start()
    try:
        env = make_env(server, tmp_path, service=False)  # the rules name what this server lacks
        env.ldap_tool("ldapadd", input=f"dn: {BASE_DN}\nobjectClass: dcObject\nobjectClass: organization\n"
                                       "dc: example\no: example\n")
        result = env.cli("check", expect=1)
        found = lines(result)
        assert found["schema"].startswith("FAIL") and "mopaccount" in found["schema"]
        assert found["tree"].startswith("FAIL")
    finally:
        server.stop()


def test_binds_not_recorded_and_a_scheme_the_server_cannot_verify_fail_the_probe(tmp_path):
    def no_lastbind_no_sha2(name, text):
        text = text.replace("olcLastBind: TRUE", "olcLastBind: FALSE")
        return text.replace("olcModuleLoad: pw-sha2\n", "").replace("olcPasswordHash: {SSHA512}\n", "") \
            .replace("add: olcPasswordHash\n-\n", "")

    server = MopSlapd(tmp_path / "s", base_dn=BASE_DN, root_pw=ROOT_PW, edit_ldif=no_lastbind_no_sha2)
    server.start()
    try:
        env = make_env(server, tmp_path, service=False)  # the service account's {SSHA512} would not verify
        env.cli("init")
        found = lines(env.cli("check", "--probe", expect=1))
        assert found["password scheme (probe)"].startswith("FAIL") and "{SSHA512}" in found["password scheme (probe)"]
        env.write_config(passwords={"scheme": "{SSHA}"})  # one slapd verifies without a module
        found = lines(env.cli("check", "--probe", expect=1))
        assert found["password scheme (probe)"].startswith("ok")
        assert found["binds recorded (probe)"].startswith("FAIL") and "olcLastBind" in found["binds recorded (probe)"]
    finally:
        server.stop()


def test_a_bind_dn_capped_at_500_entries_fails(partner: Env):
    env = partner
    env.ldap_tool("ldapadd", input="".join(
        f"dn: uid=many{i:03d},ou=P001,ou=partners,{BASE_DN}\nobjectClass: inetOrgPerson\nuid: many{i:03d}\n"
        f"cn: m\nsn: m\n\n" for i in range(520)) + f"dn: cn=app9,ou=services,{BASE_DN}\nobjectClass: "
        "applicationProcess\nobjectClass: simpleSecurityObject\ncn: app9\nuserPassword: App9-pass-000\n")
    env.ldapmodify(f"dn: cn=applications,ou=services,{BASE_DN}\nchangetype: modify\nadd: member\n"
                   f"member: cn=app9,ou=services,{BASE_DN}\n")
    # an application reads every account, and has no olcLimits: Debian's olcSizeLimit 500 holds
    env.write_config(ldap={"bind_dn": f"cn=app9,ou=services,{BASE_DN}"})
    (env.config_path.parent / "bind.password").write_text("App9-pass-000")
    found = lines(env.cli("check", expect=1))
    assert found["size limit"].startswith("FAIL") and "olcLimits" in found["size limit"]


def test_an_unreachable_replica_exits_2(partner: Env):
    env = partner
    env.write_config(ldap={"replicas": ["ldap://127.0.0.1:9"], "timeout": 2})
    found = lines(env.cli("check", expect=2))
    assert found["replica ldap://127.0.0.1:9"].startswith("FAIL") and "cannot reach" in found["replica ldap://127.0.0.1:9"]


def test_a_server_without_the_access_rules_fails_until_they_are_loaded(own_server, tmp_path):
    """Debian's default access (anyone reads everything), as the issue found it; then the rules."""
    env = make_env(own_server, tmp_path, rules=False)
    (tmp_path / "root").mkdir()
    root = make_env(own_server, tmp_path / "root", service=False)  # without the rules the service cannot write
    root.cli("init")
    found = lines(root.cli("check", expect=1))
    assert found["access rules"].startswith("FAIL") and f"reads ou=partners,{BASE_DN}" in found["access rules"]
    assert "mopldap acl | sudo ldapmodify -Y EXTERNAL" in found["access rules"]
    secure(own_server)
    env.cli("init")  # its own folders; the tree is there
    assert lines(env.cli("check"))["access rules"] == "ok an anonymous client reads no account and no group"
