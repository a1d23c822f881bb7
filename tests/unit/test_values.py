"""Reading one attribute's values off the socket as they arrive (mopldap/ldap/values.py).

The messages are encoded by ldap3's own pyasn1 model of RFC 4511, as a server would send them."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ldap3.protocol.rfc4511 import (LDAPDN, AttributeDescription, AttributeValue, LDAPMessage, LDAPString,
                                    MessageID, PartialAttribute, PartialAttributeList, ProtocolOp, ResultCode,
                                    SearchResultDone, SearchResultEntry, Vals)
from pyasn1.codec.ber import encoder

from mopldap.ldap import values
from mopldap.ldap.values import MalformedAnswer, Stream, entry_values, message_header, search_result

MEMBERS = [f"uid=u{i},ou=P{i % 7},ou=partners,dc=example,dc=com".encode() for i in range(25000)]


def ldap_message(message_id: int, op: str, body) -> bytes:
    """An LDAPMessage carrying `body` as `op`, encoded by ldap3's pyasn1 model."""
    message = LDAPMessage()
    message["messageID"] = MessageID(message_id)
    message["protocolOp"] = ProtocolOp().setComponentByName(op, body)
    return encoder.encode(message)


def entry_message(attributes: list[tuple[str, list[bytes]]], message_id: int = 7,
                  dn: bytes = b"cn=community,ou=systems,dc=example,dc=com") -> bytes:
    """A SearchResultEntry as a server sends it, encoded by ldap3's pyasn1 model."""
    entry = SearchResultEntry()
    entry["object"] = LDAPDN(dn)
    listed = PartialAttributeList()
    for i, (name, vals) in enumerate(attributes):
        attribute = PartialAttribute()
        attribute["type"] = AttributeDescription(name)
        encoded = Vals()
        for j, value in enumerate(vals):
            encoded.setComponentByPosition(j, AttributeValue(value))
        attribute["vals"] = encoded
        listed[i] = attribute
    entry["attributes"] = listed
    return ldap_message(message_id, "searchResEntry", entry)


def done_message(code: int = 0, text: str = "", message_id: int = 7) -> bytes:
    done = SearchResultDone()
    done["resultCode"] = ResultCode(code)
    done["matchedDN"] = LDAPDN("")
    done["diagnosticMessage"] = LDAPString(text)
    return ldap_message(message_id, "searchResDone", done)


def pieces(data: bytes, size: int):
    """A socket's recv that delivers `data` `size` bytes at a time, then b"" (closed)."""
    chunks = iter([data[i:i + size] for i in range(0, len(data), size)])
    return lambda _: next(chunks, b"")


def read(recv) -> tuple[list[list[bytes]], tuple[int | None, str]]:
    stream = Stream(recv)
    message_id, op, end = message_header(stream)
    assert (message_id, op) == (7, values.SEARCH_RESULT_ENTRY)
    chunks = list(entry_values(stream, end, "member"))
    _, op, end = message_header(stream)
    return chunks, search_result(stream, op, end)


ODD = [b"", "uid=\u6d4b\u8bd5,ou=P1,dc=example,dc=com".encode(), b"x" * 300, b"y" * 70000]


@pytest.mark.parametrize("size", [1, 3, 7, 4096, 65536, 10 ** 8])
def test_the_values_come_out_whole_and_in_order_however_the_socket_delivers_them(size):
    answer = entry_message([("objectClass", [b"groupOfNames"]), ("Member", MEMBERS + ODD), ("cn", [b"community"])])
    chunks, result = read(pieces(answer + done_message(), size))
    assert [value for chunk in chunks for value in chunk] == MEMBERS + ODD
    assert result == (0, "")


def test_the_values_are_handed_on_ten_thousand_at_a_time():
    chunks, _ = read(pieces(entry_message([("member", MEMBERS)]) + done_message(), 65536))
    assert [len(chunk) for chunk in chunks] == [10000, 10000, 5000]


