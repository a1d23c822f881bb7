"""Adds encoded by mopldap (ldap/encoding.py) against a real slapd: written, refused with the
server's reason, and a lost connection as one line."""

from __future__ import annotations

import pytest
from conftest import BASE_DN, as_root, stop_slapd

from mopldap.model.errors import DirectoryError

PEOPLE = f"ou=people,{BASE_DN}"


def person(uid: str) -> dict[str, list[str]]:
    return {"objectClass": ["inetOrgPerson"], "uid": [uid], "cn": ["张三 " + uid], "sn": ["张"]}


def test_pipelined_adds_are_written_and_a_refused_one_says_why(own_server):
    with as_root(own_server) as directory:
        directory.add(BASE_DN, {"objectClass": ["dcObject", "organization"], "dc": ["example"], "o": ["Example"]})
        directory.add(PEOPLE, {"objectClass": ["organizationalUnit"], "ou": ["people"]})
        pipe = directory.pipeline()
        for i in range(40):
            pipe.add(f"uid=u{i},{PEOPLE}", person(f"u{i}"))
        pipe.add(f"uid=u7,{PEOPLE}", person("u7"))  # already there
        pipe.add(f"uid=bad,{PEOPLE}", {"objectClass": ["inetOrgPerson"], "uid": ["bad"]})  # no cn, no sn
        results = pipe.drain()
        assert [r.ok for r in results] == [True] * 40 + [False, False]
        assert "entryAlreadyExists" in results[40].message
        assert "objectClassViolation" in results[41].message
        found = directory.read(f"uid=u39,{PEOPLE}", ("cn",))
        assert found is not None and found.first("cn") == "张三 u39"
        assert directory.stats["add"] == 44


def test_an_add_on_a_lost_connection_is_one_line(own_server):
    with as_root(own_server) as directory:
        stop_slapd(own_server)
        with pytest.raises(DirectoryError) as failed:
            directory.add(f"uid=late,{BASE_DN}", person("late"))
        assert str(failed.value).startswith(f"{own_server.ldap_uri.rstrip('/')}: add uid=late,{BASE_DN} failed: ")
        assert "\n" not in str(failed.value)
        own_server._spawn()


def test_an_add_on_a_connection_already_closed_is_one_line(own_server):
    """The connection was closed under the directory (ldap3 closes one whose answer it could not
    read): the add is not sent on it, and says so in one line."""
    with as_root(own_server) as directory:
        directory.conn.strategy.close()
        with pytest.raises(DirectoryError) as failed:
            directory.add(f"uid=late,{BASE_DN}", person("late"))
        assert str(failed.value) == (f"{own_server.ldap_uri.rstrip('/')}: add uid=late,{BASE_DN} failed: "
                                     "unable to send message, socket is not open")
