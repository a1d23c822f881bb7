"""Reconciliation from nothing but the directory and the role map: hand edits are honoured."""

from __future__ import annotations

import json

import yaml

from conftest import BASE_DN, account_dn
from mopldap.plan.membership import slapd_order
from test_operations import SERVICE, group_members, roles_of, systems_of

SYS = f"ou=systems,{BASE_DN}"


def add_by_hand(env, username: str, partner: str = "P001", extra: str = "") -> str:
    dn = account_dn(username, partner)
    env.ldap_tool("ldapadd", input=f"dn: {dn}\nobjectClass: inetOrgPerson\nuid: {username}\ncn: {username}\n"
                                   f"sn: {username}\nuserPassword: Hand-made-pass-1\n{extra}")
    return dn


def add_role_by_hand(env, dn: str, role: str) -> None:
    env.ldapmodify(f"dn: cn={role},ou=roles,{BASE_DN}\nchangetype: modify\nadd: member\nmember: {dn}\n")


def test_account_added_by_hand_is_adopted_and_gets_its_systems(partner):
    env = partner
    dn = add_by_hand(env, "handmade")
    add_role_by_hand(env, dn, "hotline-specialist")
    result = env.cli("sync")
    assert "1 adopted" in result.out
    entry = env.entry(dn, "objectClass", "mopAccountStatus")
    assert "mopAccount" in entry.get("objectClass") and entry.first("mopAccountStatus") == "active"
    assert systems_of(env, "handmade") == {"mop-service", "community"}


def test_lock_removed_by_hand_enables_the_account_from_that_moment(partner):
    env = partner
    env.request([SERVICE])
    env.request([{"op": "disable_user", "username": "lisi", "reason": "admin"}])
    env.ldapmodify(f"dn: {account_dn('lisi')}\nchangetype: modify\ndelete: pwdAccountLockedTime\n")
    result = env.cli("sync", "--as-of", "2026-12-02T03:04:05Z")
    assert "1 enabled by hand" in result.out
    entry = env.entry(account_dn("lisi"), "mopAccountStatus", "mopEnabledAt", "mopDisabledReason")
    assert entry.first("mopAccountStatus") == "active" and entry.first("mopEnabledAt") == "20261202030405Z"
    assert entry.get("mopDisabledReason") == []
    assert systems_of(env, "lisi") == {"mop-service", "community"}


def test_lock_added_by_hand_disables_the_account_as_admin(partner):
    env = partner
    env.request([SERVICE])
    env.ldapmodify(f"dn: {account_dn('lisi')}\nchangetype: modify\nadd: pwdAccountLockedTime\n"
                   "pwdAccountLockedTime: 000001010000Z\n")
    result = env.cli("sync")
    assert "1 disabled by hand" in result.out
    entry = env.entry(account_dn("lisi"), "mopAccountStatus", "mopDisabledReason", "mopDisabledAt")
    assert entry.first("mopAccountStatus") == "disabled" and entry.first("mopDisabledReason") == "admin"
    assert entry.first("mopDisabledAt")
    assert systems_of(env, "lisi") == set() and roles_of(env, "lisi") == {"service-specialist", "hotline-specialist"}


def test_role_membership_edited_by_hand_is_honoured_at_the_next_run(partner):
    env = partner
    env.request([SERVICE])
    for role in ("service-specialist", "hotline-specialist"):  # lisi was their only member
        env.ldapmodify(f"dn: cn={role},ou=roles,{BASE_DN}\nchangetype: modify\nreplace: member\n"
                       f"member: cn=nobody,{BASE_DN}\n")
    add_role_by_hand(env, account_dn("lisi"), "service-supervisor")
    env.cli("sync")
    assert systems_of(env, "lisi") == {"mop-service", "community"}
    env.ldapmodify(f"dn: cn=service-supervisor,ou=roles,{BASE_DN}\nchangetype: modify\nreplace: member\n"
                   f"member: cn=nobody,{BASE_DN}\n")
    env.cli("sync")
    assert systems_of(env, "lisi") == set()
    assert group_members(env, "mop-service") == {f"uid=zhangsan,ou=P001,ou=partners,{BASE_DN}",
                                                  f"uid=hqadmin,ou=hq,{BASE_DN}"}


def test_role_map_change_is_honoured_at_the_next_run(partner):
    env = partner
    env.request([SERVICE])
    roles_file = env.config_path.parent / "roles.yaml"
    data = yaml.safe_load(roles_file.read_text(encoding="utf-8"))
    data["roles"]["hotline-specialist"]["systems"] = ["mop-service", "community", "mop-orders"]
    roles_file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    env.cli("sync")
    assert systems_of(env, "lisi") == {"mop-service", "community", "mop-orders"}


