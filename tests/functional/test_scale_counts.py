"""A routine run's cost follows the work, not the directory's size: counted in LDAP operations.

Small-scale versions of bench/: a regression that reintroduces per-account searches,
or a no-op run that reads every account, fails here.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import time

import pytest
from conftest import account_dn, copy_tree, ldap_operations, with_second_partner
from test_inactivity import bind

from mopldap.model.errors import DirectoryError


def staff(start: int, count: int) -> list[dict]:
    return [{"op": "create_user", "username": f"s{i}", "name": f"员工{i}", "user_type": "service",
             "roles": ["service-specialist"], "initial_password": f"Staff-pass-{i}"} for i in range(start, start + count)]


def sync_stats(env, *args: str) -> dict:
    time.sleep(1.05)  # timestamps have one-second resolution: keep runs in distinct seconds
    result = env.cli("sync", *args)
    return ldap_operations(result) | {"out": result.out}


def test_noop_sync_cost_does_not_grow_with_the_directory(partner):
    env = partner
    env.write_config(reconcile={"clock_skew_seconds": 0})
    env.request(staff(0, 20))
    sync_stats(env)
    small = sync_stats(env)
    assert "0 group membership(s) changed" in small["out"]
    env.request(staff(20, 100))
    sync_stats(env)
    large = sync_stats(env)
    assert {k: large.get(k, 0) for k in ("search", "entries", "modify", "add")} == \
           {k: small.get(k, 0) for k in ("search", "entries", "modify", "add")}
    assert large.get("modify", 0) == 0 and large.get("add", 0) == 0  # nothing to change: nothing written
    assert large["entries"] <= 20, large  # the groups' entryCSN and the schema, never the 122 accounts


def test_incremental_sync_reads_the_changed_accounts_only(partner):
    env = partner
    env.write_config(reconcile={"clock_skew_seconds": 0})
    env.request(staff(0, 60))
    sync_stats(env)
    sync_stats(env)

    def change(users: range) -> dict:
        time.sleep(1.05)
        env.ldapmodify("".join(f"dn: {account_dn(f's{i}')}\nchangetype: modify\nreplace: title\ntitle: 新职务\n\n"
                               for i in users))
        return sync_stats(env)

    five = change(range(0, 5))
    fifteen = change(range(5, 20))
    assert fifteen["entries"] - five["entries"] == 10  # ten more changed accounts, ten more entries read
    assert fifteen["search"] == five["search"]        # and not one search more


def test_locks_by_hand_are_handled_per_account_with_batched_group_changes(partner):
    env = partner
    env.write_config(reconcile={"clock_skew_seconds": 0})
    env.request(staff(0, 30))
    sync_stats(env)
    time.sleep(1.05)
    env.ldapmodify("".join(f"dn: {account_dn(f's{i}')}\nchangetype: modify\nadd: pwdAccountLockedTime\n"
                           "pwdAccountLockedTime: 000001010000Z\n\n" for i in range(8)))
    stats = sync_stats(env)
    assert "8 disabled by hand" in stats["out"]
    # 8 status modifies, then one modify per system group (community, mop-service), 8 values each
    assert stats["modify"] == 8 + 2


def test_mail_reads_the_idle_accounts_and_their_administrators_only(partner, smtp_server):
    """Warnings and the digest cost the same with 20 or 120 active accounts beside the idle ones."""
    env = partner
    inbox, port = smtp_server()
    idle = [{**op, "username": f"idle{i}", "email": f"idle{i}@p001.example.com"} for i, op in enumerate(staff(900, 2))]
    env.request(idle)
    env.age(["idle0", "idle1"], days=25)
    env.request(staff(0, 20))
    env.write_config(notify={"smtp": {"host": "127.0.0.1", "port": port, "security": "none", "from": "m@example.com"}},
                     inactivity={"max_locks_per_run": 10})

    def mail_run() -> dict:
        result = env.cli("lock-inactive")
        assert "sent 2 warnings, 0 lock notices, 1 digests" in result.out, result.out
        return ldap_operations(result)

    small = mail_run()
    env.request(staff(20, 100))
    env.ldapmodify("".join(f"dn: {account_dn(u)}\nchangetype: modify\ndelete: {attr}\n\n"
                           for u, attr in (("idle0", "mopWarnedAt"), ("idle1", "mopWarnedAt"), ("zhangsan", "mopDigestAt"))))
    large = mail_run()
    assert {k: large.get(k, 0) for k in ("search", "entries", "modify")} == \
           {k: small.get(k, 0) for k in ("search", "entries", "modify")}
    assert large["modify"] == 3  # two warnings and one digest recorded, one write each
    assert len(inbox.messages) == 6


def test_a_group_of_many_members_is_read_whole_and_in_one_answer(initialized):
    """One entry holding 20,000 member values (one LDAP message of 1.2 MB) comes back value for
    value: mopldap's receiving (ldap/receiving.py) cuts the messages, not ldap3's."""
    env = initialized
    members = [f"uid=m{i:05d},ou=P{i % 97:03d},ou=partners,dc=example,dc=com" for i in range(20000)]
    env.ldap_tool("ldapadd", input="dn: cn=many,ou=roles,dc=example,dc=com\nobjectClass: groupOfNames\ncn: many\n"
                                   + "".join(f"member: {m}\n" for m in members))
    with env.directory() as directory:
        entry = directory.read("cn=many,ou=roles,dc=example,dc=com", ("member",))
        assert sorted(entry.get("member")) == members


def test_a_groups_values_arrive_in_chunks_from_one_search_and_the_connection_carries_on(initialized):
    """Directory.values, which a full reconcile reads groups with, parses the answer as it arrives
    (ldap/values.py): 25,000 values in chunks of at most 10,000, from one search. Stopped after
    its first chunk, it reads the rest of the answer, so that the next operation gets its own;
    a missing entry has no values, a DN the server refuses is one clear error."""
    env = initialized
    group = "cn=many,ou=roles,dc=example,dc=com"
    members = [f"uid=m{i:05d},ou=P{i % 97:03d},ou=partners,dc=example,dc=com" for i in range(25000)]
    env.ldap_tool("ldapadd", input=f"dn: {group}\nobjectClass: groupOfNames\ncn: many\n"
                                   + "".join(f"member: {m}\n" for m in members))
    with env.directory() as directory:
        chunks = list(directory.values(group, "member"))
        assert sorted(value for chunk in chunks for value in chunk) == members
        assert max(len(chunk) for chunk in chunks) <= 10000 and len(chunks) >= 3
        assert (directory.stats["search"], directory.stats["entries"]) == (1, 1)
        for _ in directory.values(group, "member"):
            break
        assert directory.read(group, ("cn",)).get("cn") == ["many"]
        assert list(directory.values("cn=none,ou=roles,dc=example,dc=com", "member")) == []
        with pytest.raises(DirectoryError, match="read of not a dn failed: invalidDNSyntax"):
            list(directory.values("not a dn", "member"))
        assert directory.read(group, ("cn",)).get("cn") == ["many"]
        answer = directory.values(group, "member")
        next(answer)
        directory.conn.socket.shutdown(socket.SHUT_RDWR)  # the connection lost half way: one line, exit 2
        with pytest.raises(DirectoryError, match=f"the answer to a read of {group} is not valid LDAP: the server closed"):
            list(answer)


def test_a_full_reconcile_holds_a_key_for_each_member_not_its_dn(initialized):
    """A full reconcile reads a group as its values arrive and keeps 8 bytes of key a member
    (plan/reconcile.py member_key), and only the values a decision needs: reading a role group of
    40,000 members allocates about one chunk of values (10,000) at a time. Received whole and held
    as stored and normalized, as before, the same read peaked at 10.6 MB."""
    import tracemalloc

    from mopldap.model.layout import Layout
    from mopldap.runs.reconcile import read_group

    env = initialized
    group = "cn=many,ou=roles,dc=example,dc=com"
    members = [f"uid=m{i:05d},ou=P{i % 97:03d},ou=partners,dc=example,dc=com" for i in range(40000)]
    stray = "cn=printer,ou=services,dc=example,dc=com"
    env.ldap_tool("ldapadd", input=f"dn: {group}\nobjectClass: groupOfNames\ncn: many\n"
                                   + "".join(f"member: {m}\n" for m in [*members, stray]))
    with env.directory() as directory:
        tracemalloc.start()
        try:
            read = read_group(directory, group, Layout("dc=example,dc=com"), verify=False)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert (read.count, len(read.members), list(read.outside.values())) == (40001, 40000, [stray])
    assert peak < 5_000_000, peak


def test_the_console_lists_a_partners_accounts_reading_that_partner_only(partner):
    """The API's account list costs the same however many accounts other partners hold: a read of the
    partner's entry and one search of its OU, its accounts and nothing else."""
    from mopldap.web import reads

    env = with_second_partner(partner)
    env.request(staff(0, 10))

    def listing() -> tuple[int, dict]:
        config, rolemap = env.settings()
        with env.directory() as directory:
            assert reads.partner_exists(directory, config, "P001")  # as the API does
            rows = reads.partner_accounts(directory, config, rolemap, "P001", dt.datetime.now(dt.timezone.utc))
            return len(rows), {k: directory.stats[k] for k in ("search", "entries")}

    before = listing()
    env.request([{**op, "username": f"q{op['username']}"} for op in staff(0, 100)], requested_by="hqadmin",
                partner="P002")
    assert listing() == before
    assert before == (11, {"search": 2, "entries": 1 + 11})  # the partner's entry, then its accounts


