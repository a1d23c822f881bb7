"""Group membership changes, batched: one modify per group, many member values."""

from __future__ import annotations

import heapq
from array import array
from collections.abc import Iterable, Iterator, Mapping
from itertools import islice

from ..model.change import Change, Modification


MAX_VALUES = 40000
"""Member values per modify. A modify costs slapd in proportion to the group's size, however few
values it carries (1 s for a group of 1,000,000 members, bench/server_costs.py): large changes go
in few writes (adopting a directory of 1,000,000 accounts: 1,880,000 memberships in 58 modifies;
197 modifies of 10,000 took 47 s longer than 59 of 40,000). A write of many values takes slapd
long (the memberof overlay writes each member's memberOf: about 0.3 ms a value at 1,000,000
accounts), and is waited for accordingly (Directory.modify: ldap.timeout, plus PATIENCE a value)."""
MAX_BYTES = 3 << 20
"""...and at most this many bytes of values: slapd closes the connection of a request larger than
sockbuf_max_incoming_auth (4 MiB by default)."""


def slapd_order(value: str) -> tuple[int, str]:
    """Where slapd keeps the member DN `value` in a group (olcSortVals: member keeps them sorted by
    their normalized form: its length in bytes, then its bytes; lowercase stands in for that form,
    and code point order is UTF-8's byte order). slapd moves every value after the place of each
    value it adds: values added in this order land after the ones added before them (into an empty
    group: at the end). 1,000,000 members added in this order cost slapd 7 s, in three interleaved
    runs 212 s (bench/sorted_values.py)."""
    low = value.lower()
    return len(low.encode()), low


class Packed:
    """Values kept as one UTF-8 buffer and where each ends: about 68 bytes a DN, not the 110 of a
    str in a list (a first run holds every member a system group lacks, up to 1,000,000, to write
    them in slapd_order)."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._data = bytearray()
        self._ends = array("Q")
        for value in values:
            self.add(value)

    def add(self, value: str) -> None:
        self._data += value.encode()
        self._ends.append(len(self._data))

    def __len__(self) -> int:
        return len(self._ends)

    def __iter__(self) -> Iterator[str]:
        start = 0
        with memoryview(self._data) as data:
            for end in self._ends:
                yield str(data[start:end], "utf-8")
                start = end


def packed_in_slapd_order(values: Iterable[str]) -> Packed:
    """`values` Packed in slapd_order. A group's values come from slapd in its own order, which is
    slapd_order but for odd DNs (escapes, some case mappings): they are packed as they arrive, and
    sorted only if one is out of order (a sort makes a key a value: about 150 bytes each)."""
    packed, last, ordered = Packed(), None, True
    for value in values:
        key = slapd_order(value)
        ordered = ordered and (last is None or last <= key)
        last = key
        packed.add(value)
    return packed if ordered else Packed(sorted(packed, key=slapd_order))


def in_slapd_order(runs: Iterable[Iterable[str]]) -> Iterator[str]:
    """The values of `runs`, each already in slapd_order, merged into that order."""
    return heapq.merge(*runs, key=slapd_order)


def chunks(values: Iterable[str], size: int = MAX_VALUES) -> Iterator[list[str]]:
    """`values`, `size` at a time."""
    values = iter(values)
    while chunk := list(islice(values, size)):
        yield chunk


def value_limit(values: Iterable[str], limit: int = MAX_VALUES) -> int:
    """Values per modify for `values`: `limit`, fewer if the longest would pass MAX_BYTES."""
    longest = max((len(value.encode()) for value in values), default=1)
    return max(1, min(limit, MAX_BYTES // (longest + 8)))  # 8: each value's BER header, generously


def _mods(remove: list[str], add: list[str]) -> tuple[Modification, ...]:
    """Deletes first: a value both deleted and added is re-added, which makes the memberof
    overlay write the member's memberOf again."""
    return (((Modification("member", "delete", tuple(remove)),) if remove else ())
            + ((Modification("member", "add", tuple(add)),) if add else ()))


def membership_changes(
    additions: Mapping[str, Iterable[str]],
    removals: Mapping[str, Iterable[str]],
    reason: str = "",
    request_id: str | None = None,
    operation: str | None = None,
    requester: str | None = None,
    limit: int = MAX_VALUES,
) -> list[Change]:
    """Given member DNs to add and remove per group DN, return one modify per group, or, past
    `limit` values (fewer for long values: value_limit), several: the deletes, then the adds,
    each in slapd_order.

    The empty-group placeholder is the executor's business: it drops it when the first
    member arrives and puts it back when the last one leaves.
    """
    changes = []
    for group in sorted(set(additions) | set(removals), key=str.lower):
        add = sorted(set(additions.get(group, ())), key=slapd_order)
        remove = sorted(set(removals.get(group, ())), key=slapd_order)
        step = value_limit(add + remove, limit)
        if len(add) + len(remove) <= step:
            chunks = [_mods(remove, add)] if add or remove else []
        else:
            chunks = [_mods(remove[i:i + step], []) for i in range(0, len(remove), step)]
            chunks += [_mods([], add[i:i + step]) for i in range(0, len(add), step)]
        changes += [Change("modify", group, mods, reason=reason, request_id=request_id, operation=operation,
                           requester=requester) for mods in chunks]
    return changes


def _values(change: Change) -> int:
    return sum(len(m.values) for m in change.mods)


def _bytes(change: Change) -> int:
    return sum(len(value.encode()) + 8 for m in change.mods for value in m.values)


def merge_memberships(changes: list[Change], limit: int = MAX_VALUES) -> list[Change]:
    """Merge membership changes of several requests into few modifies per group (their DNs are
    disjoint), of at most `limit` values and MAX_BYTES unless one change alone has more; each
    merged change keeps the originals as `parts`, for the audit."""
    by_group: dict[str, list[list[Change]]] = {}
    size: dict[str, tuple[int, int]] = {}  # the values and bytes of each group's last run
    for change in changes:
        key = change.dn.lower()
        runs = by_group.setdefault(key, [[]])
        values, octets = size.get(key, (0, 0))
        values, octets = values + _values(change), octets + _bytes(change)
        if runs[-1] and (values > limit or octets > MAX_BYTES):
            runs.append([])
            values, octets = _values(change), _bytes(change)
        runs[-1].append(change)
        size[key] = values, octets
    merged = []
    for parts in (run for runs in by_group.values() for run in runs):
        if len(parts) == 1:
            merged.append(parts[0])
            continue
        adds = sorted({v for c in parts for m in c.mods if m.action == "add" for v in m.values}, key=slapd_order)
        deletes = sorted({v for c in parts for m in c.mods if m.action == "delete" for v in m.values},
                         key=slapd_order)
        merged.append(Change("modify", parts[0].dn, _mods(deletes, adds), reason=parts[0].reason,
                             operation=parts[0].operation, parts=tuple(parts)))
    return merged