def test_a_comment_added_to_the_role_map_is_no_change_of_it(partner):
    """The run state keeps what the role map says, not its bytes: a comment does not cost a full
    reconcile; a changed grant does (above)."""
    env = partner
    env.request([SERVICE])
    roles_file = env.config_path.parent / "roles.yaml"
    roles_file.write_text("# reviewed by HQ\n" + roles_file.read_text(encoding="utf-8"), encoding="utf-8")
    assert "reconcile (changes only)" in env.cli("sync").out
    data = yaml.safe_load(roles_file.read_text(encoding="utf-8"))
    data["roles"]["hotline-specialist"]["systems"] = ["mop-service", "community", "mop-orders"]
    roles_file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert "reconcile (full)" in env.cli("sync").out


def test_system_groups_edited_by_hand_are_put_back(partner):
    env = partner
    env.request([SERVICE])
    env.ldapmodify(f"dn: cn=mop-sales,{SYS}\nchangetype: modify\nadd: member\nmember: cn=intruder,ou=people,{BASE_DN}\n"
                   f"member: {account_dn('lisi')}\n")
    env.ldapmodify(f"dn: cn=community,{SYS}\nchangetype: modify\ndelete: member\nmember: {account_dn('lisi')}\n")
    env.cli("sync")
    assert f"cn=intruder,ou=people,{BASE_DN}" not in group_members(env, "mop-sales")
    assert systems_of(env, "lisi") == {"mop-service", "community"}


def test_a_full_run_puts_back_members_granted_by_several_role_groups(partner):
    """A full reconcile keeps keys of the members, not their DNs: what a system group lacks is read
    again from its role groups and written."""
    env = partner
    env.request([SERVICE])
    env.ldapmodify(f"dn: cn=community,{SYS}\nchangetype: modify\ndelete: member\nmember: {account_dn('lisi')}\n"
                   f"member: {account_dn('zhangsan')}\n")
    result = env.cli("sync", "--full")
    assert "2 group membership(s) changed in 1 group(s)" in result.out
    assert "community" in systems_of(env, "lisi") and "community" in systems_of(env, "zhangsan")
    assert {account_dn("lisi"), account_dn("zhangsan")} <= set(group_members(env, "community"))


def test_what_a_system_group_lacks_is_written_in_the_order_the_server_keeps_members_in(partner, monkeypatch):
    """A full run gathers what a system group lacks from all its role groups and writes it in the
    order slapd keeps member values (slapd_order), not one role group's worth after the other:
    slapd moves every value after the place of each value it adds (a first run over 1,000,000
    accounts: 7 s of slapd's time instead of 212, bench/sorted_values.py)."""
    from mopldap.plan import membership
    from mopldap.runs import reconcile

    env = partner
    monkeypatch.setattr(reconcile, "chunks", lambda values: membership.chunks(values, 2))  # 2 values a write
    made = []
    for i, name in enumerate(["ann", "bob", "cat", "dan", "eve", "fay"]):  # along the server's order,
        made.append(add_by_hand(env, name))  # two role groups granting community take turns
        add_role_by_hand(env, made[-1], ("sales-specialist", "service-specialist")[i % 2])
    env.cli("sync", "--full")
    community = f"cn=community,{SYS}".lower()
    writes = [event["attributes"]["member"].get("add", []) for event in env.audit()
              if event.get("operation") == "reconcile-groups" and event["dn"].lower() == community]
    added = [value for values in writes for value in values]
    assert set(made) <= set(added) and len(writes) >= 3
    assert added == sorted(added, key=slapd_order)  # each write's values come after the last one's
    assert all("community" in systems_of(env, name) for name in ("ann", "bob", "cat", "dan", "eve", "fay"))


def test_a_group_edited_by_hand_while_a_full_run_writes_it_is_looked_at_by_the_next_run(partner, monkeypatch):
    """A full run writes each group once read; someone who edits a group between mopldap's read
    and its write is seen (its pre-read entryCSN is not the one mopldap knew), and the next run,
    a routine one, looks at that group again: here it removes the member added by hand."""
    from mopldap.runs import reconcile

    env = partner
    env.request([SERVICE])
    env.ldapmodify(f"dn: cn=community,{SYS}\nchangetype: modify\ndelete: member\nmember: {account_dn('lisi')}\n")
    intruder = f"cn=intruder,ou=people,{BASE_DN}"
    values_of, edits = reconcile._values_of, [f"dn: cn=community,{SYS}\nchangetype: modify\nadd: member\nmember: {intruder}\n"]

    def edited_meanwhile(rt, lacking, roles):  # community is the first system group read
        while edits:
            env.ldapmodify(edits.pop())
        return values_of(rt, lacking, roles)

    monkeypatch.setattr(reconcile, "_values_of", edited_meanwhile)
    env.cli("sync", "--full")  # reads community, lacks lisi: the intruder arrives, then lisi is written
    monkeypatch.setattr(reconcile, "_values_of", values_of)
    assert intruder in group_members(env, "community") and "community" in systems_of(env, "lisi")
    result = env.cli("sync")
    assert "changes only" in result.out
    assert intruder not in group_members(env, "community")


