"""An add request's bytes, encoded here rather than by ldap3.

ldap3 builds every request as pyasn1 objects, encodes them, and turns them back into a dict for
its own bookkeeping: about 0.3 ms of CPU for an account's add, a third of what provisioning costs
this process for each account (bench/results-large.md). An add is a few nested sequences of
strings (RFC 4511, 4.7), so it is written out directly; the answer still goes through ldap3.
tests/unit/test_encoding.py holds the bytes to ldap3's own for the same request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .values import INTEGER, OCTET_STRING, SEQUENCE, SET

ADD_REQUEST = 0x68  # [APPLICATION 8], constructed


def _length(count: int) -> bytes:
    """A definite length (X.690, 8.1.3): one byte below 128, else the count of the bytes that follow."""
    if count < 0x80:
        return bytes((count,))
    octets = count.to_bytes((count.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(octets),)) + octets


def _element(tag: int, content: bytes) -> bytes:
    return bytes((tag,)) + _length(len(content)) + content


def _octets(value: str | bytes) -> bytes:
    return _element(OCTET_STRING, value.encode("utf-8") if isinstance(value, str) else value)


def _integer(value: int) -> bytes:
    """A non-negative INTEGER in as few bytes as it takes, with a leading zero where the top bit is set."""
    return _element(INTEGER, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def add_request(message_id: int, dn: str, attributes: Mapping[str, Sequence[str | bytes]]) -> bytes:
    """The LDAPMessage adding `dn` with `attributes` (objectClass among them), as message `message_id`."""
    listed = b"".join(_element(SEQUENCE, _octets(name) + _element(SET, b"".join(map(_octets, values))))
                      for name, values in attributes.items())
    return _element(SEQUENCE, _integer(message_id) + _element(ADD_REQUEST, _octets(dn) + _element(SEQUENCE, listed)))
