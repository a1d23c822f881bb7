"""Nothing lost, nothing wrong: slapd and mopldap killed (SIGKILL) mid-run, hand edits racing a
sync. After each fault the next run must leave the directory as the role groups say, checked
by the tests' own computation (truth.py), and every request with exactly one result.

Faults are timed on events (a line in the audit file, a count of memberOf values on the
server), never on sleeps.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml

from conftest import BASE_DN, ROOT_PW, Env, account_dn, last_line, make_env, start_mopldap, stop_slapd
from truth import ldapsearch, truth

ROLE = f"cn=service-specialist,ou=roles,{BASE_DN}"


def accounts_ldif(names: list[str], partner: str = "P001", user_type: str = "service") -> str:
    return "".join(f"dn: {account_dn(n, partner)}\nobjectClass: inetOrgPerson\nobjectClass: mopAccount\nuid: {n}\n"
                   f"cn: {n}\nsn: {n}\nmopUserType: {user_type}\nmopAccountStatus: active\n\n" for n in names)


def add_members_ldif(group: str, dns: list[str]) -> str:
    return f"dn: {group}\nchangetype: modify\nadd: member\n" + "".join(f"member: {dn}\n" for dn in dns)


def holders(env: Env, group: str) -> int:
    return len(ldapsearch(env.server.ldap_uri, BASE_DN, f"(memberOf={group})", "1.1"))


def kill_slapd(env: Env) -> None:
    stop_slapd(env.server, signal.SIGKILL)


def mopldap_process(env: Env, *args: str) -> subprocess.Popen:
    return start_mopldap("--config", str(env.config_path), *args)


def wait_for_audit(env: Env, proc: subprocess.Popen, predicate, timeout: float = 60) -> list[dict]:
    """Poll the audit file until `predicate(events)` holds; fail if the process ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = env.audit()
        if predicate(events):
            return events
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"mopldap ended (exit {proc.returncode}) before the fault point:\n{out}\n{err}")
        time.sleep(0.005)
    raise AssertionError("the fault point was not reached")


def assert_truth(env: Env) -> None:
    problems = truth(env.server.ldap_uri).problems()
    assert not problems, "\n".join(problems)


