"""An add request encoded by mopldap (mopldap/ldap/encoding.py) is byte for byte the one ldap3
would send: the same entry through ldap3's add_operation and its pyasn1 encoder."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from ldap3.operation.add import add_operation
from test_values import ldap_message

from mopldap.ldap.encoding import add_request

NAMES = st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,20}", fullmatch=True)
VALUES = st.one_of(st.text(max_size=300), st.binary(max_size=300))
ATTRIBUTES = st.dictionaries(NAMES, st.lists(VALUES, min_size=1, max_size=6), min_size=1, max_size=8)


def ldap3_add(message_id: int, dn: str, attributes: dict) -> bytes:
    return ldap_message(message_id, "addRequest", add_operation(dn, attributes, True))


def test_an_account_add_is_what_ldap3_sends():
    attributes = {"objectClass": ["top", "inetOrgPerson", "mopAccount"], "uid": ["zs01"], "cn": ["张三"],
                  "sn": ["张"], "mopUserType": ["sales"], "userPassword": [b"{SSHA512}" + bytes(range(256))],
                  "pwdReset": ["TRUE"]}
    dn = "uid=zs01,ou=P00001,ou=partners,dc=example,dc=com"
    assert add_request(1, dn, attributes) == ldap3_add(1, dn, attributes)


def test_lengths_in_the_long_form_and_message_ids_at_their_byte_boundaries():
    """Lengths of 127, 128, 255, 256 and 65,536 bytes, and message ids whose top bit is set."""
    for size in (127, 128, 255, 256, 65536):
        for message_id in (1, 127, 128, 255, 256, 32767, 32768, 2**31 - 1):
            attributes = {"objectClass": ["groupOfNames"], "member": ["x" * size]}
            assert add_request(message_id, "cn=g", attributes) == ldap3_add(message_id, "cn=g", attributes)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 2**31 - 1), st.text(max_size=200), ATTRIBUTES)
def test_any_add_is_what_ldap3_sends(message_id, dn, attributes):
    assert add_request(message_id, dn, attributes) == ldap3_add(message_id, dn, attributes)
