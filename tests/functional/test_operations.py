"""Every request operation, applied through the inbox against a real slapd."""

from __future__ import annotations

import os
import stat

from conftest import BASE_DN, account_dn, last_line, ldap_operations, with_second_partner

SALES_MANAGER = {"op": "create_user", "username": "wangwu", "name": "王五", "title": "销售经理",
                 "email": "wangwu@p001.example.com", "mobile": "13800138003", "user_type": "sales",
                 "roles": ["sales-manager"], "initial_password": "Wangwu-Init-1"}
SERVICE = {"op": "create_user", "username": "lisi", "name": "李四", "title": "服务专员", "email": "lisi@p001.example.com",
           "mobile": "13800138002", "user_type": "service", "roles": ["service-specialist", "hotline-specialist"],
           "initial_password": "Lisi-Init-2026!"}


def systems_of(env, username: str, partner: str = "P001") -> set[str]:
    entry = env.entry(account_dn(username, partner), "memberOf")
    return {v.split(",")[0][3:] for v in entry.get("memberOf") if ",ou=systems," in v}


def roles_of(env, username: str, partner: str = "P001") -> set[str]:
    entry = env.entry(account_dn(username, partner), "memberOf")
    return {v.split(",")[0][3:] for v in entry.get("memberOf") if ",ou=roles," in v}


def group_members(env, group: str) -> set[str]:
    return {line[8:] for line in env.ldapsearch(f"(cn={group})", "member").splitlines() if line.startswith("member: ")}


def test_create_partner_makes_the_ou_and_its_administrator(partner):
    env = partner
    ou = env.ldapsearch("(ou=P001)", "objectClass", "mopPartnerName", "mopPartnerStatus")
    assert "objectClass: mopPartner" in ou and "mopPartnerStatus: active" in ou
    assert "mopPartnerName:: " in ou or "mopPartnerName: 杭州" in ou
    assert roles_of(env, "zhangsan") == {"partner-admin"}
    assert systems_of(env, "zhangsan") == {"mop-sales", "mop-service", "mop-orders", "community",
                                           "community-channel-policy"}
    assert env.can_bind(account_dn("zhangsan"), "Zhangsan-Init-1")


def test_create_partner_generates_the_admin_password_into_a_0600_secret(initialized):
    env = initialized
    env.cli("init", "--hq-admin", "hqadmin", "--name", "HQ")
    env.request([{"op": "create_partner", "name": "P2 Co", "admin": {"username": "admin2", "name": "A", "user_type": "sales"}}],
                requested_by="hqadmin", partner="P002", request_id="P002-HQ-1")
    secret = env.outbox / "P002-HQ-1.secret"
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600
    password = env.secret("P002-HQ-1")["admin2"]
    assert len(password) >= 16
    assert env.can_bind(account_dn("admin2", "P002"), password)
    assert "P002-HQ-1.secret" in env.result("P002-HQ-1")["secrets"]


def test_create_user_with_several_roles_lands_in_role_and_system_groups(partner):
    env = partner
    result = env.request([SERVICE, SALES_MANAGER])
    assert [op["result"] for op in result["operations"]] == ["applied", "applied"]
    entry = env.ldapsearch("(uid=lisi)", "*", "pwdReset")
    for expected in ("objectClass: inetOrgPerson", "objectClass: mopAccount", "mopAccountStatus: active",
                     "pwdReset: TRUE", "mopUserType: service", "mail: lisi@p001.example.com", "mobile: 13800138002"):
        assert expected in entry
    assert f"dn: {account_dn('lisi')}" in entry
    assert "userPassword:: " in entry and "Lisi-Init-2026!" not in entry
    stored = env.entry(account_dn("lisi"), "userPassword").first("userPassword")
    assert stored.startswith("{SSHA512}")  # pre-hashed: the password never crossed the wire in clear
    assert env.can_bind(account_dn("lisi"), "Lisi-Init-2026!")
    assert roles_of(env, "lisi") == {"service-specialist", "hotline-specialist"}
    assert systems_of(env, "lisi") == {"mop-service", "community"}
    assert systems_of(env, "wangwu") == {"mop-sales", "mop-orders", "community"}  # through includes too
    assert account_dn("lisi") in group_members(env, "mop-service")


