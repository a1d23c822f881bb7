"""A group write of many values is waited for longer than ldap.timeout: slapd answers it only once
the memberof overlay has written every new member's memberOf (PATIENCE a value). Here a proxy in
front of a real slapd holds back each modify's answer for 1.5 s, with ldap.timeout 1 s."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from conftest import BASE_DN, ROOT_PW, as_root

from mopldap.ldap.directory import PATIENCE, Directory
from mopldap.model.change import Modification
from mopldap.model.config import LdapConfig
from mopldap.model.errors import DirectoryError

GROUP = f"cn=big,{BASE_DN}"
MODIFY_RESPONSE = 0x67


def _is_modify_answer(data: bytes) -> bool:
    """Whether `data` starts with a short LDAP message answering a modify."""
    return len(data) > 5 and data[0] == 0x30 and data[1] < 0x80 and data[2] == 0x02 \
        and len(data) > 4 + data[3] and data[4 + data[3]] == MODIFY_RESPONSE


def slow_proxy(port: int, delay: float) -> int:
    """A TCP proxy to 127.0.0.1:`port` that holds back the answer to every modify for `delay` s."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)

    def pipe(source: socket.socket, sink: socket.socket, slow: bool) -> None:
        try:
            while data := source.recv(65536):
                if slow and _is_modify_answer(data):
                    time.sleep(delay)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def serve() -> None:
        while True:
            client, _ = listener.accept()
            upstream = socket.create_connection(("127.0.0.1", port))
            threading.Thread(target=pipe, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=pipe, args=(upstream, client, True), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()[1]


def test_a_write_of_many_values_is_waited_for_and_one_of_few_is_not(own_server):
    with as_root(own_server) as root:
        root.add(BASE_DN, {"objectClass": ["dcObject", "organization"], "dc": ["example"], "o": ["Example"]})
        root.add(GROUP, {"objectClass": ["groupOfNames"], "cn": ["big"], "member": [f"cn=nobody,{BASE_DN}"]})
    port = slow_proxy(int(own_server.ldap_uri.rstrip("/").rsplit(":", 1)[1]), delay=1.5)
    config = LdapConfig(url=f"ldap://127.0.0.1:{port}", base_dn=BASE_DN, timeout=1)
    many = tuple(f"uid=m{i},ou=people,{BASE_DN}" for i in range(int(1 / PATIENCE) + 100))  # 1.2 s more
    with Directory(config, bind_dn=f"cn=admin,{BASE_DN}", password=ROOT_PW) as directory:
        directory.modify(GROUP, [Modification("member", "add", many)])
        assert directory.conn.socket.gettimeout() == 1  # as it was, for what follows
        with pytest.raises(DirectoryError) as failed:
            directory.modify(GROUP, [Modification("member", "add", (f"uid=one,ou=people,{BASE_DN}",))])
        assert "modify cn=big" in str(failed.value) and "\n" not in str(failed.value)
    with as_root(own_server) as root:
        assert len(root.read(GROUP, ("member",)).get("member")) == len(many) + 2  # slapd did both
