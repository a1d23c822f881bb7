"""mopldap on OpenLDAP's own replication: a provider with syncprov and a refreshAndPersist consumer,
configured from config/replication/*.ldif as the README says."""

from __future__ import annotations

import json

from conftest import (BASE_DN, ROOT_PW, account_dn, as_root, make_env, read_on, replication_ldif, secure, stop_slapd,
                      wait_until, with_partner)
from test_inactivity import bind, staff


def test_the_consumer_follows_the_provider(replicated):
    env = replicated
    env.request(staff(1))
    wait_until(lambda: read_on(env.consumer, account_dn("u0"), "uid") is not None)
    env.request([{"op": "disable_user", "username": "u0"}])
    wait_until(lambda: (read_on(env.consumer, account_dn("u0"), "mopAccountStatus").first("mopAccountStatus")
                        == "disabled"))


def test_a_login_on_the_consumer_survives_the_providers_next_change(replicated):
    """The issue's case: a bind only on the consumer; the provider's next change to the entry wipes
    it there. The inactivity run between keeps it on the provider, so a later run does not lock."""
    env = replicated
    env.write_config(ldap={"replicas": [env.consumer.ldap_uri.rstrip("/")]}, inactivity={"max_locks_per_run": 10})
    env.request(staff(3))
    env.age(["u0", "u1", "zhangsan"], days=31)
    env.age(["u2"], days=10)  # far from its lock: its login is kept all the same
    bind(env.server.ldap_uri, "zhangsan", "Zhangsan-Init-1")
    wait_until(lambda: read_on(env.consumer, account_dn("u1"), "createTimestamp").first("createTimestamp")
               == env.entry(account_dn("u1"), "createTimestamp").first("createTimestamp"))
    bind(env.consumer.ldap_uri, "u0", "Pass-u-0-xyz")  # u0 works; u1 does not
    bind(env.consumer.ldap_uri, "u2", "Pass-u-2-xyz")
    on_consumer = read_on(env.consumer, account_dn("u0"), "pwdLastSuccess").first("pwdLastSuccess")
    assert on_consumer is not None and env.entry(account_dn("u0"), "pwdLastSuccess").first("pwdLastSuccess") is None
    result = env.cli("lock-inactive")
    assert "1 locked" in result.out, result.out + result.err
    kept = next(json.loads(line) for line in result.err.splitlines() if '"replica_logins_kept"' in line)
    assert kept["accounts"] == 2
    assert env.entry(account_dn("u2"), "mopLastLogon").first("mopLastLogon") is not None
    assert env.entry(account_dn("u0"), "mopLastLogon").first("mopLastLogon") == on_consumer

    env.ldapmodify(f"dn: {account_dn('u0')}\nchangetype: modify\nreplace: title\ntitle: 销售\n")
    wait_until(lambda: read_on(env.consumer, account_dn("u0"), "title").first("title") == "销售")
    assert read_on(env.consumer, account_dn("u0"), "pwdLastSuccess").first("pwdLastSuccess") is None  # wiped
    env.cli("lock-inactive")
    status = {u: env.entry(account_dn(u), "mopAccountStatus").first("mopAccountStatus") for u in ("u0", "u1")}
    assert status == {"u0": "active", "u1": "disabled"}
    again = env.cli("lock-inactive")  # kept once: nothing more to carry while the provider holds it
    assert '"replica_logins_kept"' not in again.err
    assert read_on(env.consumer, f"uid=hqadmin,ou=hq,{BASE_DN}", "uid") is not None