def specialists(*usernames: str) -> list[dict]:
    """create_user operations: service specialists of P001 (role group, mop-service, community)."""
    return [{"op": "create_user", "username": name, "name": f"员工{name}", "user_type": "service",
             "roles": ["service-specialist"], "initial_password": f"Pass-{name}-1"} for name in usernames]


def test_group_changes_are_batched_one_modify_per_group(partner):
    env = partner
    staff = specialists(*(f"staff{i}" for i in range(5)))
    before = len(env.audit())
    env.request(staff)
    events = env.audit()[before:]
    modifies = [e for e in events if e["action"] == "modify"]
    assert sorted(e["dn"].split(",")[0] for e in modifies) == ["cn=community", "cn=mop-service", "cn=service-specialist"]
    assert all(len(e["attributes"]["member"]["add"]) == 5 for e in modifies)


def test_a_batch_whose_entries_are_written_while_the_next_waits_leaves_its_group_changes_to_it(partner, monkeypatch):
    """A group write costs slapd in proportion to the group: two batches, each group written once."""
    import threading

    from mopldap.runs import batches, requests

    env = partner
    monkeypatch.setattr(requests, "BATCH_CHANGES", 1)  # each request goes to the writer on its own
    sent_second = threading.Event()
    submit, entries = batches.BatchWriter.submit, batches.BatchWrite.entries

    def submit_and_note(self, batch):
        sent = submit(self, batch)
        if self.submitted == 2:
            sent_second.set()
        return sent

    def entries_done_once_the_next_is_sent(self, executor):
        entries(self, executor)
        assert sent_second.wait(30)

    monkeypatch.setattr(batches.BatchWriter, "submit", submit_and_note)
    monkeypatch.setattr(batches.BatchWrite, "entries", entries_done_once_the_next_is_sent)
    staff = [specialists(f"staff{n}0", f"staff{n}1") for n in range(2)]
    ids = [env.submit(operations, name=f"{n}-staff", requested_by=by)  # a request waits for those naming its requester
           for n, (operations, by) in enumerate(zip(staff, ("zhangsan", "hqadmin")))]
    result = env.cli("sync", "--only", "inbox")
    assert [env.result(rid)["status"] for rid in ids] == ["applied", "applied"]
    done = ldap_operations(result)
    assert done["add"] == 4
    assert done["modify"] == 3  # community, mop-service, service-specialist: once each
    assert all(systems_of(env, f"staff{n}{i}") == {"mop-service", "community"} for n in range(2) for i in range(2))


def test_a_batch_sent_while_two_are_being_written_waits_for_one_and_every_group_change_lands(partner, monkeypatch):
    """Three batches, the third sent while the entries of the first two are still being written."""
    import threading

    from mopldap.runs import batches, requests

    env = with_second_partner(partner)
    monkeypatch.setattr(requests, "BATCH_CHANGES", 1)
    monkeypatch.setattr(requests, "MAX_BATCH_CHANGES", 1)  # each request goes at once, room or not
    waiting, entries, wait = threading.Event(), batches.BatchWrite.entries, requests.futures.wait

    def note_the_wait(*args, **kwargs):
        waiting.set()
        return wait(*args, **kwargs)

    def first_entries_done_once_the_third_waits(self, executor):
        entries(self, executor)
        if any(q.plan.request.requested_by == "zhangsan" for q in self.batch):
            assert waiting.wait(30)

    monkeypatch.setattr(requests.futures, "wait", note_the_wait)
    monkeypatch.setattr(batches.BatchWrite, "entries", first_entries_done_once_the_third_waits)
    by = (("zhangsan", "P001"), ("hqadmin", "P001"), ("qianba", "P002"))
    ids = [env.submit(specialists(f"staff{n}"), name=f"{n}-staff", requested_by=requester, partner=code)
           for n, (requester, code) in enumerate(by)]
    result = env.cli("sync", "--only", "inbox")
    assert waiting.is_set()
    assert [env.result(rid)["status"] for rid in ids] == ["applied"] * 3
    assert all(systems_of(env, f"staff{n}", code) == {"mop-service", "community"} for n, (_, code) in enumerate(by))
    done = ldap_operations(result)
    assert done["modify"] in (3, 6)  # the first batch's groups always go with a later one's


