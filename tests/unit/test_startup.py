"""Start-up: what a command has imported when it opens its first LDAP connection (issue 16: a
no-op sync pays the interpreter and its imports before any work; bench/run.py times it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]

# replaces socket.connect: print the loaded modules at the first connection, and stop there
PROBE = """
import json, os, socket, sys
def first_connection(self, address):
    print(json.dumps(sorted(sys.modules)), flush=True)
    os._exit(0)
socket.socket.connect = first_connection
from mopldap.cli import main
main(sys.argv[1:])
"""

# what none of these commands uses before it has asked the directory anything
NOT_BEFORE_THE_DIRECTORY = ("structlog", "rich", "asyncio", "jinja2", "smtplib", "fastapi", "apscheduler",
                            "mopldap.web", "mopldap.notify", "mopldap.runs.reconcile", "mopldap.runs.inactivity",
                            "mopldap.runs.notices", "mopldap.plan.reconcile", "mopldap.plan.inactivity")


def modules_at_first_connection(tmp_path: Path, *command: str) -> set[str]:
    """What `mopldap COMMAND` has imported at its first connection (the config and its folders are
    written the same each time)."""
    var = tmp_path / "var"
    for name in ("inbox", "outbox", "archive", "work"):
        (var / name).mkdir(parents=True, mode=0o700, exist_ok=True)
    var.chmod(0o700)
    config = tmp_path / "config"
    config.mkdir(exist_ok=True)
    (config / "bind.password").write_text("secret")
    (config / "roles.yaml").write_text((ROOT / "config" / "roles.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    (config / "mopldap.yaml").write_text(yaml.safe_dump({
        "ldap": {"url": "ldap://127.0.0.1:9", "bind_dn": "cn=admin,dc=example,dc=com",
                 "bind_password_file": "bind.password", "base_dn": "dc=example,dc=com"},
        "paths": {"role_map": "roles.yaml", "inbox": "../var/inbox", "outbox": "../var/outbox",
                  "archive": "../var/archive", "work": "../var/work", "state": "../var/state.json"},
        "logging": {"audit_file": "../var/audit.jsonl"}}))
    proc = subprocess.run([sys.executable, "-c", PROBE, "--config", str(config / "mopldap.yaml"), *command],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0 and proc.stdout, proc.stderr
    return set(json.loads(proc.stdout))


def test_a_sync_opens_its_first_connection_before_loading_logging_mail_the_console_or_later_steps(tmp_path):
    loaded = modules_at_first_connection(tmp_path, "sync")
    assert "ldap3" in loaded  # the probe saw the real first connection
    early = sorted(m for m in loaded for name in NOT_BEFORE_THE_DIRECTORY if m == name or m.startswith(name + "."))
    assert early == []


def test_a_sync_with_the_settings_it_checked_before_never_imports_pydantic(tmp_path):
    """The first sync validates the config and role map (pydantic) and keeps what it made of them
    (files/checked.py); the next, with both files unchanged, reads that back."""
    assert "pydantic" in modules_at_first_connection(tmp_path, "sync")
    loaded = modules_at_first_connection(tmp_path, "sync")
    assert "ldap3" in loaded and not any(m == "pydantic" or m.startswith(("pydantic.", "pydantic_core")) for m in loaded)
    assert not any(m == "yaml" or m.startswith("yaml.") for m in loaded)  # the work folder from its hint


def test_lock_inactive_loads_neither_the_inbox_step_nor_reconcile_before_the_directory(tmp_path):
    loaded = modules_at_first_connection(tmp_path, "lock-inactive")
    assert "mopldap.runs.inbox" not in loaded and "mopldap.runs.reconcile" not in loaded


def test_a_pydantic_plugin_installed_beside_mopldap_never_sees_what_it_validates(tmp_path):
    """pydantic hands every value it validates to the plugins installed (entry point group
    `pydantic`): a request's passwords among them. mopldap turns them off; the spy here is never
    even imported."""
    site = tmp_path / "site"
    (site / "spy-1.0.dist-info").mkdir(parents=True)
    (site / "spy-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: spy\nVersion: 1.0\n")
    (site / "spy-1.0.dist-info" / "entry_points.txt").write_text("[pydantic]\nspy = spy_plugin:plugin\n")
    marker = tmp_path / "loaded"
    (site / "spy_plugin.py").write_text(f"open({str(marker)!r}, 'w').close()\nplugin = object()\n")
    request = tmp_path / "P001-1.yaml"
    request.write_text(yaml.safe_dump({"request_id": "P001-1", "requested_by": "zhangsan", "partner": "P001",
                                       "operations": [{"op": "create_user", "username": "lisi", "name": "李四",
                                                       "user_type": "sales", "roles": ["sales-specialist"],
                                                       "initial_password": "Spy-Sees-This-1"}]}))
    config = tmp_path / "mopldap.yaml"
    config.write_text(yaml.safe_dump({"ldap": {"url": "ldap://127.0.0.1:9", "bind_dn": "cn=admin,dc=example,dc=com",
                                               "base_dn": "dc=example,dc=com"},
                                      "paths": {"role_map": str(ROOT / "config" / "roles.yaml")}}))
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(site), "PYDANTIC_DISABLE_PLUGINS": ""}
    proc = subprocess.run([sys.executable, "-m", "mopldap.cli", "--config", str(config), "validate", str(request)],
                          capture_output=True, text=True, timeout=60, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not marker.exists()
