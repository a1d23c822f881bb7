"""The first password gate (access.first_password_gate, on by default): an account still on the
password its administrator or mopldap set reaches no system until the person sets their own."""

from __future__ import annotations

import json

import pytest

from conftest import BASE_DN, LISI, Env, account_dn
from test_operations import systems_of, roles_of



@pytest.fixture
def gated(partner: Env) -> Env:
    partner.write_config(access={"first_password_gate": True})  # the shipped default
    return partner


def test_a_new_account_has_its_roles_and_no_system_until_it_sets_its_own_password(gated: Env):
    env = gated
    result = env.request([LISI])
    assert "once the person has set their own password" in result["operations"][0]["message"]
    assert roles_of(env, "lisi") == {"service-specialist"} and systems_of(env, "lisi") == set()
    rows = {r["username"]: r for r in json.loads(env.cli("report", "accounts", "--format", "json").out)}
    assert rows["lisi"]["status"] == "active, password not yet changed"
    env.cli("sync", "--full")
    assert systems_of(env, "lisi") == set()  # a full run keeps it out too
    env.own_password(account_dn("lisi"), "Lisi-Init-2026!", "Lisi-Own-Choice-7")
    env.cli("sync")  # a routine run: the password change is a change of the entry
    assert systems_of(env, "lisi") == {"mop-service", "community"}
    assert json.loads(env.cli("report", "accounts", "--format", "json").out)[1]["status"] == "active"


def test_a_password_reset_takes_the_account_out_of_its_systems_until_the_new_one_is_its_own(gated: Env):
    env = gated
    env.request([LISI])
    env.own_password(account_dn("lisi"), "Lisi-Init-2026!", "Lisi-Own-Choice-7")
    env.cli("sync")
    assert systems_of(env, "lisi") == {"mop-service", "community"}
    env.request([{"op": "reset_password", "username": "lisi", "new_password": "Reset-By-Admin-3"}])
    assert systems_of(env, "lisi") == set()
    env.own_password(account_dn("lisi"), "Reset-By-Admin-3", "Lisi-Own-Again-8")
    env.cli("sync")
    assert systems_of(env, "lisi") == {"mop-service", "community"}


def test_a_system_membership_added_by_hand_to_an_account_on_a_set_password_is_removed(gated: Env):
    env = gated
    env.request([LISI])
    env.ldapmodify(f"dn: cn=mop-service,ou=systems,{BASE_DN}\nchangetype: modify\nadd: member\n"
                   f"member: {account_dn('lisi')}\n")
    env.cli("sync")
    assert systems_of(env, "lisi") == set()


def test_the_first_hq_administrator_reaches_its_systems_after_setting_its_password(env: Env):
    env.write_config(access={"first_password_gate": True})
    env.cli("init", "--hq-admin", "hq1", "--name", "总部")
    password = env.secret("init-hq-admin-hq1")["password"]
    dn = f"uid=hq1,ou=hq,{BASE_DN}"
    assert not [g for g in env.entry(dn, "memberOf").get("memberOf") if ",ou=systems," in g]
    env.own_password(dn, password, "Hq-Own-Password-9")
    env.cli("sync")
    assert [g for g in env.entry(dn, "memberOf").get("memberOf") if ",ou=systems," in g]
