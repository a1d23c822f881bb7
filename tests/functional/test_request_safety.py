"""Authorization, validation before writing, bad files, idempotency, crash safety, secrets, dry run."""

from __future__ import annotations

import os
import subprocess

import pytest
import yaml

from conftest import BASE_DN, LISI, account_dn, ldap_operations, make_env, start_mopldap, with_second_partner



@pytest.fixture
def two_partners(partner):
    """P001 (admin zhangsan, staff lisi) and P002 (admin qianba)."""
    env = partner
    env.request([LISI])
    with_second_partner(env)
    return env


def rejected(env, operations, **kwargs) -> dict:
    """Submit, sync, and check the request was rejected whole and nothing was written."""
    before = env.snapshot()
    result = env.request(operations, expect_status="rejected", **kwargs)
    assert env.snapshot() == before
    assert all(op["result"] == "rejected" for op in result["operations"])
    return result


def test_partner_admin_cannot_touch_another_partners_accounts(two_partners):
    result = rejected(two_partners, [{"op": "disable_user", "username": "lisi"}], requested_by="qianba", partner="P002")
    assert result["problems"] == ["operations[0] (disable_user): username: 'lisi' is not an account of partner P002"]
    result = rejected(two_partners, [{"op": "disable_user", "username": "lisi"}], requested_by="qianba", partner="P001")
    assert "'qianba' may not act on partner P001" in result["problems"][0]


def test_partner_admin_cannot_grant_hq_admin_nor_run_hq_operations(two_partners):
    env = two_partners
    result = rejected(env, [{"op": "add_roles", "username": "lisi", "roles": ["hq-admin"]}])
    assert "roles[0]: role 'hq-admin' is an HQ role" in result["problems"][0]
    result = rejected(env, [{"op": "suspend_partner"}])
    assert "only HQ (hq-admin) may suspend partner" in result["problems"][0]
    result = rejected(env, [{"op": "create_partner", "name": "X", "admin": {"username": "xx", "name": "X",
                                                                            "user_type": "sales"}}], partner="P003")
    assert "may not act on partner P003" in result["problems"][0]


def test_disabled_administrator_can_do_nothing(two_partners):
    env = two_partners
    env.request([{"op": "disable_user", "username": "qianba"}], requested_by="hqadmin", partner="P002")
    result = rejected(env, [{"op": "create_user", "username": "newbie", "name": "N", "user_type": "service",
                             "roles": ["service-specialist"]}], requested_by="qianba", partner="P002")
    assert result["problems"] == ["requested_by: 'qianba' is disabled and may not file requests"]


def test_unknown_requester_and_self_protection(two_partners):
    env = two_partners
    assert "no account 'ghost'" in rejected(env, [{"op": "enable_user", "username": "lisi"}],
                                            requested_by="ghost")["problems"][0]
    result = rejected(env, [{"op": "disable_user", "username": "zhangsan"}])
    assert "cannot disable your own account" in result["problems"][0]
    result = rejected(env, [{"op": "set_roles", "username": "zhangsan", "roles": ["sales-manager"]}])
    assert "cannot take your own administrator role" in result["problems"][0]


def test_every_problem_is_reported_with_index_and_field_and_nothing_is_written(two_partners):
    env = two_partners
    result = rejected(env, [
        {"op": "create_user", "username": "wangwu", "name": "王五", "user_type": "sales", "roles": ["service-manager"]},
        {"op": "create_user", "username": "qianba", "name": "重名", "user_type": "service", "roles": ["service-specialist"]},
        {"op": "update_user", "username": "nobody1", "title": "x"},
        {"op": "create_user", "username": "short", "name": "S", "user_type": "service", "roles": ["service-specialist"],
         "initial_password": "abc"},
        {"op": "add_roles", "username": "lisi", "roles": ["no-such-role"]},
    ])
    assert result["problems"] == [
        "operations[1] (create_user): username: username 'qianba' is already taken (usernames are unique in the directory)",
        "operations[2] (update_user): username: no account 'nobody1' in partner P001",
        "operations[3] (create_user): initial_password: the password is shorter than the server's minimum of 8 characters",
        "operations[4] (add_roles): roles[0]: unknown role 'no-such-role'",
        "operations[0] (create_user): roles: role 'service-manager' is not allowed for user type 'sales' of 'wangwu' "
        "(allowed: partner-admin, sales-manager, sales-specialist)",
    ]
    assert result["operations"][2]["message"] == "username: no account 'nobody1' in partner P001"
    assert env.entry(account_dn("wangwu")) is None


