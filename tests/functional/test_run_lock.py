"""One mopldap run writes at a time: every step takes the run lock, and a second run waits or says why not."""

from __future__ import annotations

import threading
import time

from conftest import Env, last_line
from mopldap.files.lock import RunLock


def hold_lock(env: Env) -> RunLock:
    lock = RunLock(env.work / "run.lock")
    lock.acquire("test-holder", 0)
    return lock


def test_a_second_run_gives_up_after_its_wait_with_exit_5_and_writes_nothing(partner: Env):
    env = partner
    env.submit([{"op": "disable_user", "username": "zhangsan"}], requested_by="hqadmin", request_id="P001-HQ-W1")
    before = env.snapshot()
    lock = hold_lock(env)
    try:
        for step in ("inbox", "reconcile", "inactivity"):
            result = env.cli("sync", "--only", step, "--wait", "0.3", expect=5)
            assert "another mopldap run holds" in result.err and "test-holder" in result.err
            assert [line for line in result.err.splitlines() if line.startswith("mopldap:")] == \
                [last_line(result)]  # one line for the user, after the logged wait
        env.cli("lock-inactive", "--wait", "0.3", expect=5)
    finally:
        lock.release()
    assert env.snapshot() == before
    assert (env.inbox / "P001-HQ-W1.yaml").exists()


def test_a_second_run_waits_for_the_first_and_says_so(partner: Env):
    env = partner
    env.submit([{"op": "disable_user", "username": "zhangsan"}], requested_by="hqadmin", request_id="P001-HQ-W2")
    lock = hold_lock(env)
    threading.Timer(1.0, lock.release).start()
    started = time.monotonic()
    result = env.cli("sync", "--wait", "20")
    assert time.monotonic() - started >= 0.9
    assert '"event": "run_waiting"' in result.err and "test-holder" in result.err
    assert env.result("P001-HQ-W2")["status"] == "applied"


def test_dry_runs_and_reports_do_not_wait_for_the_lock(partner: Env):
    env = partner
    lock = hold_lock(env)
    try:
        env.cli("sync", "--dry-run", "--wait", "0")
        env.cli("report", "accounts")
    finally:
        lock.release()
