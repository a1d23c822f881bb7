from pathlib import Path

import pytest

from mopldap.model.config import load_config, load_settings
from mopldap.model.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mopldap.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    return info.value.problems


def test_shipped_config_and_role_map_load():
    config, rolemap = load_settings(ROOT / "config" / "mopldap.yaml")
    assert config.ldap.base_dn == "dc=example,dc=com"
    assert config.paths.inbox == (ROOT / "var" / "inbox").resolve()
    assert config.inactivity.max_idle_days == 30
    assert "hq-admin" in rolemap.roles


def test_relative_paths_are_relative_to_the_config_folder(tmp_path):
    config = load_config(write(tmp_path, "paths: {inbox: in}\n"))
    assert config.paths.inbox == tmp_path / "in"
    assert config.paths.outbox == (tmp_path / ".." / "var" / "outbox").resolve()
    assert config.logging.audit_file == (tmp_path / ".." / "var" / "audit.jsonl").resolve()


def test_unknown_key_names_file_line_and_key(tmp_path):
    found = problems(tmp_path, "ldap:\n  url: ldap://127.0.0.1:389\n  bind_pasword_file: x\n")
    assert found == [f"{tmp_path / 'mopldap.yaml'}:3: ldap.bind_pasword_file: unknown key 'bind_pasword_file'"]


def test_every_problem_is_reported_at_once(tmp_path):
    found = problems(tmp_path, "inactivity:\n  max_idle_days: 0\n  max_locks_per_run: lots\nschedule:\n  inbox: every minute\n")
    assert len(found) == 3
    assert any("inactivity.max_idle_days" in p for p in found)
    assert any("inactivity.max_locks_per_run: 'lots' must be a count" in p for p in found)
    assert any(":5: schedule.inbox: 'every minute' is not a cron expression" in p for p in found)


def test_plain_ldap_to_a_remote_host_is_refused_unless_allowed(tmp_path):
    found = problems(tmp_path, "ldap: {url: 'ldap://ldap.corp.example:389'}\n")
    assert "would send the bind password in clear" in found[0]
    assert load_config(write(tmp_path, "ldap: {url: 'ldap://ldap.corp.example', start_tls: true}\n"))
    assert load_config(write(tmp_path, "ldap: {url: 'ldap://ldap.corp.example', allow_insecure: true}\n"))
    assert load_config(write(tmp_path, "ldap: {url: 'ldaps://ldap.corp.example'}\n"))
    found = problems(tmp_path, "ldap: {url: 'ldaps://ldap.corp.example', start_tls: true}\n")
    assert "ldaps:// is already TLS" in found[0]


def test_replicas_are_held_to_the_same_rule(tmp_path):
    found = problems(tmp_path, "ldap: {replicas: ['ldap://replica1.corp.example']}\n")
    assert "replica1.corp.example" in found[0]


def test_max_locks_per_run_is_a_count_or_a_percentage(tmp_path):
    assert load_config(write(tmp_path, "inactivity: {max_locks_per_run: 25}\n")).inactivity.lock_limit(1000) == 25
    assert load_config(write(tmp_path, "inactivity: {max_locks_per_run: 10%}\n")).inactivity.lock_limit(1000) == 100
    assert load_config(write(tmp_path, "{}\n")).inactivity.lock_limit(95) == 10  # rounded up
    assert load_config(write(tmp_path, "{}\n")).inactivity.lock_limit(0) == 0


def test_warn_days_must_be_below_max_idle_days(tmp_path):
    found = problems(tmp_path, "inactivity: {max_idle_days: 7, warn_days: 7}\n")
    assert "warn_days must be smaller than max_idle_days" in found[0]