def test_the_files_of_one_administrator_share_a_batch_and_one_disabled_by_an_earlier_file_is_refused(partner):
    env = partner
    ids = [env.submit(specialists(f"staff{n}"), name=f"{n}-staff") for n in range(3)]
    result = env.cli("sync", "--only", "inbox")
    assert [env.result(rid)["status"] for rid in ids] == ["applied"] * 3
    done = ldap_operations(result)
    assert done["modify"] == 3  # one batch: service-specialist, mop-service, community, once each
    off = env.submit([{"op": "disable_user", "username": "zhangsan"}], requested_by="hqadmin", name="a-off")
    late = env.submit([{"op": "update_user", "username": "staff0", "title": "组长"}], name="b-late")
    env.cli("sync", "--only", "inbox")
    assert env.result(off)["status"] == "applied"
    assert env.result(late)["status"] == "rejected"  # planned once zhangsan's disable was written
    assert "is disabled" in env.result(late)["problems"][0]


def test_a_batch_waits_for_results_while_too_many_writes_are_unreported(partner, monkeypatch):
    """The writes whose requests have no result yet are bounded (memory): here, one batch at a time."""
    import threading

    from mopldap.runs import batches, requests

    env = partner
    monkeypatch.setattr(requests, "BATCH_CHANGES", 1)
    monkeypatch.setattr(requests, "MAX_BATCH_CHANGES", 1)
    monkeypatch.setattr(requests, "MAX_UNREPORTED_CHANGES", 1)
    go, sent, earlier_written = threading.Event(), [], []
    submit, entries, collect = batches.BatchWriter.submit, batches.BatchWrite.entries, requests.RequestProcessor._collect

    def submit_and_check(self, batch):
        earlier_written.append(all(done.done() for done in sent))
        written, done = submit(self, batch)
        sent.append(done)
        if len(sent) > 1:
            go.set()  # a second batch sent while the first has no result: what the bound prevents
        return written, done

    def collect_and_note(self):
        go.set()
        return collect(self)

    def entries_once_the_sender_waits_or_sends(self, executor):
        entries(self, executor)
        assert go.wait(30)

    monkeypatch.setattr(batches.BatchWriter, "submit", submit_and_check)
    monkeypatch.setattr(batches.BatchWrite, "entries", entries_once_the_sender_waits_or_sends)
    monkeypatch.setattr(requests.RequestProcessor, "_collect", collect_and_note)
    ids = [env.submit(specialists(f"staff{n}"), name=f"{n}-staff") for n in range(3)]
    env.cli("sync", "--only", "inbox")
    assert [env.result(rid)["status"] for rid in ids] == ["applied"] * 3
    assert earlier_written == [True] * 3


def edit_the_role_group_by_hand_before_the_group_writes(env, monkeypatch, action: str, username: str) -> None:
    """Someone adds or deletes a member of service-specialist between mopldap's plan and its group write."""
    from mopldap.runs import batches

    groups = batches.BatchWrite.groups

    def edit_first(self, executor):
        env.ldapmodify(f"dn: cn=service-specialist,ou=roles,{BASE_DN}\nchangetype: modify\n{action}: member\n"
                       f"member: {account_dn(username)}\n")
        return groups(self, executor)

    monkeypatch.setattr(batches.BatchWrite, "groups", edit_first)


def test_a_member_added_by_hand_while_the_request_is_written_costs_one_compare_each_and_one_write(partner, monkeypatch):
    env = partner
    edit_the_role_group_by_hand_before_the_group_writes(env, monkeypatch, "add", "staff2")
    rid = env.submit(specialists(*(f"staff{i}" for i in range(5))))
    result = env.cli("sync", "--only", "inbox")
    assert env.result(rid)["status"] == "applied"
    assert all(roles_of(env, f"staff{i}") == {"service-specialist"} for i in range(5))
    assert '"left": 4' in result.err  # the group changed since the plan: what it still needed
    done = ldap_operations(result)
    assert done["modify"] == 3 + 1  # three groups, and the role group once more


