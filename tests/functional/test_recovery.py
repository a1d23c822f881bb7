"""Recovery after a run was killed, from the state it leaves (the claimed file and its journal,
and what it had written): a hostile reviewer's cases, each once a defect."""

from __future__ import annotations

import datetime as dt
import subprocess

import yaml

from conftest import BASE_DN, account_dn
from mopldap.model.passwords import hash_password

LISI = {"op": "create_user", "username": "lisi", "name": "李四", "user_type": "service",
        "roles": ["service-specialist"], "initial_password": "Lisi-pass-0001"}


def started() -> str:
    return (dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(seconds=2)).isoformat()


def test_a_claimed_file_without_a_journal_reusing_an_applied_id_is_a_duplicate(partner):
    env = partner
    env.request([LISI], request_id="P001-A")
    env.leave_claimed("P001-A", [{"op": "delete_user", "username": "lisi"}], journal=False)  # claimed, then killed
    assert "1 duplicate" in env.cli("sync").out
    assert env.entry(account_dn("lisi")) is not None
    assert env.result("P001-A")["operations"][0]["op"] == "create_user"  # the first result stays


def test_a_reset_of_a_disabled_account_killed_before_the_relock_leaves_it_disabled(partner):
    env = partner
    env.write_config(reconcile={"clock_skew_seconds": 0})
    env.request([LISI])
    env.request([{"op": "disable_user", "username": "lisi", "reason": "offboarded"}])
    (env.outbox / "P001-pw.secret").write_text(yaml.safe_dump({"lisi": "Generated-Before-42x"}))
    env.leave_claimed("P001-pw", [{"op": "reset_password", "username": "lisi"}],
                      [("applied", "password reset")], started())
    # the first run's password modify (ppolicy drops the lock with it); then it was killed
    env.ldapmodify(f"dn: {account_dn('lisi')}\nchangetype: modify\nreplace: userPassword\n"
                   f"userPassword: {hash_password('Generated-Before-42x', '{SSHA512}')}\n-\nreplace: pwdReset\n"
                   "pwdReset: TRUE\n")
    assert env.entry(account_dn("lisi"), "pwdAccountLockedTime").first("pwdAccountLockedTime") is None
    env.cli("sync")
    entry = env.entry(account_dn("lisi"), "pwdAccountLockedTime", "mopAccountStatus", "memberOf")
    assert entry.first("pwdAccountLockedTime") == "000001010000Z" and entry.first("mopAccountStatus") == "disabled"
    assert not any(",ou=systems," in g for g in entry.get("memberOf"))
    assert not env.can_bind(account_dn("lisi"), "Generated-Before-42x")


def test_a_create_killed_after_the_add_with_scheme_server_gets_its_password(partner):
    env = partner
    env.write_config(passwords={"scheme": "server"})
    env.ldap_tool("ldapadd", input=f"dn: {account_dn('lisi')}\nobjectClass: inetOrgPerson\nobjectClass: mopAccount\n"
                  "uid: lisi\ncn: 李四\nsn: 李四\ndisplayName: 李四\nmopUserType: service\nmopAccountStatus: active\n"
                  "mopEnabledAt: 20261201000000Z\n")  # the add; the Password Modify never came
    (env.outbox / "P001-c.secret").write_text(yaml.safe_dump({"lisi": "Generated-Before-42x"}))
    env.leave_claimed("P001-c", [{k: v for k, v in LISI.items() if k != "initial_password"}],
                      [("applied", "created")], started())
    env.cli("sync")
    assert env.result("P001-c")["status"] == "applied"
    assert env.can_bind(account_dn("lisi"), "Generated-Before-42x")


def test_a_create_then_update_of_the_same_account_killed_after_the_add_is_finished(partner):
    env = partner
    env.ldap_tool("ldapadd", input=f"dn: {account_dn('lisi')}\nobjectClass: inetOrgPerson\nobjectClass: mopAccount\n"
                  "uid: lisi\ncn: 李四\nsn: 李四\ndisplayName: 李四\ntitle: 服务经理\nmopUserType: service\n"
                  f"mopAccountStatus: active\nmopEnabledAt: 20261201000000Z\nuserPassword: "
                  f"{hash_password('Lisi-pass-0001', '{SSHA512}')}\npwdReset: TRUE\n")  # its final state, no groups
    ops = [dict(LISI, title="服务专员"), {"op": "update_user", "username": "lisi", "title": "服务经理"}]
    env.leave_claimed("P001-CU", ops, [("applied", "created"), ("applied", "updated title")], started())
    env.cli("sync")
    result = env.result("P001-CU")
    assert result["status"] == "applied", result
    assert f"cn=service-specialist,ou=roles,{BASE_DN}" in env.entry(account_dn("lisi"), "memberOf").get("memberOf")
    assert env.entry(account_dn("lisi"), "title").first("title") == "服务经理"


