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
