"""The inactivity lock: threshold, last activity across servers, exemptions, warnings, the brake."""

from __future__ import annotations

import datetime as dt
import json
import subprocess

import ldap3

from conftest import BASE_DN, ROOT_PW, account_dn, copy_tree
from test_operations import roles_of, systems_of


def staff(n: int, prefix: str = "u") -> list[dict]:
    return [{"op": "create_user", "username": f"{prefix}{i}", "name": f"员工{i}", "user_type": "service",
             "roles": ["service-specialist"], "initial_password": f"Pass-{prefix}-{i}-xyz"} for i in range(n)]


def bind(server_uri: str, username: str, password: str) -> None:
    conn = ldap3.Connection(ldap3.Server(server_uri.rstrip("/")), account_dn(username), password)
    assert conn.bind(), conn.result
    conn.unbind()


def run_done(stderr: str) -> dict:
    return next(json.loads(line) for line in stderr.splitlines() if '"event": "run_done"' in line)


def test_idle_account_is_locked_after_the_threshold_keeping_its_roles(partner):
    env = partner
    env.write_config(inactivity={"max_locks_per_run": 10})
    env.request(staff(2))
    env.age(["u0", "u1"], days=29)
    bind(env.server.ldap_uri, "u1", "Pass-u-1-xyz")
    bind(env.server.ldap_uri, "zhangsan", "Zhangsan-Init-1")
    # 29 days without activity: nothing is locked; past 30 days u0 is
    assert "0 locked" in env.cli("lock-inactive").out
    env.age(["u0"], days=30.01)
    result = env.cli("lock-inactive")
    assert "1 locked" in result.out
    locked = next(json.loads(line) for line in result.err.splitlines() if '"account_locked"' in line)
    assert locked["dn"] == account_dn("u0") and locked["source"] in ("mopEnabledAt", "createTimestamp")
    entry = env.entry(account_dn("u0"), "*", "+")
    assert entry.first("mopAccountStatus") == "disabled" and entry.first("mopDisabledReason") == "inactivity"
    assert entry.first("pwdAccountLockedTime") == "000001010000Z"
    assert entry.first("mopDisabledAt")[:8] == dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d")
    assert roles_of(env, "u0") == {"service-specialist"} and systems_of(env, "u0") == set()
    assert systems_of(env, "u1") == {"mop-service", "community"}
    assert env.entry(account_dn("u1"), "mopAccountStatus").first("mopAccountStatus") == "active"
    hq = env.entry(f"uid=hqadmin,ou=hq,{BASE_DN}", "mopAccountStatus")
    assert hq.first("mopAccountStatus") == "active"  # never logged in, but exempt by its role
    assert subprocess.run(["ldapwhoami", "-x", "-H", env.server.ldap_uri, "-D", account_dn("u0"), "-w",
                           "Pass-u-0-xyz"], capture_output=True).returncode == 49


def test_exempt_accounts_and_reenabled_accounts_are_not_locked(partner):
    env = partner
    env.write_config(inactivity={"max_locks_per_run": 10})
    env.request(staff(3))
    env.ldapmodify(f"dn: {account_dn('u0')}\nchangetype: modify\nreplace: mopInactivityExempt\nmopInactivityExempt: TRUE\n")
    env.request([{"op": "disable_user", "username": "u1"}])
    env.age(["u0", "u1", "u2"], days=31)
    bind(env.server.ldap_uri, "zhangsan", "Zhangsan-Init-1")
    env.request([{"op": "enable_user", "username": "u1"}])  # enabled now: a full period from now
    env.cli("lock-inactive")
    status = {u: env.entry(account_dn(u), "mopAccountStatus").first("mopAccountStatus") for u in ("u0", "u1", "u2")}
    assert status == {"u0": "active", "u1": "active", "u2": "disabled"}


