"""The request planner: pure, from a hand-built view of the directory."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from mopldap.plan.accounts import AccountState
from mopldap.model.layout import Layout
from mopldap.plan.requests import DirectoryView, PartnerState, plan_request
from mopldap.model.requests import parse_request
from mopldap.model.rolemap import load_rolemap
from mopldap.model.yamlfile import parse_yaml

ROOT = Path(__file__).resolve().parents[2]
LAYOUT = Layout("dc=example,dc=com")
ROLEMAP = load_rolemap(ROOT / "config" / "roles.yaml")
NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.timezone.utc)


def account(username, partner="P001", roles=(), systems=(), enabled=True, user_type="service", **kw) -> AccountState:
    where = "partner" if partner else "hq"
    return AccountState(LAYOUT.account(username, partner), username, partner, where, roles=frozenset(roles),
                        systems=frozenset(systems), enabled=enabled, user_type=user_type,
                        status="active" if enabled else "disabled", **kw)


ADMIN = account("zhangsan", roles={"partner-admin"}, user_type="sales",
                systems={"mop-sales", "mop-service", "mop-orders", "community", "community-channel-policy"})


def plan(operations, requester="zhangsan", accounts=(), partner="P001", min_length=8, gate=False):
    text = {"request_id": f"{partner}-R1", "requested_by": requester, "partner": partner, "operations": operations}
    import yaml

    request, problems = parse_request(parse_yaml(yaml.safe_dump(text, allow_unicode=True), "r.yaml"))
    assert not problems, problems
    states = {a.username: a for a in [ADMIN, *accounts]}
    view = DirectoryView(states, {"P001": PartnerState("P001", LAYOUT.partner("P001"), True, "P1", "active"),
                                      "P002": PartnerState("P002", LAYOUT.partner("P002"), True, "P2", "active")},
                         min_password_length=min_length)
    return plan_request(request, view, ROLEMAP, LAYOUT, NOW, "{SSHA512}", lambda: "Generated-Pass-1234", gate=gate)


def test_plan_with_the_first_password_gate_gives_roles_but_no_system_until_the_person_sets_a_password():
    result = plan([create("lisi", ["service-specialist"])], gate=True)
    groups = {c.dn.split(",")[0] for c in result.changes if c.is_membership}
    assert groups == {"cn=service-specialist"}
    assert "once the person has set their own password" in result.results[0].message
    active = account("lisi", roles={"service-specialist"}, systems={"mop-service", "community"})
    reset = plan([{"op": "reset_password", "username": "lisi"}], accounts=[active], gate=True)
    removed = {c.dn.split(",")[0] for c in reset.changes if c.is_membership}
    assert removed == {"cn=mop-service", "cn=community"}  # out until the new password is the person's own


def create(username, roles, user_type="service", **extra):
    return {"op": "create_user", "username": username, "name": username.title(), "user_type": user_type,
            "roles": roles, **extra}


def test_plan_creates_accounts_then_one_modify_per_group():
    result = plan([create("lisi", ["service-manager"]), create("wangwu", ["service-specialist"])])
    assert not result.problems
    actions = [(c.action, c.dn.split(",")[0]) for c in result.changes]
    assert actions[:2] == [("add", "uid=lisi"), ("add", "uid=wangwu")]
    groups = [dn for action, dn in actions[2:]]
    assert sorted(groups) == ["cn=community", "cn=mop-service", "cn=service-manager", "cn=service-specialist"]
    community = next(c for c in result.changes if c.dn.startswith("cn=community,"))
    assert community.mods[0].values == (LAYOUT.account("lisi", "P001"), LAYOUT.account("wangwu", "P001"))
    assert result.secrets == {"lisi": "Generated-Pass-1234", "wangwu": "Generated-Pass-1234"}
    add = result.changes[0].attributes()
    assert add["pwdReset"] == ["TRUE"] and add["userPassword"][0].startswith("{SSHA512}")
    assert "Generated-Pass-1234" not in str(add)


def test_plan_rejects_a_role_the_user_type_does_not_allow_naming_index_and_field():
    result = plan([create("lisi", ["service-specialist"]), create("wangwu", ["sales-manager"], "service")])
    assert result.problems == ["operations[1] (create_user): roles: role 'sales-manager' is not allowed for user type "
                               "'service' of 'wangwu' (allowed: hotline-specialist, partner-admin, service-assistant, "
                               "service-manager, service-specialist, service-supervisor)"]
    assert result.changes == [] and result.secrets == {}
    assert [r.status for r in result.results] == ["rejected", "rejected"]


def test_plan_disable_locks_and_leaves_systems_but_keeps_roles():
    lisi = account("lisi", roles={"service-specialist"}, systems={"mop-service", "community"})
    result = plan([{"op": "disable_user", "username": "lisi", "reason": "offboarded"}], accounts=[lisi])
    modify = result.changes[0]
    replaced = {m.attr: m.values for m in modify.mods}
    assert replaced["pwdAccountLockedTime"] == ("000001010000Z",)
    assert replaced["mopAccountStatus"] == ("disabled",) and replaced["mopDisabledReason"] == ("offboarded",)
    assert replaced["mopDisabledAt"] == ("20261123120000Z",)
    removed = {c.dn.split(",")[0] for c in result.changes[1:]}
    assert removed == {"cn=mop-service", "cn=community"}
    assert all(m.action == "delete" for c in result.changes[1:] for m in c.mods)
    assert "mopAccountStatus active → disabled" in modify.describe()


def test_plan_of_an_operation_already_in_effect_is_unchanged_and_empty():
    lisi = account("lisi", roles={"service-specialist"}, systems={"mop-service", "community"})
    result = plan([{"op": "add_roles", "username": "lisi", "roles": ["service-specialist"]},
                   {"op": "enable_user", "username": "lisi"}], accounts=[lisi])
    assert result.changes == []
    assert [r.status for r in result.results] == ["unchanged", "unchanged"]


def test_plan_refuses_a_partner_admin_acting_on_another_partner():
    other = account("qianba", partner="P002", roles={"service-specialist"})
    result = plan([{"op": "disable_user", "username": "qianba"}], accounts=[other])
    assert result.problems == ["operations[0] (disable_user): username: 'qianba' is not an account of partner P001"]
    result = plan([{"op": "enable_user", "username": "qianba"}], accounts=[other], partner="P002")
    assert "may not act on partner P002" in result.problems[0]


def test_plan_checks_password_length_against_the_server_policy():
    result = plan([create("lisi", ["service-specialist"], initial_password="Twelve-chars")], min_length=14)
    assert result.problems == ["operations[0] (create_user): initial_password: the password is shorter than the "
                               "server's minimum of 14 characters"]


def test_plan_delete_removes_memberships_before_the_delete():

    lisi = account("lisi", roles={"service-specialist"}, systems={"mop-service"})
    text = {"request_id": "P001-R1", "requested_by": "zhangsan", "partner": "P001",
            "operations": [{"op": "delete_user", "username": "lisi"}]}
    import yaml

    request, _ = parse_request(parse_yaml(yaml.safe_dump(text), "r.yaml"))
    view = DirectoryView({"zhangsan": ADMIN, "lisi": lisi},
                         {"P001": PartnerState("P001", LAYOUT.partner("P001"))})
    result = plan_request(request, view, ROLEMAP, LAYOUT, NOW, "{SSHA512}", lambda: "x" * 20)
    assert [c.action for c in result.changes] == ["modify", "modify", "delete"]
    assert result.changes[-1].archive  # archived, read whole, before anything is written


@pytest.mark.parametrize("op", ["suspend_partner", "resume_partner"])
def test_plan_hq_operations_need_hq(op):
    result = plan([{"op": op}])
    assert result.problems == [f"operations[0] ({op}): only HQ (hq-admin) may {op.replace('_', ' ')}"]