def test_group_changes_are_batched_and_a_run_with_nothing_to_do_writes_nothing(partner):
    env = partner
    for i in range(4):
        dn = add_by_hand(env, f"hand{i}")
        add_role_by_hand(env, dn, "service-specialist")
    before = len(env.audit())
    env.cli("sync")
    events = env.audit()[before:]
    group_events = [e for e in events if e["dn"].endswith(SYS)]
    assert sorted(e["dn"] for e in group_events) == [f"cn=community,{SYS}", f"cn=mop-service,{SYS}"]
    assert all(len(e["attributes"]["member"]["add"]) == 4 for e in group_events)
    snapshot, writes = env.snapshot(), len(env.audit())
    result = env.cli("sync")
    assert "0 group membership(s) changed" in result.out
    assert env.snapshot() == snapshot and len(env.audit()) == writes


def test_drift_is_reported_not_fixed(partner):
    env = partner
    env.request([SERVICE])
    wrong = add_by_hand(env, "wrongtype", extra="objectClass: mopAccount\nmopUserType: marketing\nmopAccountStatus: active\n")
    add_role_by_hand(env, wrong, "service-manager")
    add_by_hand(env, "norole", extra="objectClass: mopAccount\nmopUserType: service\nmopAccountStatus: active\n")
    env.ldap_tool("ldapadd", input=f"dn: ou=people,{BASE_DN}\nobjectClass: organizationalUnit\nou: people\n\n"
                                   f"dn: uid=outsider,ou=people,{BASE_DN}\nobjectClass: inetOrgPerson\nuid: outsider\n"
                                   "cn: o\nsn: o\n")
    add_role_by_hand(env, f"uid=outsider,ou=people,{BASE_DN}", "service-specialist")
    routine = env.cli("sync")  # looks at the changed accounts: their own drift
    assert "2 drift" in routine.out and "uid=wrongtype" in routine.err and "uid=norole" in routine.err
    result = env.cli("sync", "--full")  # looks at everything, role group members included
    assert "3 drift" in result.out
    logged = result.err
    assert "role-not-allowed" in logged and "uid=wrongtype" in logged
    assert "no-role" in logged and "uid=norole" in logged
    assert "member-outside" in logged and "uid=outsider" in logged
    assert roles_of(env, "wrongtype") == {"service-manager"}  # not fixed
    assert f"uid=outsider,ou=people,{BASE_DN}" not in group_members(env, "mop-service")


def test_sync_dry_run_prints_reconcile_changes_and_writes_nothing(partner):
    env = partner
    dn = add_by_hand(env, "handmade")
    add_role_by_hand(env, dn, "hotline-specialist")
    before = env.snapshot()
    result = env.cli("sync", "--dry-run")
    assert f"would modify {dn}: objectClass +mopAccount; mopAccountStatus (none) → active" in result.out
    assert f"would modify cn=mop-service,{SYS}: member +{dn}" in result.out
    assert env.snapshot() == before


def test_full_reconcile_drops_a_placeholder_left_next_to_real_members(partner):
    env = partner
    env.request([SERVICE])
    env.ldapmodify(f"dn: cn=mop-service,{SYS}\nchangetype: modify\nadd: member\nmember: cn=nobody,{BASE_DN}\n")
    env.cli("sync", "--full")
    assert f"cn=nobody,{BASE_DN}" not in group_members(env, "mop-service")


def test_a_daily_full_run_reads_member_values_and_a_weekly_one_checks_memberof_and_entries(partner):
    """Between the weekly checks (reconcile.verify_every_hours), a full run derives the system groups
    from the role groups' member values alone, adding only members that are entries; the check
    removes a role member naming no entry."""
    env = partner
    env.request([SERVICE])
    lisi = account_dn("lisi")
    ghost = account_dn("gone")
    role = f"cn=service-specialist,ou=roles,{BASE_DN}"
    env.ldapmodify(f"dn: {role}\nchangetype: modify\nadd: member\nmember: {ghost}\n\n"
                   f"dn: cn=mop-service,ou=systems,{BASE_DN}\nchangetype: modify\ndelete: member\nmember: {lisi}\n")
    # the edits happened while the state was being written (as if the run that saw them died): no
    # run notices them as edits by someone else
    config, _ = env.settings()
    state = json.loads(config.paths.state.read_text())
    for group in (role, f"cn=mop-service,ou=systems,{BASE_DN}"):
        state["groups"][group.lower()] = env.entry(group, "entryCSN").first("entryCSN")
    config.paths.state.write_text(json.dumps(state))
    env.write_config(reconcile={"full_every_hours": 1e-6})  # every run is a full one

    daily = env.cli("sync")
    assert "member values only" in daily.out, daily.out
    assert lisi in group_members(env, "mop-service")  # derived again from the role groups
    assert ghost not in group_members(env, "mop-service")  # not added: it names no entry
    assert ghost in group_members(env, "service-specialist")  # not checked: left for the weekly run

    env.write_config(reconcile={"full_every_hours": 1e-6, "verify_every_hours": 1e-6})
    weekly = env.cli("sync")
    assert "memberOf checked" in weekly.out and "1 member value(s) naming no entry removed" in weekly.out, weekly.out
    assert ghost not in group_members(env, "service-specialist")
