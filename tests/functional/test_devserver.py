"""`mopldap dev-server`: the embedded slapd, started and stopped as a user would."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

import yaml

from conftest import ROOT, free_port, run_mopldap as mopldap, start_mopldap, wait_for_port
from mopldap.ldap.slapd import INSTALL_HINT
from mopldap.runs.devserver import gone_within


def make_config(tmp_path: Path, port: int) -> Path:
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (config_dir / "roles.yaml").write_text((ROOT / "config" / "roles.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    config = {
        "ldap": {"url": f"ldap://127.0.0.1:{port}", "bind_password_file": "../var/slapd/mopldap.password"},
        "dev_server": {"data_dir": "../var/slapd"},
    }
    path = config_dir / "mopldap.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_dev_server_starts_in_background_keeps_data_and_stops(tmp_path):
    port = free_port()
    config = str(make_config(tmp_path, port))
    started = mopldap("dev-server", "--config", config)
    try:
        assert started.returncode == 0, started.stderr
        assert f"ldap://127.0.0.1:{port}" in started.stdout
        password_file = tmp_path / "var" / "slapd" / "admin.password"
        assert oct(password_file.stat().st_mode & 0o777) == "0o600"
        assert password_file.read_text() in started.stdout  # the root password is printed
        assert "running (pid" in mopldap("dev-server", "status", "--config", config).stdout
        service_file = tmp_path / "var" / "slapd" / "mopldap.password"
        assert oct(service_file.stat().st_mode & 0o777) == "0o600"
        assert service_file.read_text() not in started.stdout  # mopldap's own password is not printed
        assert mopldap("init", "--config", config).returncode == 0  # as its own account, under the rules
        anonymous = subprocess.run(["ldapsearch", "-x", "-LLL", "-H", f"ldap://127.0.0.1:{port}", "-b",
                                    "dc=example,dc=com", "(objectClass=*)", "1.1"], capture_output=True, text=True)
        assert anonymous.returncode == 32 and "dn:" not in anonymous.stdout  # the access rules are loaded
        stopped = mopldap("dev-server", "stop", "--config", config)
        assert stopped.returncode == 0 and "stopped" in stopped.stdout
        status = mopldap("dev-server", "status", "--config", config)
        assert "not running" in status.stdout and status.returncode == 3
        # restart: the data survived
        assert mopldap("dev-server", "--config", config).returncode == 0
        again = mopldap("init", "--config", config)
        assert again.returncode == 0 and "nothing to do" in again.stdout, again.stderr
    finally:
        mopldap("dev-server", "stop", "--config", config)


def test_dev_server_in_foreground_stops_on_ctrl_c(tmp_path):
    port = free_port()
    config = str(make_config(tmp_path, port))
    proc = start_mopldap("dev-server", "--foreground", "--config", config)
    try:
        assert wait_for_port(port, 60), "the dev server did not open its port"
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0
        assert "stopped" in out
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0
    finally:
        if proc.poll() is None:
            proc.kill()  # slapd dies with it (PR_SET_PDEATHSIG)


def test_dev_server_without_slapd_says_how_to_install_it(tmp_path):
    config = str(make_config(tmp_path, free_port()))
    env = dict(os.environ, BIN="/nonexistent", SBIN="/nonexistent", SLAPD="")
    result = mopldap("dev-server", "--config", config, env=env)
    assert result.returncode == 1
    assert result.stderr.strip() == f"mopldap: {INSTALL_HINT}"


def test_killed_foreground_dev_server_takes_slapd_with_it(tmp_path):
    port = free_port()
    config = str(make_config(tmp_path, port))
    proc = start_mopldap("dev-server", "--foreground", "--config", config)
    for line in proc.stdout:  # the server is up once this line is printed
        if "Ctrl-C stops it" in line:
            break
    else:
        raise AssertionError(f"the dev server did not start: {proc.stderr.read()}")
    pid = int((tmp_path / "var" / "slapd" / "slapd.pid").read_text())
    proc.kill()
    proc.wait()
    if not gone_within(pid, 10):
        os.kill(pid, signal.SIGTERM)
        raise AssertionError("slapd outlived its killed parent")