def test_latest_activity_on_any_server_wins(partner, replica_server):
    env = partner
    env.request(staff(4))
    env.ldapmodify(f"dn: {account_dn('u3')}\nchangetype: modify\nreplace: mopLastLogon\nmopLastLogon: 20200101000000Z\n")
    env.age(["u0", "u1", "u2", "u3", "zhangsan"], days=31)
    copy_tree(env.server, replica_server)  # with the old createTimestamps
    bind(replica_server.ldap_uri, "u0", "Pass-u-0-xyz")   # logged in on the replica only
    bind(env.server.ldap_uri, "u1", "Pass-u-1-xyz")       # on the provider only
    bind(env.server.ldap_uri, "zhangsan", "Zhangsan-Init-1")
    fresh = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d%H%M%SZ")
    replica = ldap3.Connection(ldap3.Server(replica_server.ldap_uri.rstrip("/")), f"cn=admin,{BASE_DN}", ROOT_PW, auto_bind=True)
    replica.modify(account_dn("u3"), {"mopLastLogon": [(ldap3.MODIFY_REPLACE, [fresh])]})  # an app's login report
    replica.unbind()
    env.write_config(ldap={"replicas": [replica_server.ldap_uri.rstrip("/")]}, inactivity={"max_locks_per_run": 10})
    result = env.cli("lock-inactive")
    assert "1 locked" in result.out, result.out + result.err
    status = {u: env.entry(account_dn(u), "mopAccountStatus").first("mopAccountStatus") for u in ("u0", "u1", "u2", "u3")}
    assert status == {"u0": "active", "u1": "active", "u2": "disabled", "u3": "active"}


def test_unreachable_replica_locks_nobody(partner):
    env = partner
    env.request(staff(1))
    env.write_config(ldap={"replicas": ["ldap://127.0.0.1:9"], "timeout": 2}, inactivity={"max_locks_per_run": 10})
    result = env.cli("lock-inactive", expect=2)
    assert "cannot reach ldap://127.0.0.1:9" in result.err
    assert env.entry(account_dn("u0"), "mopAccountStatus").first("mopAccountStatus") == "active"


def test_warning_window_is_logged_and_reported(partner):
    env = partner
    env.request(staff(1))
    env.ldapmodify(f"dn: {account_dn('zhangsan')}\nchangetype: modify\nreplace: mopInactivityExempt\n"
                   "mopInactivityExempt: TRUE\n")
    env.age(["u0"], days=25)
    result = env.cli("lock-inactive")
    assert "0 locked, 1 in the warning window" in result.out
    warning = next(json.loads(l) for l in result.err.splitlines() if "inactivity_warning" in l)
    assert warning["dn"] == account_dn("u0") and warning["days_until_lock"] == 5
    report = json.loads(env.cli("report", "inactive", "--format", "json").out)
    assert [(r["username"], r["idle_days"], r["days_until_lock"]) for r in report] == [("u0", 25, 5)]


def test_safety_brake_locks_none_and_exits_3_force_overrides(partner):
    env = partner
    env.write_config(inactivity={"max_locks_per_run": 2})
    env.request(staff(4))
    env.age(["u0", "u1", "u2", "u3", "zhangsan"], days=60)
    env.cli("sync", "--only", "reconcile")  # the state of this run: the next reads no change
    before = env.snapshot()
    result = env.cli("sync", expect=3)
    assert "safety brake: 5 accounts would be locked" in result.err and "limit of 2" in result.err
    assert env.snapshot() == before
    dry = env.cli("lock-inactive", "--dry-run", expect=3)
    assert dry.out.count("would lock uid=") == 5
    env.cli("lock-inactive", "--force")
    assert all(env.entry(account_dn(f"u{i}"), "mopAccountStatus").first("mopAccountStatus") == "disabled"
               for i in range(4))