def test_shape_errors_name_the_line_and_field(partner):
    env = partner
    (env.inbox / "bad-shape.yaml").write_text(
        "request_id: P001-bad\nrequested_by: zhangsan\npartner: P001\noperations:\n"
        "  - op: create_user\n    username: Li Si\n    name: 李四\n    user_type: service\n    roles: []\n"
        "  - op: disable_user\n    username: lisi\n    reason: fired\n  - op: fly\n", encoding="utf-8")
    env.cli("sync")
    result = env.result("P001-bad")
    assert result["status"] == "rejected"
    assert result["problems"] == [
        "bad-shape.yaml: line 6: operations[0].username: not a valid username: lowercase letter first, "
        "then 1-31 of a-z 0-9 . _ -",
        "bad-shape.yaml: line 9: operations[0].roles: List should have at least 1 item after validation, not 0",
        "bad-shape.yaml: line 12: operations[1].reason: must be 'offboarded' or 'admin'",
        "bad-shape.yaml: line 13: operations[2].op: unknown operation; one of: create_user, update_user, set_roles, "
        "add_roles, remove_roles, disable_user, enable_user, reset_password, delete_user, create_partner, "
        "suspend_partner, resume_partner",
    ]


def test_bad_files_get_a_result_are_moved_aside_and_do_not_stop_the_run(partner, tmp_path):
    env = partner
    inbox = env.inbox
    (inbox / "a-not-yaml.yaml").write_text("request_id: [unclosed\n  initial_password: Secret-in-bad-file\n")
    (inbox / "b-dup-keys.yaml").write_text("request_id: X1\nrequest_id: X2\nrequested_by: zhangsan\n")
    (inbox / "c-huge.yaml").write_text("request_id: H\n# " + "x" * (1024 * 1024) + "\n")
    target = tmp_path / "elsewhere.yaml"
    target.write_text("request_id: LINKED\n")
    (inbox / "d-link.yaml").symlink_to(target)
    os.mkfifo(inbox / "e-fifo.yaml")
    (inbox / "f-folder.yaml").mkdir()
    (inbox / "g-missing.yaml").write_text("request_id: P001-missing\npartner: P001\noperations: []\n")
    (inbox / "h-inject.yaml").write_text(yaml.safe_dump({
        "request_id": "P001-inject", "requested_by": "zhangsan", "partner": "P001",
        "operations": [{"op": "disable_user", "username": "*)(uid=*"},
                       {"op": "disable_user", "username": "lisi,ou=P002"}]}))
    (inbox / "i-binary.yaml").write_bytes(b"\xff\xfe\x00garbage")
    env.submit([LISI], request_id="P001-good", name="z-good")
    result = env.cli("sync")
    assert "1 applied, 9 rejected" in result.out
    assert env.result("P001-good")["status"] == "applied"
    expectations = {
        "a-not-yaml.yaml": "invalid YAML",
        "b-dup-keys.yaml": "duplicate key 'request_id'",
        "c-huge.yaml": "may not exceed 1 MiB",
        "d-link.yaml": "is a symbolic link",
        "e-fifo.yaml": "not a regular file",
        "f-folder.yaml": "is a directory",
        "P001-missing": "missing required key 'requested_by'",
        "P001-inject": "operations[0].username: not a valid username",
        "i-binary.yaml": "is not UTF-8 text",
    }
    for name, why in expectations.items():
        found = env.result(name)
        assert found["status"] == "rejected", name
        assert any(why in p for p in found["problems"]), (name, found["problems"])
    assert [p.name for p in inbox.iterdir() if not p.name.startswith(".")] == []  # every file moved aside
    assert target.read_text() == "request_id: LINKED\n"  # the symlink's target was not touched
    # what parsed is archived, redacted; what did not (or is no file) is set aside where only mopldap reads
    assert sorted(p.name.split("-", 1)[1] for p in (env.archive / "rejected").iterdir()) == \
        ["P001-inject.yaml", "P001-missing.yaml"]
    quarantine = env.work / "quarantine"
    assert len(list(quarantine.iterdir())) == 7 and oct(quarantine.stat().st_mode & 0o777) == "0o700"
    kept = {p.name.split("-", 2)[2]: p for p in quarantine.iterdir()}
    assert kept["d-link.yaml"].is_symlink() and kept["e-fifo.yaml"].is_fifo() and kept["f-folder.yaml"].is_dir()
    assert env.result("a-not-yaml.yaml")["kept_in"] == str(quarantine)
    env.assert_nowhere("Secret-in-bad-file")


