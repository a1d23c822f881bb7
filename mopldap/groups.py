"""Group membership changes, batched: one modify per group, many member values."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .changes import Change
from .directory import Modification


def membership_changes(
    additions: Mapping[str, Iterable[str]],
    removals: Mapping[str, Iterable[str]],
    reason: str = "",
    request_id: str | None = None,
    operation: str | None = None,
) -> list[Change]:
    """Given member DNs to add and remove per group DN, return one modify per group.

    The empty-group placeholder is apply.py's business: it drops it when the first
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
                Change("modify", group, tuple(mods), reason=reason, request_id=request_id, operation=operation)
            )
    return changes


def is_membership_change(change: Change) -> bool:
    return change.action == "modify" and bool(change.mods) and all(m.attr == "member" for m in change.mods)