def test_sync_checks_inactivity_once_an_hour_and_lock_inactive_at_once(partner):
    """Idleness is counted in days and the check is a filter over every enabled account: `sync`
    checks once per inactivity.check_every_hours; after a brake, with other settings, and in
    `lock-inactive` or `sync --only inactivity`, it checks now."""
    env = partner
    env.write_config(inactivity={"max_locks_per_run": 1})
    env.request(staff(3))  # this sync checked: nobody idle
    env.ldap_tool("ldapmodify", "-e", "relax", input="".join(
        f"dn: {account_dn(u)}\nchangetype: modify\nreplace: createTimestamp\ncreateTimestamp: 20200101000000Z\n"
        f"-\nreplace: mopEnabledAt\nmopEnabledAt: 20200101000000Z\n-\nreplace: pwdChangedTime\n"
        f"pwdChangedTime: 20200101000000Z\n\n" for u in ("u0", "u1")))  # idle by hand, the clock unmoved
    bind(env.server.ldap_uri, "zhangsan", "Zhangsan-Init-1")
    quiet = env.cli("sync")
    assert "inactivity: not due (checked 0 min ago" in quiet.out and "lock-inactive` checks now" in quiet.out
    assert run_done(quiet.err)["ldap_operations"]["search"] <= 4  # the inbox and the changed accounts only
    assert env.entry(account_dn("u0"), "mopAccountStatus").first("mopAccountStatus") == "active"
    assert "not due" in env.cli("sync", "--format", "json").out
    assert "inactivity: 2 would be locked" in env.cli("sync", "--force", "--dry-run").out  # --force checks
    assert "BRAKE: 2 would be locked" in env.cli("sync", "--only", "inactivity", expect=3).out
    env.rewind_inactivity_check(1 / 24)  # an hour later, sync checks
    assert "BRAKE: 2 would be locked" in env.cli("sync", expect=3).out
    assert "BRAKE: 2 would be locked" in env.cli("sync", expect=3).out  # a brake is no check: again
    env.write_config(inactivity={"max_locks_per_run": 5})
    assert "inactivity: 2 locked" in env.cli("sync").out
    assert "not due" in env.cli("sync").out
    env.write_config(inactivity={"max_locks_per_run": 5, "check_every_hours": 2})  # the period alone: no check
    assert "not due" in env.cli("sync").out
    env.write_config(inactivity={"max_locks_per_run": 5, "warn_days": 6})  # other settings: checked at once
    assert "inactivity: 0 locked" in env.cli("sync").out
    assert "not due" in env.cli("sync").out
    env.write_config(inactivity={"max_locks_per_run": 5, "check_every_hours": 0})
    assert "inactivity: 0 locked" in env.cli("sync").out
    assert "inactivity: 0 locked" in env.cli("sync").out
    env.write_config(inactivity={"max_locks_per_run": 5, "warn_days": 6})
    env.rewind_inactivity_check(2 / 24)
    assert "inactivity: 0 locked" in env.cli("lock-inactive").out  # it writes no group: a check all the same
    assert "not due (checked 0 min ago" in env.cli("sync").out


def test_dry_run_shows_the_locks_and_writes_nothing(partner):
    env = partner
    env.write_config(inactivity={"max_locks_per_run": 10})
    env.request(staff(1))
    env.age(["u0"], days=31)
    bind(env.server.ldap_uri, "zhangsan", "Zhangsan-Init-1")
    before = env.snapshot()
    result = env.cli("lock-inactive", "--dry-run")
    assert f"would modify {account_dn('u0')}: mopAccountStatus active → disabled" in result.out
    assert "would modify cn=mop-service,ou=systems" in result.out
    assert env.snapshot() == before


def test_nothing_is_locked_when_nothing_records_logins_unless_forced(partner):
    env = partner
    env.write_config(inactivity={"max_locks_per_run": "100%"})
    env.request(staff(3))
    env.age(["u0", "u1", "u2", "zhangsan"], days=60)
    before = env.snapshot()
    result = env.cli("lock-inactive", expect=3)
    assert "nothing records logins" in result.err and "none was locked" in result.err
    assert "BRAKE: 4 would be locked, but nothing records logins" in result.out
    assert env.snapshot() == before
    forced = env.cli("lock-inactive", "--dry-run", "--force").out  # --force overrides
    assert "inactivity: 4 would be locked" in forced and forced.count("would modify uid=") == 4
    bind(env.server.ldap_uri, "u0", "Pass-u-0-xyz")  # one login recorded
    assert "3 locked" in env.cli("lock-inactive").out