def test_idempotent_operations_report_unchanged_and_write_nothing(partner):
    env = partner
    env.request([LISI])
    writes = len(env.audit())
    before = env.snapshot()
    result = env.request([LISI, {"op": "enable_user", "username": "lisi"},
                          {"op": "add_roles", "username": "lisi", "roles": ["service-specialist"]},
                          {"op": "remove_roles", "username": "lisi", "roles": ["hotline-specialist"]}])
    assert [op["result"] for op in result["operations"]] == ["unchanged"] * 4
    assert len(env.audit()) == writes and env.snapshot() == before
    assert env.can_bind(account_dn("lisi"), "Lisi-Init-2026!")  # the password was not reset


def test_create_user_with_other_values_is_a_duplicate(partner):
    env = partner
    env.request([LISI])
    result = env.request([dict(LISI, name="另一个李四")], expect_status="rejected")
    assert "'lisi' already exists in P001 with other values (cn, displayName, sn): use update_user" in result["problems"][0]


def test_a_request_id_seen_before_is_a_duplicate_and_not_applied_again(partner):
    env = partner
    env.request([LISI], request_id="P001-once")
    env.request([{"op": "disable_user", "username": "lisi"}], request_id="P001-twice")
    before = env.snapshot()
    env.submit([{"op": "enable_user", "username": "lisi"}], request_id="P001-twice", name="again")
    out = env.cli("sync").out
    assert "1 duplicate" in out
    assert env.snapshot() == before
    assert env.result("P001-twice")["status"] == "applied"  # the first result stays
    duplicate = next(env.outbox.glob("P001-twice.duplicate-*.result.yaml"))
    assert yaml.safe_load(duplicate.read_text())["status"] == "duplicate"
    assert list((env.archive / "duplicates").iterdir())


def test_a_request_left_by_a_dead_run_is_finished_by_the_next(partner):
    env = partner
    # a run claimed the file, added the entry, and died before the group modifies
    env.ldap_tool("ldapadd", input=(
        f"dn: {account_dn('lisi')}\nobjectClass: inetOrgPerson\nobjectClass: mopAccount\nuid: lisi\ncn: 李四\n"
        "sn: 李四\ndisplayName: 李四\nmopUserType: service\nmopAccountStatus: active\nuserPassword: Lisi-Init-2026!\n"))
    processing = env.leave_claimed("P001-crash", [LISI], [("applied", "created")])
    env.cli("sync")
    result = env.result("P001-crash")
    assert result["status"] == "applied" and result["resumed_from"] == "first-run", result
    assert result["operations"][0]["message"].startswith("finished")
    entry = env.entry(account_dn("lisi"), "memberOf")
    assert f"cn=service-specialist,ou=roles,{BASE_DN}" in entry.get("memberOf")
    assert f"cn=mop-service,ou=systems,{BASE_DN}" in entry.get("memberOf")
    assert not list(processing.iterdir())


def test_two_processes_never_apply_the_same_file_twice(partner):
    env = partner
    for i in range(12):
        env.submit([{"op": "create_user", "username": f"user{i}", "name": f"U{i}", "user_type": "service",
                     "roles": ["service-specialist"], "initial_password": f"User-pass-{i}"}])
    procs = [start_mopldap("sync", "--config", str(env.config_path)) for _ in range(3)]
    for proc in procs:
        proc.communicate(timeout=120)
        assert proc.returncode == 0
    # whatever run got each file, each file was applied once, and any run left waiting files to the next
    env.cli("sync")
    adds = [e for e in env.audit() if e["action"] == "add" and e["dn"].startswith("uid=user")]
    assert sorted(e["dn"] for e in adds) == sorted(account_dn(f"user{i}") for i in range(12))
    assert len(list(env.outbox.glob("P001-T*.result.yaml"))) == 12


def test_unreachable_directory_leaves_every_request_in_the_inbox(partner):
    env = partner
    rid = env.submit([LISI])
    env.write_config(ldap={"url": "ldap://127.0.0.1:9", "timeout": 2})
    result = env.cli("sync", expect=2)
    assert "cannot reach" in result.err
    assert (env.inbox / f"{rid}.yaml").exists() and not (env.outbox / f"{rid}.result.yaml").exists()


