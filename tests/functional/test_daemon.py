"""`mopldap daemon` as a process: scheduled runs, outages survived, clean exit on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import threading

import structlog
import structlog.testing
import yaml

from conftest import ROOT, SERVICE_DN, SERVICE_PW, secure, seed_tree
from mopldap.files.folders import create_folders
from mopldap.runs import daemon as daemon_module
from mopldap.runs.runtime import trusted_folders
from mopldap.model.config import load_settings
from mopldap.ldap.slapd import MopSlapd

FAST = {"inbox": "* * * * * *", "reconcile": "*/2 * * * * *", "inactivity": "0 0 2 * * *"}  # seconds first


def write_config(tmp_path: Path, server: MopSlapd) -> Path:
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (config_dir / "roles.yaml").write_text((ROOT / "config" / "roles.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    secure(server)  # mopldap's own account under the access rules, as everywhere in the tests
    seed_tree(server)
    (config_dir / "pw").write_text(SERVICE_PW)
    config = {"ldap": {"url": server.ldap_uri.rstrip("/"), "bind_dn": SERVICE_DN, "bind_password_file": "pw",
                       "timeout": 2},
              "schedule": FAST, "logging": {"format": "json"}}
    path = config_dir / "mopldap.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def mopldap(config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mopldap.cli", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=60)


def drop(tmp_path: Path, request_id: str, operations: list[dict], requested_by: str = "hq1") -> Path:
    inbox = tmp_path / "var" / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    body = {"request_id": request_id, "requested_by": requested_by, "partner": "P001", "operations": operations}
    (inbox / f".{request_id}.part").write_text(yaml.safe_dump(body, allow_unicode=True))
    (inbox / f".{request_id}.part").rename(inbox / f"{request_id}.yaml")
    return tmp_path / "var" / "outbox" / f"{request_id}.result.yaml"


def wait_for(path: Path, seconds: float = 20) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists():
            return yaml.safe_load(path.read_text())
        time.sleep(0.2)
    raise AssertionError(f"{path.name} did not appear within {seconds}s")


def test_daemon_applies_requests_survives_an_outage_and_stops_cleanly(tmp_path, own_server):
    config = write_config(tmp_path, own_server)
    assert mopldap(config, "init", "--hq-admin", "hq1", "--name", "HQ").returncode == 0
    log = open(tmp_path / "daemon.log", "w")
    daemon = subprocess.Popen([sys.executable, "-m", "mopldap.cli", "daemon", "--config", str(config)],
                              stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        result = wait_for(drop(tmp_path, "P001-HQ-1", [{"op": "create_partner", "name": "P1", "admin": {
            "username": "zhangsan", "name": "张三", "user_type": "sales", "initial_password": "Zhangsan-Init-1"}}]))
        assert result["status"] == "applied"

        own_server._proc.terminate()  # the directory goes away
        own_server._proc.wait()
        own_server._proc = None
        pending = drop(tmp_path, "P001-HQ-2", [{"op": "disable_user", "username": "zhangsan"}])
        time.sleep(3)
        assert daemon.poll() is None, "the daemon died with the directory"
        assert not pending.exists()
        assert (tmp_path / "var" / "inbox" / "P001-HQ-2.yaml").exists()  # left in place for the next run

        own_server._spawn()  # the directory is back: the next run applies it
        assert wait_for(pending)["status"] == "applied"

        daemon.send_signal(signal.SIGTERM)
        out, _ = daemon.communicate(timeout=30)
        assert daemon.returncode == 0
        assert "daemon: stopped" in out
    finally:
        if daemon.poll() is None:
            daemon.kill()
        log.close()
    logged = (tmp_path / "daemon.log").read_text()
    assert '"event": "run_failed"' in logged and "cannot reach" in logged
    assert '"job": "reconcile"' in logged
    assert '"event": "daemon_stopped"' in logged


def test_a_job_still_running_when_its_next_time_comes_is_skipped(tmp_path, own_server, monkeypatch):
    """Runs never overlap: with a one-second schedule and runs of 2.5 s, later times are skipped."""
    config, rolemap = load_settings(write_config(tmp_path, own_server))
    create_folders(trusted_folders(config))
    starts: list[float] = []

    def slow_run(config, rolemap, name, stop=None):  # stands in for a run that takes long
        starts.append(time.monotonic())
        time.sleep(2.5)

    monkeypatch.setattr(daemon_module, "run_job", slow_run)
    stop = threading.Event()
    with structlog.testing.capture_logs() as logs:
        thread = threading.Thread(target=daemon_module.run_daemon, args=(config, rolemap, stop))
        thread.start()
        time.sleep(6)
        stop.set()
        thread.join(30)
    assert not thread.is_alive()
    assert len(starts) >= 2
    assert all(later - earlier >= 2.4 for earlier, later in zip(starts, starts[1:])), "two runs overlapped"
    assert any(entry["event"] == "run_skipped" for entry in logs)


def test_a_late_job_runs_when_the_worker_is_free_and_a_skip_says_when_it_runs_next(tmp_path, own_server, monkeypatch):
    """The daily inactivity run is never dropped because a long inbox run was in progress."""
    schedule = {"inbox": "* * * * * *", "reconcile": "0 0 3 * * *", "inactivity": "*/4 * * * * *"}
    path = write_config(tmp_path, own_server)
    data = yaml.safe_load(path.read_text())
    data["schedule"] = schedule
    path.write_text(yaml.safe_dump(data))
    config, rolemap = load_settings(path)
    create_folders(trusted_folders(config))
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
    path = write_config(tmp_path, own_server)
    data = yaml.safe_load(path.read_text())
    data["schedule"] = {"inbox": "0 0 3 * * *", "reconcile": "0 0 3 * * *", "inactivity": "0 0 3 * * *"}
    path.write_text(yaml.safe_dump(data))
    assert mopldap(path, "init", "--hq-admin", "hq1", "--name", "HQ").returncode == 0
    log = open(tmp_path / "daemon.log", "w")
    daemon = subprocess.Popen([sys.executable, "-m", "mopldap.cli", "daemon", "--config", str(path)],
                              stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        assert daemon.stdout.readline().startswith("daemon: running")
        delays = []
        for n in range(3):
            started = time.monotonic()
            result = wait_for(drop(tmp_path, f"P001-FAST-{n}", [{"op": "create_partner", "name": f"P{n}", "admin": {
                "username": f"admin{n}", "name": "管理员", "user_type": "sales"}}]), seconds=10)
            delays.append(time.monotonic() - started)
            assert result["status"] in ("applied", "rejected")
        assert max(delays) < 2.0, delays
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.communicate(timeout=30)
        log.close()


def test_a_failing_inbox_run_is_not_retried_in_a_loop_and_queued_runs_stop_with_the_daemon(tmp_path, own_server):
    path = write_config(tmp_path, own_server)
    data = yaml.safe_load(path.read_text())
    data["schedule"] = {"inbox": "0 0 3 * * *", "reconcile": "0 0 3 * * *", "inactivity": "0 0 3 * * *"}
    path.write_text(yaml.safe_dump(data))
    assert mopldap(path, "init", "--hq-admin", "hq1", "--name", "HQ").returncode == 0
    own_server._proc.terminate()  # the directory goes away
    own_server._proc.wait()
    own_server._proc = None
    drop(tmp_path, "P001-HQ-9", [{"op": "disable_user", "username": "hq1"}])
    log = tmp_path / "daemon.log"
    with open(log, "w") as err:
        daemon = subprocess.Popen([sys.executable, "-m", "mopldap.cli", "daemon", "--config", str(path)],
                                  stdout=subprocess.PIPE, stderr=err, text=True)
        try:
            assert daemon.stdout.readline().startswith("daemon: running")
            deadline = time.monotonic() + 10
            while '"run_failed"' not in log.read_text() and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(3)  # the watcher ticks six times meanwhile: it must not start the run again
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.communicate(timeout=30)
    assert log.read_text().count('"run_failed"') == 1
    own_server._spawn()


def test_a_run_queued_when_the_daemon_stops_does_not_start(partner):
    env = partner
    config, rolemap = env.settings()
    stop = threading.Event()
    stop.set()
    before = env.snapshot()
    assert daemon_module.run_job(config, rolemap, "inactivity", stop) is False
    assert env.snapshot() == before
