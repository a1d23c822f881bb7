"""One attribute's values of one entry, read off the socket as they arrive.

A group of 1,000,000 members is one LDAP message of about 60 MB. Received whole and decoded by
ldap3, it holds the message, a list of four objects for each value and the values themselves at
once: about 280 MB (bench/results-decoders.md). Here the answer to a base search is parsed while
it arrives, and the values are handed on in chunks: what is held is one socket read and one
chunk. Messages other than the entry (the result, a referral) are small: they go to ldap3's own
decoder whole.

Everything a server sends is checked against the lengths around it: a length that runs past its
message, a tag that is not the one LDAP puts there, or a closed socket raises MalformedAnswer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

RECEIVE = 65536  # bytes asked of the socket at a time
CHUNK_VALUES = 10000  # values handed on at a time

SEQUENCE, SET, OCTET_STRING, INTEGER, ENUMERATED = 0x30, 0x31, 0x04, 0x02, 0x0A
SEARCH_RESULT_ENTRY, SEARCH_RESULT_DONE = 0x64, 0x65  # [APPLICATION 4] and [APPLICATION 5], constructed
SEARCH_RESULT_REFERENCE, INTERMEDIATE_RESPONSE = 0x73, 0x79  # [APPLICATION 19] and [APPLICATION 25]
MAX_LENGTH_OCTETS = 4  # lengths up to 4 GiB
MAX_HELD = 16 * 2**20
"""The longest single element held (a value, an attribute's name, a diagnostic message): a member
DN is a few hundred bytes at most. A server that declares more is refused before mopldap waits for it."""


class MalformedAnswer(Exception):
    """What the server sent is not the LDAP message it should be."""


class Stream:
    """A socket's bytes with a read position; `at` counts from the first byte received."""

    def __init__(self, recv: Callable[[int], bytes]) -> None:
        self._recv = recv
        self.buf = bytearray()
        self.pos = 0  # in buf
        self.dropped = 0  # bytes let go of before buf[0]

    @property
    def at(self) -> int:
        return self.dropped + self.pos

    def more(self) -> None:
        """Receive once more, letting go of what was read."""
        if self.pos:
            del self.buf[:self.pos]
            self.dropped += self.pos
            self.pos = 0
        data = self._recv(RECEIVE)
        if not data:
            raise MalformedAnswer("the server closed the connection in the middle of an answer")
        self.buf += data

    def need(self, count: int) -> None:
        while len(self.buf) - self.pos < count:
            self.more()

    def header(self, end: int | None = None) -> tuple[int, int]:
        """A tag and a definite length; the element must end by `end` (an offset, as `at`). Nothing
        past `end` is waited for."""
        self._within(2, end)
        self.need(2)
        tag, first = self.buf[self.pos], self.buf[self.pos + 1]
        if first < 0x80:
            length, size = first, 2
        else:
            octets = first & 0x7F
            if not 0 < octets <= MAX_LENGTH_OCTETS:
                raise MalformedAnswer(f"a length of {octets} octets (indefinite or too long)")
            self._within(2 + octets, end)
            self.need(2 + octets)
            length, size = int.from_bytes(self.buf[self.pos + 2:self.pos + 2 + octets], "big"), 2 + octets
        self.pos += size
        if end is not None and self.at + length > end:
            raise MalformedAnswer(f"an element (tag {tag:#04x}) runs past the one around it")
        return tag, length

    def _within(self, count: int, end: int | None) -> None:
        if end is not None and self.at + count > end:
            raise MalformedAnswer("an element's header runs past the one around it")

    def expect(self, tag: int, end: int) -> int:
        """The length of the element with `tag` that must come next."""
        found, length = self.header(end)
        if found != tag:
            raise MalformedAnswer(f"tag {found:#04x} where {tag:#04x} belongs")
        return length

    def take(self, count: int) -> bytes:
        _holdable(count)
        self.need(count)
        out = bytes(self.buf[self.pos:self.pos + count])
        self.pos += count
        return out

    def skip(self, count: int) -> None:
        while count:
            if self.pos == len(self.buf):
                self.more()
            step = min(count, len(self.buf) - self.pos)
            self.pos += step
            count -= step

    def octet_strings(self, end: int) -> Iterator[list[bytes]]:
        """The OCTET STRINGs from here to `end` (the body of a SET OF), CHUNK_VALUES at a time."""
        out: list[bytes] = []
        while self.at < end:
            buf, pos = self.buf, self.pos
            stop = min(len(buf), end - self.dropped)
            room = CHUNK_VALUES - len(out)
            while room and pos + 2 <= stop:  # every value complete in the buffer, without a call each
                if buf[pos] != OCTET_STRING:
                    raise MalformedAnswer(f"tag {buf[pos]:#04x} where a value belongs")
                length, start = buf[pos + 1], pos + 2
                if length >= 0x80:
                    octets = length & 0x7F
                    if not 0 < octets <= MAX_LENGTH_OCTETS:
                        raise MalformedAnswer(f"a length of {octets} octets (indefinite or too long)")
                    if start + octets > stop:
                        break
                    length, start = int.from_bytes(buf[start:start + octets], "big"), start + octets
                    if length > MAX_HELD:
                        _holdable(length)
                if start + length > end - self.dropped:
                    raise MalformedAnswer("a value runs past its attribute")
                if start + length > stop:
                    break
                out.append(bytes(buf[start:start + length]))
                pos = start + length
                room -= 1
            self.pos = pos
            if not room:
                yield out
                out = []
            elif self.at < end:
                if stop == end - self.dropped:  # all of it is here, yet a value is cut
                    raise MalformedAnswer("a value runs past its attribute")
                self.more()
        if out:
            yield out


def _holdable(count: int) -> None:
    if count > MAX_HELD:
        raise MalformedAnswer(f"a value of {count:,} bytes, more than mopldap holds ({MAX_HELD // 2**20} MiB)")


def message_header(stream: Stream) -> tuple[int, int, int]:
    """Start reading one LDAPMessage: (its message ID, its protocolOp's tag, the offset where the
    message ends); the protocolOp's content comes next."""
    end = stream.expect(SEQUENCE, None)
    end += stream.at
    id_length = stream.expect(INTEGER, end)
    if not 0 < id_length <= 4:
        raise MalformedAnswer("a message ID of more than 4 octets")
    message_id = int.from_bytes(stream.take(id_length), "big", signed=True)
    op, _ = stream.header(end)
    return message_id, op, end


def search_result(stream: Stream, op: int, end: int) -> tuple[int | None, str]:
    """The rest of a message that is not an entry: (result code, diagnostic message) of a
    SearchResultDone; (None, "") for a reference or an intermediate answer, skipped."""
    if op in (SEARCH_RESULT_REFERENCE, INTERMEDIATE_RESPONSE):
        stream.skip(end - stream.at)
        return None, ""
    if op != SEARCH_RESULT_DONE:
        raise MalformedAnswer(f"protocol operation {op:#04x} in the answer to a search")
    size = stream.expect(ENUMERATED, end)
    if not 0 < size <= 4:
        raise MalformedAnswer("a result code of more than 4 octets")
    code = int.from_bytes(stream.take(size), "big")
    stream.skip(stream.expect(OCTET_STRING, end))  # matchedDN
    message = stream.take(stream.expect(OCTET_STRING, end)).decode("utf-8", "replace")
    stream.skip(end - stream.at)  # referral, if any
    return code, message


def _end(stream: Stream, tag: int, end: int) -> int:
    """Read the header of the element with `tag` that comes next: where the element ends."""
    length = stream.expect(tag, end)
    return stream.at + length


def entry_values(stream: Stream, end: int, attribute: str) -> Iterator[list[bytes]]:
    """The values of `attribute` (any case) in the SearchResultEntry whose content starts here and
    whose message ends at `end`; the rest of the message is skipped."""
    stream.skip(stream.expect(OCTET_STRING, end))  # the entry's DN: the caller knows it
    attributes_end = _end(stream, SEQUENCE, end)
    wanted = attribute.lower().encode()
    while stream.at < attributes_end:
        partial_end = _end(stream, SEQUENCE, attributes_end)
        name = stream.take(stream.expect(OCTET_STRING, partial_end))
        values_end = _end(stream, SET, partial_end)
        if values_end != partial_end:
            raise MalformedAnswer("an attribute with more than a type and its values")
        if name.lower() == wanted:
            yield from stream.octet_strings(values_end)
        else:
            stream.skip(values_end - stream.at)
    stream.skip(end - stream.at)  # controls, if any
