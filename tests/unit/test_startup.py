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
    var = tmp_path / "var"
    for name in ("inbox", "outbox", "archive", "work"):
        (var / name).mkdir(parents=True, mode=0o700)
    var.chmod(0o700)
    config = tmp_path / "config"
    config.mkdir()
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


def test_lock_inactive_loads_neither_the_inbox_step_nor_reconcile_before_the_directory(tmp_path):
    loaded = modules_at_first_connection(tmp_path, "lock-inactive")
    assert "mopldap.runs.inbox" not in loaded and "mopldap.runs.reconcile" not in loaded