def test_a_replicas_logins_are_read_for_the_idle_and_the_recent_only(partner, replica_server):
    """The inactivity run asks each replica for its idle accounts and the last two days' logins (to
    carry them to the provider): the same reads with 20 or 120 active accounts beside two idle ones."""
    env = partner
    env.request([{**op, "username": f"idle{i}"} for i, op in enumerate(staff(900, 2))])
    env.age(["idle0", "idle1"], days=25)
    env.request(staff(0, 20))
    env.write_config(ldap={"replicas": [replica_server.ldap_uri.rstrip("/")]})

    def replica_reads() -> dict:
        copy_tree(env.server, replica_server)
        bind(replica_server.ldap_uri, "s0", "Staff-pass-0")  # a login the provider has not seen
        result = env.cli("lock-inactive")
        done = next(json.loads(line) for line in result.err.splitlines() if '"event": "replica_read"' in line)
        return {k: done["ldap_operations"].get(k, 0) for k in ("search", "entries")}

    small = replica_reads()
    env.request(staff(20, 100))
    assert replica_reads() == small
    assert small["entries"] <= 2 + 1 + 5  # the idle two, the login, the schema


@pytest.mark.parametrize("passwords", ["given", "generated"])
def test_the_files_of_a_batch_of_requests_are_flushed_together_not_one_by_one(partner, monkeypatch, passwords):
    """Each request leaves a journal, a result and an archived copy, and the passwords mopldap
    generated for it: flushed to the disk with one syncfs for the batch's journals and passwords,
    before any of its writes, and one for its results, never one fsync a file, which the
    directory server's own commits would wait behind (bench/results-large.md, provisioning)."""
    env = partner
    import mopldap.files.together as together
    from mopldap.runs.batches import BatchWriter

    events: list[str] = []
    fsync, syncfs, submit = os.fsync, together._syncfs(), BatchWriter.submit
    monkeypatch.setattr(together, "_syncfs", lambda: lambda fd: (events.append("syncfs"), syncfs(fd))[1])
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append(os.readlink(f"/proc/self/fd/{fd}")), fsync(fd)))

    def sent(writer, batch):  # "written" once its generated passwords are in their files, else a mark
        kept = all((env.outbox / f"{q.plan.request.request_id}.secret").is_file() for q in batch if q.plan.secrets)
        events.append("written" if kept else "written before its passwords were kept")
        return submit(writer, batch)

    monkeypatch.setattr(BatchWriter, "submit", sent)
    for i in range(40):
        ops = staff(i * 2, 2)
        if passwords == "generated":
            for op in ops:
                del op["initial_password"]
        env.submit(ops, request_id=f"P001-flush-{i}")
    result = env.cli("sync", "--only", "inbox")
    assert "40 applied" in result.out
    assert [e for e in events if e in ("syncfs", "written")] == ["syncfs", "written", "syncfs"], events
    own = [e for e in events if e not in ("syncfs", "written")]  # the run's state (written twice) and audit file
    assert len(own) <= 6 and not any(part in e for e in own for part in ("/outbox", "/archive", "/work")), events
    if passwords == "generated":
        assert env.can_bind(account_dn("s79"), env.secret("P001-flush-39")["s79"])