def test_a_password_glued_to_its_key_appears_nowhere(partner):
    env = partner
    (env.inbox / "P001-L.yaml").write_text(
        "request_id: P001-L\nrequested_by: zhangsan\npartner: P001\noperations:\n"
        "  - {op: reset_password, username: zhangsan, new_password:Sup3r-Secret-99}\n")
    (env.inbox / "P001-M.yaml").write_text(yaml.safe_dump({
        "request_id": "P001-M", "requested_by": "zhangsan", "partner": "P001",
        "operations": [{"op": "enable_user", "username": "Sup3r-Secret-99"}]}))  # typed in the wrong field
    result = env.cli("sync")
    assert "Sup3r-Secret-99" not in result.out + result.err
    env.assert_nowhere("Sup3r-Secret-99")


def test_apply_of_a_file_with_a_long_name_reports_its_status(partner, tmp_path):
    env = partner
    path = tmp_path / ("x" * 230 + ".yaml")
    path.write_text(yaml.safe_dump({"request_id": "P001-Z", "requested_by": "zhangsan", "partner": "P001",
                                    "operations": [{"op": "enable_user", "username": "zhangsan"}]}))
    result = env.cli("apply", str(path))
    assert ": applied; result in" in result.out and "Traceback" not in result.err


def test_nothing_more_is_written_once_mopldaps_files_cannot_be(partner, small_fs):
    env = partner
    env.submit([dict(LISI, username="aaa")], request_id="P001-A1", name="a1", requested_by="hqadmin")  # same batch
    env.submit([{k: v for k, v in LISI.items() if k != "initial_password"} | {"username": "bbb"}],
               request_id="P001-B1", name="b1")  # its generated password cannot be recorded
    small_fs(env.outbox, "1m")
    try:
        subprocess.run(["mount", "-o", "remount,ro", str(env.outbox)], check=True)
        env.cli("sync", expect=4)
        assert env.entry(account_dn("aaa")) is None and env.entry(account_dn("bbb")) is None
    finally:
        subprocess.run(["umount", "-l", str(env.outbox)], check=True)
    env.cli("sync")
    assert env.result("P001-A1")["status"] == env.result("P001-B1")["status"] == "applied"


def test_a_system_dropped_from_the_role_map_loses_its_members(partner):
    env = partner
    roles = env.config_path.parent / "roles.yaml"
    data = yaml.safe_load(roles.read_text())
    del data["systems"]["community-channel-policy"]
    for role in data["roles"].values():
        role["systems"] = [s for s in role.get("systems", []) if s != "community-channel-policy"]
    roles.write_text(yaml.safe_dump(data, allow_unicode=True))
    result = env.cli("sync", "--full")
    members = env.ldapsearch("(objectClass=*)", "member", base=f"cn=community-channel-policy,ou=systems,{BASE_DN}")
    assert "uid=" not in members and "unknown-system-group" in result.err


def test_an_entry_below_a_partner_ou_is_not_an_account_in_any_run(partner):
    env = partner
    deep = f"uid=deep,ou=team,ou=P001,ou=partners,{BASE_DN}"
    env.ldap_tool("ldapadd", input=f"dn: ou=team,ou=P001,ou=partners,{BASE_DN}\nobjectClass: organizationalUnit\n"
                  f"ou: team\n\ndn: {deep}\nobjectClass: inetOrgPerson\nobjectClass: mopAccount\nuid: deep\ncn: d\n"
                  "sn: d\nmopUserType: service\nmopAccountStatus: active\n")
    env.ldapmodify(f"dn: cn=service-specialist,ou=roles,{BASE_DN}\nchangetype: modify\nadd: member\nmember: {deep}\n")
    seen = []
    for args in (("sync",), ("sync", "--full"), ("sync",), ("sync", "--full")):
        result = env.cli(*args)
        seen.append("uid=deep" in env.ldapsearch("(objectClass=*)", "member", base=f"cn=mop-service,ou=systems,{BASE_DN}"))
    assert seen == [False] * 4
    assert "member-outside" in result.err  # reported, for a person to move or remove