def test_check_compares_each_replicas_contextcsn_with_the_providers(replicated):
    env = replicated
    env.write_config(ldap={"replicas": [env.consumer.ldap_uri.rstrip("/")]})
    url = env.consumer.ldap_uri.rstrip("/")
    env.request(staff(1))
    wait_until(lambda: read_on(env.consumer, account_dn("u0"), "uid") is not None)
    lines = env.cli("check", expect=None).out.splitlines()
    assert any(line.startswith(f"ok   replication to {url}: caught up (contextCSN ") for line in lines), lines
    consumer_config = replication_ldif("consumer", PROVIDER_URL=env.server.ldap_uri.rstrip("/"), BASE_DN=BASE_DN,
                                       REPLICATOR_DN=f"cn=admin,{BASE_DN}", REPLICATOR_PASSWORD=ROOT_PW)
    env.consumer.load_ldif("dn: olcDatabase={1}mdb,cn=config\nchangetype: modify\ndelete: olcSyncrepl\n",
                           "replication paused")
    try:
        env.request([{"op": "update_user", "username": "u0", "title": "落后"}])
        lines = env.cli("check", expect=None).out.splitlines()
    finally:
        env.consumer.load_ldif(consumer_config, "replication resumed")
    assert any(line.startswith(f"warn replication to {url}: behind the provider: server 000 at ") for line in lines), \
        lines
    wait_until(lambda: read_on(env.consumer, account_dn("u0"), "title").first("title") == "落后")


# -- multi-provider: ldap.url lists both ------------------------------------------------------


def providers_env(multi_provider, tmp_path):
    first, second = multi_provider
    env = make_env(first, tmp_path)
    env.write_config(ldap={"url": [first.ldap_uri.rstrip("/"), second.ldap_uri.rstrip("/")]})
    env.cli("init")
    with_partner(env)
    wait_until(lambda: read_on(second, account_dn("zhangsan"), "uid") is not None)
    return env, first, second


def test_with_the_first_provider_down_a_run_writes_to_the_second(multi_provider, tmp_path):
    env, first, second = providers_env(multi_provider, tmp_path)
    stop_slapd(first)
    try:
        env.submit(staff(1), request_id="P001-down-1")
        result = env.cli("sync")
        assert "provider_unavailable" in result.err and env.result("P001-down-1")["status"] == "applied"
        assert read_on(second, account_dn("u0"), "uid") is not None
        lines = env.cli("check", expect=2).out.splitlines()  # the first is down: the rest is still checked
        assert any(line.startswith(f"FAIL provider {first.ldap_uri.rstrip('/')}") for line in lines), lines
        assert any(line.startswith(f"ok   provider {second.ldap_uri.rstrip('/')}") for line in lines), lines
        assert any(line.startswith("ok   schema") for line in lines), lines
    finally:
        first._spawn()
    wait_until(lambda: read_on(first, account_dn("u0"), "uid") is not None)  # and it catches up


def test_a_provider_lost_between_two_batches_the_run_moves_on_applying_nothing_twice(multi_provider, tmp_path,
                                                                                      monkeypatch):
    env, first, second = providers_env(multi_provider, tmp_path)
    from mopldap.runs.requests import RequestProcessor

    report = RequestProcessor._report

    def report_then_lose_the_provider(self, batch, failed, written):
        report(self, batch, failed, written)
        if first._proc is not None:  # after the first batch: once it has replicated, the provider dies
            wait_until(lambda: read_on(second, account_dn("u0"), "uid") is not None)
            stop_slapd(first)

    monkeypatch.setattr(RequestProcessor, "_report", report_then_lose_the_provider)
    env.submit(staff(1), request_id="P001-two-1")
    env.submit([{"op": "update_user", "username": "u0", "title": "第二批"}], request_id="P001-two-2")  # a batch of its own
    try:
        result = env.cli("sync", "--only", "inbox")
    finally:
        first._spawn()
    assert "provider_failed" in result.err
    assert [env.result(f"P001-two-{n}")["status"] for n in (1, 2)] == ["applied", "applied"]
    assert read_on(second, account_dn("u0"), "title").first("title") == "第二批"
    adds = [a for a in env.audit() if a["action"] == "add" and a["dn"] == account_dn("u0")]
    assert len(adds) == 1


