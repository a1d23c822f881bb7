"""Group membership changes, batched: one modify per group, many member values."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..model.change import Change, Modification


def membership_changes(
    additions: Mapping[str, Iterable[str]],
    removals: Mapping[str, Iterable[str]],
    reason: str = "",
    request_id: str | None = None,
    operation: str | None = None,
    requester: str | None = None,
) -> list[Change]:
    """Given member DNs to add and remove per group DN, return one modify per group.

    The empty-group placeholder is the executor's business: it drops it when the first
    member arrives and puts it back when the last one leaves.
    """
    changes = []
    for group in sorted(set(additions) | set(removals), key=str.lower):
        add = sorted(set(additions.get(group, ())), key=str.lower)
        remove = sorted(set(removals.get(group, ())), key=str.lower)
        mods = []
        if add:
            mods.append(Modification("member", "add", tuple(add)))
        if remove:
            mods.append(Modification("member", "delete", tuple(remove)))
        if mods:
            changes.append(
                Change("modify", group, tuple(mods), reason=reason, request_id=request_id, operation=operation,
                       requester=requester)
            )
    return changes


def merge_memberships(changes: list[Change]) -> list[Change]:
    """Merge membership changes of several requests into one modify per group (their DNs are
    disjoint); each merged change keeps the originals as `parts`, for the audit."""
    by_group: dict[str, list[Change]] = {}
    for change in changes:
        by_group.setdefault(change.dn.lower(), []).append(change)
    merged = []
    for parts in by_group.values():
        if len(parts) == 1:
            merged.append(parts[0])
            continue
        adds = sorted({v for c in parts for m in c.mods if m.action == "add" for v in m.values}, key=str.lower)
        deletes = sorted({v for c in parts for m in c.mods if m.action == "delete" for v in m.values}, key=str.lower)
        mods = ((Modification("member", "add", tuple(adds)),) if adds else ()) + \
               ((Modification("member", "delete", tuple(deletes)),) if deletes else ())
        merged.append(Change("modify", parts[0].dn, mods, reason=parts[0].reason, operation=parts[0].operation,
                             parts=tuple(parts)))
    return merged