def test_an_error_result_gives_its_code_and_message():
    stream = Stream(pieces(done_message(50, "no read access to member"), 5))
    _, op, end = message_header(stream)
    assert search_result(stream, op, end) == (50, "no read access to member")


def test_a_value_that_runs_past_its_attribute_is_refused():
    good = entry_message([("member", [b"abc", b"def"])])
    bad = good.replace(b"\x04\x03def", b"\x04\x09def")  # the last value claims more than its SET holds
    with pytest.raises(MalformedAnswer, match="runs past"):
        read(pieces(bad + done_message(), 4096))


def test_a_connection_closed_in_the_middle_of_the_values_is_refused():
    whole = entry_message([("member", MEMBERS)])
    with pytest.raises(MalformedAnswer, match="closed"):
        read(pieces(whole[: len(whole) // 2], 4096))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.integers(min_value=0, max_value=10 ** 6), st.integers(min_value=0, max_value=255),
       st.integers(min_value=1, max_value=64))
def test_any_byte_changed_gives_the_values_or_a_refusal_never_another_error(where, byte, size):
    answer = bytearray(entry_message([("objectClass", [b"groupOfNames"]), ("member", MEMBERS[:40] + ODD[:3])])
                       + done_message())
    answer[where % len(answer)] = byte
    try:
        read(pieces(bytes(answer), size))
    except (MalformedAnswer, AssertionError):  # AssertionError: another message ID or operation, as read() checks
        pass


def test_a_header_cut_by_the_end_of_its_container_is_refused_without_waiting_for_more():
    """The attributes claim one byte, the start of a header: nothing after it belongs to them, so
    nothing more is waited for (the socket would wait for its timeout)."""
    entry = b"\x64\x05\x04\x00\x30\x01\x30"  # [APPLICATION 4] { DN "", attributes SEQUENCE (1 byte) { 0x30 } }
    message = b"\x30" + bytes([3 + len(entry)]) + b"\x02\x01\x07" + entry
    chunks = iter([message])

    def recv(_):
        data = next(chunks, None)
        if data is None:
            raise AssertionError("waited for more than the message")
        return data

    stream = Stream(recv)
    _, op, end = message_header(stream)
    with pytest.raises(MalformedAnswer, match="runs past"):
        list(entry_values(stream, end, "member"))


def test_a_value_declared_longer_than_mopldap_holds_is_refused_before_it_arrives():
    """A hostile server declares a member value of 2 GiB: refused on its header, not after mopldap
    has buffered what follows (the socket here would go on delivering up to 64 MiB of it)."""
    def header(tag: int, length: int) -> bytes:
        return bytes((tag, 0x84)) + length.to_bytes(4, "big")

    value = 0x7F000000
    values_set = 6 + value
    partial = 8 + 6 + values_set
    attributes = 6 + partial
    entry = 2 + 6 + attributes
    start = (header(0x30, 3 + 6 + entry) + b"\x02\x01\x07" + header(values.SEARCH_RESULT_ENTRY, entry) + b"\x04\x00"
             + header(0x30, attributes) + header(0x30, partial) + b"\x04\x06member" + header(0x31, values_set)
             + header(0x04, value))
    served = [0]

    def recv(size: int) -> bytes:
        data = start[served[0]:served[0] + size] if served[0] < len(start) else b"\0" * size
        served[0] += len(data)
        return data if served[0] < 64 * 2**20 else b""

    stream = Stream(recv)
    _, _, end = message_header(stream)
    with pytest.raises(MalformedAnswer, match="more than mopldap holds"):
        for _ in entry_values(stream, end, "member"):
            pass
    assert served[0] < 2**20


def test_a_name_declared_longer_than_mopldap_holds_is_refused():
    stream = Stream(pieces(b"\x04\x84\x7f\xff\xff\xff" + b"n" * 100, 4096))
    with pytest.raises(MalformedAnswer, match="more than mopldap holds"):
        stream.take(stream.expect(values.OCTET_STRING, 2**31 + 100))