def test_exempt_role_must_exist_in_the_role_map(tmp_path):
    (tmp_path / "roles.yaml").write_text((ROOT / "config" / "roles.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    path = write(tmp_path, "inactivity: {exempt_roles: [hq-admin, ceo]}\n")
    with pytest.raises(ConfigError, match=r"inactivity.exempt_roles\[1\]: unknown role 'ceo'"):
        load_settings(path)


def test_missing_config_file_says_how_to_point_at_one(tmp_path):
    with pytest.raises(ConfigError, match="no such configuration file: pass --config FILE or set"):
        load_config(tmp_path / "nope.yaml")


def test_bind_password_from_environment_wins(tmp_path, monkeypatch):
    (tmp_path / "pw").write_text("from-file\n")
    config = load_config(write(tmp_path, "ldap: {bind_password_file: pw}\n"))
    assert config.ldap.bind_password() == "from-file"
    monkeypatch.setenv("MOPLDAP_BIND_PASSWORD", "from-env")
    assert config.ldap.bind_password() == "from-env"


def test_cron_expressions_common_and_unusual():
    from mopldap.model.cron import check_cron

    for good in ("* * * * *", "*/15 * * * *", "0 2 * * *", "30 3 1-15/2 jan-jun mon-fri", "*/2 * * * * *",
                 "0 9 * * 1,3,5", "0 0 last * *"):
        check_cron(good)
    for bad, why in (("61 * * * *", "out of range"), ("* * *", "need 5 fields"), ("*/0 * * * *", "out of range"),
                     ("0 25 * * *", "out of range"), ("0 0 * * funday", "funday")):
        with pytest.raises(ValueError, match=why):
            check_cron(bad)


def test_crontab_weekdays_mean_what_crontab_means():
    import datetime as dt

    from mopldap.model.cron import cron_trigger, crontab_weekdays

    assert crontab_weekdays("1-5") == "mon,tue,wed,thu,fri"
    assert crontab_weekdays("0") == crontab_weekdays("7") == "sun"
    assert crontab_weekdays("*/2") == "sun,tue,thu,sat"
    monday = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.timezone.utc)  # a Monday
    fire = cron_trigger("0 2 * * 1").get_next_fire_time(None, monday)
    assert fire.weekday() == 0 and fire.day == 30  # the next Monday, 02:00
    fire = cron_trigger("0 2 * * 7").get_next_fire_time(None, monday)
    assert fire.weekday() == 6  # Sunday


def test_a_replica_is_a_url_or_a_url_with_credentials_of_its_own(tmp_path):
    (tmp_path / "r.pw").write_text("replica-secret\n")
    path = tmp_path / "mopldap.yaml"
    path.write_text("ldap:\n  replicas:\n    - ldap://127.0.0.1:3891\n"
                    "    - {url: 'ldap://127.0.0.1:3892', bind_dn: 'cn=reader,dc=example,dc=com', "
                    "bind_password_file: r.pw}\n")
    from mopldap.model.config import load_config

    plain, own = load_config(path).ldap.replicas
    assert (plain.url, plain.bind_dn, plain.password()) == ("ldap://127.0.0.1:3891", None, None)
    assert (own.bind_dn, own.password()) == ("cn=reader,dc=example,dc=com", "replica-secret")
    half = problems(tmp_path, "ldap: {replicas: [{url: 'ldap://127.0.0.1:3892', bind_dn: 'cn=x'}]}\n")
    assert any("give both bind_dn and bind_password_file" in p for p in half), half


@pytest.mark.parametrize("value", ["25", ".inf", "-1", "1e8"])
def test_the_inactivity_check_period_is_between_0_and_24_hours(tmp_path, value):
    found = problems(tmp_path, f"inactivity:\n  check_every_hours: {value}\n")
    assert len(found) == 1 and f"{tmp_path / 'mopldap.yaml'}:2: inactivity.check_every_hours" in found[0], found


def test_the_mail_sender_is_the_key_from(tmp_path):
    smtp = "notify:\n  smtp:\n    host: 127.0.0.1\n    security: none\n    {key}: {value}\n"
    config = load_config(write(tmp_path, smtp.format(key="from", value="mop@example.com")))
    assert config.notify.smtp.sender == "mop@example.com"
    assert problems(tmp_path, smtp.format(key="from", value="x")) == [
        f"{tmp_path / 'mopldap.yaml'}:5: notify.smtp.from: String should have at least 3 characters"]
    assert sorted(problems(tmp_path, smtp.format(key="sender", value="mop@example.com"))) == [
        f"{tmp_path / 'mopldap.yaml'}:2: notify.smtp.from: missing required key 'from'",
        f"{tmp_path / 'mopldap.yaml'}:5: notify.smtp.sender: unknown key 'sender'"]