def test_the_daemons_lease_is_taken_on_the_first_provider_only(multi_provider, tmp_path):
    import threading

    from mopldap.runs.daemon import Daemon

    env, first, second = providers_env(multi_provider, tmp_path)

    def one_round() -> bool:
        config, rolemap = env.settings()
        daemon = Daemon(config, rolemap, threading.Event())
        lease = threading.Thread(target=daemon.keep_lease)
        lease.start()
        daemon._first_round.wait(30)
        held = daemon.holds_lease()
        daemon._lease_stop.set()
        lease.join(30)
        return held

    assert one_round()
    lease_dn = f"cn=daemon-lease,ou=services,{BASE_DN}"
    assert read_on(first, lease_dn, "entryCSN").first("entryCSN").split("#")[2] == "001"  # written on the first
    stop_slapd(first)
    try:
        assert not one_round()  # the second answers, but the lease is not taken there
    finally:
        first._spawn()


def memberships_on(server, base: str = BASE_DN) -> dict[str, list[str]]:
    with as_root(server) as directory:
        return {e.dn.lower(): sorted(v.lower() for v in e.get("memberOf"))
                for e in directory.search(f"ou=partners,{base}", "(objectClass=inetOrgPerson)", ("memberOf",))}


def members_by_filter(server, group: str) -> list[str]:
    import subprocess

    out = subprocess.run(["ldapsearch", "-LLL", "-o", "ldif-wrap=no", "-x", "-H", server.ldap_uri,
                          "-D", f"cn=admin,{BASE_DN}", "-w", ROOT_PW, "-b", BASE_DN, f"(memberOf={group})", "1.1"],
                         capture_output=True, text=True, check=True).stdout
    return sorted(line.lower() for line in out.splitlines() if line.startswith("dn:"))


def accounts_in(server) -> list[str]:
    """The accounts in a stopped server's database (slapcat)."""
    import subprocess

    out = subprocess.run(["slapcat", "-F", server._slapd_conf, "-b", BASE_DN, "-a", "(objectClass=inetOrgPerson)"],
                         capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.startswith("dn: uid=")]


def test_a_consumer_started_empty_and_killed_mid_refresh_ends_with_the_providers_memberof(replicated, tmp_path):
    from mopldap.ldap.slapd import MopSlapd

    env = replicated
    env.request(staff(400))
    env.cli("sync")
    expected = memberships_on(env.server)
    assert len(expected) == 401 and all(expected.values())
    late = MopSlapd(tmp_path / "late", base_dn=BASE_DN, root_pw=ROOT_PW)
    late.start()
    try:
        secure(late)
        late.load_ldif(replication_ldif("consumer", PROVIDER_URL=env.server.ldap_uri.rstrip("/"), BASE_DN=BASE_DN,
                                        REPLICATOR_DN=f"cn=admin,{BASE_DN}", REPLICATOR_PASSWORD=ROOT_PW),
                       "config/replication/consumer.ldif")
        wait_until(lambda: read_on(late, f"ou=P001,ou=partners,{BASE_DN}", "ou") is not None, 30)
        stop_slapd(late, 9)  # kill -9 in the middle of its first refresh
        assert len(accounts_in(late)) < len(expected)  # it was killed before it had them all
        late._spawn()
        wait_until(lambda: memberships_on(late) == expected, 60, "memberOf on the consumer")
        for group in (f"cn=mop-service,ou=systems,{BASE_DN}", f"cn=service-specialist,ou=roles,{BASE_DN}"):
            found = [members_by_filter(server, group) for server in (env.server, late)]
            assert found[0] == found[1] and found[0], group  # memberOf filters find the same accounts
    finally:
        late.stop()


def test_a_replica_that_fails_is_not_taken_for_a_lost_provider(multi_provider, tmp_path):
    env, first, second = providers_env(multi_provider, tmp_path)
    env.write_config(ldap={"url": [first.ldap_uri.rstrip("/"), second.ldap_uri.rstrip("/")],
                           "replicas": ["ldap://127.0.0.1:9"], "timeout": 2})
    result = env.cli("lock-inactive", expect=2)
    assert "cannot reach ldap://127.0.0.1:9" in result.err
    assert "provider_failed" not in result.err  # the provider answers: no move to the next