def test_idle_accounts_are_found_by_a_server_side_filter(partner):
    env = partner
    env.write_config(inactivity={"max_locks_per_run": 10})
    env.request(staff(150))
    everyone = [f"u{i}" for i in range(150)] + ["zhangsan"]
    env.age(everyone, days=40)
    # everyone but u0 logged in to an application a day ago
    day = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)).strftime("%Y%m%d%H%M%SZ")
    env.ldapmodify("".join(f"dn: {account_dn(u)}\nchangetype: modify\nreplace: mopLastLogon\nmopLastLogon: {day}\n\n"
                           for u in everyone[1:]))
    result = env.cli("lock-inactive")
    assert "1 locked" in result.out
    read = run_done(result.err)["ldap_operations"]["entries"]
    # the idle account, the schema, the entryCSN of the 15 groups (before writing one): not 152 accounts
    assert read < 30, f"the inactivity step read {read} entries for 1 idle account out of 152"


def test_a_password_change_counts_as_activity_since_it_erases_the_last_login(partner):
    """slapd's ppolicy deletes pwdLastSuccess when a password is set: the change itself is the
    latest sign of life (pwdChangedTime), or the person would be locked for changing it."""
    env = partner
    env.write_config(inactivity={"max_locks_per_run": 10})
    env.request(staff(2))
    env.age(["u0", "u1", "zhangsan"], days=40)
    bind(env.server.ldap_uri, "zhangsan", "Zhangsan-Init-1")
    bind(env.server.ldap_uri, "u0", "Pass-u-0-xyz")
    assert env.entry(account_dn("u0"), "pwdLastSuccess").first("pwdLastSuccess")
    env.own_password(account_dn("u0"), "Pass-u-0-xyz", "Own-Choice-u0-1")
    assert env.entry(account_dn("u0"), "pwdLastSuccess").first("pwdLastSuccess") is None  # the login is gone
    result = env.cli("lock-inactive")
    assert "1 locked" in result.out  # u1, idle for 40 days
    status = {u: env.entry(account_dn(u), "mopAccountStatus").first("mopAccountStatus") for u in ("u0", "u1")}
    assert status == {"u0": "active", "u1": "disabled"}


def test_a_replica_with_credentials_of_its_own_is_read_with_them(partner, replica_server):
    """ldap.replicas entries may be {url, bind_dn, bind_password_file}: here the replica knows
    nothing of mopldap's account, only its own administrator."""
    env = partner
    env.request(staff(2))
    env.age(["u0", "u1", "zhangsan"], days=31)
    copy_tree(env.server, replica_server)
    bind(replica_server.ldap_uri, "u0", "Pass-u-0-xyz")  # logged in on the replica only
    bind(env.server.ldap_uri, "zhangsan", "Zhangsan-Init-1")
    (env.config_path.parent / "replica.password").write_text(ROOT_PW)
    own = {"url": replica_server.ldap_uri.rstrip("/"), "bind_dn": f"cn=admin,{BASE_DN}",
           "bind_password_file": "replica.password"}
    env.write_config(ldap={"replicas": [own]}, inactivity={"max_locks_per_run": 10})
    assert "1 locked" in env.cli("lock-inactive").out
    status = {u: env.entry(account_dn(u), "mopAccountStatus").first("mopAccountStatus") for u in ("u0", "u1")}
    assert status == {"u0": "active", "u1": "disabled"}
    check = env.cli("check", expect=None)
    assert f"ok   replica {own['url']}: {own['url']}: bound as cn=admin,{BASE_DN}" in check.out.splitlines(), check.out


def test_a_replica_that_refuses_its_credentials_is_named_in_one_line(partner, replica_server):
    env = partner
    env.request(staff(1))
    (env.config_path.parent / "replica.password").write_text("not-the-password")
    url = replica_server.ldap_uri.rstrip("/")
    env.write_config(ldap={"replicas": [{"url": url, "bind_dn": f"cn=admin,{BASE_DN}",
                                         "bind_password_file": "replica.password"}]},
                     inactivity={"max_locks_per_run": 10})
    result = env.cli("lock-inactive", expect=2)
    assert result.err.strip().splitlines()[-1] == (
        f"mopldap: inactivity: replica {url} refused the bind as cn=admin,{BASE_DN} (49): check its bind_dn and "
        "bind_password_file in ldap.replicas; no account was locked")
    check = env.cli("check", expect=2)
    assert any(line.startswith(f"FAIL replica {url}: replica {url} refused the bind as cn=admin,{BASE_DN}")
               for line in check.out.splitlines()), check.out
