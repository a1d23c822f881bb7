"""The console's pieces that need no server: sessions and their idle expiry, the language choice,
forms turned into operations and their problems placed next to fields, where `serve` may listen."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from mopldap.model.checks import validator
from mopldap.model.config import Config
from mopldap.model.errors import ConfigError
from mopldap.web.forms import field_problems, operation_from_form, problems_by_field
from mopldap.web.i18n import pick_language
from mopldap.web.people import Person
from mopldap.web.server import listen_address
from mopldap.web.sessions import SessionStore

ZHANGSAN = Person(username="zhangsan", dn="uid=zhangsan,ou=P001,ou=partners,dc=example,dc=com", name="张三",
                  partner="P001", is_hq_admin=False, is_partner_admin=True, must_change_password=False)


class Connection:
    """Stands in for the person's bound Directory: the store only ever closes it."""

    def __init__(self) -> None:
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


# -- sessions ----------------------------------------------------------------------------------


def test_a_session_ends_after_its_idle_time_and_its_connection_is_closed():
    store = SessionStore(idle_seconds=0.05)
    own = Connection()
    session = store.create(ZHANGSAN, own)
    assert store.get(session.sid) is session and own.closed == 0
    time.sleep(0.06)
    assert store.get(session.sid) is None
    assert own.closed == 1
    assert store.get(session.sid) is None and own.closed == 1  # closed once


def test_each_use_restarts_the_idle_clock():
    store = SessionStore(idle_seconds=10)
    own = Connection()
    session = store.create(ZHANGSAN, own)
    session.last_seen -= 9  # used 9 s ago: still alive, and this use restarts the clock
    assert store.get(session.sid) is session
    assert time.monotonic() - session.last_seen < 1
    session.last_seen -= 11  # unused for longer than the idle time
    assert store.get(session.sid) is None and own.closed == 1


def test_an_expired_session_is_closed_even_if_nobody_asks_for_it():
    store = SessionStore(idle_seconds=10)
    old, new = Connection(), Connection()
    stale = store.create(ZHANGSAN, old)
    stale.last_seen -= 11
    fresh = store.create(ZHANGSAN, new)  # any use of the store expires the others
    assert old.closed == 1 and new.closed == 0
    assert store.get(stale.sid) is None and store.get(fresh.sid) is fresh


def test_sessions_have_their_own_ids_and_tokens_and_end_at_sign_out():
    store = SessionStore(idle_seconds=60)
    a, b = Connection(), Connection()
    one, two = store.create(ZHANGSAN, a), store.create(ZHANGSAN, b)
    assert one.sid != two.sid and one.csrf != two.csrf
    assert len(one.sid) >= 32 and len(one.csrf) >= 32
    store.end(one.sid)
    assert store.get(one.sid) is None and a.closed == 1
    assert store.get(two.sid) is two and b.closed == 0
    store.end(one.sid)  # twice: nothing more
    assert a.closed == 1
    for sid in (None, 42, "", "no-such-session", ["x"]):
        assert store.get(sid) is None
        store.end(sid)


def test_ending_a_persons_sessions_ends_every_one_of_them_and_no_one_elses():
    store = SessionStore(idle_seconds=60)
    first, second, other = Connection(), Connection(), Connection()
    one, two = store.create(ZHANGSAN, first), store.create(ZHANGSAN, second)
    someone = store.create(replace(ZHANGSAN, username="lisi", dn="uid=lisi,ou=P001,ou=partners,dc=example,dc=com"),
                           other)
    store.end_person("zhangsan")
    assert store.get(one.sid) is None and store.get(two.sid) is None
    assert first.closed == 1 and second.closed == 1
    assert store.get(someone.sid) is someone and other.closed == 0
    again = store.create(ZHANGSAN, Connection())
    assert again.sid not in (one.sid, two.sid) and again.csrf not in (one.csrf, two.csrf)


# -- the language ------------------------------------------------------------------------------