def test_a_member_removed_by_hand_while_the_request_is_written_costs_one_compare_each_and_one_write(partner, monkeypatch):
    env = partner
    env.request(specialists(*(f"staff{i}" for i in range(4))))
    edit_the_role_group_by_hand_before_the_group_writes(env, monkeypatch, "delete", "staff1")
    rid = env.submit([{"op": "remove_roles", "username": f"staff{i}", "roles": ["service-specialist"]} for i in range(3)])
    result = env.cli("sync", "--only", "inbox")
    assert env.result(rid)["status"] == "applied"
    assert [roles_of(env, f"staff{i}") for i in range(4)] == [set(), set(), set(), {"service-specialist"}]
    assert '"left": 2' in result.err  # the group changed since the plan: what it still needed
    done = ldap_operations(result)
    assert done["compare"] == 3
    assert done["modify"] == 3 + 1  # the role group and the two system groups, and the role group once more


def test_update_user_changes_only_the_given_fields_and_null_removes(partner):
    env = partner
    env.request([SERVICE])
    result = env.request([{"op": "update_user", "username": "lisi", "title": "服务经理", "mobile": None}])
    assert result["operations"][0]["result"] == "applied"
    entry = env.entry(account_dn("lisi"), "title", "mobile", "mail", "cn")
    assert entry.first("title") == "服务经理" and entry.get("mobile") == [] and entry.first("mail") == "lisi@p001.example.com"
    again = env.request([{"op": "update_user", "username": "lisi", "title": "服务经理"}])
    assert again["operations"][0]["result"] == "unchanged"


def test_set_add_remove_roles_move_the_system_groups(partner):
    env = partner
    env.request([SERVICE])
    env.request([{"op": "set_roles", "username": "lisi", "roles": ["service-manager"]}])
    assert roles_of(env, "lisi") == {"service-manager"}
    assert systems_of(env, "lisi") == {"mop-service", "community"}
    env.request([{"op": "update_user", "username": "lisi", "user_type": "sales"},
                 {"op": "set_roles", "username": "lisi", "roles": ["sales-specialist"]}])
    assert systems_of(env, "lisi") == {"mop-sales", "community"}
    env.request([{"op": "add_roles", "username": "lisi", "roles": ["sales-manager"]}])
    assert systems_of(env, "lisi") == {"mop-sales", "mop-orders", "community"}
    env.request([{"op": "remove_roles", "username": "lisi", "roles": ["sales-manager", "sales-specialist"]}])
    assert roles_of(env, "lisi") == set() and systems_of(env, "lisi") == set()
    assert group_members(env, "sales-manager") == {f"cn=nobody,{BASE_DN}"}  # the emptied group got the placeholder


def test_disable_keeps_roles_drops_systems_and_refuses_binds_enable_restores(partner):
    env = partner
    env.request([SERVICE])
    result = env.request([{"op": "disable_user", "username": "lisi", "reason": "offboarded"}])
    assert result["operations"][0]["result"] == "applied"
    entry = env.entry(account_dn("lisi"), "*", "+")
    assert entry.first("mopAccountStatus") == "disabled" and entry.first("mopDisabledReason") == "offboarded"
    assert entry.first("pwdAccountLockedTime") == "000001010000Z" and entry.first("mopDisabledAt")
    assert roles_of(env, "lisi") == {"service-specialist", "hotline-specialist"}
    assert systems_of(env, "lisi") == set()
    assert not env.can_bind(account_dn("lisi"), "Lisi-Init-2026!")
    assert env.request([{"op": "disable_user", "username": "lisi", "reason": "offboarded"}])["operations"][0]["result"] == "unchanged"
    env.submit([{"op": "enable_user", "username": "lisi"}], request_id="P001-enable")
    env.cli("sync", "--as-of", "2026-12-01T08:00:00+08:00")
    assert env.result("P001-enable")["status"] == "applied"
    entry = env.entry(account_dn("lisi"), "*", "+")
    assert entry.first("mopAccountStatus") == "active" and entry.get("pwdAccountLockedTime") == []
    assert entry.get("mopDisabledReason") == [] and entry.first("mopEnabledAt") == "20261201000000Z"
    assert systems_of(env, "lisi") == {"mop-service", "community"}
    assert env.can_bind(account_dn("lisi"), "Lisi-Init-2026!")


