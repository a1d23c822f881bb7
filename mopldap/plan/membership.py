"""Group membership changes, batched: one modify per group, many member values."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..model.change import Change, Modification


MAX_VALUES = 1000
"""Member values per modify: a write of bounded size and duration, whatever the group's size
(adopting a directory of 100,000 accounts adds them in modifies of this many)."""


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
    `limit` values, several: the deletes, then the adds, `limit` values each.

    The empty-group placeholder is the executor's business: it drops it when the first
    member arrives and puts it back when the last one leaves.
    """
    changes = []
    for group in sorted(set(additions) | set(removals), key=str.lower):
        add = sorted(set(additions.get(group, ())), key=str.lower)
        remove = sorted(set(removals.get(group, ())), key=str.lower)
        if len(add) + len(remove) <= limit:
            chunks = [_mods(remove, add)] if add or remove else []
        else:
            chunks = [_mods(remove[i:i + limit], []) for i in range(0, len(remove), limit)]
            chunks += [_mods([], add[i:i + limit]) for i in range(0, len(add), limit)]
        changes += [Change("modify", group, mods, reason=reason, request_id=request_id, operation=operation,
                           requester=requester) for mods in chunks]
    return changes


def _values(change: Change) -> int:
    return sum(len(m.values) for m in change.mods)


def merge_memberships(changes: list[Change], limit: int = MAX_VALUES) -> list[Change]:
    """Merge membership changes of several requests into few modifies per group (their DNs are
    disjoint), of at most `limit` values unless one change alone has more; each merged change
    keeps the originals as `parts`, for the audit."""
    by_group: dict[str, list[list[Change]]] = {}
    for change in changes:
        runs = by_group.setdefault(change.dn.lower(), [[]])
        if runs[-1] and sum(map(_values, runs[-1])) + _values(change) > limit:
            runs.append([])
        runs[-1].append(change)
    merged = []
    for parts in (run for runs in by_group.values() for run in runs):
        if len(parts) == 1:
            merged.append(parts[0])
            continue
        adds = sorted({v for c in parts for m in c.mods if m.action == "add" for v in m.values}, key=str.lower)
        deletes = sorted({v for c in parts for m in c.mods if m.action == "delete" for v in m.values}, key=str.lower)
        merged.append(Change("modify", parts[0].dn, _mods(deletes, adds), reason=parts[0].reason,
                             operation=parts[0].operation, parts=tuple(parts)))
    return merged