def test_passwords_appear_in_no_log_result_archive_or_audit(partner):
    env = partner
    given = ["Lisi-Init-2026!", "Reset-pass-2026!", "Zhangsan-Init-1"]
    env.request([LISI])
    env.request([{"op": "reset_password", "username": "lisi", "new_password": "Reset-pass-2026!"}])
    rid = env.submit([{"op": "create_user", "username": "gen1", "name": "G", "user_type": "service",
                       "roles": ["service-specialist"]}, {"op": "reset_password", "username": "lisi"}])
    outputs = env.cli("sync")
    outputs2 = env.cli("--config", str(env.config_path), "sync")  # (a second run: more log lines)
    generated = list(env.secret(rid).values())
    assert len(generated) == 2
    texts = [outputs.out, outputs.err, outputs2.out, outputs2.err, env.audit_file.read_text()]
    for folder in (env.outbox, env.archive):
        texts += [p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file() and p.suffix != ".secret"]
    for password in given + generated:
        for text in texts:
            assert password not in text
    assert "<redacted>" in (env.archive / "requests" / "P001-T0002.yaml").read_text()


def test_dry_run_prints_the_plan_and_writes_nothing(partner):
    env = partner
    rid = env.submit([LISI, {"op": "disable_user", "username": "zhangsan2"}], name="plan")
    rid2 = env.submit([{"op": "update_user", "username": "zhangsan", "title": "董事长"}], name="plan2")
    before, audit = env.snapshot(), env.audit_file.read_text()
    result = env.cli("sync", "--dry-run")
    assert f"would add {account_dn('lisi')}" not in result.out  # the first request is invalid: rejected whole
    assert "plan.yaml: would be rejected" in result.out
    assert f"would modify {account_dn('zhangsan')}: title 总经理 → 董事长" in result.out
    assert env.snapshot() == before and env.audit_file.read_text() == audit
    assert sorted(p.name for p in env.inbox.glob("*.yaml")) == ["plan.yaml", "plan2.yaml"]
    assert not (env.outbox / f"{rid}.result.yaml").exists() and not (env.outbox / f"{rid2}.result.yaml").exists()
    assert not (env.archive / "rejected").exists()
    apply = env.cli("apply", str(env.inbox / "plan2.yaml"), "--dry-run")
    assert "would modify" in apply.out and (env.inbox / "plan2.yaml").exists()


def test_every_write_is_one_audit_event_with_its_context(partner):
    env = partner
    env.request([LISI], request_id="P001-audited")
    events = [e for e in env.audit() if e["request_id"] == "P001-audited"]
    assert events and all(e["result"] == "applied" and e["requester"] == "zhangsan" and e["run_id"] for e in events)
    add = next(e for e in events if e["action"] == "add")
    assert add["dn"] == account_dn("lisi") and add["operation"] == "create_user"
    assert add["attributes"]["userPassword"] == {"new": ["(hidden)"]}
    assert len({e["run_id"] for e in events}) == 1


def test_apply_processes_one_file_now(partner, tmp_path):
    env = partner
    path = tmp_path / "one.yaml"
    path.write_text(yaml.safe_dump({"request_id": "P001-direct", "requested_by": "zhangsan", "partner": "P001",
                                    "operations": [LISI]}, allow_unicode=True))
    result = env.cli("apply", str(path))
    assert "one.yaml: applied" in result.out
    assert path.exists()  # a file from outside the inbox is copied, not taken away from its owner
    assert env.result("P001-direct")["status"] == "applied"
    assert env.can_bind(account_dn("lisi"), "Lisi-Init-2026!")
    in_inbox = env.inbox / "two.yaml"
    in_inbox.write_text(yaml.safe_dump({"request_id": "P001-direct2", "requested_by": "zhangsan", "partner": "P001",
                                        "operations": [{"op": "enable_user", "username": "lisi"}]}))
    env.cli("apply", str(in_inbox))
    assert not in_inbox.exists() and env.result("P001-direct2")["status"] == "applied"  # from the inbox: moved


def test_validate_checks_request_files_offline(partner, project_root):
    env = partner
    good = [str(p) for p in sorted((project_root / "examples").glob("*.yaml"))]
    assert env.cli("validate", *good).out.count("ok:") == 2 + len(good)
    bad = env.root / "bad.yaml"
    bad.write_text(yaml.safe_dump({"request_id": "P001-X", "requested_by": "zhangsan", "partner": "P001", "operations": [
        {"op": "create_user", "username": "a1", "name": "A", "user_type": "sales", "roles": ["service-manager"]}]}))
    result = env.cli("validate", str(bad), expect=1)
    assert "roles[0]: role 'service-manager' is not allowed for user type 'sales'" in result.err