def test_reset_password_given_and_generated(partner):
    env = partner
    env.request([SERVICE])
    env.request([{"op": "reset_password", "username": "lisi", "new_password": "Brand-new-pass-7"}])
    assert env.can_bind(account_dn("lisi"), "Brand-new-pass-7")
    assert not env.can_bind(account_dn("lisi"), "Lisi-Init-2026!")
    assert env.entry(account_dn("lisi"), "pwdReset").first("pwdReset") == "TRUE"
    rid = env.submit([{"op": "reset_password", "username": "lisi"}])
    env.cli("sync")
    generated = env.secret(rid)["lisi"]
    assert len(generated) >= 16 and env.can_bind(account_dn("lisi"), generated)


def test_delete_user_archives_entry_and_roles_first_and_the_ldif_restores_it(partner):
    env = partner
    env.request([SERVICE])
    env.request([{"op": "delete_user", "username": "lisi"}], request_id="P001-del")
    assert env.entry(account_dn("lisi")) is None
    assert account_dn("lisi") not in group_members(env, "service-specialist")
    archived = list((env.archive / "deleted").glob("P001-del-*.ldif"))
    assert len(archived) == 1
    ldif = archived[0].read_text()
    assert f"dn: cn=service-specialist,ou=roles,{BASE_DN}" in ldif and "userpassword" not in ldif.lower()
    env.ldap_tool("ldapmodify", "-a", "-f", str(archived[0]))
    assert roles_of(env, "lisi") == {"service-specialist", "hotline-specialist"}


def test_suspend_disables_every_account_and_resume_enables_only_those(partner):
    env = partner
    env.request([SERVICE, SALES_MANAGER, {"op": "disable_user", "username": "wangwu", "reason": "offboarded"}])
    result = env.request([{"op": "suspend_partner"}], requested_by="hqadmin")
    assert "2 account(s) disabled" in result["operations"][0]["message"]
    assert "mopPartnerStatus: suspended" in env.ldapsearch("(ou=P001)", "mopPartnerStatus")
    for user in ("zhangsan", "lisi"):
        entry = env.entry(account_dn(user), "mopDisabledReason", "pwdAccountLockedTime")
        assert entry.first("mopDisabledReason") == "partner-suspended" and entry.first("pwdAccountLockedTime")
    assert env.entry(account_dn("wangwu"), "mopDisabledReason").first("mopDisabledReason") == "offboarded"
    env.request([{"op": "resume_partner"}], requested_by="hqadmin")
    assert env.entry(account_dn("lisi"), "mopAccountStatus").first("mopAccountStatus") == "active"
    assert env.entry(account_dn("zhangsan"), "mopAccountStatus").first("mopAccountStatus") == "active"
    assert env.entry(account_dn("wangwu"), "mopAccountStatus").first("mopAccountStatus") == "disabled"
    assert systems_of(env, "lisi") == {"mop-service", "community"} and systems_of(env, "wangwu") == set()


def test_examples_apply_in_order(partner, project_root):
    env = partner
    # the fixture already made P001 with zhangsan: run the examples on a partner of their own
    for path in sorted((project_root / "examples").glob("*.yaml")):
        text = path.read_text(encoding="utf-8").replace("P001", "P009").replace("zhangsan", "boss9")
        (env.inbox / path.name).write_text(text, encoding="utf-8")
    env.cli("sync")
    statuses = {p.name: env.result(p.stem.replace(".result", ""))["status"] for p in env.outbox.glob("*-00?.result.yaml")}
    assert statuses and set(statuses.values()) == {"applied"}, statuses


def test_a_suspension_in_the_same_run_sees_the_accounts_created_just_before(partner):
    env = partner
    env.submit([SERVICE], request_id="P001-a-create", name="1-create")
    env.submit([{"op": "suspend_partner"}], requested_by="hqadmin", request_id="P001-b-suspend", name="2-suspend")
    env.cli("sync")
    assert env.result("P001-a-create")["status"] == "applied"
    assert env.result("P001-b-suspend")["status"] == "applied"
    assert env.entry(account_dn("lisi"), "mopDisabledReason").first("mopDisabledReason") == "partner-suspended"


