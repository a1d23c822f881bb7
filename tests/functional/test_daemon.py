"""`mopldap daemon` as a process: scheduled runs, outages survived, clean exit on SIGTERM."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import structlog
import structlog.testing
import yaml

from conftest import Env, make_env, run_mopldap, start_mopldap, stop_slapd
from mopldap.ldap.slapd import MopSlapd
from mopldap.runs import daemon as daemon_module

FAST = {"inbox": "* * * * * *", "reconcile": "*/2 * * * * *", "inactivity": "0 0 2 * * *"}  # seconds first
DAILY = {"inbox": "0 0 3 * * *", "reconcile": "0 0 3 * * *", "inactivity": "0 0 3 * * *"}


def daemon_env(tmp_path: Path, server: MopSlapd, schedule: dict = FAST) -> Env:
    """mopldap as its own account on `server`, on `schedule`, with the shipped first password gate;
    `init` run with HQ administrator hq1."""
    env = make_env(server, tmp_path)
    env.write_config(ldap={"timeout": 2}, schedule=schedule, access={"first_password_gate": True})
    assert run_mopldap("--config", str(env.config_path), "init", "--hq-admin", "hq1", "--name", "HQ",
                       timeout=60).returncode == 0
    return env


def second_host(env: Env) -> Env:
    """`env`'s config as a second host runs it: its own work folder, state and audit file; the same
    directory, inbox, outbox and archive."""
    config = yaml.safe_load(env.config_path.read_text())
    config["paths"] |= {"work": "../var/work-b", "state": "../var/state-b.json"}
    config["logging"]["audit_file"] = "../var/b/audit.jsonl"
    (env.var / "work-b").mkdir(mode=0o700)
    (env.var / "b").mkdir(mode=0o700)
    second = Env(env.server, env.root, env.config_path.with_name("mopldap-b.yaml"))
    second.config_path.write_text(yaml.safe_dump(config, allow_unicode=True))
    return second


def drop(env: Env, request_id: str, operations: list[dict]) -> Path:
    """A request of hq1 renamed into the inbox; return where its result will be."""
    env.submit(operations, request_id=request_id, requested_by="hq1")
    return env.outbox / f"{request_id}.result.yaml"


def wait_for(path: Path, seconds: float = 20) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists():
            return yaml.safe_load(path.read_text())
        time.sleep(0.2)
    raise AssertionError(f"{path.name} did not appear within {seconds}s")


def wait_for_log(path: Path, needle: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while needle not in path.read_text():
        assert time.monotonic() < deadline, f"{needle} not logged within {seconds}s"
        time.sleep(0.1)


@contextmanager
def running_daemon(env: Env, log: Path) -> Iterator:
    """`mopldap daemon` started, its log in `log`; stopped with SIGTERM on the way out."""
    with open(log, "w") as err:
        daemon = start_mopldap("daemon", "--config", str(env.config_path), stderr=err)
        try:
            assert daemon.stdout.readline().startswith("daemon: running")
            yield daemon
        finally:
            if daemon.poll() is None:
                daemon.send_signal(signal.SIGTERM)
                try:
                    daemon.communicate(timeout=30)
                except Exception:
                    daemon.kill()
                    raise


def test_daemon_applies_requests_survives_an_outage_and_stops_cleanly(tmp_path, own_server):
    env = daemon_env(tmp_path, own_server)
    log = tmp_path / "daemon.log"
    with running_daemon(env, log) as daemon:
        result = wait_for(drop(env, "P001-HQ-1", [{"op": "create_partner", "name": "P1", "admin": {
            "username": "zhangsan", "name": "张三", "user_type": "sales", "initial_password": "Zhangsan-Init-1"}}]))
        assert result["status"] == "applied"

        stop_slapd(own_server)  # the directory goes away
        pending = drop(env, "P001-HQ-2", [{"op": "disable_user", "username": "zhangsan"}])
        wait_for_log(log, "cannot reach")
        wait_for_log(log, '"job": "reconcile"')  # the scheduled reconcile runs too (and fails, as the inbox's)
        assert daemon.poll() is None, "the daemon died with the directory"
        assert not pending.exists()
        assert (env.inbox / "P001-HQ-2.yaml").exists()  # left in place for the next run

        own_server._spawn()  # the directory is back: the next run applies it
        assert wait_for(pending)["status"] == "applied"

        daemon.send_signal(signal.SIGTERM)
        out, _ = daemon.communicate(timeout=30)
        assert daemon.returncode == 0
        assert "daemon: stopped" in out
    logged = log.read_text()
    assert '"event": "run_failed"' in logged and "cannot reach" in logged
    assert '"job": "reconcile"' in logged
    assert '"event": "daemon_stopped"' in logged


def test_a_job_still_running_when_its_next_time_comes_is_skipped(tmp_path, own_server, monkeypatch):
    """Runs never overlap: with a one-second schedule and runs of 2.5 s, later times are skipped."""
    config, rolemap = daemon_env(tmp_path, own_server).settings()
    starts: list[float] = []

    def slow_run(config, rolemap, name, stop=None):  # stands in for a run that takes long
        starts.append(time.monotonic())
        time.sleep(2.5)

    monkeypatch.setattr(daemon_module, "run_job", slow_run)
    stop = threading.Event()
    with structlog.testing.capture_logs() as logs:
        thread = threading.Thread(target=daemon_module.run_daemon, args=(config, rolemap, stop))
        thread.start()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not (
                len(starts) >= 2 and any(entry["event"] == "run_skipped" for entry in logs)):
            time.sleep(0.1)
        stop.set()
        thread.join(30)
    assert not thread.is_alive()
    assert len(starts) >= 2
    assert all(later - earlier >= 2.4 for earlier, later in zip(starts, starts[1:])), "two runs overlapped"
    assert any(entry["event"] == "run_skipped" for entry in logs)


def test_a_late_job_runs_when_the_worker_is_free_and_a_skip_says_when_it_runs_next(tmp_path, own_server, monkeypatch):
    """The daily inactivity run is never dropped because a long inbox run was in progress."""
    schedule = {"inbox": "* * * * * *", "reconcile": "0 0 3 * * *", "inactivity": "*/4 * * * * *"}
    config, rolemap = daemon_env(tmp_path, own_server, schedule).settings()
    runs: list[tuple[str, float, float]] = []

    def slow_run(config, rolemap, name, stop=None):
        started = time.monotonic()
        time.sleep(3.5 if name == "inbox" else 0.1)
        runs.append((name, started, time.monotonic()))

    monkeypatch.setattr(daemon_module, "run_job", slow_run)
    stop = threading.Event()
    with structlog.testing.capture_logs() as logs:
        thread = threading.Thread(target=daemon_module.run_daemon, args=(config, rolemap, stop))
        thread.start()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and sum(1 for r in runs if r[0] == "inactivity") < 2:
            time.sleep(0.1)
        stop.set()
        thread.join(30)
    inactivity = [r for r in runs if r[0] == "inactivity"]
    assert len(inactivity) >= 2, runs  # every 4 s, although the worker was busy with inbox runs of 3.5 s
    assert all(i[1] >= any_run[2] or i[2] <= any_run[1] for i in inactivity for any_run in runs if any_run is not i), runs
    skips = [e for e in logs if e["event"] == "run_skipped"]
    assert skips and all(e["next_run"] for e in skips)
    assert all(e["log_level"] == "warning" for e in skips)


def test_a_file_renamed_into_the_inbox_is_picked_up_within_two_seconds(tmp_path, own_server):
    """Pickup does not wait for schedule.inbox (daily here): the daemon watches the folder."""
    env = daemon_env(tmp_path, own_server, DAILY)
    with running_daemon(env, tmp_path / "daemon.log"):
        delays = []
        for n in range(3):
            started = time.monotonic()
            result = wait_for(drop(env, f"P001-FAST-{n}", [{"op": "create_partner", "name": f"P{n}", "admin": {
                "username": f"admin{n}", "name": "管理员", "user_type": "sales"}}]), seconds=10)
            delays.append(time.monotonic() - started)
            assert result["status"] in ("applied", "rejected")
        assert max(delays) < 2.0, delays


def test_a_failing_inbox_run_is_not_retried_in_a_loop_and_queued_runs_stop_with_the_daemon(tmp_path, own_server):
    env = daemon_env(tmp_path, own_server, DAILY)
    stop_slapd(own_server)  # the directory goes away
    drop(env, "P001-HQ-9", [{"op": "disable_user", "username": "hq1"}])
    log = tmp_path / "daemon.log"
    with running_daemon(env, log):
        # with the directory away, nobody can hold the lease: no run starts (it could only fail)
        wait_for_log(log, '"lease_unknown"')
        time.sleep(3)  # the watcher ticks six times meanwhile: it must not start a run in a loop
    assert log.read_text().count('"run_failed"') <= 1
    assert (env.inbox / "P001-HQ-9.yaml").exists()  # left for a run once the directory is back


def test_a_run_queued_when_the_daemon_stops_does_not_start(partner):
    env = partner
    config, rolemap = env.settings()
    stop = threading.Event()
    stop.set()
    before = env.snapshot()
    assert daemon_module.run_job(config, rolemap, "inactivity", stop) is False
    assert env.snapshot() == before


def test_two_daemons_one_lease_each_request_once_and_a_takeover_after_kill_9(tmp_path, own_server):
    """Two daemons (two hosts: their own work folder, state and audit file; the same inbox, outbox
    and archive) against one directory: only the lease holder runs jobs, every request is applied
    once, and when the holder is killed the other takes over within the lease time."""
    env = daemon_env(tmp_path, own_server)
    env.write_config(ldap={"timeout": 2}, schedule=FAST, access={"first_password_gate": True},
                     daemon={"lease_seconds": 3}, reconcile={"clock_skew_seconds": 1})
    second = second_host(env)
    log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
    with running_daemon(env, log_a) as first, running_daemon(second, log_b):
        wait_for_log(log_a, '"event": "lease_held"')
        wait_for_log(log_b, '"event": "standing_by"')
        partner = drop(env, "P001-HQ-1", [{"op": "create_partner", "name": "P1", "admin": {
            "username": "zhangsan", "name": "张三", "user_type": "sales", "initial_password": "Zhangsan-Init-1"}}])
        assert wait_for(partner)["status"] == "applied"
        results = [drop(env, f"P001-HQ-{n}", [{"op": "create_user", "username": f"u{n}", "name": f"员工{n}",
                                               "user_type": "sales", "roles": ["sales-specialist"],
                                               "initial_password": f"Pass-u-{n}-xyz"}]) for n in range(2, 12)]
        assert [wait_for(path)["status"] for path in results] == ["applied"] * 10
        audit = [json.loads(line) for line in env.audit_file.read_text().splitlines()]
        adds = [a["dn"].split(",")[0] for a in audit if a["action"] == "add" and a["dn"].startswith("uid=u")]
        assert sorted(adds) == sorted(f"uid=u{n}" for n in range(2, 12))  # each once
        assert not (env.var / "b" / "audit.jsonl").exists()  # the one standing by wrote nothing

        first.kill()  # kill -9: the lease is not given up, it expires
        first.wait()
        killed = time.monotonic()
        wait_for_log(log_b, '"event": "lease_held"', seconds=10)
        took = time.monotonic() - killed
        assert took <= 3 + 1 + 1 + 4  # the lease time, the clock skew allowed, a renewal period, a margin
        late = drop(env, "P001-HQ-12", [{"op": "disable_user", "username": "u2"}])
        assert wait_for(late)["status"] == "applied"
    assert '"event": "standing_by"' in log_b.read_text()
