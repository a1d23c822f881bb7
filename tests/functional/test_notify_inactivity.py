"""Nobody is locked out without being told first (SPEC, Notifications): warnings at each of
notify.warn_days before the lock, the lock notice, the daily digests, exactly once (recorded in the
directory), no lock without a warning, a mail server that is down. A real slapd and a real SMTP
server (aiosmtpd) on loopback; time moves by back-dating the accounts and mopldap's own records."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import time
from zoneinfo import ZoneInfo

import yaml

from conftest import BASE_DN, ROOT, ROOT_PW, account_dn, free_port, make_env, run_mopldap, with_partner, \
    with_second_partner
from mopldap.ldap.slapd import MopSlapd

ZHANGSAN_MAIL = "zhangsan@p001.example.com"


def staff(names: dict[str, str | None], partner: str = "P001") -> list[dict]:
    return [{"op": "create_user", "username": name, "name": f"员工{name}", "user_type": "service",
             "roles": ["service-specialist"], "initial_password": f"Pass-{name}-xyz-1",
             **({"email": mail} if mail else {})} for name, mail in names.items()]


def mail_config(port: int, **extra) -> dict:
    return {"smtp": {"host": "127.0.0.1", "port": port, "security": "none", "from": "mop@example.com", "timeout": 3},
            **extra}


def setup(env, port: int, names: dict[str, str | None], idle_days: float) -> None:
    env.request(staff(names))
    env.age(list(names), days=idle_days)
    env.write_config(notify=mail_config(port), inactivity={"max_locks_per_run": 10})


def ago(days: float) -> str:
    return (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days)).strftime("%Y%m%d%H%M%SZ")


def set_time(env, dn: str, attribute: str, days_ago: float) -> None:
    """Move one of mopldap's records back in time, as if the mail had gone out `days_ago`."""
    env.ldapmodify(f"dn: {dn}\nchangetype: modify\nreplace: {attribute}\n{attribute}: {ago(days_ago)}\n")


def recorded(env, dn: str, attribute: str) -> str | None:
    return env.entry(dn, attribute).first(attribute)


def login(env, username: str = "zhangsan", password: str = "Zhangsan-Init-1") -> None:
    """Someone signs in today: the directory records logins (else the brake holds every lock)."""
    assert env.can_bind(account_dn(username), password)


def local_day(moment: dt.datetime) -> str:
    day = moment.astimezone(ZoneInfo("Asia/Shanghai"))
    return f"{day.year}年{day.month}月{day.day}日"


def mail_events(env) -> list[dict]:
    return [e for e in map(json.loads, env.audit_file.read_text().splitlines()) if e["event"] == "mail"]