def test_slapd_killed_during_a_big_role_group_edit_is_repaired_by_the_next_sync(own_partner):
    """The memberof overlay updates members one by one after committing the group: killed in
    between, members lack memberOf. The next sync sees it and derives access from the members."""
    env = own_partner
    names = [f"bulk{i:04d}" for i in range(3000)]
    env.ldap_tool("ldapadd", input=accounts_ldif(names))
    env.cli("sync")
    edit = subprocess.Popen(["ldapmodify", "-x", "-H", env.server.ldap_uri, "-D", f"cn=admin,{BASE_DN}", "-w",
                             ROOT_PW], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    edit.stdin.write(add_members_ldif(ROLE, [account_dn(n) for n in names]))
    edit.stdin.close()
    while holders(env, ROLE) == 0:  # the group is committed; memberOf is being written
        assert edit.poll() is None or holders(env, ROLE) > 0, "the edit ended before it could be interrupted"
    kill_slapd(env)
    edit.wait()
    env.server._spawn()
    damaged = holders(env, ROLE)
    members = env.ldapsearch("(objectClass=*)", "member", base=ROLE).count("member: uid=bulk")
    assert members == 3000 and damaged < 3000, f"no damage to repair: {damaged} of {members} hold the role"
    result = env.cli("sync")
    assert "memberOf value(s) rewritten" in result.out
    assert_truth(env)
    assert holders(env, ROLE) == 3000


def test_slapd_killed_while_mopldap_adopts_an_existing_directory_then_the_next_run_finishes(own_server, tmp_path):
    """A directory loaded by hand (accounts and role memberships, system groups empty): the first
    sync is killed by slapd dying in mid-write; the next one finishes the adoption."""
    env = make_env(own_server, tmp_path)
    env.cli("init")
    names = [f"old{i:04d}" for i in range(2500)]
    env.ldap_tool("ldapadd", input=f"dn: ou=P001,ou=partners,{BASE_DN}\nobjectClass: organizationalUnit\n"
                                   f"objectClass: mopPartner\nou: P001\nmopPartnerName: P1\nmopPartnerStatus: active\n\n"
                                   + accounts_ldif(names))
    env.ldapmodify(add_members_ldif(ROLE, [account_dn(n) for n in names[:2000]]))
    env.ldapmodify(add_members_ldif(f"cn=sales-specialist,ou=roles,{BASE_DN}", [account_dn(n) for n in names[2000:]]))
    proc = mopldap_process(env, "sync")
    wait_for_audit(env, proc, lambda events: any(e.get("operation") == "reconcile-groups" for e in events))
    kill_slapd(env)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, (out, err)
    env.server._spawn()
    result = env.cli("sync")
    assert "reconcile (full)" in result.out
    assert_truth(env)


def _requests(env: Env) -> dict[str, str]:
    """Four requests of P001's administrator; return request id -> what it does."""
    env.submit([{"op": "create_user", "username": f"new{i:02d}", "name": f"新人{i}", "user_type": "service",
                 "roles": ["service-specialist", "hotline-specialist"] if i % 2 else ["service-supervisor"]}
                for i in range(30)], request_id="P001-K1")
    env.submit([{"op": "delete_user", "username": "gone"}], request_id="P001-K2")
    env.submit([{"op": "reset_password", "username": "keeper"}], request_id="P001-K3")
    env.submit([{"op": "set_roles", "username": "mover", "roles": ["service-manager"]},
                {"op": "disable_user", "username": "leaver", "reason": "offboarded"}], request_id="P001-K4")
    return {"P001-K1": "create", "P001-K2": "delete", "P001-K3": "reset", "P001-K4": "roles"}


KILL_POINTS = {
    "first write": lambda new: len(new) >= 1,
    "mid-batch": lambda new: len(new) >= 12,
    "the delete": lambda new: any(e["action"] == "delete" for e in new),
    "the password reset": lambda new: any("userPassword" in e["attributes"] for e in new if e["request_id"] == "P001-K3"),
    "the last request": lambda new: any(e["request_id"] == "P001-K4" for e in new),
}


@pytest.mark.parametrize("point", KILL_POINTS)
def test_mopldap_killed_mid_run_the_next_run_finishes_every_request(own_partner, point):
    env = own_partner
    staff = [{"op": "create_user", "username": name, "name": name, "user_type": "service",
              "roles": ["service-specialist"], "initial_password": "Initial-pass-1"}
             for name in ("gone", "keeper", "mover", "leaver")]
    env.request(staff, request_id="P001-K0")
    before = len(env.audit())
    ids = _requests(env)
    proc = mopldap_process(env, "sync")
    try:
        wait_for_audit(env, proc, lambda events: KILL_POINTS[point](events[before:]))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    env.cli("sync")
    for rid in ids:
        result = env.result(rid)
        assert result["status"] == "applied", yaml.safe_dump(result, allow_unicode=True)
    assert env.entry(account_dn("gone")) is None
    secret = env.secret("P001-K3")["keeper"]
    assert env.can_bind(account_dn("keeper"), secret), "the password reported is not the password set"
    assert env.entry(account_dn("leaver"), "mopDisabledReason").first("mopDisabledReason") == "offboarded"
    assert not list(env.processing.iterdir())
    assert_truth(env)
    written = [e for e in env.audit()[before:] if e["result"] == "applied"]
    assert {e["request_id"] for e in written} >= {"P001-K2"}  # the delete is audited, once
    assert sum(1 for e in written if e["action"] == "delete") == 1


def test_a_resumed_delete_is_reported_as_done_by_the_interrupted_run(partner):
    """Deterministic: the state a run leaves when killed right after writing a delete_user."""
    env = partner
    env.request([{"op": "create_user", "username": "lisi", "name": "李四", "user_type": "service",
                  "roles": ["service-specialist"]}], request_id="P001-setup")
    processing = env.leave_claimed(
        "P001-del", [{"op": "delete_user", "username": "lisi"}],
        [("applied", f"deleted {account_dn('lisi')} (archived first with its role memberships)")],
        "2026-12-01T00:00:00+00:00")
    env.ldap_tool("ldapdelete", account_dn("lisi"))  # what the first run wrote before it died
    env.cli("sync")
    result = env.result("P001-del")
    assert result["status"] == "applied" and result["resumed_from"] == "first-run"
    assert result["operations"][0]["message"].startswith("done by the interrupted run first-run: deleted")
    assert not list(processing.iterdir())


@pytest.mark.parametrize("first_run_wrote_it", [True, False])
def test_a_resumed_generated_password_reset_is_not_reset_again(partner, first_run_wrote_it):
    """The password in <id>.secret is the one the account has, whether or not the interrupted
    run had written it; if it had, the account is not written again."""
    import datetime as dt

    env = partner
    env.write_config(reconcile={"clock_skew_seconds": 0})  # this host is the server's host: no skew
    env.request([{"op": "create_user", "username": "lisi", "name": "李四", "user_type": "service",
                  "roles": ["service-specialist"], "initial_password": "Lisi-pass-001"}], request_id="P001-setup")
    # the interrupted run started before the password was set by it, but after the account's creation
    started = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(
        seconds=-2 if first_run_wrote_it else 2)
    reported = "Generated-Before-42x"
    (env.outbox / "P001-pw.secret").write_text(yaml.safe_dump({"lisi": reported}))
    env.leave_claimed("P001-pw", [{"op": "reset_password", "username": "lisi"}],
                        [("applied", "password reset; it must be changed at next login")], started.isoformat())
    if first_run_wrote_it:
        env.ldap_tool("ldappasswd", "-s", reported, account_dn("lisi"))
    changed = env.entry(account_dn("lisi"), "pwdChangedTime").first("pwdChangedTime")
    env.cli("sync")
    result = env.result("P001-pw")
    assert result["status"] == "applied" and result["resumed_from"] == "first-run"
    assert env.can_bind(account_dn("lisi"), reported)
    assert env.secret("P001-pw") == {"lisi": reported}
    again = env.entry(account_dn("lisi"), "pwdChangedTime").first("pwdChangedTime")
    if first_run_wrote_it:
        assert again == changed and result["operations"][0]["message"].startswith("done by the interrupted run")
    else:
        assert "finished after run first-run was interrupted" in result["operations"][0]["message"]


def test_a_new_account_does_not_inherit_memberships_left_by_a_deleted_one(partner):
    env = partner
    ghost = account_dn("lisi")
    env.ldapmodify(add_members_ldif(f"cn=service-manager,ou=roles,{BASE_DN}", [ghost]))  # no such entry
    env.ldapmodify(add_members_ldif(f"cn=mop-service,ou=systems,{BASE_DN}", [ghost]))
    env.request([{"op": "create_user", "username": "lisi", "name": "李四", "user_type": "service",
                  "roles": ["hotline-specialist"]}])
    roles = {g for g in env.entry(ghost, "memberOf").get("memberOf") if ",ou=roles," in g}
    assert roles == {f"cn=hotline-specialist,ou=roles,{BASE_DN}"}
    assert ghost.lower() not in env.ldapsearch("(objectClass=*)", "member",
                                               base=f"cn=service-manager,ou=roles,{BASE_DN}").lower()
    assert_truth(env)


def test_ghost_members_are_removed_from_system_groups_by_the_next_run_and_from_role_groups_by_a_full_one(partner):
    env = partner
    ghost = account_dn("nobody-here")
    env.ldapmodify(add_members_ldif(f"cn=community,ou=systems,{BASE_DN}", [ghost]))
    result = env.cli("sync")
    assert ghost not in env.ldapsearch("(objectClass=*)", "member", base=f"cn=community,ou=systems,{BASE_DN}")
    assert "naming no entry removed" in result.out
    env.ldapmodify(add_members_ldif(ROLE, [ghost]))
    env.cli("sync", "--full")
    assert ghost not in env.ldapsearch("(objectClass=*)", "member", base=ROLE)
    removed = [e for e in env.audit() if e.get("operation") == "reconcile-ghosts"]
    assert removed and removed[-1]["dn"] == ROLE
    assert_truth(env)


def test_hand_edits_racing_a_full_sync_are_honoured_by_the_next_run(own_partner):
    env = own_partner
    names = [f"race{i:04d}" for i in range(1500)]
    env.ldap_tool("ldapadd", input=accounts_ldif(names))
    env.ldapmodify(add_members_ldif(ROLE, [account_dn(n) for n in names[:1000]]))
    proc = mopldap_process(env, "sync", "--full")
    edits = threading.Thread(target=_race, args=(env, names))
    edits.start()
    proc.communicate(timeout=120)
    edits.join()
    assert proc.returncode == 0
    env.cli("sync")
    assert_truth(env)


def _race(env: Env, names: list[str]) -> None:
    """Hand edits while mopldap works: roles given and taken, accounts locked and unlocked."""
    for i in range(0, 300, 10):
        env.ldapmodify(add_members_ldif(f"cn=hotline-specialist,ou=roles,{BASE_DN}",
                                        [account_dn(n) for n in names[1000 + i:1010 + i]]))
        env.ldapmodify(f"dn: {ROLE}\nchangetype: modify\ndelete: member\nmember: {account_dn(names[i])}\n")
        env.ldapmodify(f"dn: {account_dn(names[i + 1])}\nchangetype: modify\nadd: pwdAccountLockedTime\n"
                       "pwdAccountLockedTime: 000001010000Z\n")


# -- mopldap's own files full or read-only ------------------------------------------------------


def fill(folder: Path) -> Path:
    """Fill the file system of `folder`; return the filler file (delete it to free the space)."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    return filler


def test_a_full_outbox_stops_the_run_with_exit_4_and_the_next_run_finishes(partner, small_fs):
    env = partner
    small_fs(env.outbox)
    rid = env.submit([{"op": "create_user", "username": "lisi", "name": "李四", "user_type": "service",
                       "roles": ["service-specialist"], "initial_password": "Lisi-pass-001"}])
    filler = fill(env.outbox)
    result = env.cli("sync", expect=4)
    last = last_line(result)
    assert last.startswith(f"mopldap: {env.outbox}") and "free space" in last and "Traceback" not in result.err
    filler.unlink()
    env.cli("sync")
    outcome = env.result(rid)
    assert outcome["status"] == "applied"
    assert sum(1 for e in env.audit() if e["request_id"] == rid and e["action"] == "add") == 1
    assert_truth(env)


def test_a_write_error_at_the_flush_of_the_results_leaves_every_request_to_the_next_run(partner, monkeypatch):
    """The kernel reports a write error (EIO) when a batch's results are flushed to the disk: the
    run stops with exit 4, and no claimed request is removed, since its result may not be on the
    disk; the next run finishes each once."""
    env = partner
    import ctypes
    import errno

    import mopldap.files.together as together

    def failing(fd: int) -> int:
        ctypes.set_errno(errno.EIO)
        return -1

    ids = [env.submit([{"op": "create_user", "username": f"u{i}", "name": f"用户{i}", "user_type": "service",
                        "roles": ["service-specialist"], "initial_password": f"User-pass-{i:03d}"}])
           for i in range(3)]  # 3 journals are fsync'd one by one; 6 results and archived copies flushed together
    monkeypatch.setattr(together, "_syncfs", lambda: failing)
    result = env.cli("sync", "--only", "inbox", expect=4)
    assert last_line(result) == (f"mopldap: {env.outbox}: cannot write: Input/output error; mopldap stopped: free "
                                 f"space on {env.outbox.parent} or make it writable, then run again (the next run "
                                 "finishes this one)")
    claimed = sorted(p.name for p in env.processing.iterdir())
    assert len([n for n in claimed if n.endswith(".journal")]) == 3 and len(claimed) == 6, claimed
    monkeypatch.undo()
    env.cli("sync", "--only", "inbox")
    assert [env.result(rid)["status"] for rid in ids] == ["applied"] * 3
    assert not list(env.processing.iterdir())
    assert sorted(e["dn"] for e in env.audit() if e["action"] == "add" and e.get("request_id") in ids) == \
           [account_dn(f"u{i}") for i in range(3)]
    assert_truth(env)


def test_a_generated_password_that_cannot_be_recorded_is_never_set(partner, small_fs):
    env = partner
    small_fs(env.outbox)
    env.request([{"op": "create_user", "username": "lisi", "name": "李四", "user_type": "service",
                  "roles": ["service-specialist"], "initial_password": "Lisi-pass-001"}])
    rid = env.submit([{"op": "reset_password", "username": "lisi"}])
    before = env.snapshot()
    filler = fill(env.outbox)
    env.cli("sync", "--only", "inbox", expect=4)
    assert env.snapshot() == before  # nothing was written: the password would have been lost
    filler.unlink()
    env.cli("sync", "--only", "inbox")
    assert env.can_bind(account_dn("lisi"), env.secret(rid)["lisi"])


def test_a_full_audit_file_system_stops_the_run_and_no_write_goes_unrecorded(partner, small_fs):
    env = partner
    audit_dir = small_fs(env.root / "audit")
    env.write_config(logging={"audit_file": "../audit/audit.jsonl"})
    rid = env.submit([{"op": "create_user", "username": f"u{i:02d}", "name": f"用户{i}", "user_type": "service",
                       "roles": ["service-specialist"]} for i in range(20)])
    filler = fill(audit_dir)
    result = env.cli("sync", expect=4)
    unwritten = [json.loads(line) for line in result.err.splitlines() if '"audit_unwritten"' in line]
    assert unwritten, "the writes the audit file could not take are not in the log"
    filler.unlink()
    env.cli("sync")
    audited = {json.loads(line)["dn"] for line in (audit_dir / "audit.jsonl").read_text().splitlines()}
    audited |= {event["dn"] for event in unwritten}
    assert all(account_dn(f"u{i:02d}") in audited for i in range(20))
    assert env.result(rid)["status"] == "applied"
    assert_truth(env)


def test_a_read_only_archive_stops_the_run_before_a_delete(partner, small_fs):
    env = partner
    env.request([{"op": "create_user", "username": "lisi", "name": "李四", "user_type": "service",
                  "roles": ["service-specialist"]}])
    archive = small_fs(env.archive)
    subprocess.run(["mount", "-o", "remount,ro", str(archive)], check=True)
    rid = env.submit([{"op": "delete_user", "username": "lisi"}])
    result = env.cli("sync", expect=4)
    assert "Read-only file system" in last_line(result)
    assert env.entry(account_dn("lisi")) is not None
    subprocess.run(["mount", "-o", "remount,rw", str(archive)], check=True)
    env.cli("sync")
    assert env.result(rid)["status"] == "applied" and env.entry(account_dn("lisi")) is None
    os.sync()
