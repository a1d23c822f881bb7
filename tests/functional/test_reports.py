"""Reports as a partner administrator or HQ reads them: table, CSV, JSON, per partner."""

from __future__ import annotations

import csv
import io
import json

from conftest import with_second_partner
from test_operations import SALES_MANAGER, SERVICE


def report(env, *args: str):
    return env.cli("report", *args).out


def test_accounts_and_access_per_partner_in_every_format(partner):
    env = partner
    env.request([SERVICE, SALES_MANAGER, {"op": "disable_user", "username": "wangwu", "reason": "offboarded"}])
    with_second_partner(env)
    rows = json.loads(report(env, "accounts", "--partner", "P001", "--format", "json"))
    assert [(r["username"], r["status"], r["reason"]) for r in rows] == [
        ("lisi", "active, password not yet changed", ""), ("wangwu", "disabled", "offboarded"),
        ("zhangsan", "active, password not yet changed", "")]
    assert rows[0]["roles"] == ["hotline-specialist", "service-specialist"]  # JSON keeps lists
    access = list(csv.DictReader(io.StringIO(report(env, "access", "--format", "csv"))))
    by_user = {r["username"]: r for r in access}
    assert set(by_user) == {"hqadmin", "lisi", "wangwu", "zhangsan", "qianba"}
    assert by_user["lisi"]["systems"] == "community mop-service"
    assert by_user["wangwu"]["systems"] == ""  # disabled: no system while disabled
    assert by_user["qianba"]["partner"] == "P002"
    table = report(env, "access", "--partner", "P001")
    lines = table.splitlines()
    assert lines[0].split() == ["PARTNER", "USERNAME", "NAME", "STATUS", "ROLES", "SYSTEMS", "PENDING"]
    assert lines[-1] == "(3 rows)"
    # CJK names are double width: the column after them stays aligned
    assert len({line.index("active") if "active" in line else -1 for line in lines[1:-1]} - {-1}) == 1


def test_locked_and_stale(partner):
    env = partner
    env.request([SERVICE, SALES_MANAGER])
    env.submit([{"op": "disable_user", "username": "wangwu", "reason": "offboarded"}], request_id="P001-off")
    env.cli("sync", "--as-of", "2026-01-01T00:00:00Z")
    env.request([{"op": "remove_roles", "username": "lisi", "roles": ["service-specialist", "hotline-specialist"]}])
    locked = json.loads(report(env, "locked", "--format", "json", "--as-of", "2026-05-01T00:00:00Z"))
    assert [(r["username"], r["reason"], r["since"], r["days"]) for r in locked] == [
        ("wangwu", "offboarded", "2026-01-01T00:00:00+00:00", 120)]  # ISO 8601 with its zone
    stale = json.loads(report(env, "stale", "--format", "json", "--as-of", "2026-05-01T00:00:00Z"))
    assert {r["username"]: r["why"] for r in stale} == {
        "lisi": "holds no role", "wangwu": "disabled for 120 days (offboarded)"}


def test_report_rejects_a_bad_partner_code(partner):
    result = partner.cli("report", "accounts", "--partner", "p*", expect=1)
    assert "--partner: 'p*' is not a partner code" in result.err


def test_access_marks_what_the_next_run_will_change(partner):
    env = partner
    env.request([SERVICE])
    env.ldapmodify("dn: cn=sales-manager,ou=roles,dc=example,dc=com\nchangetype: modify\nadd: member\n"
                   "member: uid=lisi,ou=P001,ou=partners,dc=example,dc=com\n")  # by hand: not yet reconciled
    rows = {r["username"]: r for r in json.loads(report(env, "access", "--format", "json"))}
    assert rows["lisi"]["pending"] == ["+mop-orders", "+mop-sales"] and rows["zhangsan"]["pending"] == []
    env.cli("sync")
    rows = {r["username"]: r for r in json.loads(report(env, "access", "--format", "json"))}
    assert rows["lisi"]["pending"] == []