def test_warnings_digest_and_lock_notice_go_out_once_each(partner, smtp_server):
    env = partner
    inbox, port = smtp_server()
    setup(env, port, {"u0": "u0@p001.example.com", "u1": None}, idle_days=25)
    first = env.cli("lock-inactive")
    assert "mail: sent 1 warnings, 0 lock notices, 1 digests; 1 without mail listed for their administrators" in first.out

    [warning] = inbox.to("u0@p001.example.com")
    lock_day = local_day(dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=5))
    assert lock_day in warning["Subject"] and "长期未登录" in warning["Subject"]
    text = warning.get_body(("plain",)).get_content()
    assert "张三" in text and ZHANGSAN_MAIL in text and "Pass-u0" not in warning.as_string()
    [digest] = inbox.to(ZHANGSAN_MAIL)
    listed = digest.get_body(("plain",)).get_content()
    assert "u1 员工u1" in listed and "没有邮箱" in listed and "u0 员工u0" in listed
    still_first = listed.split("天仍未修改密码")[1]  # set for them 25 days ago, never changed
    assert re.search(r"u0 员工u0:\d+年\d+月\d+日 起", still_first) and "zhangsan" not in still_first
    assert recorded(env, account_dn("u0"), "mopWarnedAt") and recorded(env, account_dn("u1"), "mopWarnedAt")
    assert recorded(env, account_dn("zhangsan"), "mopDigestAt")
    events = mail_events(env)
    assert sorted((e["kind"], e["recipient"], e["result"]) for e in events) == [
        ("digest", ZHANGSAN_MAIL, "sent"), ("warning", "u0@p001.example.com", "sent")]
    assert [e["accounts"] for e in events if e["kind"] == "warning"] == [[account_dn("u0")]]
    assert "您的 MOP 帐号" not in env.audit_file.read_text()  # the audit names mails, never their text

    # a rerun, a replay of an hour ago, a fresh process: nothing more
    env.cli("lock-inactive")
    hour_ago = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)).isoformat()
    assert "sent 0 warnings, 0 lock notices, 0 digests" in env.cli("lock-inactive", "--as-of", hour_ago).out
    again = run_mopldap("--config", str(env.config_path), "lock-inactive")
    assert again.returncode == 0 and "sent 0 warnings" in again.stdout, again.stderr
    assert len(inbox.messages) == 2

    # four days later, one day before the lock: u0's second warning; zhangsan's next day's digest
    env.age(["u0", "u1"], days=29.2)
    for who in ("u0", "u1"):
        set_time(env, account_dn(who), "mopWarnedAt", 4.2)
    set_time(env, account_dn("zhangsan"), "mopDigestAt", 1.1)
    assert "sent 1 warnings, 0 lock notices, 1 digests" in env.cli("lock-inactive").out
    assert len(inbox.to("u0@p001.example.com")) == 2 and len(inbox.to(ZHANGSAN_MAIL)) == 2

    # the lock day: both were warned over a day ago; u0 gets the notice naming whom to ask
    env.age(["u0", "u1"], days=30.5)
    for who in ("u0", "u1"):
        set_time(env, account_dn(who), "mopWarnedAt", 1.2)
    login(env)
    locked = env.cli("lock-inactive")
    assert "2 locked" in locked.out and "1 lock notices" in locked.out, locked.out
    notice = inbox.to("u0@p001.example.com")[-1]
    assert "已被禁用" in notice["Subject"] or "禁用" in notice["Subject"]
    assert "张三" in notice.get_body(("plain",)).get_content() and ZHANGSAN_MAIL in notice.get_body(("plain",)).get_content()
    assert recorded(env, account_dn("u0"), "mopWarnedAt") >= recorded(env, account_dn("u0"), "mopDisabledAt")
    count = len(inbox.messages)
    env.cli("lock-inactive")
    assert len(inbox.messages) == count


def test_no_lock_without_a_warning_and_a_mail_server_down_holds_the_locks(partner, smtp_server):
    env = partner
    port = free_port()  # nothing listens there yet
    setup(env, port, {"u0": "u0@p001.example.com"}, idle_days=31)
    login(env)
    down = env.cli("lock-inactive", expect=2)
    assert "inactivity: 0 locked" in down.out and "1 locks wait: no warning delivered" in down.out
    assert f"mail server 127.0.0.1:{port}: connection refused" in down.out
    assert "locks wait until the warnings can be sent" in down.err
    assert recorded(env, account_dn("u0"), "mopAccountStatus") == "active"
    assert recorded(env, account_dn("u0"), "mopWarnedAt") is None
    check = env.cli("check", expect=1)
    assert any(line.startswith("FAIL mail:") and "locks wait" in line for line in check.out.splitlines()), check.out

    inbox, _ = smtp_server(port=port)  # the mail server is back
    back = env.cli("lock-inactive")
    assert "0 locked" in back.out and "sent 1 warnings" in back.out
    assert "1 locks wait for their warning to age" in back.out
    [warning] = inbox.to("u0@p001.example.com")  # the lock moves to a day after the warning, and the mail says so
    assert local_day(dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)) in warning["Subject"]
    assert recorded(env, account_dn("u0"), "mopAccountStatus") == "active"
    assert any(line.startswith("ok   mail:") for line in env.cli("check", expect=None).out.splitlines())

    set_time(env, account_dn("u0"), "mopWarnedAt", 1.05)  # a day later
    later = env.cli("lock-inactive")
    assert "1 locked" in later.out and "1 lock notices" in later.out
    assert recorded(env, account_dn("u0"), "mopAccountStatus") == "disabled"