def test_delete_archives_every_attribute_even_those_mopldap_does_not_use(partner):
    env = partner
    env.request([SERVICE])
    env.ldapmodify(f"dn: {account_dn('lisi')}\nchangetype: modify\nadd: telephoneNumber\ntelephoneNumber: +86 571 1234\n"
                   "-\nadd: description\ndescription: 负责华东区\n-\nadd: jpegPhoto\njpegPhoto:: /9j/4AAQSkZJRg==\n")
    env.request([{"op": "delete_user", "username": "lisi"}], request_id="P001-del2")
    ldif = next((env.archive / "deleted").glob("P001-del2-*.ldif")).read_text()
    assert "telephoneNumber: +86 571 1234" in ldif and "jpegPhoto:: /9j/4AAQSkZJRg==" in ldif
    env.ldap_tool("ldapmodify", "-a", "-f", str(next((env.archive / "deleted").glob("P001-del2-*.ldif"))))
    restored = env.entry(account_dn("lisi"), "description", "telephoneNumber")
    assert restored.first("description") == "负责华东区"


def test_when_the_archive_cannot_be_written_nothing_is_deleted_and_the_next_run_finishes(partner):
    env = partner
    env.request([SERVICE])
    env.archive.mkdir(parents=True, exist_ok=True)
    (env.archive / "deleted").write_text("in the way")  # the archive folder cannot be created
    rid = env.submit([{"op": "delete_user", "username": "lisi"}])
    result = env.cli("sync", expect=4)
    assert last_line(result).startswith(f"mopldap: {env.archive / 'deleted'}")
    assert "Traceback" not in result.err
    assert env.entry(account_dn("lisi")) is not None
    assert roles_of(env, "lisi") == {"service-specialist", "hotline-specialist"}  # memberships untouched
    assert not (env.outbox / f"{rid}.result.yaml").exists()  # not done: it waits for the next run
    (env.archive / "deleted").unlink()
    env.cli("sync")
    assert env.result(rid)["status"] == "applied"
    assert env.entry(account_dn("lisi")) is None and list((env.archive / "deleted").glob(f"{rid}-*.ldif"))


def test_a_deleted_disabled_account_restored_from_the_archive_comes_back_disabled(partner):
    env = partner
    env.request([SERVICE])
    env.request([{"op": "disable_user", "username": "lisi", "reason": "offboarded"}])
    env.request([{"op": "delete_user", "username": "lisi"}], request_id="P001-del3")
    path = next((env.archive / "deleted").glob("P001-del3-*.ldif"))
    ldif = path.read_text()
    assert "pwdAccountLockedTime: 000001010000Z" in ldif and "\n# createTimestamp: " in ldif
    env.ldap_tool("ldapmodify", "-a", "-f", str(path))
    restored = env.entry(account_dn("lisi"), "pwdAccountLockedTime", "mopAccountStatus", "pwdReset")
    assert restored.first("pwdAccountLockedTime") == "000001010000Z"
    assert restored.first("mopAccountStatus") == "disabled" and restored.first("pwdReset") == "TRUE"
    env.cli("sync")
    assert env.entry(account_dn("lisi"), "mopAccountStatus").first("mopAccountStatus") == "disabled"
    assert systems_of(env, "lisi") == set() and roles_of(env, "lisi") == {"service-specialist", "hotline-specialist"}


def test_a_password_reset_leaves_a_disabled_account_disabled(partner):
    """slapd's ppolicy lifts the lock whenever a password is set: mopldap puts it back."""
    env = partner
    env.request([SERVICE])
    env.request([{"op": "disable_user", "username": "lisi", "reason": "offboarded"}])
    env.request([{"op": "reset_password", "username": "lisi", "new_password": "After-reset-77"}])
    entry = env.entry(account_dn("lisi"), "pwdAccountLockedTime", "mopAccountStatus")
    assert entry.first("pwdAccountLockedTime") == "000001010000Z" and entry.first("mopAccountStatus") == "disabled"
    assert not env.can_bind(account_dn("lisi"), "After-reset-77")
    env.cli("sync", "--full")
    assert env.entry(account_dn("lisi"), "mopAccountStatus").first("mopAccountStatus") == "disabled"
    assert systems_of(env, "lisi") == set()