@pytest.mark.parametrize("chosen, accept, default, expected", [
    ("en", "zh-CN,zh;q=0.9", "zh", "en"),  # the switch's cookie wins
    ("zh", "en-US,en;q=0.9", "en", "zh"),
    ("fr", "en", "zh", "en"),  # a cookie of no language of ours is ignored
    ("", None, "en", "en"),
    (None, "zh-CN,zh;q=0.9,en;q=0.8", "en", "zh"),
    (None, "en-GB;q=0.5, zh;q=0.9", "en", "zh"),  # by quality, not by position
    (None, "zh;q=0.4, en;q=0.6", "zh", "en"),
    (None, "fr-FR, de;q=0.9, en;q=0.3", "zh", "en"),  # the first of ours, by quality
    (None, "en, zh", "zh", "en"),  # equal quality: the first
    (None, "fr, de", "zh", "zh"),  # none of ours: the configured default
    (None, "fr, de", "en", "en"),
    (None, None, "zh", "zh"),
    (None, "", "en", "en"),
    (None, "zh;q=0, en;q=0", "en", "en"),  # q=0: not acceptable
    (None, "zh;q=0, fr", "en", "en"),
    (None, "en;q=abc, zh;q=0.1", "en", "zh"),  # a broken quality is skipped
    (None, "ZH-tw", "en", "zh"),
    (None, ",,;;,zh", "en", "zh"),
], ids=lambda v: repr(v))
def test_pick_language(chosen, accept, default, expected):
    assert pick_language(chosen, accept, default) == expected


def test_pick_language_reads_a_bounded_header():
    long = ", ".join(["fr"] * 10_000 + ["en"])
    assert pick_language(None, long, "zh") == "zh"  # only the first entries are looked at


# -- forms ---------------------------------------------------------------------------------------


def test_a_create_user_form_becomes_an_operation_without_its_empty_fields():
    form = {"username": " lisi ", "name": "李四", "title": "", "email": "  ", "mobile": "13800138000",
            "user_type": "service", "initial_password": " Spaces count 1 ", "csrf": "token", "extra": "x"}
    assert operation_from_form("create_user", form, ["service-specialist"]) == {
        "op": "create_user", "username": "lisi", "name": "李四", "mobile": "13800138000", "user_type": "service",
        "roles": ["service-specialist"], "initial_password": " Spaces count 1 "}
    generated = operation_from_form("create_user", form | {"initial_password": ""})
    assert "initial_password" not in generated and generated["roles"] == []


def test_an_update_user_form_removes_what_was_emptied_but_keeps_the_user_type():
    form = {"username": "lisi", "name": "李四", "title": "", "email": "lisi@p001.example.com", "user_type": ""}
    assert operation_from_form("update_user", form) == {
        "op": "update_user", "username": "lisi", "name": "李四", "title": None, "email": "lisi@p001.example.com",
        "mobile": None}


def test_the_other_account_forms():
    assert operation_from_form("disable_user", {"username": "lisi"}) == \
        {"op": "disable_user", "username": "lisi", "reason": "admin"}
    assert operation_from_form("disable_user", {"username": "lisi", "reason": "offboarded"})["reason"] == "offboarded"
    assert operation_from_form("reset_password", {"username": "lisi", "new_password": ""}) == \
        {"op": "reset_password", "username": "lisi"}
    assert operation_from_form("reset_password", {"username": "lisi", "new_password": "New-Pass-123"}) == \
        {"op": "reset_password", "username": "lisi", "new_password": "New-Pass-123"}
    assert operation_from_form("set_roles", {"username": "lisi", "roles": "ignored"}, ["a", "b"]) == \
        {"op": "set_roles", "username": "lisi", "roles": ["a", "b"]}
    assert operation_from_form("delete_user", {"username": "lisi", "confirm": "lisi"}) == \
        {"op": "delete_user", "username": "lisi"}
    assert operation_from_form("enable_user", {}) == {"op": "enable_user"}  # the pipeline refuses it
    assert operation_from_form("create_partner", {"partner_code": "P003", "partner_name": "某公司", "username": "zz",
                                                  "name": "Z", "user_type": "sales", "initial_password": "Zz-Pass-123"}) \
        == {"op": "create_partner", "name": "某公司",
            "admin": {"username": "zz", "name": "Z", "user_type": "sales", "initial_password": "Zz-Pass-123"}}


def one(operation: dict, partner: str = "P001") -> dict:
    return {"request_id": f"{partner}-console-1" if partner == "P001" else "P001-console-1",
            "requested_by": "zhangsan", "partner": partner, "operations": [operation]}


NEW = {"op": "create_user", "username": "lisi", "name": "李四", "user_type": "service", "roles": ["service-specialist"]}