def test_dry_run_prints_the_mails_and_sends_and_records_nothing(partner, smtp_server):
    env = partner
    inbox, port = smtp_server()
    setup(env, port, {"u0": "u0@p001.example.com", "u1": None}, idle_days=24)
    shown = env.cli("lock-inactive", "--dry-run")
    assert "would mail warning to u0@p001.example.com about " + account_dn("u0") in shown.out
    assert "  Subject: 您的 MOP 帐号将于" in shown.out and "  | 员工u0,您好" in shown.out
    assert f"would mail digest to {ZHANGSAN_MAIL}" in shown.out
    assert "would send 1 warnings, 0 lock notices, 1 digests" in shown.out
    assert inbox.messages == [] and recorded(env, account_dn("u0"), "mopWarnedAt") is None
    assert recorded(env, account_dn("zhangsan"), "mopDigestAt") is None


def test_a_refused_address_and_a_partner_without_an_administrators_mail_reach_hq(partner, smtp_server):
    env = with_second_partner(partner)
    inbox, port = smtp_server()
    inbox.refuse |= {"v0@p002.example.com", "later@p001.example.com"}
    env.request(staff({"v0": "v0@p002.example.com"}, "P002"), requested_by="qianba", partner="P002")
    env.request(staff({"u0": "later@p001.example.com"}))
    env.age(["v0"], days=25, partner="P002")
    env.age(["u0"], days=31)
    env.ldapmodify(f"dn: {account_dn('v0', 'P002')}\nchangetype: modify\nreplace: displayName\n"
                   "displayName: <img src=x onerror=alert(1)>\n")  # a hostile name, from the partner's admin
    env.ldapmodify(f"dn: uid=hqadmin,ou=hq,{BASE_DN}\nchangetype: modify\nreplace: mail\nmail: hq@example.com\n"
                   "-\nreplace: preferredLanguage\npreferredLanguage: en-US\n")
    env.write_config(notify=mail_config(port), inactivity={"max_locks_per_run": 10})
    login(env)
    result = env.cli("lock-inactive")
    assert "1 addresses refused" in result.out and "1 locks wait: no warning delivered" in result.out, result.out
    [hq] = inbox.to("hq@example.com")  # qianba has no mail: HQ hears of P002, in English
    body = hq.get_body(("plain",)).get_content()
    assert "No administrator of these partners has a mail address" in body and "v0 <img src=x" in body
    html = hq.get_body(("html",)).get_content()
    assert "v0 &lt;img src=x onerror=alert(1)&gt;" in html and "<img" not in html
    assert recorded(env, account_dn("v0", "P002"), "mopWarnedAt")  # listed for HQ: that counts as warned
    assert recorded(env, account_dn("u0"), "mopWarnedAt") is None  # 450: tried again on the next run
    assert recorded(env, account_dn("u0"), "mopAccountStatus") == "active"
    refused = [e for e in mail_events(env) if e["result"] == "refused"]
    assert {e["recipient"] for e in refused} == {"v0@p002.example.com", "later@p001.example.com"}


def test_an_earlier_schema_is_named_with_its_upgrade_and_the_upgrade_works(tmp_path, smtp_server):
    earlier = (ROOT / "tests/functional/data/mop-schema-2026-11.ldif").read_text()
    server = MopSlapd(tmp_path / "slapd", base_dn=BASE_DN, root_pw=ROOT_PW,
                      edit_ldif=lambda name, text: earlier if name == "mop.ldif" else text)
    server.start()
    try:
        (tmp_path / "env").mkdir()
        env = make_env(server, tmp_path / "env")
        env.cli("init")
        env = with_partner(env)
        inbox, port = smtp_server()
        setup(env, port, {"u0": "u0@p001.example.com"}, idle_days=25)
        check = env.cli("check", expect=1)
        assert "missing mopwarnedat, mopdigestat — upgrade it: ldapmodify -Y EXTERNAL -H ldapi:/// -f " \
               "schema/upgrade/2026-12-notify.ldif" in check.out
        refused = env.cli("lock-inactive", expect=2)
        assert "schema/upgrade/2026-12-notify.ldif" in refused.err and inbox.messages == []
        # as the README says: the file names Debian's index of the mop schema, {4}; check yours
        found = subprocess.run(["ldapsearch", "-Q", "-LLL", "-Y", "EXTERNAL", "-H", server.ldapi_uri, "-b",
                                "cn=schema,cn=config", "(cn=*mop)", "dn"], capture_output=True, text=True, check=True)
        assert found.stdout.strip() == "dn: cn={4}mop,cn=schema,cn=config"
        subprocess.run(["ldapmodify", "-Q", "-Y", "EXTERNAL", "-H", server.ldapi_uri, "-f",
                        str(ROOT / "schema/upgrade/2026-12-notify.ldif")], capture_output=True, text=True, check=True)
        assert "missing" not in env.cli("check", expect=None).out
        assert "sent 1 warnings" in env.cli("lock-inactive").out
        assert recorded(env, account_dn("u0"), "mopWarnedAt")
    finally:
        server.stop()


