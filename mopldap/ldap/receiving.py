"""Receiving LDAP messages without ldap3's quadratic copies, and search entries without its str copies.

ldap3 2.9.1's SyncStrategy.receiving appends each 4 kB read to an immutable bytes buffer
(`unprocessed += data`) and cuts each message off its front: a message of n bytes costs n²/8 kB
of copying. A group of 1,000,000 members is one message of about 60 MB: 136 s to receive with
ldap3, 0.3 s with ldapsearch (bench/results-decoders.md). This reads into a bytearray and cuts
messages at offsets: the same messages, in linear time. (Without DIGEST-MD5 signing, which
mopldap never uses: such a connection keeps ldap3's own.)

ldap3 also turns every value of a search entry into str twice over: as bytes (raw_attributes) and
as str through to_unicode, four configuration look-ups a value (attributes). mopldap reads only the
former (Directory.search decodes them itself), so entries here get raw_attributes and the DN only:
a full reconcile at 1,000,000 accounts reads 3 million member values.
"""

from __future__ import annotations

import socket
import types

import ldap3
from ldap3.core.exceptions import LDAPExceptionError, LDAPSocketReceiveError, communication_exception_factory
from ldap3.strategy.base import BaseStrategy
from ldap3.strategy.sync import SyncStrategy
from ldap3.utils.conv import to_unicode

CHUNK = 65536  # bytes asked of the socket at a time (ldap3: 4096)
_HEADER = 130  # a BER tag, a length octet and at most 127 octets of length: enough to size a message


MAX_MESSAGE = 256 * 2**20
"""The largest answer held whole: a group of 4,000,000 members read in one piece (Directory.read_raw
before a delete) is about 240 MB. A server that declares more is refused before mopldap waits for it."""


class TooLarge(Exception):
    """A message longer than MAX_MESSAGE."""


def messages_in(buffer: bytearray, start: int = 0) -> tuple[list[bytes], int]:
    """The complete LDAP messages in `buffer` from `start`, and the offset where the rest begins.
    Raise TooLarge for a message that declares more than MAX_MESSAGE bytes."""
    out = []
    while True:
        length = BaseStrategy.compute_ldap_message_size(buffer[start:start + _HEADER])
        if length > MAX_MESSAGE:
            raise TooLarge(f"an answer of {length:,} bytes, more than mopldap takes from a server "
                           f"({MAX_MESSAGE // 2**20} MiB)")
        if length == -1 or len(buffer) - start < length:
            return out, start
        out.append(bytes(buffer[start:start + length]))
        start += length


def _receiving(strategy) -> list[bytes]:
    """SyncStrategy.receiving: read until at least one message is complete and nothing is left over."""
    buffer = bytearray()
    messages: list[bytes] = []
    while True:
        try:
            data = strategy.connection.socket.recv(CHUNK)
        except (OSError, socket.error, AttributeError) as exc:  # as ldap3 does: close, then raise
            strategy.connection.last_error = "error receiving data: " + str(exc)
            try:
                strategy.close()
            except (socket.error, LDAPExceptionError):
                pass
            raise communication_exception_factory(LDAPSocketReceiveError, type(exc)(str(exc)))(
                strategy.connection.last_error) from None
        if not data:  # the server closed the connection
            return messages
        buffer += data
        try:
            complete, used = messages_in(buffer)
        except TooLarge as exc:  # what is left of it must not be read as the next answer: close
            strategy.connection.last_error = str(exc)
            try:
                strategy.close()
            except (socket.error, LDAPExceptionError):
                pass
            raise LDAPSocketReceiveError(str(exc)) from None
        messages += complete
        del buffer[:used]
        if messages and not buffer:
            return messages


def _text(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:  # not UTF-8, as LDAP requires: ldap3's own guesses
        return to_unicode(value, from_server=True)


def entry_from_message(payload: list) -> dict:
    """A SearchResultEntry as ldap3's fast decoder left it, as ldap3's dict (dn, raw_dn,
    raw_attributes) without the str copy of each value: `attributes` stays empty. The attribute
    names are plain dict keys, as the server wrote them: the connection must not ask ldap3 to add
    the requested attributes the server left out (return_empty_attributes=False), which would then
    add them again in another case."""
    raw = {_text(attribute[3][0][3]): [value[3] for value in attribute[3][1][3]] for attribute in payload[1][3]}
    return {"raw_dn": payload[0][3], "dn": _text(payload[0][3]), "raw_attributes": raw, "attributes": {},
            "type": "searchResEntry"}


def _decode_response_fast(strategy, message: dict) -> dict:
    """BaseStrategy.decode_response_fast, search entries by entry_from_message."""
    if message["protocolOp"] != 4:  # searchResEntry
        return BaseStrategy.decode_response_fast(strategy, message)
    result = entry_from_message(message["payload"])
    if message["controls"]:
        result["controls"] = dict(strategy.decode_control_fast(control[3]) for control in message["controls"])
    return result


def install(connection: ldap3.Connection) -> None:
    """Make `connection` (SYNC strategy) receive in linear time, and (without
    return_empty_attributes) decode each value of a search entry once."""
    if connection.sasl_mechanism != ldap3.DIGEST_MD5 and isinstance(connection.strategy, SyncStrategy):
        connection.strategy.receiving = types.MethodType(_receiving, connection.strategy)
    if isinstance(connection.strategy, SyncStrategy) and connection.fast_decoder and not connection.empty_attributes:
        connection.strategy.decode_response_fast = types.MethodType(_decode_response_fast, connection.strategy)