def test_field_problems_are_placed_next_to_their_fields_without_the_values():
    assert field_problems(one(NEW)) == {}
    secret = "Secret-Pass-9"
    problems = field_problems(one(NEW | {"email": secret, "mobile": "12", "username": "Li Si"}))
    assert set(problems) == {"email", "mobile", "username"}
    assert "email" in problems["email"] and "mobile" in problems["mobile"]
    assert secret not in str(problems) and "Li Si" not in str(problems)
    assert set(field_problems(one(NEW | {"roles": []}))) == {"roles"}
    assert set(field_problems(one({k: v for k, v in NEW.items() if k != "name"}))) == {"name"}


def test_field_problems_of_a_new_partner():
    partner = {"op": "create_partner", "name": "", "admin": {"username": "zz", "name": "Z", "user_type": "sales",
                                                              "email": "not an email"}}
    problems = field_problems(one(partner, "not a code"))
    assert set(problems) == {"partner_code", "partner_name", "email"}
    assert "partner code" in problems["partner_code"]
    assert "not an email" not in str(problems) and "not a code" not in str(problems)


def test_the_pipelines_problems_are_placed_where_one_can_tell():
    placed, rest = problems_by_field([
        "operations[0] (create_user): email: not a valid email",
        "operations[0] (create_user): roles[0]: unknown role 'x'",
        "operations[0] (create_user): email: a second one about email",
        "operations[0].admin.mobile: not a valid mobile number",
        "request_id P001-x was applied before",
        "operations[1] (create_user): name: not for this form",
    ])
    assert placed == {"email": "not a valid email", "roles": "unknown role 'x'", "mobile": "not a valid mobile number"}
    assert rest == ["operations[0] (create_user): email: a second one about email",
                    "request_id P001-x was applied before",
                    "operations[1] (create_user): name: not for this form"]
    assert problems_by_field([]) == ({}, [])


# -- where `serve` may listen --------------------------------------------------------------------


def config(tmp_path: Path, **web) -> Config:
    return validator(Config).validate_python({"web": web, "source": tmp_path / "mopldap.yaml"}, context={"base": tmp_path})


@pytest.mark.parametrize("listen", ["0.0.0.0:8080", "10.1.2.3:8080", "[::]:8080", "example.com:443",
                                    "192.168.1.10:80"])
def test_a_non_loopback_address_without_tls_is_refused(tmp_path, listen):
    with pytest.raises(ConfigError, match="not a loopback address") as refused:
        listen_address(config(tmp_path), listen)
    assert "allow_insecure" in str(refused.value) and "\n" not in str(refused.value)
    with pytest.raises(ConfigError, match="not a loopback address"):
        listen_address(config(tmp_path, listen=listen), None)  # web.listen likewise


@pytest.mark.parametrize("listen", ["nonsense", "127.0.0.1", "127.0.0.1:", ":8080", "127.0.0.1:0",
                                    "127.0.0.1:65536", "127.0.0.1:http", "127.0.0.1:-1"])
def test_a_malformed_address_is_refused(tmp_path, listen):
    with pytest.raises(ConfigError, match="--listen"):
        listen_address(config(tmp_path), listen)


def test_where_serve_may_listen(tmp_path):
    assert listen_address(config(tmp_path), None) == ("127.0.0.1", 8080)
    assert listen_address(config(tmp_path, listen="127.0.0.1:9000"), None) == ("127.0.0.1", 9000)
    assert listen_address(config(tmp_path, listen="127.0.0.1:9000"), "127.0.0.2:9001") == ("127.0.0.2", 9001)
    assert listen_address(config(tmp_path), "localhost:8443") == ("localhost", 8443)
    assert listen_address(config(tmp_path), "[::1]:8080") == ("::1", 8080)
    assert listen_address(config(tmp_path, allow_insecure=True), "0.0.0.0:8080") == ("0.0.0.0", 8080)
    (tmp_path / "c.crt").write_text("cert")
    (tmp_path / "c.key").write_text("key")
    tls = config(tmp_path, cert_file="c.crt", key_file="c.key")
    assert tls.web.tls and tls.web.cert_file == tmp_path / "c.crt"
    assert listen_address(tls, "0.0.0.0:8443") == ("0.0.0.0", 8443)


def test_tls_files_that_are_missing_are_refused(tmp_path):
    (tmp_path / "c.crt").write_text("cert")
    missing_key = config(tmp_path, cert_file="c.crt", key_file="missing.key")
    with pytest.raises(ConfigError, match="missing.key: no such file"):
        listen_address(missing_key, "127.0.0.1:8443")
    with pytest.raises(ConfigError, match="no such file"):
        listen_address(config(tmp_path, cert_file="gone.crt", key_file="c.crt"), "0.0.0.0:8443")