def test_two_daemons_and_a_takeover_after_kill_9_send_each_mail_once(own_partner, tmp_path, smtp_server):
    """Two daemons (two hosts: their own work folder, state and audit) run the inactivity job every
    second; the holder is killed with SIGKILL and the other takes over, runs the job again (catching
    up) and on its schedule: still one warning and one digest."""
    from test_daemon import running_daemon, second_host, wait_for_log

    env = own_partner
    inbox, port = smtp_server()
    env.request(staff({"u0": "u0@p001.example.com"}))
    env.age(["u0"], days=25)
    schedule = {"inbox": "0 0 3 * * *", "reconcile": "0 0 3 * * *", "inactivity": "* * * * * *"}
    env.write_config(ldap={"timeout": 2}, schedule=schedule, daemon={"lease_seconds": 3},
                     reconcile={"clock_skew_seconds": 1}, notify=mail_config(port),
                     inactivity={"max_locks_per_run": 10})
    second = second_host(env)
    log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
    with running_daemon(env, log_a) as first, running_daemon(second, log_b):
        wait_for_log(log_a, '"event": "lease_held"')
        wait_for_log(log_b, '"event": "standing_by"')
        wait_for_log(log_a, "sent 1 warnings")
        runs = lambda log: log.read_text().count('"event": "run_done"')  # noqa: E731
        before = runs(log_a)
        while runs(log_a) < before + 2:  # two more inactivity runs of the holder
            time.sleep(0.2)
        first.kill()
        first.wait()
        wait_for_log(log_b, '"event": "lease_held"', seconds=10)
        wait_for_log(log_b, '"event": "catching_up"')
        before = runs(log_b)
        while runs(log_b) < before + 2:
            time.sleep(0.2)
    assert len(inbox.to("u0@p001.example.com")) == 1 and len(inbox.to(ZHANGSAN_MAIL)) == 1
    assert "sent 0 warnings" in log_b.read_text()


def test_the_requester_of_an_inbox_request_gets_its_result_without_a_password(partner, smtp_server):
    env = partner
    inbox, port = smtp_server()
    env.write_config(notify=mail_config(port, request_results=True))
    env.ldapmodify(f"dn: {account_dn('zhangsan')}\nchangetype: modify\nreplace: preferredLanguage\n"
                   "preferredLanguage: en\n")
    request_id = env.submit([{"op": "create_user", "username": "lisi", "name": "李四", "user_type": "service",
                              "roles": ["service-specialist"]}])
    assert "1 results mailed" in env.cli("sync").out
    [mail] = inbox.to(ZHANGSAN_MAIL)
    assert mail["Subject"] == f"Your MOP request {request_id}: applied"
    text = mail.get_body(("plain",)).get_content()
    assert "create_user lisi: applied" in text
    password = yaml.safe_load((env.outbox / f"{request_id}.secret").read_text())["lisi"]
    assert len(password) >= 12 and password not in mail.as_string()
    assert [(e["kind"], e["recipient"]) for e in mail_events(env)] == [("result", ZHANGSAN_MAIL)]


def test_a_replay_of_an_earlier_day_records_the_clock_and_never_hastens_a_lock(partner, smtp_server):
    """--as-of a day and a half ago: the warning goes out now and is recorded now (not as if sent
    then), so the next ordinary run does not lock at once, and the digest is not sent twice today."""
    env = partner
    inbox, port = smtp_server()
    setup(env, port, {"u0": "u0@p001.example.com"}, idle_days=31)
    login(env)
    earlier = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1.5)).isoformat()
    env.cli("lock-inactive", "--as-of", earlier)
    [warning] = inbox.to("u0@p001.example.com")  # names tomorrow, a day after it was really sent
    assert local_day(dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)) in warning["Subject"]
    warned = recorded(env, account_dn("u0"), "mopWarnedAt")
    assert warned >= ago(0.01)
    now = env.cli("lock-inactive")
    assert "0 locked" in now.out and "1 locks wait for their warning to age" in now.out
    assert len(inbox.to(ZHANGSAN_MAIL)) == 1