def test_a_write_the_server_refuses_fails_its_request_only(own_server, tmp_path):
    """Requests are written in batches; a refusal fails the request it belongs to, not its batch mates."""
    unique = ("dn: olcOverlay=unique,olcDatabase={1}mdb,cn=config\nobjectClass: olcOverlayConfig\n"
              "objectClass: olcUniqueConfig\nolcOverlay: unique\nolcUniqueURI: ldap:///?mail?sub\n")
    subprocess.run(["ldapadd", "-Q", "-Y", "EXTERNAL", "-H", own_server.ldapi_uri], input=
                   "dn: cn=module,cn=config\nobjectClass: olcModuleList\ncn: module\nolcModuleLoad: unique\n\n" + unique,
                   text=True, check=True, capture_output=True)  # the customer's own rule: mail is unique
    env = make_env(own_server, tmp_path)
    env.cli("init", "--hq-admin", "hqadmin", "--name", "HQ")
    env.request([{"op": "create_partner", "name": "P1", "admin": {"username": "zhangsan", "name": "张三",
                  "user_type": "sales", "email": "boss@p001.example.com", "initial_password": "Zhangsan-Init-1"}}],
                requested_by="hqadmin", request_id="P001-HQ-1")
    taken = env.submit([{**LISI, "email": "boss@p001.example.com"}], request_id="P001-taken")  # zhangsan's mail
    fine = env.submit([{**LISI, "username": "wangwu"}], request_id="P001-fine", requested_by="hqadmin")
    env.cli("sync")
    failed = env.result(taken)
    assert failed["status"] == "failed" and failed["operations"][0]["result"] == "failed"
    assert "Constraint violation" in failed["problems"][0] or "constraintViolation" in failed["problems"][0]
    assert env.result(fine)["status"] == "applied"
    assert env.entry(account_dn("lisi")) is None and env.entry(account_dn("wangwu")) is not None
    assert (env.archive / "failed").exists()


def test_a_group_write_the_server_refuses_is_halved_until_the_refused_request_is_alone(own_server, tmp_path):
    """16 requests' role memberships in one modify; the server refuses one value: the halves are
    retried (a group write costs slapd the group's size: not one write per request)."""
    refuse = (f"dn: olcDatabase={{1}}mdb,cn=config\nchangetype: modify\nadd: olcAccess\nolcAccess: {{0}}to "
              f'dn.subtree="ou=roles,{BASE_DN}" attrs=member val.regex="^uid=blocked,.*" by * read\n')
    env = make_env(own_server, tmp_path)  # loads the access rules of `mopldap acl`
    subprocess.run(["ldapmodify", "-Q", "-Y", "EXTERNAL", "-H", own_server.ldapi_uri], input=refuse, text=True,
                   check=True, capture_output=True)  # then a rule of the customer's: no one adds that member
    env.cli("init", "--hq-admin", "hqadmin", "--name", "HQ")
    env.request([{"op": "create_partner", "name": "P1", "admin": {"username": "zhangsan", "name": "张三",
                  "user_type": "sales", "initial_password": "Zhangsan-Init-1"}}],
                requested_by="hqadmin", request_id="P001-HQ-1")
    names = [f"staff{n:02d}" for n in range(15)] + ["blocked"]
    ids = {name: env.submit([{"op": "create_user", "username": name, "name": name, "user_type": "service",
                              "roles": ["service-specialist"], "initial_password": f"Pass-{name}-1"}], name=name)
           for name in names}
    result = env.cli("sync", "--only", "inbox")
    assert [name for name in names if env.result(ids[name])["status"] != "applied"] == ["blocked"]
    assert "Insufficient access" in env.result(ids["blocked"])["problems"][0] or \
        "insufficientAccessRights" in env.result(ids["blocked"])["problems"][0]
    done = ldap_operations(result)
    # the two system groups once; the role group: 16 parts, then 8 + 8, 4 + 4, 2 + 2, 1 + 1
    assert done["modify"] == 2 + 9


def test_delete_of_an_entry_with_children_is_rejected_before_any_write(partner):
    env = partner
    env.request([LISI])
    env.ldap_tool("ldapadd", input=f"dn: cn=laptop,{account_dn('lisi')}\nobjectClass: device\ncn: laptop\n")
    result = rejected(env, [{"op": "delete_user", "username": "lisi"}])
    assert "has entries below it" in result["problems"][0]
