"""Cutting LDAP messages out of what the socket delivered (mopldap/ldap/receiving.py)."""

from __future__ import annotations

from mopldap.ldap.receiving import messages_in


def ber(payload: bytes) -> bytes:
    """A BER SEQUENCE around `payload`, with a short- or long-form length as its size needs."""
    size = len(payload)
    if size < 128:
        return b"\x30" + bytes([size]) + payload
    octets = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return b"\x30" + bytes([0x80 | len(octets)]) + octets + payload


MESSAGES = [ber(b"a"), ber(b"x" * 300), ber(b""), ber(b"y" * 70000), ber(b"z" * 5)]


def test_messages_delivered_in_any_pieces_come_out_whole_and_in_order():
    stream = b"".join(MESSAGES)
    for piece in (1, 2, 3, 7, 128, 4096, 65536, len(stream)):
        buffer, out = bytearray(), []
        for i in range(0, len(stream), piece):
            buffer += stream[i:i + piece]
            complete, used = messages_in(buffer)
            out += complete
            del buffer[:used]
        assert out == MESSAGES and not buffer, piece


def test_an_incomplete_message_waits_for_the_rest():
    whole = ber(b"q" * 1000)
    assert messages_in(bytearray(whole[:-1])) == ([], 0)
    assert messages_in(bytearray(whole[:1])) == ([], 0)


def _entry_message(dn: bytes, attributes: list[tuple[str, list[bytes]]]) -> dict:
    """A SearchResultEntry encoded by ldap3's pyasn1 model and decoded by its fast decoder."""
    from ldap3.utils.asn1 import decode_message_fast
    from test_values import entry_message

    return decode_message_fast(entry_message(attributes, dn=dn))


def test_a_search_entry_keeps_ldap3s_dn_and_raw_values_without_the_str_copies():
    """entry_from_message gives what ldap3 gives for dn and raw_attributes (binary values, names as
    the server wrote them, a DN in Chinese), and no str copy of the values."""
    from ldap3.operation.search import search_result_entry_response_to_dict_fast

    from mopldap.ldap.receiving import entry_from_message

    dn = "uid=张三,ou=P001,ou=partners,dc=example,dc=com".encode()
    attributes = [("memberOf", [b"cn=role-sales,ou=roles,dc=example,dc=com", b"cn=x,dc=y"]),
                  ("jpegPhoto", [b"\xff\xd8\xff\xe0\x00"]), ("cn", ["张三".encode()]), ("description", [])]
    decoded = _entry_message(dn, attributes)
    assert decoded["protocolOp"] == 4
    ours = entry_from_message(decoded["payload"])
    theirs = search_result_entry_response_to_dict_fast(decoded["payload"], None, None, False)
    assert ours["dn"] == theirs["dn"] == dn.decode() and ours["raw_dn"] == theirs["raw_dn"]
    assert {k: list(v or []) for k, v in ours["raw_attributes"].items()} == \
           {k: list(v or []) for k, v in theirs["raw_attributes"].items()}
    assert ours["raw_attributes"]["memberOf"][1] == b"cn=x,dc=y"
    assert list(ours["raw_attributes"]) == ["memberOf", "jpegPhoto", "cn", "description"]
    assert not ours["attributes"] and theirs["attributes"]["cn"] == ["张三"]


def test_a_message_declared_longer_than_mopldap_takes_is_refused_on_its_header():
    """A hostile server declares an answer of 4 GiB: refused as soon as its length is known,
    whatever it sends after."""
    import pytest

    from mopldap.ldap.receiving import MAX_MESSAGE, TooLarge

    with pytest.raises(TooLarge, match="4,294,967,301 bytes, more than mopldap takes from a server"):
        messages_in(bytearray(b"\x30\x84\xff\xff\xff\xff" + b"\x00" * 100))
    assert messages_in(bytearray(ber(b"k" * 1000))) == ([ber(b"k" * 1000)], 1004)
    assert MAX_MESSAGE >= 240 * 2**20  # a group of 4,000,000 members read whole
