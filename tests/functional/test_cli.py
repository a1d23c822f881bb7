"""The command line as a user meets it: help, --config anywhere, exit codes, one-line errors."""

from __future__ import annotations

import json

import pytest

from conftest import free_port, run_mopldap as run
from mopldap.cli import build_parser

COMMANDS = [name for name in build_parser()._subparsers._group_actions[0].choices]


def test_help_explains_every_command():
    result = run("--help")
    assert result.returncode == 0
    for name in COMMANDS:
        assert name in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_its_own_help(command):
    result = run(command, "--help")
    assert result.returncode == 0
    assert "--config" in result.stdout
    assert len(result.stdout.splitlines()) > 4


def test_config_option_works_before_and_after_the_command(initialized):
    env = initialized
    assert "nothing to do" in env.cli("init").out  # env.cli puts --config first
    result = run("init", "--config", str(env.config_path))
    assert result.returncode == 0, result.stderr
    assert "nothing to do" in result.stdout


def test_config_from_environment_variable(initialized, monkeypatch):
    monkeypatch.setenv("MOPLDAP_CONFIG", str(initialized.config_path))
    result = run("init")
    assert result.returncode == 0 and "nothing to do" in result.stdout


def test_unreachable_directory_exits_2_with_one_line(env):
    env.write_config(ldap={"url": f"ldap://127.0.0.1:{free_port()}", "timeout": 2})
    result = env.cli("init", expect=2)
    assert result.err.strip().count("\n") == 0
    assert "cannot reach ldap://127.0.0.1:" in result.err and "Traceback" not in result.err


def test_refused_bind_exits_2_and_names_the_bind_dn(env):
    (env.config_path.parent / "bind.password").write_text("wrong")
    result = env.cli("init", expect=2)
    assert "bind as cn=mopldap,ou=services,dc=example,dc=com refused" in result.err
    assert "wrong" not in result.err


def test_tls_with_an_untrusted_certificate_is_refused(env):
    env.write_config(ldap={"start_tls": True, "url": env.server.ldap_uri.rstrip("/").replace("127.0.0.1", "localhost")})
    result = env.cli("init", expect=2)
    assert "TLS failed" in result.err or "certificate" in result.err


def test_tls_with_the_right_ca_verifies_and_works(env):
    env.write_config(ldap={"start_tls": True, "ca_file": env.server.cafile,
                           "url": env.server.ldap_uri.rstrip("/").replace("127.0.0.1", "localhost")})
    env.cli("init")


def test_invalid_config_exits_1_naming_file_line_and_key(env):
    env.config_path.write_text(env.config_path.read_text() + "extra_section: {}\n")
    result = env.cli("init", expect=1)
    assert f"{env.config_path}:" in result.err and "unknown key 'extra_section'" in result.err


def test_validate_checks_config_and_role_map_offline(env):
    env.write_config(ldap={"url": f"ldap://127.0.0.1:{free_port()}"})  # nothing listens: validate is offline
    result = env.cli("validate")
    assert "ok:" in result.out
    roles = env.config_path.parent / "roles.yaml"
    roles.write_text(roles.read_text(encoding="utf-8").replace("includes: [sales-specialist]", "includes: [sales-specilist]"),
                     encoding="utf-8")
    result = env.cli("validate", expect=1)
    assert "roles.sales-manager.includes[0]: unknown role 'sales-specilist'" in result.err


def test_request_status_says_where_a_request_is(partner):
    env = partner
    rid = env.submit([{"op": "enable_user", "username": "zhangsan"}])
    waiting = env.cli("request", "status", rid)
    assert "waiting in the inbox since" in waiting.out
    env.cli("sync")
    done = env.cli("request", "status", rid)
    assert "done: applied at" in done.out and "operations[0] enable_user zhangsan: unchanged" in done.out
    unknown = env.cli("request", "status", "P001-nothing-like-it", expect=1)
    assert "request P001-nothing-like-it: unknown" in unknown.err
    env.cli("request", "status", "bad id\n", expect=1)


def test_request_status_of_a_request_being_applied(partner):
    env = partner
    env.leave_claimed("P001-mid", [], journal=False)
    assert "being applied, claimed" in env.cli("request", "status", "P001-mid").out


def test_sync_prints_its_summary_when_a_step_fails_naming_the_step(partner):
    env = partner
    rid = env.submit([{"op": "update_user", "username": "zhangsan", "title": "董事长"}])
    env.write_config(ldap={"replicas": ["ldap://127.0.0.1:9"], "timeout": 2})
    result = env.cli("sync", expect=2)
    assert "requests: 1 applied" in result.out
    assert "inactivity: FAILED (exit 2): inactivity: cannot reach ldap://127.0.0.1:9" in result.out
    assert env.result(rid)["status"] == "applied"


def test_sync_summary_as_json_and_dry_runs_say_would(partner):
    env = partner
    env.submit([{"op": "update_user", "username": "zhangsan", "title": "董事长"}])
    dry = env.cli("sync", "--dry-run")
    assert "requests: 1 would be applied" in dry.out and "inactivity: not due" in dry.out  # as sync would
    assert '"event": "request_would_be_applied"' in dry.err
    assert "inactivity: 0 would be locked" in env.cli("lock-inactive", "--dry-run").out
    summary = json.loads(env.cli("sync", "--format", "json").out)
    assert summary["command"] == "sync" and summary["dry_run"] is False
    assert summary["steps"]["inbox"]["applied"] == 1
    assert summary["steps"]["inactivity"]["status"] == "not due"  # the partner's sync checked a moment ago
    assert summary["steps"]["inactivity"]["check_every_hours"] == 1
    assert json.loads(env.cli("lock-inactive", "--format", "json").out)["steps"]["inactivity"]["status"] == "done"
    assert summary["steps"]["reconcile"]["full"] is False  # the run before was full: this one reads changes


def test_bad_arguments_exit_1():
    proc = run("sync", "--bogus")
    assert proc.returncode == 1 and "unrecognized arguments: --bogus" in proc.stderr