def test_a_broken_template_holds_its_own_mails_only_and_a_dropped_connection_is_retried(partner, smtp_server):
    env = partner
    inbox, port = smtp_server()
    inbox.answers = ["421 too many mails on this connection"]  # the first mail: try again on a new one
    setup(env, port, {"u0": "u0@p001.example.com", "u1": "u1@p001.example.com"}, idle_days=31)
    folder = env.config_path.parent / "mail"
    folder.mkdir()
    (folder / "warning.en.txt").write_text("Subject: {{ lock_at | date }}\n")  # date without its language
    env.ldapmodify(f"dn: {account_dn('u1')}\nchangetype: modify\nreplace: preferredLanguage\npreferredLanguage: en\n")
    env.write_config(notify=mail_config(port, templates="mail"), inactivity={"max_locks_per_run": 10})
    login(env)
    result = env.cli("lock-inactive", expect=1)
    assert "sent 1 warnings" in result.out and "1 locks wait: no warning delivered" in result.out, result.out
    assert result.err.strip().splitlines()[-1].startswith("mopldap: inactivity: mail template warning.en: TypeError")
    assert len(inbox.to("u0@p001.example.com")) == 1 and inbox.to("u1@p001.example.com") == []
    assert recorded(env, account_dn("u1"), "mopWarnedAt") is None  # not warned: its lock waits


def test_a_broken_result_template_does_not_stop_the_run(partner, smtp_server):
    env = partner
    inbox, port = smtp_server()
    folder = env.config_path.parent / "mail"
    folder.mkdir()
    (folder / "result.zh.txt").write_text("Subject: {{ nosuch.value }}\n")
    env.write_config(notify=mail_config(port, templates="mail", request_results=True))
    env.submit(staff({"u0": None}))
    result = env.cli("sync", expect=None)
    assert "requests: 1 applied; 0 results mailed (FAILED: mail template result.zh" in result.out
    assert "inactivity: 0 locked" in result.out and "not run" not in result.out


def test_the_brake_counts_the_locks_that_may_happen_and_never_holds_back_the_warnings(partner, smtp_server):
    env = partner
    inbox, port = smtp_server()
    setup(env, port, {f"u{i}": f"u{i}@p001.example.com" for i in range(3)}, idle_days=31)
    env.write_config(notify=mail_config(port), inactivity={"max_locks_per_run": 1})
    login(env)
    first = env.cli("lock-inactive")  # three overdue, none warned: none may be locked today, no brake
    assert "sent 3 warnings" in first.out and "BRAKE" not in first.out
    for i in range(3):
        set_time(env, account_dn(f"u{i}"), "mopWarnedAt", 1.5)
    held = env.cli("lock-inactive", expect=3)  # now three may be locked: more than the limit
    assert "BRAKE: 3 would be locked, limit 1" in held.out


def test_over_a_hundred_partners_read_at_once_give_each_administrator_one_digest(partner, smtp_server, monkeypatch):
    """Beyond PARTNER_SEARCHES partners, one search reads every partner's administrators: those
    already read for the warnings are not read twice (they would get two digests)."""
    from mopldap.runs import notices

    env = with_second_partner(partner)
    inbox, port = smtp_server()
    env.ldapmodify(f"dn: {account_dn('qianba', 'P002')}\nchangetype: modify\nreplace: mail\nmail: qianba@p002.example.com\n")
    env.request(staff({"v0": None}, "P002"), requested_by="qianba", partner="P002")
    env.age(["v0"], days=10, partner="P002")  # on its first password for 10 days: in P002's digest
    setup(env, port, {"u0": "u0@p001.example.com"}, idle_days=25)
    monkeypatch.setattr(notices, "PARTNER_SEARCHES", 0)
    result = env.cli("lock-inactive")
    assert "sent 1 warnings, 0 lock notices, 2 digests" in result.out, result.out
    assert len(inbox.to(ZHANGSAN_MAIL)) == 1 and len(inbox.to("qianba@p002.example.com")) == 1
